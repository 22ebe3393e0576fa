"""The real kube-apiserver fixture and the manifests the project ships in deploy/.

- The CRDs of deploy/crds are Established (structural schemas: the API server refuses others),
  keep every field of Calico's sample objects (deploy/examples) and reject wrongly typed fields.
- The ClusterRole and password Role of deploy/rbac grant exactly what bgpd's Kubernetes source
  needs (SOURCE_NEEDS): a token of the sample ServiceAccount can get, list and watch each of
  those, over plain HTTPS, and can write nothing and read no other Secret. A copy of the role
  with one verb removed makes exactly that check fail (the check has teeth).
- (Every manifest under deploy/ passing a server-side dry run: test_manifests.py.)
- The fixture itself: a restart keeps the etcd data, a watch streams events to the account.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from .kube_apiserver import DEPLOY_DIR, KubeApiServer

CRD_GROUP = "crd.projectcalico.org"
CALICO_PLURALS = {
    "BGPConfiguration": "bgpconfigurations",
    "BGPPeer": "bgppeers",
    "BGPFilter": "bgpfilters",
    "IPPool": "ippools",
    "BlockAffinity": "blockaffinities",
    "IPAMBlock": "ipamblocks",
}
CORE_PLURALS = {"Node": "nodes", "Secret": "secrets"}
PASSWORD_NAMESPACE = "kube-system"  # calico-node's namespace (NAMESPACE), where the Role is
PASSWORD_SECRET = "bgp-secrets"  # the Secret the sample Role names
READ = ("get", "list", "watch")


@dataclass(frozen=True, slots=True)
class Access:
    """Read access to one resource: the API group, plural, namespace and one named object."""

    group: str
    resource: str
    namespace: str | None = None
    name: str | None = None


# What bgpd's Kubernetes source reads (get, list and watch each): the contract the shipped
# roles must meet exactly. The Secret is named: the source watches each password Secret with
# fieldSelector=metadata.name, which a Role with resourceNames allows.
SOURCE_NEEDS = (
    *(Access(CRD_GROUP, plural) for plural in CALICO_PLURALS.values()),
    Access("", "nodes"),
    Access("", "services"),
    Access("discovery.k8s.io", "endpointslices"),
    Access("", "secrets", PASSWORD_NAMESPACE, PASSWORD_SECRET),
)


def _collection(access: Access) -> str:
    base = "/api/v1" if access.group == "" else f"/apis/{access.group}/v1"
    if access.namespace is not None:
        base += f"/namespaces/{access.namespace}"
    return f"{base}/{access.resource}"


def _denied(server: KubeApiServer, token: str, needs: tuple[Access, ...]) -> set[tuple[str, str]]:
    """The (resource, verb) pairs of ``needs`` the token is refused (403), by real requests."""
    refused: set[tuple[str, str]] = set()
    for access in needs:
        collection = _collection(access)
        query = "?resourceVersion=0"  # a watch from "any" version answers at once
        if access.name is not None:
            query += "&fieldSelector=" + quote(f"metadata.name={access.name}")
        # get: an absent object answers 404 when permitted, 403 when not.
        name = access.name or "bgpd-test-absent"
        statuses = {
            "get": server.request("GET", f"{collection}/{name}", token=token).status,
            "list": server.request("GET", collection + query, token=token).status,
            "watch": server.watch_status(collection + query, token=token),
        }
        for verb, status in statuses.items():
            assert status in (200, 404, 403), f"{verb} {collection}: unexpected {status}"
            if status == 403:
                refused.add((access.resource, verb))
    return refused


def _role_rules(path: Path) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = yaml.safe_load(path.read_text())["rules"]
    return rules


def _granted(rules: list[dict[str, Any]], namespace: str | None) -> set[tuple[Any, ...]]:
    return {
        (group, resource, namespace, name, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for name in rule.get("resourceNames", [None])
        for verb in rule["verbs"]
    }


def _samples() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY_DIR / "examples").glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _object_path(doc: dict[str, Any]) -> str:
    kind, meta = doc["kind"], doc["metadata"]
    if kind in CALICO_PLURALS:
        return f"/apis/{CRD_GROUP}/v1/{CALICO_PLURALS[kind]}/{meta['name']}"
    namespace = f"/namespaces/{meta['namespace']}" if "namespace" in meta else ""
    return f"/api/v1{namespace}/{CORE_PLURALS[kind]}/{meta['name']}"


@pytest.fixture
def bgpd_token(kube_apiserver_shared: KubeApiServer) -> str:
    """A token of deploy/rbac's sample ServiceAccount kube-system/bgpd."""
    return kube_apiserver_shared.token_for("bgpd", PASSWORD_NAMESPACE, 600)


@pytest.fixture
def password_secret(kube_apiserver_shared: KubeApiServer) -> Iterator[str]:
    """The sample password Secret plus a second Secret beside it that the role does not name."""
    other = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "not-for-bgpd", "namespace": PASSWORD_NAMESPACE},
        "stringData": {"k": "v"},
    }
    wanted = next(doc for doc in _samples() if doc["kind"] == "Secret")
    kube_apiserver_shared.apply([wanted, other])
    yield wanted["stringData"]["rack-a-tor"]
    kube_apiserver_shared.delete([wanted, other])


# -- CRDs --------------------------------------------------------------------------------------


def test_every_crd_is_established_with_a_structural_schema(
    kube_apiserver_shared: KubeApiServer,
) -> None:
    crds = kube_apiserver_shared.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")[
        "items"
    ]
    ours = {crd["spec"]["names"]["kind"]: crd for crd in crds if crd["spec"]["group"] == CRD_GROUP}
    assert set(ours) == set(CALICO_PLURALS)
    for kind, crd in ours.items():
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", (kind, conditions)
        assert "NonStructuralSchema" not in conditions, (kind, conditions)
        assert crd["spec"]["names"]["plural"] == CALICO_PLURALS[kind]
        assert crd["spec"]["scope"] == "Cluster"
        assert [v["name"] for v in crd["spec"]["versions"]] == ["v1"]


@pytest.mark.parametrize(
    "sample",
    _samples(),
    ids=lambda doc: f"{doc['kind']}-{doc['metadata']['name']}",
)
def test_a_calico_sample_object_is_stored_unchanged(
    kube_apiserver_shared: KubeApiServer, sample: dict[str, Any]
) -> None:
    # kubectl apply validates strictly: a field the schema lacks is an error, not a silent prune.
    kube_apiserver_shared.apply(sample)
    try:
        stored = kube_apiserver_shared.get(_object_path(sample))
        if "spec" in sample:  # (the server may add fields, e.g. a Node's taints)
            assert {k: stored["spec"][k] for k in sample["spec"]} == sample["spec"]
        for key in ("labels", "annotations"):
            mine = sample["metadata"].get(key, {})
            assert {k: stored["metadata"][key][k] for k in mine} == mine, key
        for key, text in sample.get("stringData", {}).items():  # a Secret
            assert base64.b64decode(stored["data"][key]).decode() == text
    finally:
        kube_apiserver_shared.delete(sample)


WRONG_TYPES = [
    ("BGPConfiguration", {"asNumber": "sixty-four thousand"}, "spec.asNumber"),
    ("BGPConfiguration", {"nodeToNodeMeshEnabled": "yes"}, "spec.nodeToNodeMeshEnabled"),
    ("BGPPeer", {"peerIP": "192.0.2.1", "filters": "export-pods-only"}, "spec.filters"),
    ("BGPPeer", {"peerIP": "192.0.2.1", "nextHopMode": "Sometimes"}, "spec.nextHopMode"),
    ("BGPFilter", {"exportV4": [{"action": "Maybe"}]}, "spec.exportV4[0].action"),
    ("BGPFilter", {"importV6": [{"cidr": "fd00::/8"}]}, "spec.importV6[0].action"),
    ("IPPool", {"cidr": "10.9.0.0/16", "blockSize": "26"}, "spec.blockSize"),
    ("IPPool", {"cidr": "10.9.0.0/16", "ipipMode": "always"}, "spec.ipipMode"),
    (
        "BlockAffinity",
        {"cidr": "10.9.0.0/26", "node": "n", "state": "confirmed", "deleted": False},
        "spec.deleted",
    ),
    (
        "IPAMBlock",
        {
            "cidr": "10.9.0.0/26",
            "allocations": ["zero"],
            "unallocated": [],
            "attributes": [],
            "strictAffinity": False,
        },
        "spec.allocations[0]",
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "field"), WRONG_TYPES, ids=[f"{k}-{f}" for k, _, f in WRONG_TYPES]
)
def test_a_wrongly_typed_field_is_rejected(
    kube_apiserver_shared: KubeApiServer, kind: str, spec: dict[str, Any], field: str
) -> None:
    collection = f"/apis/{CRD_GROUP}/v1/{CALICO_PLURALS[kind]}"
    name = f"wrong-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": f"{CRD_GROUP}/v1", "kind": kind, "metadata": {"name": name}}
    reply = kube_apiserver_shared.request("POST", collection, {**body, "spec": spec})
    assert reply.status == 422, reply.body
    assert field in reply.body["message"], reply.body["message"]
    # The same object with that one field dropped (or made right) is accepted: the schema,
    # not something else about the object, refused it.
    fixed = copy.deepcopy(spec)
    if kind == "BGPFilter":
        fixed = {"exportV4": [{"action": "Accept"}]}
    elif kind == "IPAMBlock":
        fixed["allocations"] = [0]
    elif kind == "BlockAffinity":
        fixed["deleted"] = "false"
    else:
        del fixed[field.removeprefix("spec.")]
    reply = kube_apiserver_shared.request("POST", collection, {**body, "spec": fixed})
    assert reply.ok, reply.body
    kube_apiserver_shared.request("DELETE", f"{collection}/{name}")


def test_an_unknown_field_is_refused_under_strict_validation(
    kube_apiserver_shared: KubeApiServer,
) -> None:
    # A typo (peerIp for peerIP) must not be pruned away silently when the client asks.
    body = {
        "apiVersion": f"{CRD_GROUP}/v1",
        "kind": "BGPPeer",
        "metadata": {"name": "typo"},
        "spec": {"peerIp": "192.0.2.1", "asNumber": 64600},
    }
    reply = kube_apiserver_shared.request(
        "POST", f"/apis/{CRD_GROUP}/v1/bgppeers?fieldValidation=Strict", body
    )
    assert reply.status == 400, reply.body
    assert 'unknown field "spec.peerIp"' in reply.body["message"]


# -- RBAC --------------------------------------------------------------------------------------


def test_the_shipped_roles_grant_exactly_what_the_source_needs() -> None:
    granted = _granted(_role_rules(DEPLOY_DIR / "rbac" / "clusterrole.yaml"), None)
    role = yaml.safe_load((DEPLOY_DIR / "rbac" / "secrets-role.yaml").read_text())
    assert role["metadata"]["namespace"] == PASSWORD_NAMESPACE
    granted |= _granted(role["rules"], PASSWORD_NAMESPACE)
    needed = {
        (a.group, a.resource, a.namespace, a.name, verb) for a in SOURCE_NEEDS for verb in READ
    }
    assert granted == needed


def test_the_service_account_reads_everything_the_source_needs(
    kube_apiserver_shared: KubeApiServer, bgpd_token: str, password_secret: str
) -> None:
    assert _denied(kube_apiserver_shared, bgpd_token, SOURCE_NEEDS) == set()
    # ... and the named Secret's value itself.
    path = f"/api/v1/namespaces/{PASSWORD_NAMESPACE}/secrets/{PASSWORD_SECRET}"
    reply = kube_apiserver_shared.request("GET", path, token=bgpd_token)
    assert reply.ok, reply.body
    assert reply.body["data"]["rack-a-tor"]  # base64 of the sample password
    assert password_secret


def test_the_service_account_can_write_nothing_and_read_no_other_secret(
    kube_apiserver_shared: KubeApiServer, bgpd_token: str, password_secret: str
) -> None:
    server = kube_apiserver_shared
    peer = {
        "apiVersion": f"{CRD_GROUP}/v1",
        "kind": "BGPPeer",
        "metadata": {"name": "written-by-bgpd"},
        "spec": {"peerIP": "192.0.2.9", "asNumber": 64600},
    }
    merge = "application/merge-patch+json"
    attempts: dict[str, tuple[str, str, Any, str | None]] = {
        "create bgppeer": ("POST", f"/apis/{CRD_GROUP}/v1/bgppeers", peer, None),
        "delete ippools": ("DELETE", f"/apis/{CRD_GROUP}/v1/ippools", None, None),
        "patch node": ("PATCH", "/api/v1/nodes/node-1", {"metadata": {}}, merge),
        "create service": (
            "POST",
            "/api/v1/namespaces/default/services",
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
            None,
        ),
        "get another secret": (
            "GET",
            f"/api/v1/namespaces/{PASSWORD_NAMESPACE}/secrets/not-for-bgpd",
            None,
            None,
        ),
        "list all secrets": ("GET", f"/api/v1/namespaces/{PASSWORD_NAMESPACE}/secrets", None, None),
        "same name elsewhere": (
            "GET",
            f"/api/v1/namespaces/default/secrets/{PASSWORD_SECRET}",
            None,
            None,
        ),
        "update the secret": (
            "PATCH",
            f"/api/v1/namespaces/{PASSWORD_NAMESPACE}/secrets/{PASSWORD_SECRET}",
            {"stringData": {"rack-a-tor": "x"}},
            merge,
        ),
        "list namespaces": ("GET", "/api/v1/namespaces", None, None),
        "list pods": ("GET", "/api/v1/pods", None, None),
    }
    for label, (method, path, body, content_type) in attempts.items():
        reply = server.request(
            method, path, body, token=bgpd_token, content_type=content_type or "application/json"
        )
        assert reply.status == 403, (label, reply.status, reply.body)
    all_secrets = f"/api/v1/namespaces/{PASSWORD_NAMESPACE}/secrets?resourceVersion=0"
    assert server.watch_status(all_secrets, token=bgpd_token) == 403


def _remove_verb(rules: list[dict[str, Any]], resource: str, verb: str) -> list[dict[str, Any]]:
    """A copy of ``rules`` where ``resource`` alone lacks ``verb``."""
    out = []
    for rule in rules:
        if resource not in rule["resources"]:
            out.append(rule)
            continue
        rest = [r for r in rule["resources"] if r != resource]
        if rest:
            out.append({**rule, "resources": rest})
        verbs = [v for v in rule["verbs"] if v != verb]
        out.append({**rule, "resources": [resource], "verbs": verbs})
    return out


@pytest.mark.parametrize(
    ("resource", "verb"),
    [("ippools", "watch"), ("nodes", "list"), ("endpointslices", "get"), ("secrets", "watch")],
)
def test_a_role_missing_one_verb_fails_the_check_for_that_verb_only(
    kube_apiserver_shared: KubeApiServer, resource: str, verb: str
) -> None:
    server = kube_apiserver_shared
    account = f"minus-{resource}-{verb}"
    cluster_rules = _role_rules(DEPLOY_DIR / "rbac" / "clusterrole.yaml")
    secret_rules = _role_rules(DEPLOY_DIR / "rbac" / "secrets-role.yaml")
    if resource == "secrets":
        secret_rules = _remove_verb(secret_rules, resource, verb)
    else:
        cluster_rules = _remove_verb(cluster_rules, resource, verb)
    subject = [{"kind": "ServiceAccount", "name": account, "namespace": PASSWORD_NAMESPACE}]
    ref = {"apiGroup": "rbac.authorization.k8s.io"}
    server.ensure_service_account(account, PASSWORD_NAMESPACE)
    server.apply(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": account},
                "rules": cluster_rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": account},
                "roleRef": {**ref, "kind": "ClusterRole", "name": account},
                "subjects": subject,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": account, "namespace": PASSWORD_NAMESPACE},
                "rules": secret_rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": account, "namespace": PASSWORD_NAMESPACE},
                "roleRef": {**ref, "kind": "Role", "name": account},
                "subjects": subject,
            },
        ]
    )
    token = server.token_for(account, PASSWORD_NAMESPACE, 600)
    assert _denied(server, token, SOURCE_NEEDS) == {(resource, verb)}


# -- manifests and the fixture -----------------------------------------------------------------


def test_a_restart_keeps_objects_and_tokens(kube_apiserver: KubeApiServer) -> None:
    pool = next(doc for doc in _samples() if doc["kind"] == "IPPool")
    kube_apiserver.apply(pool)
    path = _object_path(pool)
    before = kube_apiserver.get(path)["metadata"]["resourceVersion"]
    token = kube_apiserver.token_for("bgpd", PASSWORD_NAMESPACE, 600)
    old_pid = kube_apiserver.pid
    kube_apiserver.restart()
    assert kube_apiserver.pid != old_pid
    assert kube_apiserver.get(path)["metadata"]["resourceVersion"] == before
    # The same signing key: a token issued before the restart still authenticates.
    reply = kube_apiserver.request("GET", path, token=token)
    assert reply.ok, reply.body


def test_the_service_account_watch_streams_changes(
    kube_apiserver_shared: KubeApiServer, bgpd_token: str
) -> None:
    server = kube_apiserver_shared
    collection = f"/apis/{CRD_GROUP}/v1/bgppeers"
    version = server.request("GET", collection, token=bgpd_token).body["metadata"][
        "resourceVersion"
    ]
    peer = {
        "apiVersion": f"{CRD_GROUP}/v1",
        "kind": "BGPPeer",
        "metadata": {"name": "watched"},
        "spec": {"peerIP": "192.0.2.7", "asNumber": 64700},
    }
    server.apply(peer)
    try:
        events = server.watch(
            f"{collection}?resourceVersion={version}", token=bgpd_token, timeout=10
        )
        first = next(events)
        events.close()
        assert first["type"] == "ADDED"
        assert first["object"]["metadata"]["name"] == "watched"
        assert first["object"]["spec"]["asNumber"] == 64700
    finally:
        server.delete(peer)

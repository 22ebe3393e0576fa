"""BGP passwords from Secrets: a missing Secret or key is never "no password"."""

from __future__ import annotations

import base64
import json

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys
from tests.unit.confd.model.calico_data import (
    bgp_configuration,
    bgp_peer,
    node,
    secret,
    snapshot,
)

G = "/calico/bgp/v1/global/"
G4 = G + "peer_v4/"
REF = {"secretKeyRef": {"name": "bgp-secrets", "key": "tor"}}
TOR = G4 + "192.0.2.1"


def tor(*extra: tuple[str, str], namespace: str = "kube-system") -> dict[str, object]:
    snap = snapshot(bgp_peer("tor", peerIP="192.0.2.1", asNumber=65010, password=REF), *extra)
    return json.loads(derive_bgp_keys(snap, namespace=namespace)[TOR])  # type: ignore[no-any-return]


def test_the_password_is_the_decoded_secret_value() -> None:
    peer = tor(secret("bgp-secrets", tor="s3cret", other="x"))
    assert peer["password"] == "s3cret"
    assert "password_unavailable" not in peer


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ((), "secret kube-system/bgp-secrets is missing or not readable"),
        ((secret("bgp-secrets", other="x"),), "secret kube-system/bgp-secrets has no key tor"),
        ((secret("bgp-secrets", tor=""),), "secret kube-system/bgp-secrets key tor is empty"),
        # the same name in another namespace is not calico-node's Secret
        ((secret("bgp-secrets", "default", tor="s3cret"),), "is missing or not readable"),
        # a Secret whose data is absent altogether (no keys at all)
        (
            (("/kubernetes/secrets/kube-system/bgp-secrets", "{}"),),
            "secret kube-system/bgp-secrets has no key tor",
        ),
    ],
)
def test_a_missing_secret_or_key_is_never_no_password(
    extra: tuple[tuple[str, str], ...], reason: str
) -> None:
    peer = tor(*extra)
    assert peer["password"] is None
    assert reason in str(peer["password_unavailable"])


def test_the_namespace_is_calico_nodes() -> None:
    assert (
        tor(secret("bgp-secrets", "calico-system", tor="pw"), namespace="calico-system")["password"]
        == "pw"
    )


@pytest.mark.parametrize(
    "encoded",
    [
        "not base64!",  # the API server never gives this, a file source could
        base64.b64encode(b"\xffpassword-bytes").decode(),  # not UTF-8 text
    ],
)
def test_bad_secret_data_is_a_data_problem_that_never_quotes_the_value(encoded: str) -> None:
    key = "/kubernetes/secrets/kube-system/bgp-secrets"
    snap = snapshot(
        bgp_peer("tor", peerIP="192.0.2.1", asNumber=65010, password=REF),
        (key, json.dumps({"data": {"tor": encoded}})),
    )
    with pytest.raises(CalicoDataError) as err:
        derive_bgp_keys(snap)
    (problem,) = err.value.problems
    assert problem.location == key and "data.tor" in problem.message
    assert encoded not in str(err.value) and "password-bytes" not in str(err.value)


def test_a_secret_nobody_references_is_not_read() -> None:
    # Garbage in an unreferenced Secret is not this render's business.
    snap = snapshot(("/kubernetes/secrets/kube-system/unrelated", "not json"))
    assert derive_bgp_keys(snap)


def test_the_mesh_password_from_its_secret_or_why_not() -> None:
    mesh_ref = {"secretKeyRef": {"name": "bgp-secrets", "key": "mesh"}}
    config = bgp_configuration(nodeMeshPassword=mesh_ref)
    view = derive_bgp_keys(snapshot(config, secret("bgp-secrets", mesh="m3sh")))
    assert view[G + "node_mesh_password"] == "m3sh"
    assert G + "node_mesh_password_unavailable" not in view
    view = derive_bgp_keys(snapshot(config, secret("bgp-secrets", tor="x")))
    assert G + "node_mesh_password" not in view
    assert view[G + "node_mesh_password_unavailable"] == (
        "secret kube-system/bgp-secrets has no key mesh"
    )


def test_both_sides_of_a_selector_peering_share_the_secret() -> None:
    snap = snapshot(
        node("a", "10.0.0.1/24", labels={"rr": "true"}),
        node("b", "10.0.0.2/24"),
        bgp_peer("to-rr", nodeSelector="!has(rr)", peerSelector="has(rr)", password=REF),
        secret("bgp-secrets", tor="pw"),
    )
    view = derive_bgp_keys(snap)
    forward = json.loads(view["/calico/bgp/v1/host/b/peer_v4/10.0.0.1"])
    reverse = json.loads(view["/calico/bgp/v1/host/a/peer_v4/10.0.0.2"])
    assert forward["password"] == reverse["password"] == "pw"

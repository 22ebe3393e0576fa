"""Kubernetes objects as the keys the confd model reads (pure: no I/O, no client library).

Role: the Kubernetes source lists and watches objects; this module says which kinds exist,
where the API serves them, and turns each object into only what bgpd uses, as the key/value
pairs the etcd source would hold for the same cluster (libcalico-go's KDD conversions,
``lib/backend/k8s/resources/*.go``):

- Calico's CRDs (``crd.projectcalico.org/v1``, or ``projectcalico.org/v3`` served directly):
  BGPConfiguration, BGPPeer, BGPFilter and IPPool become
  ``/calico/resources/v3/projectcalico.org/<plural>/<name>`` with a v3 value
  (``apiVersion``, ``kind``, ``metadata.name``, the ``spec`` as written); BlockAffinity becomes
  ``/calico/ipam/v2/host/<node>/ipv<4|6>/block/<cidr with - for />`` → ``{"state", "deleted"}``
  (the v1 CRD writes ``deleted`` as a string, v3 as a boolean).
- core Nodes become ``/calico/resources/v3/projectcalico.org/nodes/<name>``: labels from the
  Node's labels (over the Calico labels kept in the ``projectcalico.org/labels`` annotation),
  ``spec.bgp`` from the ``projectcalico.org/IPv4Address``, ``IPv6Address``, ``ASNumber`` and
  ``RouteReflectorClusterID`` annotations (node.go K8sNodeToCalico); with host-local IPAM
  (``USE_POD_CIDR``) also ``/kubernetes/nodes/<name>/podcidrs`` → the JSON list of
  ``spec.podCIDRs``.
- Services, EndpointSlices and Secrets, trimmed, at ``/kubernetes/services/<ns>/<name>``,
  ``/kubernetes/endpointslices/<ns>/<name>`` and ``/kubernetes/secrets/<ns>/<name>`` (other
  parts of the model read them; see docs/kubernetes.md for the exact fields).

Invariants:
- A conversion is a function of the fields bgpd uses only: a kubelet's status heartbeat, a
  new resourceVersion, managedFields or an unrelated annotation give the same keys and values,
  so the source publishes nothing for them.
- Values are canonical JSON (sorted keys, no spaces): equal inputs give equal strings.
- A field value bgpd cannot use is passed through as written, so the model reports it as a
  data problem naming the key (one home for Calico's rules); only an object that cannot be
  named at all raises `MalformedObjectError` (the source logs and counts it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CALICO_KINDS",
    "CRD_GROUP",
    "KUBE_PREFIX",
    "NAMESPACED_KINDS",
    "V3_GROUP",
    "Converter",
    "KubeKind",
    "MalformedObjectError",
    "calico_kinds",
    "node_kind",
    "secret_kind",
    "secret_names_in",
    "service_kinds",
]

CRD_GROUP = "crd.projectcalico.org"  # the CRDs Calico's manifests install (version v1)
V3_GROUP = "projectcalico.org"  # served directly by the newest Calico (version v3)
KUBE_PREFIX = "/kubernetes/"
_V3_PREFIX = "/calico/resources/v3/projectcalico.org/"

ANNOTATION_IPV4 = "projectcalico.org/IPv4Address"
ANNOTATION_IPV6 = "projectcalico.org/IPv6Address"
ANNOTATION_ASN = "projectcalico.org/ASNumber"
ANNOTATION_RR_CLUSTER_ID = "projectcalico.org/RouteReflectorClusterID"
ANNOTATION_CALICO_LABELS = "projectcalico.org/labels"  # resources.go labelsAnnotation
ANNOTATION_WIREGUARD_V4 = "projectcalico.org/IPv4WireguardInterfaceAddr"
ANNOTATION_WIREGUARD_V6 = "projectcalico.org/IPv6WireguardInterfaceAddr"


class MalformedObjectError(ValueError):
    """An object that cannot be named (no metadata.name, not an object): skipped, reported."""


Converter = Callable[[Mapping[str, Any]], dict[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeKind:
    """One kind the source lists and watches, and how its objects become keys."""

    name: str  # short name for logs and status, e.g. "bgppeers"
    group: str  # "" for the core group
    version: str
    plural: str
    namespace: str | None  # watch one namespace; None = every namespace (or cluster-scoped)
    convert: Converter
    field_selector: str = ""  # e.g. metadata.name=<name> (RBAC by resourceNames)
    optional: bool = False  # forbidden or missing counts as empty (logged), not as an outage

    @property
    def path(self) -> str:
        """The collection's URL path (list and watch)."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespace is not None:
            base += f"/namespaces/{self.namespace}"
        return f"{base}/{self.plural}"


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise MalformedObjectError("not a JSON object")
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise MalformedObjectError("no metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise MalformedObjectError(f"metadata.name {name!r} is not a name")
    return metadata


def _name(obj: Mapping[str, Any]) -> str:
    return str(_metadata(obj)["name"])


def _namespaced_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = _metadata(obj)
    namespace = metadata.get("namespace")
    if not isinstance(namespace, str) or not namespace or "/" in namespace:
        raise MalformedObjectError(f"metadata.namespace {namespace!r} is not a namespace")
    return namespace, str(metadata["name"])


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


# --- Calico's CRDs ------------------------------------------------------------------------------


def _calico_resource(kind: str, plural: str) -> Converter:
    def convert(obj: Mapping[str, Any]) -> dict[str, str]:
        name = _name(obj)
        value = {
            "apiVersion": "projectcalico.org/v3",
            "kind": kind,
            "metadata": {"name": name},
            "spec": obj.get("spec", {}),
        }
        return {f"{_V3_PREFIX}{plural}/{name}": _canonical(value)}

    return convert


def _block_affinity(obj: Mapping[str, Any]) -> dict[str, str]:
    _name(obj)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise MalformedObjectError("no spec")
    affinity_type = spec.get("type") or "host"
    if affinity_type != "host":
        return {}  # other affinity types (virtual) are not a node's blocks
    node = spec.get("node")
    if not isinstance(node, str) or not node or "/" in node:
        raise MalformedObjectError(f"spec.node {node!r} is not a node name")
    cidr = str(spec.get("cidr", ""))
    try:
        version = ipaddress.ip_network(cidr, strict=False).version
    except ValueError:
        version = 4  # the model names the bad CIDR under this key
    deleted: object = spec.get("deleted", False)
    if isinstance(deleted, str):  # crd.projectcalico.org/v1 stores "true"/"false" (or "")
        deleted = {"": False, "true": True, "false": False}.get(deleted.lower(), deleted)
    state = spec.get("state", "")
    key = f"/calico/ipam/v2/host/{node}/ipv{version}/block/{cidr.replace('/', '-', 1)}"
    return {key: _canonical({"state": state, "deleted": deleted})}


_CALICO = (
    ("bgpconfigurations", "BGPConfiguration"),
    ("bgppeers", "BGPPeer"),
    ("bgpfilters", "BGPFilter"),
    ("ippools", "IPPool"),
)


def calico_kinds(group: str) -> tuple[KubeKind, ...]:
    """Calico's BGP kinds in ``group`` (`CRD_GROUP` v1 or `V3_GROUP` v3), BlockAffinity last."""
    version = "v3" if group == V3_GROUP else "v1"
    kinds = [
        KubeKind(
            name=plural,
            group=group,
            version=version,
            plural=plural,
            namespace=None,
            convert=_calico_resource(kind, plural),
        )
        for plural, kind in _CALICO
    ]
    kinds.append(
        KubeKind(
            name="blockaffinities",
            group=group,
            version=version,
            plural="blockaffinities",
            namespace=None,
            convert=_block_affinity,
        )
    )
    return tuple(kinds)


CALICO_KINDS = (*(plural for plural, _ in _CALICO), "blockaffinities")


# --- Nodes --------------------------------------------------------------------------------------


def _node_labels(metadata: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    annotations = _string_map(metadata.get("annotations"))
    stashed = annotations.get(ANNOTATION_CALICO_LABELS)
    if stashed:
        # resources.go: an unreadable labels annotation is ignored (logged there).
        with contextlib.suppress(ValueError):
            labels.update(_string_map(json.loads(stashed)))
    labels.update(_string_map(metadata.get("labels")))  # node.go: Kubernetes labels win
    return labels


def _node(use_pod_cidr: bool) -> Converter:
    def convert(obj: Mapping[str, Any]) -> dict[str, str]:
        metadata = _metadata(obj)
        name = str(metadata["name"])
        annotations = _string_map(metadata.get("annotations"))
        bgp: dict[str, object] = {}
        for field, annotation in (
            ("ipv4Address", ANNOTATION_IPV4),
            ("ipv6Address", ANNOTATION_IPV6),
            ("asNumber", ANNOTATION_ASN),
            ("routeReflectorClusterID", ANNOTATION_RR_CLUSTER_ID),
        ):
            value = annotations.get(annotation, "")
            if value:
                bgp[field] = value
        wireguard: dict[str, object] = {}
        for field, annotation in (
            ("interfaceIPv4Address", ANNOTATION_WIREGUARD_V4),
            ("interfaceIPv6Address", ANNOTATION_WIREGUARD_V6),
        ):
            value = annotations.get(annotation, "")
            if value:
                wireguard[field] = value
        node_spec: dict[str, object] = {"bgp": bgp} if bgp else {}
        if wireguard:
            node_spec["wireguard"] = wireguard
        node: dict[str, object] = {
            "apiVersion": "projectcalico.org/v3",
            "kind": "Node",
            "metadata": {"name": name, "labels": _node_labels(metadata)},
            "spec": node_spec,
        }
        out = {f"{_V3_PREFIX}nodes/{name}": _canonical(node)}
        if use_pod_cidr:
            spec = obj.get("spec")
            spec = spec if isinstance(spec, Mapping) else {}
            cidrs = spec.get("podCIDRs")
            if not isinstance(cidrs, list) or not cidrs:
                single = spec.get("podCIDR")
                cidrs = [single] if isinstance(single, str) and single else []
            out[f"{KUBE_PREFIX}nodes/{name}/podcidrs"] = _canonical(cidrs)
        return out

    return convert


def node_kind(*, use_pod_cidr: bool) -> KubeKind:
    """Core Nodes; with ``use_pod_cidr`` also their ``spec.podCIDRs`` (host-local IPAM)."""
    return KubeKind(
        name="nodes",
        group="",
        version="v1",
        plural="nodes",
        namespace=None,
        convert=_node(use_pod_cidr),
    )


# --- Services, EndpointSlices, Secrets ----------------------------------------------------------

_SERVICE_SPEC = (
    "type",
    "clusterIP",
    "clusterIPs",
    "externalIPs",
    "loadBalancerIP",
    "externalTrafficPolicy",
    "internalTrafficPolicy",
    "ipFamilies",
)


def _trimmed_metadata(metadata: Mapping[str, Any]) -> dict[str, object]:
    return {
        "name": metadata["name"],
        "namespace": metadata["namespace"],
        "labels": _string_map(metadata.get("labels")),
    }


def _service(obj: Mapping[str, Any]) -> dict[str, str]:
    namespace, name = _namespaced_name(obj)
    spec = obj.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    status = obj.get("status")
    balancer = status.get("loadBalancer") if isinstance(status, Mapping) else None
    ingress = balancer.get("ingress") if isinstance(balancer, Mapping) else None
    ips = [
        {"ip": item["ip"]}
        for item in (ingress if isinstance(ingress, list) else [])
        if isinstance(item, Mapping) and isinstance(item.get("ip"), str)
    ]
    value = {
        "metadata": _trimmed_metadata(_metadata(obj)),
        "spec": {field: spec[field] for field in _SERVICE_SPEC if field in spec},
        "status": {"loadBalancer": {"ingress": ips}},
    }
    return {f"{KUBE_PREFIX}services/{namespace}/{name}": _canonical(value)}


_CONDITIONS = ("ready", "serving", "terminating")


def _endpoint_slice(obj: Mapping[str, Any]) -> dict[str, str]:
    namespace, name = _namespaced_name(obj)
    endpoints: list[dict[str, object]] = []
    listed = obj.get("endpoints")
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, Mapping):
            continue
        endpoint: dict[str, object] = {"addresses": item.get("addresses", [])}
        if "nodeName" in item:
            endpoint["nodeName"] = item["nodeName"]
        conditions = item.get("conditions")
        if isinstance(conditions, Mapping):
            endpoint["conditions"] = {c: conditions[c] for c in _CONDITIONS if c in conditions}
        endpoints.append(endpoint)
    value = {
        "metadata": _trimmed_metadata(_metadata(obj)),
        "addressType": obj.get("addressType", ""),
        "endpoints": endpoints,
    }
    return {f"{KUBE_PREFIX}endpointslices/{namespace}/{name}": _canonical(value)}


def _secret(obj: Mapping[str, Any]) -> dict[str, str]:
    namespace, name = _namespaced_name(obj)
    data = obj.get("data")
    value = {"data": data if isinstance(data, Mapping) else {}}
    return {f"{KUBE_PREFIX}secrets/{namespace}/{name}": _canonical(value)}


NAMESPACED_KINDS = ("services", "endpointslices", "secrets")


def service_kinds() -> tuple[KubeKind, ...]:
    """Services and EndpointSlices of every namespace."""
    return (
        KubeKind(
            name="services",
            group="",
            version="v1",
            plural="services",
            namespace=None,
            convert=_service,
        ),
        KubeKind(
            name="endpointslices",
            group="discovery.k8s.io",
            version="v1",
            plural="endpointslices",
            namespace=None,
            convert=_endpoint_slice,
        ),
    )


def secret_kind(namespace: str, name: str) -> KubeKind:
    """One Secret, watched by name: calico-node's RBAC grants Secrets by resourceNames, which
    allows list and watch only with ``fieldSelector=metadata.name=<name>``. Optional: a Secret
    that is forbidden or absent keeps the peerings that name it down (the model marks their
    password unavailable; Calico would run them without one), loudly, rather than stopping
    every render."""
    return KubeKind(
        name=f"secrets/{name}",
        group="",
        version="v1",
        plural="secrets",
        namespace=namespace,
        convert=_secret,
        field_selector=f"metadata.name={name}",
        optional=True,
    )


_SECRET_HOLDERS = (f"{_V3_PREFIX}bgppeers/", f"{_V3_PREFIX}bgpconfigurations/")


def secret_names_in(values: Mapping[str, str]) -> frozenset[str]:
    """The Secret names BGPPeers and BGPConfigurations refer to (``password.secretKeyRef`` and
    ``nodeMeshPassword.secretKeyRef``) in a key view; malformed values name none."""
    names: set[str] = set()
    for key, raw in values.items():
        if not key.startswith(_SECRET_HOLDERS):
            continue
        try:
            spec = json.loads(raw).get("spec", {})
        except (ValueError, AttributeError):
            continue
        if not isinstance(spec, dict):
            continue
        for field in ("password", "nodeMeshPassword"):
            holder = spec.get(field)
            ref = holder.get("secretKeyRef") if isinstance(holder, dict) else None
            name = ref.get("name") if isinstance(ref, dict) else None
            if isinstance(name, str) and name and "/" not in name:
                names.add(name)
    return frozenset(names)

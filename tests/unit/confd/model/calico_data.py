"""Builders of etcd keys and values shaped as calicoctl / calico-node write them (etcdv3 mode).

Each returns `(key, json_value)`; the JSON is the whole v3 resource with apiVersion, kind,
metadata (name, uid, creationTimestamp, labels) and spec, as the etcdv3 backend stores it.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

V3 = "/calico/resources/v3/projectcalico.org"
_STAMP = "2026-11-26T10:00:00Z"


def _resource(
    kind: str, plural: str, name: str, spec: dict[str, Any], **meta: Any
) -> tuple[str, str]:
    metadata: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}/{name}")),
        "creationTimestamp": _STAMP,
    }
    metadata.update(meta)
    value = {"kind": kind, "apiVersion": "projectcalico.org/v3", "metadata": metadata, "spec": spec}
    return f"{V3}/{plural}/{name}", json.dumps(value)


def node(
    name: str,
    ipv4: str | None = None,
    ipv6: str | None = None,
    *,
    asn: int | str | None = None,
    rr_cluster_id: str | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[str, str]:
    bgp: dict[str, Any] = {}
    if ipv4 is not None:
        bgp["ipv4Address"] = ipv4
    if ipv6 is not None:
        bgp["ipv6Address"] = ipv6
    if asn is not None:
        bgp["asNumber"] = asn
    if rr_cluster_id is not None:
        bgp["routeReflectorClusterID"] = rr_cluster_id
    spec: dict[str, Any] = {"orchRefs": [{"nodeName": name, "orchestrator": "k8s"}]}
    if bgp:
        spec["bgp"] = bgp
    all_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    all_labels.update(labels or {})
    key, value = _resource("Node", "nodes", name, spec, labels=all_labels)
    doc = json.loads(value)
    doc["status"] = {}
    return key, json.dumps(doc)


def bgp_peer(name: str, **spec: Any) -> tuple[str, str]:
    return _resource("BGPPeer", "bgppeers", name, spec)


def bgp_configuration(name: str = "default", **spec: Any) -> tuple[str, str]:
    return _resource("BGPConfiguration", "bgpconfigurations", name, spec)


def ip_pool(name: str, cidr: str, **spec: Any) -> tuple[str, str]:
    full: dict[str, Any] = {
        "cidr": cidr,
        "blockSize": 26 if ":" not in cidr else 122,
        "nodeSelector": "all()",
        "allowedUses": ["Workload", "Tunnel"],
    }
    full.update(spec)
    return _resource("IPPool", "ippools", name, full)


def bgp_filter(name: str, **spec: Any) -> tuple[str, str]:
    return _resource("BGPFilter", "bgpfilters", name, spec)


def affinity(host: str, cidr: str, state: str | None = "confirmed") -> tuple[str, str]:
    version = 6 if ":" in cidr else 4
    key = f"/calico/ipam/v2/host/{host}/ipv{version}/block/{cidr.replace('/', '-')}"
    value: dict[str, Any] = {} if state is None else {"state": state, "deleted": False}
    return key, json.dumps(value)


def snapshot(*items: tuple[str, str]) -> dict[str, str]:
    return dict(items)


# --- Kubernetes objects, as the Kubernetes source stores them (`/kubernetes/...` keys) ----------


def service(
    namespace: str,
    name: str,
    *,
    type: str = "ClusterIP",
    cluster_ip: str = "10.96.0.10",
    cluster_ips: list[str] | None = None,
    external_ips: list[str] | None = None,
    load_balancer_ip: str | None = None,
    ingress: list[str] | None = None,
    policy: str | None = None,
    families: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> tuple[str, str]:
    """A v1 Service as the API server stores it (clusterIPs and ipFamilies filled in)."""
    ips = cluster_ips if cluster_ips is not None else [cluster_ip]
    spec: dict[str, Any] = {
        "type": type,
        "clusterIP": cluster_ip,
        "clusterIPs": ips,
        "ipFamilies": families
        if families is not None
        else ["IPv6" if ":" in ip else "IPv4" for ip in ips if ip != "None"],
        "internalTrafficPolicy": "Cluster",
    }
    if external_ips is not None:
        spec["externalIPs"] = external_ips
    if load_balancer_ip is not None:
        spec["loadBalancerIP"] = load_balancer_ip
    if policy is not None:
        spec["externalTrafficPolicy"] = policy
    elif type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = "Cluster"  # the API server's default
    value = {
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress or ()]}},
    }
    return f"/kubernetes/services/{namespace}/{name}", json.dumps(value)


def endpoint_slice(
    namespace: str,
    name: str,
    service_name: str | None,
    endpoints: list[dict[str, Any]],
    *,
    address_type: str = "IPv4",
) -> tuple[str, str]:
    """A discovery.k8s.io/v1 EndpointSlice; `endpoint()` builds the entries."""
    labels = {} if service_name is None else {"kubernetes.io/service-name": service_name}
    value = {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "addressType": address_type,
        "endpoints": endpoints,
    }
    return f"/kubernetes/endpointslices/{namespace}/{name}", json.dumps(value)


def endpoint(
    node_name: str | None,
    address: str = "10.244.1.5",
    *,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    for field, flag in (("ready", ready), ("serving", serving), ("terminating", terminating)):
        if flag is not None:
            conditions[field] = flag
    entry: dict[str, Any] = {"addresses": [address], "conditions": conditions}
    if node_name is not None:
        entry["nodeName"] = node_name
    return entry


def secret(name: str, namespace: str = "kube-system", **data: str) -> tuple[str, str]:
    """A Secret as the Kubernetes source publishes it: `data` only, each value base64."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return f"/kubernetes/secrets/{namespace}/{name}", json.dumps({"data": encoded})


# --- Felix's endpoint status files, as the endpoint status source stores them ---------------


def endpoint_status(
    file: str,
    bgp_peer_name: str | None,
    ipv4: list[str] | None = None,
    ipv6: list[str] | None = None,
) -> tuple[str, str]:
    """`/calico/endpoint-status/<file>` with the JSON Felix writes (epstatusfile's
    WorkloadEndpointStatus, omitempty fields left out)."""
    value: dict[str, Any] = {"ifaceName": "cali0123456789a", "mac": "ee:ee:ee:ee:ee:ee"}
    if ipv4:
        value["ipv4Nets"] = ipv4
    if ipv6:
        value["ipv6Nets"] = ipv6
    if bgp_peer_name:
        value["bgpPeerName"] = bgp_peer_name
    return f"/calico/endpoint-status/{file}", json.dumps(value, separators=(",", ":"))

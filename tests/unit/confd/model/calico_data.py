"""Builders of etcd keys and values shaped as calicoctl / calico-node write them (etcdv3 mode).

Each returns `(key, json_value)`; the JSON is the whole v3 resource with apiVersion, kind,
metadata (name, uid, creationTimestamp, labels) and spec, as the etcdv3 backend stores it.
"""

from __future__ import annotations

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

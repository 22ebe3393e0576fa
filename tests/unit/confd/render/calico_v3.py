"""calicoctl-shaped v3 resources as the etcd keys and JSON values calicoctl writes."""

from __future__ import annotations

import json
from typing import Any

V3 = "/calico/resources/v3/projectcalico.org"


def _resource(
    kind: str, plural: str, name: str, spec: dict[str, Any], **meta: Any
) -> dict[str, str]:
    body = {
        "kind": kind,
        "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": name, **meta},
        "spec": spec,
    }
    return {f"{V3}/{plural}/{name}": json.dumps(body)}


def bgp_configuration(name: str = "default", **spec: Any) -> dict[str, str]:
    return _resource("BGPConfiguration", "bgpconfigurations", name, spec)


def node(name: str, ipv4: str, labels: dict[str, str] | None = None, **bgp: Any) -> dict[str, str]:
    spec = {"bgp": {"ipv4Address": ipv4, **bgp}}
    return _resource("Node", "nodes", name, spec, labels=labels or {})


def bgp_peer(name: str, **spec: Any) -> dict[str, str]:
    return _resource("BGPPeer", "bgppeers", name, spec)


def ip_pool(name: str, cidr: str, **spec: Any) -> dict[str, str]:
    fields = {"cidr": cidr, "ipipMode": "Never", "vxlanMode": "Never", "blockSize": 26, **spec}
    return _resource("IPPool", "ippools", name, fields)


def affinity(node_name: str, cidr: str, state: str = "confirmed") -> dict[str, str]:
    version = 6 if ":" in cidr else 4
    key = f"/calico/ipam/v2/host/{node_name}/ipv{version}/block/{cidr.replace('/', '-')}"
    return {key: json.dumps({"state": state, "deleted": False})}


def bgp_filter(name: str, **spec: Any) -> dict[str, str]:
    return _resource("BGPFilter", "bgpfilters", name, spec)

"""Calico-shaped `/calico/...` v1 key sets for render tests (the layout confd's Calico
backend presents to templates, calico-bgp.md §1.4), built from small Python values."""

from __future__ import annotations

import json
from typing import Any

V1 = "/calico/bgp/v1"


def peer_json(
    ip: str,
    asn: int | str,
    *,
    port: int = 0,
    rr_cluster_id: str = "",
    password: str | None = None,
    source_addr: str = "UseNodeIP",
    restart_time: str = "",
    calico_node: bool = False,
    ttl_security: int = 0,
    passive_mode: bool = False,
    local_bgp_peer: bool = False,
) -> str:
    """The `bgpPeer` struct of confd's client.go, fields in its marshalling order."""
    return json.dumps(
        {
            "ip": ip,
            "as_num": str(asn),
            "rr_cluster_id": rr_cluster_id,
            "password": password,
            "source_addr": source_addr,
            "port": port,
            "keep_next_hop": False,
            "restart_time": restart_time,
            "calico_node": calico_node,
            "num_allow_local_as": 0,
            "ttl_security": ttl_security,
            "reachable_by": "",
            "filters": None,
            "passive_mode": passive_mode,
            "local_bgp_peer": local_bgp_peer,
        },
        separators=(",", ":"),
    )


def peer_key(scope: str, ip: str, port: int = 0) -> str:
    """`global/peer_v4/<ip>[-<port>]` or `host/<node>/peer_v4/...` (scope = "global" or the
    node name); the port suffix only when neither 0 nor 179 (model/bgppeer.go)."""
    family = "v6" if ":" in ip else "v4"
    suffix = f"-{port}" if port not in (0, 179) else ""
    base = f"{V1}/global" if scope == "global" else f"{V1}/host/{scope}"
    return f"{base}/peer_{family}/{ip}{suffix}"


def globals_(
    *,
    asn: int = 64512,
    mesh: bool = True,
    loglevel: str = "info",
    **extra: str,
) -> dict[str, str]:
    out = {
        f"{V1}/global/as_num": str(asn),
        f"{V1}/global/node_mesh": json.dumps({"enabled": mesh}),
        f"{V1}/global/loglevel": loglevel,
    }
    out.update({f"{V1}/global/{k}": v for k, v in extra.items()})
    return out


def host(
    name: str,
    ipv4: str,
    *,
    ipv6: str = "",
    network_v4: str | None = None,
    network_v6: str | None = None,
    asn: int | None = None,
    rr_cluster_id: str = "",
    **extra: str,
) -> dict[str, str]:
    base = f"{V1}/host/{name}"
    out = {
        f"{base}/ip_addr_v4": ipv4,
        f"{base}/ip_addr_v6": ipv6,
        f"{base}/rr_cluster_id": rr_cluster_id,
    }
    if network_v4:
        out[f"{base}/network_v4"] = network_v4
    if network_v6:
        out[f"{base}/network_v6"] = network_v6
    if asn is not None:
        out[f"{base}/as_num"] = str(asn)
    out.update({f"{base}/{k}": v for k, v in extra.items()})
    return out


def pool(cidr: str, **fields: Any) -> dict[str, str]:
    version = 6 if ":" in cidr else 4
    data = {
        "cidr": cidr,
        "ipip": "tunl0" if fields.get("ipip_mode") else "",
        "ipip_mode": fields.get("ipip_mode", ""),
        "vxlan_mode": fields.get("vxlan_mode", ""),
        "masquerade": True,
        "ipam": True,
        "disabled": fields.get("disabled", False),
        "disableBGPExport": fields.get("disableBGPExport", False),
        "assignment_mode": "Automatic",
    }
    return {f"/calico/v1/ipam/v{version}/pool/{cidr.replace('/', '-')}": json.dumps(data)}


def block(node: str, cidr: str, state: str = "confirmed") -> dict[str, str]:
    version = 6 if ":" in cidr else 4
    key = f"/calico/ipam/v2/host/{node}/ipv{version}/block/{cidr.replace('/', '-')}"
    return {key: json.dumps({"state": state, "deleted": False})}


def service_range(cidr: str, *, advertise: bool = True, reject: bool = True) -> dict[str, str]:
    v6 = "v6" if ":" in cidr else ""
    name = cidr.replace("/", "-")
    out: dict[str, str] = {}
    if advertise:
        out[f"/calico/staticroutes{v6}/{name}"] = cidr
    if reject:
        out[f"/calico/rejectcidrs{v6}/{name}"] = cidr
    return out


def big_cluster(nodes: int = 100, reflectors: int = 3) -> dict[str, str]:
    """`nodes` workers in 10.1.0.0/16 plus `reflectors` route reflectors (cluster 224.0.0.1)
    and the two BGPPeers of Calico's RR recipe already turned into v1 keys: every worker
    peers with every RR, and the RRs with each other (as confd's reverse pass emits them)."""
    view = globals_(mesh=False)
    view.update(pool("192.168.0.0/16", ipip_mode="cross-subnet"))
    rr_ips = [f"10.0.0.{i + 1}" for i in range(reflectors)]
    workers = [(f"node-{i:03d}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(nodes)]
    for i, ip in enumerate(rr_ips):
        name = f"rr-{i}"
        view.update(host(name, ip, network_v4="10.0.0.0/16", rr_cluster_id="224.0.0.1"))
        for other in rr_ips:
            if other != ip:
                view[peer_key(name, other)] = peer_json(
                    other, 64512, rr_cluster_id="224.0.0.1", calico_node=True
                )
        for _wname, wip in workers:
            view[peer_key(name, wip)] = peer_json(wip, 64512, calico_node=True)
    for i, (wname, wip) in enumerate(workers):
        view.update(host(wname, wip, network_v4=f"{wip.rsplit('.', 1)[0]}.0/24"))
        view.update(block(wname, f"192.168.{i}.0/26"))
        for rr in rr_ips:
            view[peer_key(wname, rr)] = peer_json(
                rr, 64512, rr_cluster_id="224.0.0.1", calico_node=True
            )
    return view

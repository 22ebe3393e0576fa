"""A BGPFilter bgpd cannot evaluate is refused whole, on the wire: never more than written.

Node `node0` (bgpd with its in-process confd watcher over a key/value file of Calico's v3
resources) peers with two BIRD 2 routers over eBGP. The BGPPeer to `filtered` names the
BGPFilter `tor`, whose exportV4 is

    - {action: Accept, communities: {values: ["65000:100"]}}   # bgpd cannot evaluate this
    - {action: Reject, matchOperator: In, cidr: 10.244.0.0/16}

As written, node0's block (no community) does not match the first rule and the second rejects
it: `filtered` must not receive it. Read as a bare accept (the condition dropped), the block
would be exported. The BGPPeer to `control` has no filter and receives the block, which shows
it was exported to the peers that may have it. The refused filter has no import rules, so
`filtered`'s own route still comes in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .peers import BgpPeer, BirdConfig, Lan, LanHost, StaticRoute, wait_until
from .peers.fixtures import BirdFactory
from .test_service_routes import ServiceNode, service_nodes, write_atomically

__all__ = ["service_nodes"]  # the fixture, shared with test_service_routes

V3 = "/calico/resources/v3/projectcalico.org"
BLOCK = "10.244.0.0/26"
FILTERED_ROUTE = "192.0.2.0/24"
COMMUNITY_ACCEPT = {"action": "Accept", "communities": {"values": ["65000:100"]}}
REJECT_POOL = {"action": "Reject", "matchOperator": "In", "cidr": "10.244.0.0/16"}


def datastore(node: LanHost, filtered: LanHost, control: LanHost) -> dict[str, Any]:
    def resource(plural: str, name: str, spec: dict[str, Any]) -> tuple[str, Any]:
        return f"{V3}/{plural}/{name}", {"metadata": {"name": name}, "spec": spec}

    items = [
        resource("bgpconfigurations", "default", {"nodeToNodeMeshEnabled": False}),
        resource("ippools", "pool", {"cidr": "10.244.0.0/16"}),
        resource("nodes", "node0", {"bgp": {"ipv4Address": node.ipv4_cidr}}),
        resource("bgpfilters", "tor", {"exportV4": [COMMUNITY_ACCEPT, REJECT_POOL]}),
        resource(
            "bgppeers",
            "filtered",
            {"peerIP": str(filtered.ipv4), "asNumber": 65001, "filters": ["tor"]},
        ),
        resource("bgppeers", "control", {"peerIP": str(control.ipv4), "asNumber": 65002}),
        (f"/calico/ipam/v2/host/node0/ipv4/block/{BLOCK.replace('/', '-')}", {}),
    ]
    return dict(items)


def bird_router(host: LanHost, asn: int, node: LanHost, routes: tuple[str, ...]) -> BirdConfig:
    peer = BgpPeer(
        name="node0",
        local_as=asn,
        local_address=str(host.ipv4),
        neighbor_address=str(node.ipv4),
        neighbor_as=64512,
    )
    statics = tuple(StaticRoute(prefix=prefix) for prefix in routes)
    return BirdConfig(router_id=str(host.ipv4), peers=(peer,), static_routes=statics)


def test_a_refused_filter_exports_nothing_it_would_not_have_accepted(
    lan_factory: Any,
    bird_factory: BirdFactory,
    service_nodes: list[ServiceNode],
    tmp_path: Path,
) -> None:
    lan: Lan = lan_factory(3)
    node, filtered_host, control_host = lan.hosts
    filtered = bird_factory(
        bird_router(filtered_host, 65001, node, (FILTERED_ROUTE,)), netns=filtered_host.ns
    )
    control = bird_factory(bird_router(control_host, 65002, node, ()), netns=control_host.ns)
    kv_file = tmp_path / "datastore.yaml"
    write_atomically(kv_file, datastore(node, filtered_host, control_host))
    bgpd = ServiceNode("node0", node, kv_file, tmp_path)
    service_nodes.append(bgpd)

    filtered.wait_established("node0", timeout=30)
    control.wait_established("node0", timeout=30)
    # Both sessions are up and have exchanged their initial routes: the block reached the
    # unfiltered peer, and the filtered peer's own route reached bgpd (no import rules).
    control.wait_route(BLOCK, timeout=30)
    wait_until(
        lambda: bgpd.learned_from(FILTERED_ROUTE) is not None,
        timeout=30,
        message=f"bgpd learned {FILTERED_ROUTE} from the filtered peer",
    )
    assert filtered.routes_for(BLOCK) == []
    peers = {p["name"]: p for p in bgpd.ctl("show peers")}
    by_address = {p["address"]: p for p in peers.values()}
    assert by_address[str(filtered_host.ipv4)]["state"] == "Established"
    assert by_address[str(filtered_host.ipv4)]["prefixes_sent"] == 0
    assert by_address[str(control_host.ipv4)]["prefixes_sent"] >= 1
    # Said out loud, once, naming the resource and the field.
    log = bgpd.proc.output(100000)
    warnings = [line for line in log.splitlines() if "confd.unsupported_field" in line]
    assert len(warnings) == 1, warnings
    assert "kind=BGPFilter name=tor field=spec.exportV4[].communities.values" in warnings[0]

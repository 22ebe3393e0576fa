"""BGPPeer's per-peer session fields on the wire, from Calico's datastore to real BIRD 2 peers.

Node `node0` (bgpd with its in-process confd watcher over a key/value file of Calico's v3
resources, AS 64512) peers with two BIRD 2 routers on one LAN:

- `tor` (AS 65000) expects node0 as AS 65100: its BGPPeer has `localASNumber: 65100`,
  `numAllowedLocalASNumbers: 1` and `nextHopMode: Keep`. It originates one route with a plain
  path, one with 65100 once in its path and one with 65100 twice.
- `ib` (AS 64512, iBGP) has `nextHopMode: Self`; it originates one route.

On the wire: tor's session comes up only if node0's OPEN carries 65100 (BIRD refuses any other
AS with Bad Peer AS); node0's block reaches tor with the path `65100` alone (BIRD's `local
as`: the node's AS is not in it); ib's route reaches tor with ib's own next hop (keep, where
eBGP would get node0's) and tor's route reaches ib with node0's next hop (self, where iBGP
would keep tor's). node0 accepts the path with 65100 once and refuses the one with it twice.
Its `keepaliveTime: 20s` is node0's keepalive on the session. Then the BGPPeer loses
`numAllowedLocalASNumbers`, `nextHopMode` and `keepaliveTime`: with no session reset, node0
asks tor again (ROUTE-REFRESH) and drops the route it now refuses, tor gets ib's route with
node0's next hop, and the keepalive is a third of the hold time again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .peers import BgpPeer, BirdConfig, Lan, LanHost, Route, StaticRoute, wait_until
from .peers.fixtures import BirdFactory
from .test_service_routes import ServiceNode, service_nodes, write_atomically

__all__ = ["service_nodes"]  # the fixture, shared with test_service_routes

V3 = "/calico/resources/v3/projectcalico.org"
NODE_AS, TOR_AS, LOCAL_AS = 64512, 65000, 65100
BLOCK = "10.244.0.0/26"
# Inside the pool: Calico's export rules pass on BGP-learned routes of its pools only.
PLAIN, ONCE, TWICE = "10.244.70.0/24", "10.244.71.0/24", "10.244.72.0/24"
IB_ROUTE = "10.244.80.0/24"
TOR_SESSION_FIELDS = {
    "localASNumber": LOCAL_AS,
    "numAllowedLocalASNumbers": 1,
    "nextHopMode": "Keep",
    "keepaliveTime": "20s",
}


def datastore(node: LanHost, tor: LanHost, ib: LanHost, tor_fields: dict[str, Any]) -> Any:
    def resource(plural: str, name: str, spec: dict[str, Any]) -> tuple[str, Any]:
        return f"{V3}/{plural}/{name}", {"metadata": {"name": name}, "spec": spec}

    tor_spec = {"peerIP": str(tor.ipv4), "asNumber": TOR_AS, **tor_fields}
    ib_spec = {"peerIP": str(ib.ipv4), "asNumber": NODE_AS, "nextHopMode": "Self"}
    items = [
        resource("bgpconfigurations", "default", {"nodeToNodeMeshEnabled": False}),
        resource("ippools", "pool", {"cidr": "10.244.0.0/16"}),
        resource("nodes", "node0", {"bgp": {"ipv4Address": node.ipv4_cidr}}),
        resource("bgppeers", "tor", tor_spec),
        resource("bgppeers", "ib", ib_spec),
        (f"/calico/ipam/v2/host/node0/ipv4/block/{BLOCK.replace('/', '-')}", {}),
    ]
    return dict(items)


def tor_config(host: LanHost, node: LanHost) -> BirdConfig:
    peer = BgpPeer(
        name="node0",
        local_as=TOR_AS,
        local_address=str(host.ipv4),
        neighbor_address=str(node.ipv4),
        neighbor_as=LOCAL_AS,  # node0's local AS on this session, not its 64512
    )
    statics = (
        StaticRoute(prefix=PLAIN),
        StaticRoute(prefix=ONCE, as_path_prepend=(LOCAL_AS,)),
        StaticRoute(prefix=TWICE, as_path_prepend=(LOCAL_AS, LOCAL_AS)),
    )
    return BirdConfig(router_id=str(host.ipv4), peers=(peer,), static_routes=statics)


def ib_config(host: LanHost, node: LanHost) -> BirdConfig:
    peer = BgpPeer(
        name="node0",
        local_as=NODE_AS,
        local_address=str(host.ipv4),
        neighbor_address=str(node.ipv4),
        neighbor_as=NODE_AS,
        gateway="direct",  # next hops on the LAN, whoever's they are
        extra="direct;",  # a directly connected iBGP neighbour (BIRD 2's default: multihop)
    )
    statics = (StaticRoute(prefix=IB_ROUTE),)
    return BirdConfig(router_id=str(host.ipv4), peers=(peer,), static_routes=statics)


def peer_name(host: LanHost) -> str:
    return "Global_" + str(host.ipv4).replace(".", "_")


def test_local_as_next_hop_modes_and_allowed_local_as_on_the_wire(
    lan_factory: Any,
    bird_factory: BirdFactory,
    service_nodes: list[ServiceNode],
    tmp_path: Path,
) -> None:
    lan: Lan = lan_factory(3)
    node_host, tor_host, ib_host = lan.hosts
    tor = bird_factory(tor_config(tor_host, node_host), netns=tor_host.ns)
    ib = bird_factory(ib_config(ib_host, node_host), netns=ib_host.ns)
    kv_file = tmp_path / "datastore.yaml"
    write_atomically(kv_file, datastore(node_host, tor_host, ib_host, TOR_SESSION_FIELDS))
    node = ServiceNode("node0", node_host, kv_file, tmp_path)
    service_nodes.append(node)
    node_ip, tor_ip, ib_ip = str(node_host.ipv4), str(tor_host.ipv4), str(ib_host.ipv4)

    # The OPEN carried the local AS: BIRD, expecting AS 65100, established.
    tor.wait_established("node0", timeout=30)
    ib.wait_established("node0", timeout=30)
    assert "Neighbor AS:      65100" in tor.birdc("show protocols all node0")
    # Toward eBGP only the local AS is prepended, not the node's.
    (block,) = tor.wait_route(BLOCK, timeout=30)
    assert block.as_path == (LOCAL_AS,)
    assert block.next_hop == node_ip
    # keep: ib's iBGP route reaches eBGP tor with ib's own next hop.
    (at_tor,) = tor.wait_route(IB_ROUTE, timeout=30)
    assert (at_tor.as_path, at_tor.next_hop) == ((LOCAL_AS,), ib_ip)
    # self: tor's route reaches iBGP ib with node0's next hop, not tor's.
    (at_ib,) = ib.wait_route(PLAIN, timeout=30)
    assert (at_ib.as_path, at_ib.next_hop) == ((TOR_AS,), node_ip)
    # allow local as 1: 65100 once is accepted (and passed on), twice is a loop.
    (once,) = ib.wait_route(ONCE, timeout=30)
    assert once.as_path == (TOR_AS, LOCAL_AS)
    assert node.learned_from(ONCE) == peer_name(tor_host)
    assert node.learned_from(TWICE) is None
    assert ib.routes_for(TWICE) == []
    detail = node.ctl("show peer", name=peer_name(tor_host))
    assert detail["prefixes_received"] == 3 and detail["prefixes_accepted"] == 2
    assert detail["negotiated"]["keepalive_time"] == 20  # keepaliveTime, not 240 / 3
    transitions = {h: node.transitions(peer_name(h)) for h in (tor_host, ib_host)}

    # The BGPPeer loses its allowance, next hop mode and keepalive: applied without a reset.
    fields = {k: v for k, v in TOR_SESSION_FIELDS.items() if k in ("localASNumber",)}
    write_atomically(kv_file, datastore(node_host, tor_host, ib_host, fields))
    ib.wait_no_route(ONCE, timeout=30)  # asked again (ROUTE-REFRESH), now refused
    wait_until(
        lambda: node.learned_from(ONCE) is None,
        timeout=30,
        message=f"node0 dropped {ONCE}",
    )

    def ib_route_via_node() -> list[Route] | None:
        paths = tor.routes_for(IB_ROUTE)
        return paths if paths and paths[0].next_hop == node_ip else None

    wait_until(ib_route_via_node, timeout=30, message=f"tor gets {IB_ROUTE} via node0")
    assert node.learned_from(PLAIN) == peer_name(tor_host)  # the rest is still there
    assert {h: node.transitions(peer_name(h)) for h in (tor_host, ib_host)} == transitions
    detail = node.ctl("show peer", name=peer_name(tor_host))
    assert detail["negotiated"]["keepalive_time"] == 80  # back to a third of the hold time
    assert tor_ip in {p["address"] for p in node.ctl("show peers")}

"""Two reflector clusters in a hierarchy, all bgpd, each speaker in its own namespace.

Cluster A (224.0.0.1): reflector RA with client a1. Cluster B (224.0.0.2): reflectors RB1 and
RB2 (ordinary iBGP non-clients of each other, as Calico peers reflectors of one cluster),
clients b1 and b2; RB1 and RB2 are themselves clients of RA.

Proves: blocks cross the hierarchy both ways into the clients' kernels; the attributes say
which clusters a route went through (CLUSTER_LIST [A, B] from B to A, [B, A] from A to B,
ORIGINATOR_ID the originating node); no CLUSTER_LIST anywhere names a cluster twice; no node
ever gets its own block back; and the loops that reflection creates are cut where RFC 4456 §8
says: a cluster-B route that comes back into cluster B (from the other B reflector, or from
RA after it went up through one B reflector) is dropped on arrival, visible as received but
not accepted in the reflectors' Adj-RIB-In counters.
"""

from __future__ import annotations

from collections.abc import Callable

from .bgpd_proc import BgpdFactory, BgpdProcess
from .calico_node import block
from .peers import Lan, wait_until
from .reflector_net import (
    Client,
    bgpd_client_config,
    bgpd_reflector_config,
    global_peer,
    received_accepted,
    wait_full_mesh_of_blocks,
)

CLUSTER_A = "224.0.0.1"
CLUSTER_B = "224.0.0.2"


def test_two_clusters_in_a_hierarchy_exchange_routes_without_loops(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory
) -> None:
    lan = lan_factory(6)
    ra, rb1, rb2, a1, b1, b2 = lan.hosts
    clients = [Client(host=h, block=block(h.index + 1)) for h in (a1, b1, b2)]
    ca1, cb1, cb2 = clients

    def start(host_index: int, config: str, name: str) -> BgpdProcess:
        return bgpd_factory(lan, config, host=host_index, name=name)

    speaker_ra = start(
        0, bgpd_reflector_config(ra, cluster_id=CLUSTER_A, clients=[rb1, rb2, a1]), "ra"
    )
    speaker_rb = [
        start(
            me.index,
            bgpd_reflector_config(
                me, cluster_id=CLUSTER_B, clients=[b1, b2], non_clients=[ra, other]
            ),
            f"rb{n}",
        )
        for n, (me, other) in enumerate(((rb1, rb2), (rb2, rb1)), start=1)
    ]
    nodes = {
        c.address: start(
            c.host.index,
            bgpd_client_config(
                c.host,
                f"node{c.host.index}",
                reflectors=[ra] if c is ca1 else [rb1, rb2],
                blocks=[c.block],
            ),
            "node",
        )
        for c in clients
    }
    reflectors = [speaker_ra, *speaker_rb]
    speakers = [*reflectors, *nodes.values()]

    wait_full_mesh_of_blocks(clients)

    # B to A: through one B reflector, then RA.
    (up,) = nodes[ca1.address].routes(cb1.block)
    assert up["peer"] == global_peer(ra.ipv4)
    assert up["cluster_list"] == [CLUSTER_A, CLUSTER_B], up
    assert up["originator_id"] == cb1.address and up["next_hop"] == cb1.address, up
    # A to B: RA, then each B reflector (one path per reflector). The kernel route needs one
    # path; the second reflector's copy may still be on its way (each B reflector sends once
    # its own restart recovery is over).
    both = {global_peer(rb1.ipv4), global_peer(rb2.ipv4)}
    wait_until(
        lambda: {r["peer"] for r in nodes[cb1.address].routes(ca1.block)} == both,
        timeout=30,
        message="A's block at b1 through both B reflectors",
    )
    down = {r["peer"]: r for r in nodes[cb1.address].routes(ca1.block)}
    assert down.keys() == both, down
    for path in down.values():
        assert path["cluster_list"] == [CLUSTER_B, CLUSTER_A], path
        assert path["originator_id"] == ca1.address and path["next_hop"] == ca1.address, path
    # Inside B: one reflection only.
    for path in nodes[cb1.address].routes(cb2.block):
        assert path["cluster_list"] == [CLUSTER_B] and path["originator_id"] == cb2.address
    # RA learned each B block from both B reflectors, stamped once by cluster B.
    for client in (cb1, cb2):
        wait_until(
            lambda c=client: {r["peer"] for r in speaker_ra.routes(c.block)} == both,
            timeout=30,
            message="B's block at RA from both B reflectors",
        )
        paths = {r["peer"]: r for r in speaker_ra.routes(client.block)}
        assert paths.keys() == both, paths
        assert all(p["cluster_list"] == [CLUSTER_B] for p in paths.values()), paths

    # The loop cuts, counted in each B reflector's Adj-RIB-In.
    b_blocks = {cb1.block, cb2.block}

    def dropped(speaker: BgpdProcess, peer: str) -> int:
        received, accepted = received_accepted(speaker, peer)
        return received - accepted

    def loop_drops() -> tuple[int, int, int]:
        rb1_rb2 = dropped(speaker_rb[0], global_peer(rb2.ipv4))
        rb2_rb1 = dropped(speaker_rb[1], global_peer(rb1.ipv4))
        from_ra = sum(dropped(s, global_peer(ra.ipv4)) for s in speaker_rb)
        return rb1_rb2, rb2_rb1, from_ra

    # Each B reflector reflects its clients' blocks to the other, which finds its own cluster
    # in CLUSTER_LIST; RA sends each B block (best via one B reflector) to the other one,
    # which finds cluster B in [A, B].
    wait_until(
        lambda: loop_drops() == (2, 2, 2),
        timeout=15,
        message="B reflectors dropped the B blocks looping back from RB and from RA",
        describe=lambda: {s.name: s.peers() for s in reflectors},
    )
    for speaker in speaker_rb:
        for peer in (global_peer(ra.ipv4), *(global_peer(h.ipv4) for h in (rb1, rb2))):
            if peer in speaker.peers():
                kept = {r["prefix"] for r in speaker.routes(peer=peer)}
                assert not kept & b_blocks, (speaker.name, peer, kept)

    # No route anywhere went through a cluster twice or came back to where it started.
    for speaker in speakers:
        for route in speaker.routes():
            if route["source"] not in ("ibgp", "ebgp"):
                continue
            assert len(set(route["cluster_list"])) == len(route["cluster_list"]), route
    for client in clients:
        node = nodes[client.address]
        assert [r for r in node.routes(client.block) if r["source"] == "ibgp"] == []
        for view in node.peers().values():
            assert view["prefixes_received"] == view["prefixes_accepted"], view

"""Two bgpd route reflectors of one cluster and four Calico nodes (three bgpd, one BIRD 1.6
configured like Calico's bird.cfg), each in its own namespace on one bridge, real kernels.

Proves: every client's kernel gets every other client's block with the owner as next hop,
stamped as RFC 4456 says; SIGKILL of one reflector removes no block route from any client's
kernel (`ip monitor route` running across the kill shows no deletion); the restarted
reflector relearns every block and the clients' kernels see no change at all meanwhile (BIRD
1.6 rewrites its kernel route on any best-path change, so this needs the reflector to come back
as Calico's `bird -R` does; see the lone-reflector test below).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .calico_node import block, ours
from .peers import Lan, wait_until
from .peers.bird import BirdDaemon, BirdError
from .peers.fixtures import BirdFactory
from .reflector_net import (
    CLUSTER_ID,
    Client,
    RouteMonitor,
    bgpd_client_config,
    bgpd_reflector_config,
    bird16_client_config,
    counts_are,
    global_peer,
    holds_from,
    session_down,
    wait_full_mesh_of_blocks,
)


def test_two_reflectors_four_clients_survive_a_reflector_kill_and_restart(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory, bird_factory: BirdFactory
) -> None:
    lan = lan_factory(6)
    rr_hosts = list(lan.hosts[:2])
    client_hosts = list(lan.hosts[2:])
    clients = [Client(host=h, block=block(h.index + 1)) for h in client_hosts]
    reflectors = [
        bgpd_factory(
            lan,
            bgpd_reflector_config(
                h, clients=client_hosts, non_clients=[o for o in rr_hosts if o is not h]
            ),
            host=h.index,
            name="rr",
        )
        for h in rr_hosts
    ]
    nodes: list[BgpdProcess] = [
        bgpd_factory(
            lan,
            bgpd_client_config(
                c.host, f"node{c.host.index}", reflectors=rr_hosts, blocks=[c.block]
            ),
            host=c.host.index,
            name="node",
        )
        for c in clients[:3]
    ]
    bird_client = clients[3]
    bird = bird_factory(
        bird16_client_config(bird_client.host, reflectors=rr_hosts, block=bird_client.block),
        version="1.6",
        netns=bird_client.ns,
        name="bird16-node",
    )
    rr_peers = [global_peer(h.ipv4) for h in rr_hosts]

    wait_full_mesh_of_blocks(clients)
    # A kernel route needs one path; the second reflector's copies may still be on their way
    # (each reflector sends once its own restart recovery is over).
    wait_until(
        lambda: all(p["prefixes_received"] == 3 for node in nodes for p in node.peers().values()),
        timeout=30,
        message="every client has the three other blocks from both reflectors",
    )
    # RFC 4456 stamps, seen by a bgpd client: one path per reflector, the originator's router
    # id as ORIGINATOR_ID, our one cluster in CLUSTER_LIST, the next hop left alone.
    for other in [clients[1], bird_client]:
        paths = {r["peer"]: r for r in nodes[0].routes(other.block)}
        assert paths.keys() == set(rr_peers), paths
        for path in paths.values():
            assert path["originator_id"] == other.address, path
            assert path["cluster_list"] == [CLUSTER_ID], path
            assert path["next_hop"] == other.address, path
    # BIRD 1.6 sees the same stamps on a bgpd client's block.
    for bird_path in bird.routes_for(clients[0].block):
        assert bird_path.originator_id == clients[0].address, bird_path
        assert bird_path.cluster_list == (CLUSTER_ID,), bird_path
    # Nothing came back to its originator: no client dropped anything as a loop.
    for node in nodes:
        for peer in node.peers().values():
            assert peer["prefixes_received"] == peer["prefixes_accepted"] == 3, peer
    # The two reflectors reflect every client block to each other, and each drops the other's
    # copies on arrival (its own cluster id is in their CLUSTER_LIST): received, not accepted.
    for rr, other_rr in zip(reflectors, reversed(rr_peers), strict=True):
        wait_until(
            counts_are(rr, other_rr, (len(clients), 0)),
            timeout=15,
            message=f"{rr.name} dropped {other_rr}'s reflections of the cluster's routes",
            describe=rr.peers,
        )
    before = {c.address: ours(c.ns) for c in clients}

    blocks = [c.block for c in clients]
    workdir = reflectors[0].workdir
    monitors = [RouteMonitor(c.ns, workdir, f"monitor-{c.host.index}") for c in clients]
    try:
        # SIGKILL: no NOTIFICATION, the reflector's sockets just close.
        reflectors[0].kill()
        for node in nodes:
            wait_until(
                session_down(node, rr_peers[0]),
                timeout=20,
                message=f"{node.name} saw {rr_peers[0]} go down",
            )
        wait_until(
            lambda: bird.protocol_state(rr_peers[0]) != "Established",
            timeout=20,
            message="BIRD saw the killed reflector's session go down",
            retry_on=(BirdError,),
        )
        # The clients still have a live path for every block through the other reflector.
        for node in nodes:
            live = {
                r["prefix"]
                for r in node.routes(peer=rr_peers[1])
                if not r["stale"] and r["cluster_list"] == [CLUSTER_ID]
            }
            assert live == set(blocks) - set(node_blocks(node, clients)), live
        for monitor in monitors:
            monitor.sync()
        for monitor, client in zip(monitors, clients, strict=True):
            assert monitor.deletions(blocks) == [], (client.address, monitor.events(blocks))
        for client in clients:
            assert ours(client.ns) == before[client.address]

        # Bring it back: it relearns every block from the clients themselves...
        reflectors[0].start()
        wait_until(
            lambda: all(
                (learned := reflectors[0].learned(c.block)) is not None
                and learned["peer"] == global_peer(c.address)
                for c in clients
            ),
            timeout=45,
            message="the restarted reflector relearned every block from its owner",
            describe=reflectors[0].routes,
        )
        # ...and every client takes it back as a live, non-stale source of every other block.
        for node in nodes:
            node.wait_established(rr_peers[0], timeout=30)
            others = set(blocks) - set(node_blocks(node, clients))
            wait_until(
                holds_from(node, rr_peers[0], others, fresh=True),
                timeout=30,
                message=f"{node.name} has fresh paths from the restarted reflector",
                describe=node.routes,
            )
        bird.wait_established(rr_peers[0], timeout=30)
        wait_until(
            lambda: bird_paths_from(bird, rr_peers[0]) >= set(blocks) - {bird_client.block},
            timeout=30,
            message="BIRD learned every block from the restarted reflector",
            retry_on=(BirdError,),
            describe=bird.diagnostics,
        )
        for monitor in monitors:
            monitor.sync()
    finally:
        for monitor in monitors:
            monitor.stop()
    for monitor, client in zip(monitors, clients, strict=True):
        # Not a single change to a block route at any client across kill and restart.
        assert monitor.events(blocks) == [], (client.address, monitor.events(blocks))
        assert ours(client.ns) == before[client.address]


def node_blocks(node: BgpdProcess, clients: list[Client]) -> list[str]:
    return [c.block for c in clients if c.ns is node.netns]


def bird_paths_from(bird: BirdDaemon, protocol: str) -> set[str]:
    return {
        prefix
        for prefix, paths in bird.routes().items()
        if any(p.source == protocol for p in paths)
    }


@pytest.mark.parametrize("state_file", [False, True], ids=["no-state-file", "state-file"])
def test_a_restarted_lone_reflector_does_not_flush_its_clients_routes(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory, tmp_path: Path, state_file: bool
) -> None:
    """One reflector, two clients (projectcalico/bird#57's setup): while the reflector is
    down its clients keep its routes (graceful restart helpers); when it comes back it must
    not make them drop those routes before it has relearned and re-sent them. Calico's BIRD
    reflector runs with -R: R and F bits in its OPEN and no End-of-RIB until its own peers'
    End-of-RIBs are in (RFC 4724 §4.1), so the client's kernel never changes. With a restart
    state file (`[bgp] restart_state_file`) the reflector knows its sessions were up a moment
    ago, and restarts the same way."""
    lan = lan_factory(3)
    rr_host, *client_hosts = lan.hosts
    clients = [Client(host=h, block=block(h.index + 1)) for h in client_hosts]
    config = bgpd_reflector_config(rr_host, clients=client_hosts)
    state = tmp_path / "restart-state.json"
    if state_file:
        config = config.replace("[bgp]\n", f'[bgp]\nrestart_state_file = "{state}"\n', 1)
    reflector = bgpd_factory(lan, config, host=0, name="rr")
    nodes = [
        bgpd_factory(
            lan,
            bgpd_client_config(
                c.host, f"node{c.host.index}", reflectors=[rr_host], blocks=[c.block]
            ),
            host=c.host.index,
            name="node",
        )
        for c in clients
    ]
    wait_full_mesh_of_blocks(clients)
    if state_file:
        wait_until(state.exists, timeout=10, message="the reflector recorded its sessions up")
    rr_peer = global_peer(rr_host.ipv4)
    watched, other = clients[0], clients[1]
    with RouteMonitor(watched.ns, reflector.workdir, "monitor") as monitor:
        reflector.kill()
        for node in nodes:
            wait_until(
                session_down(node, rr_peer), timeout=20, message=f"{node.name} saw the reflector go"
            )
        # The other client is frozen while the reflector comes back, so the watched client
        # is certain to be up with the reflector before the other one's block is back in it.
        assert nodes[1].proc is not None
        nodes[1].proc.send_signal(signal.SIGSTOP)
        try:
            reflector.start()
            if state_file:
                assert "start restarting reason=sessions_up_recently" in reflector.output()
            nodes[0].wait_established(rr_peer)
        finally:
            nodes[1].proc.send_signal(signal.SIGCONT)
        wait_until(
            holds_from(nodes[0], rr_peer, {other.block}, fresh=True),
            timeout=30,
            message="the client has a fresh path from the restarted reflector",
            describe=nodes[0].routes,
        )
        monitor.sync()
        # Not even a delete and re-add of the other client's block.
        assert monitor.events([other.block]) == []

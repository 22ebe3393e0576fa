"""One cluster served by two reflectors from different implementations: bgpd and BIRD 2,
with three bgpd Calico nodes as clients, each speaker in its own namespace.

Our reflector runs without graceful restart here, so when it dies its clients drop its paths
at once: every block must then still be in every kernel purely through BIRD 2's reflection.

Proves: every client's kernel holds every other block via its owner; both reflectors stamp
ORIGINATOR_ID and the shared cluster id; our reflector drops the copies BIRD 2 reflects to it
(its cluster is already in their CLUSTER_LIST); SIGKILL of our reflector changes nothing in
any client's kernel (no deletion, not even a replace, seen by `ip monitor route`); restarted,
it relearns every block and the kernels still do not change.
"""

from __future__ import annotations

from collections.abc import Callable

from .bgpd_proc import BgpdFactory
from .calico_node import block, ours
from .peers import Lan, wait_until
from .peers.bird import BirdError
from .peers.fixtures import BirdFactory
from .reflector_net import (
    CLUSTER_ID,
    Client,
    RouteMonitor,
    bgpd_client_config,
    bgpd_reflector_config,
    bird2_reflector_config,
    counts_are,
    global_peer,
    holds_from,
    prefixes_from,
    session_down,
    wait_full_mesh_of_blocks,
)


def test_bgpd_and_bird2_reflectors_share_a_cluster_and_a_kill_of_ours_changes_nothing(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory, bird_factory: BirdFactory
) -> None:
    lan = lan_factory(5)
    ours_host, bird_host, *client_hosts = lan.hosts
    clients = [Client(host=h, block=block(h.index + 1)) for h in client_hosts]
    blocks = {c.block for c in clients}
    reflector = bgpd_factory(
        lan,
        bgpd_reflector_config(
            ours_host, clients=client_hosts, non_clients=[bird_host], graceful_restart=False
        ),
        host=0,
        name="rr",
    )
    bird = bird_factory(
        bird2_reflector_config(bird_host, clients=client_hosts, non_clients=[ours_host]),
        version="2",
        netns=bird_host.ns,
        name="bird2-rr",
    )
    nodes = [
        bgpd_factory(
            lan,
            bgpd_client_config(
                c.host,
                f"node{c.host.index}",
                reflectors=[ours_host, bird_host],
                blocks=[c.block],
            ),
            host=c.host.index,
            name="node",
        )
        for c in clients
    ]
    ours_peer, bird_peer = global_peer(ours_host.ipv4), global_peer(bird_host.ipv4)

    wait_full_mesh_of_blocks(clients)

    def paths_by_reflector() -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        for node in nodes:
            for route in node.routes():
                if route["source"] == "ibgp":
                    seen.setdefault(f"{node.name} {route['peer']}", set()).add(route["prefix"])
        return seen

    wait_until(
        lambda: (
            len(paths_by_reflector()) == 2 * len(nodes)
            and all(len(got) == len(blocks) - 1 for got in paths_by_reflector().values())
        ),
        timeout=30,
        message="every client has every other block from both reflectors",
        describe=paths_by_reflector,
    )
    for node, client in zip(nodes, clients, strict=True):
        for other in clients:
            if other is client:
                continue
            paths = {r["peer"]: r for r in node.routes(other.block)}
            assert paths.keys() == {ours_peer, bird_peer}, (node.name, paths)
            for path in paths.values():
                assert path["originator_id"] == other.address, path
                assert path["cluster_list"] == [CLUSTER_ID], path
                assert path["next_hop"] == other.address, path
    # BIRD 2 reflects every client block to us with our shared cluster id: a loop, dropped.
    wait_until(
        counts_are(reflector, bird_peer, (len(blocks), 0)),
        timeout=15,
        message="our reflector dropped BIRD 2's reflections of the cluster's own routes",
        describe=lambda: reflector.peers()[bird_peer],
    )
    # And BIRD 2 holds every block with its owner as the best path.
    for client in clients:
        (best,) = [p for p in bird.routes_for(client.block) if p.best]
        assert best.source == global_peer(client.address) and best.next_hop == client.address
    before = {c.address: ours(c.ns) for c in clients}

    monitors = [RouteMonitor(c.ns, reflector.workdir, f"monitor-{c.host.index}") for c in clients]
    try:
        reflector.kill()
        for node in nodes:
            # No graceful restart from our reflector: its paths go as soon as its session does,
            # and BIRD 2's are the only ones left.
            wait_until(session_down(node, ours_peer), timeout=20, message=f"{node.name}: down")
            wait_until(
                holds_from(node, ours_peer, set()),
                timeout=10,
                message=f"{node.name} dropped the killed reflector's paths",
                describe=node.routes,
            )
            mine = {c.block for c in clients if c.ns is node.netns}
            assert prefixes_from(node, bird_peer) == blocks - mine
        for monitor in monitors:
            monitor.sync()
        for monitor, client in zip(monitors, clients, strict=True):
            assert monitor.events(blocks) == [], (client.address, monitor.events(blocks))
            assert ours(client.ns) == before[client.address]

        reflector.start()
        wait_until(
            lambda: all(
                (learned := reflector.learned(c.block)) is not None
                and learned["peer"] == global_peer(c.address)
                for c in clients
            ),
            timeout=45,
            message="the restarted reflector relearned every block from its owner",
            describe=reflector.routes,
        )
        for node in nodes:
            mine = {c.block for c in clients if c.ns is node.netns}
            wait_until(
                holds_from(node, ours_peer, blocks - mine),
                timeout=30,
                message=f"{node.name} has the restarted reflector's paths again",
                describe=node.routes,
            )
        wait_until(
            lambda: bird.protocol_state(ours_peer) == "Established",
            timeout=30,
            message="BIRD 2 is back in session with our reflector",
            retry_on=(BirdError,),
        )
        for monitor in monitors:
            monitor.sync()
    finally:
        for monitor in monitors:
            monitor.stop()
    for monitor, client in zip(monitors, clients, strict=True):
        assert monitor.events(blocks) == [], (client.address, monitor.events(blocks))
        assert ours(client.ns) == before[client.address]

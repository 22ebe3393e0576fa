"""A restarting speaker (RFC 4724 §4.1): a reflector restarted with graceful restart defers its
exports until its clients' End-of-RIB, so no client ever drops a route it did not relearn."""

from __future__ import annotations

import random

from bgpd.config import parse_config
from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.speaker import Speaker
from tests.unit.outbound.test_update_groups import RR, client_config, rr_config

from .harness import Net, cut

KERNEL = "\n[kernel]\nenabled = true\n"  # forwarding updates exist only with kernel sync


def cluster(clients: int = 3) -> Net:
    net = Net()
    net.add("rr", RR, rr_config(clients))
    for i in range(1, clients + 1):
        net.add(f"c{i}", f"127.0.1.{i}", client_config(i) + KERNEL)
    net.start()
    return net


def restart_reflector(net: Net, *, recovering: bool, text: str | None = None) -> Speaker:
    """SIGKILL and start again: connections die without a NOTIFICATION, a new speaker."""
    for i in range(1, 4):
        cut(net, "rr", f"client{i}")
    for i in range(1, 4):
        net.nodes[f"c{i}"].speaker.take_fib_updates()
    speaker = Speaker(parse_config(text or rr_config(3)), random.Random(3))
    net.nodes["rr"].speaker = speaker
    if recovering:
        speaker.set_restarting(True)
    speaker.start(net.now)
    net.settle()
    return speaker


def removals(net: Net, node: str, prefix: str) -> int:
    nlri = pack_prefix(prefix)
    return sum(
        1
        for u in net.nodes[node].speaker.take_fib_updates()
        if nlri in u.nlris and u.next_hops == ()
    )


def test_a_restarted_reflector_sends_nothing_until_every_client_sent_end_of_rib() -> None:
    net = cluster()
    rr = restart_reflector(net, recovering=True)
    net.advance(5)
    assert not rr.recovering
    # Every client kept the others' routes throughout: no removal ever reached its kernel.
    for i in (1, 2, 3):
        others = [f"10.100.{j}.0/24" for j in (1, 2, 3) if j != i]
        for prefix in others:
            assert removals(net, f"c{i}", prefix) == 0, (i, prefix)
            views = net.nodes[f"c{i}"].speaker.route_views(prefix)
            assert [v.stale for v in views] == [False]  # refreshed, not stale


def test_without_recovery_the_clients_drop_and_relearn() -> None:
    # The failure the recovery exists for (projectcalico/bird#57): a fresh start sends an
    # empty table and End-of-RIB first, and the clients flush what it had not relearned.
    net = cluster()
    restart_reflector(net, recovering=False)
    net.advance(5)
    assert removals(net, "c1", "10.100.2.0/24") >= 1
    assert len(net.nodes["c1"].speaker.route_views("10.100.2.0/24")) == 1  # relearned


def test_an_unreachable_peer_does_not_hold_recovery_and_the_wait_bounds_a_silent_one() -> None:
    net = cluster()
    # A fourth client that is configured but never answers (passive: we cannot even see a
    # refused connection), and a wait of 30 s.
    text = rr_config(4).replace("[control]", "graceful_restart_wait = 30\n\n[control]")
    text = text.replace(
        'name = "client4"\naddress = "127.0.1.4"',
        'name = "client4"\naddress = "127.0.1.4"\npassive = true',
    )
    rr = restart_reflector(net, recovering=True, text=text)
    net.advance(10)
    assert rr.recovering
    assert rr.route_views("10.100.1.0/24")  # it learned from the clients meanwhile
    assert net.nodes["c2"].speaker.route_views("10.100.1.0/24")[0].stale is True
    net.advance(25)
    assert not rr.recovering
    views = net.nodes["c2"].speaker.route_views("10.100.1.0/24")
    assert [v.stale for v in views] == [False]
    assert rr.rib.best(IPV4_UNICAST, pack_prefix("10.100.3.0/24")) is not None


def test_two_speakers_starting_together_do_not_wait_for_each_other() -> None:
    # Both restart (R bit set on both sides): RFC 4724 §4.1 has neither wait for the other's
    # End-of-RIB, so routes flow at once instead of after graceful_restart_wait.
    net = Net()
    net.add("rr", RR, rr_config(1))
    net.add("c1", "127.0.1.1", client_config(1))
    for node in net.nodes.values():
        node.speaker.set_restarting(True)
    net.start()
    assert not net.nodes["rr"].speaker.recovering
    assert not net.nodes["c1"].speaker.recovering
    assert net.nodes["rr"].speaker.route_views("10.100.1.0/24")

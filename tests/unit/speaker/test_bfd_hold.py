"""BFD in the speaker: a failure closes the session at once (Cease/BFD Down), withdraws the
peer's routes even where graceful restart would keep them, and holds the session down until
BFD is Up again; an AdminDown from the neighbour changes nothing (RFC 5882 §3.2)."""

from __future__ import annotations

from dataclasses import replace

from bgpd.metrics import SnapshotSource, new_registry, render
from bgpd.speaker import FibUpdate
from bgpd.views import PeerView

from .harness import Net, config

KERNEL = "[kernel]\nenabled = true\n"
ROUTE = '[[static]]\nprefix = "10.20.0.0/24"\nnext_hop = "127.0.0.2"\n'


def nodes(*, n_bit: bool = False) -> Net:
    """a peers with b (BFD on a's side) and with c; b originates a route, c learns it via a."""
    net = Net()
    a = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64513), ("to_c", "127.0.0.3", 64514)])
    a = a.replace('local_address = "127.0.0.1"\n', 'local_address = "127.0.0.1"\nbfd = true\n', 1)
    a = a.replace("[control]", KERNEL + "\n[control]")
    net.add("a", "127.0.0.1", a)
    net.add("b", "127.0.0.2", config(64513, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], ROUTE))
    net.add("c", "127.0.0.3", config(64514, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    if n_bit:  # RFC 8538 on both sides: a Cease other than Hard Reset keeps the routes
        for node, peer in (("a", "to_b"), ("b", "to_a")):
            session = net.nodes[node].speaker.peer_session(peer)
            assert session is not None
            session.update_settings(replace(session.settings, graceful_restart_notification=True))
    net.start()
    return net


def view(net: Net, node: str, peer: str) -> PeerView:
    v = net.nodes[node].speaker.peer_view(peer, net.now)
    assert v is not None
    return v


def has_route(net: Net, node: str) -> bool:
    return bool(net.nodes[node].speaker.route_views("10.20.0.0/24"))


def fib_withdrawn(updates: list[FibUpdate]) -> bool:
    return any(not u.next_hops for u in updates)


def test_a_bfd_failure_closes_withdraws_and_holds_until_bfd_is_up() -> None:
    net = nodes()
    a = net.nodes["a"].speaker
    assert view(net, "a", "to_b").state == "Established"
    assert view(net, "a", "to_b").bfd == "Down"  # configured, nothing heard yet
    assert view(net, "a", "to_c").bfd is None
    assert has_route(net, "a") and has_route(net, "c")
    a.take_fib_updates()
    a.bfd_changed("to_b", "Init", failure=False, diag="", now=net.now)
    a.bfd_changed("to_b", "Up", failure=False, diag="", now=net.now)
    net.settle()
    assert view(net, "a", "to_b").state == "Established"  # Up: nothing to do
    a.bfd_changed("to_b", "Down", failure=True, diag="control detection time expired", now=net.now)
    net.settle()
    held = view(net, "a", "to_b")
    assert held.state == "Idle" and held.bfd == "Down"
    assert held.last_error == "BFD session down: control detection time expired"
    # b heard why (RFC 9384 Cease subcode 10)
    assert "BFD Down" in view(net, "b", "to_a").last_error
    assert not has_route(net, "a") and not has_route(net, "c")
    assert fib_withdrawn(a.take_fib_updates())  # the kernel is told at once
    net.advance(300, step=5.0)  # b keeps dialling; a refuses: still down
    assert view(net, "a", "to_b").state == "Idle"
    assert not has_route(net, "c")
    a.bfd_changed("to_b", "Up", failure=False, diag="", now=net.now)
    net.advance(30, step=1.0)
    assert view(net, "a", "to_b").state == "Established"
    assert view(net, "a", "to_b").bfd == "Up"
    assert has_route(net, "a") and has_route(net, "c")


def test_graceful_restart_does_not_keep_the_routes_of_a_failed_path() -> None:
    net = nodes(n_bit=True)
    a = net.nodes["a"].speaker
    session = a.peer_session("to_b")
    assert session is not None and session.negotiated is not None
    assert session.negotiated.peer_graceful_restart is not None  # GR negotiated
    a.bfd_changed("to_b", "Up", failure=False, diag="", now=net.now)
    a.bfd_changed("to_b", "Down", failure=True, diag="neighbor signaled session down", now=net.now)
    net.settle()
    assert not has_route(net, "a")
    detail = view(net, "a", "to_b").detail
    assert detail is not None and detail.graceful_restart_stale == ()


def test_an_admin_down_from_the_neighbour_keeps_the_session() -> None:
    net = nodes()
    a = net.nodes["a"].speaker
    a.bfd_changed("to_b", "Up", failure=False, diag="", now=net.now)
    a.bfd_changed("to_b", "Down", failure=False, diag="neighbor signaled session down", now=net.now)
    net.advance(10)
    assert view(net, "a", "to_b").state == "Established"
    assert has_route(net, "c")


def test_a_reload_keeps_the_hold_and_turning_bfd_off_releases_it() -> None:
    net = nodes()
    a = net.nodes["a"].speaker
    a.bfd_changed("to_b", "Up", failure=False, diag="", now=net.now)
    a.bfd_changed("to_b", "Down", failure=True, diag="x", now=net.now)
    net.settle()
    text = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64513), ("to_c", "127.0.0.3", 64514)])
    # hold_time changes: to_b's session is re-created, and must stay down
    changed = text.replace(
        'local_address = "127.0.0.1"\n',
        'local_address = "127.0.0.1"\nbfd = true\nhold_time = 30\n',
        1,
    )
    net.reload("a", changed)
    net.advance(60, step=5.0)
    assert view(net, "a", "to_b").state == "Idle"
    net.reload("a", text)  # bfd off
    a.bfd_keep_only(set(), net.now)
    # the removed session's AdminDown reaches the speaker after the reload: ignored
    a.bfd_changed("to_b", "AdminDown", failure=False, diag="", now=net.now)
    net.advance(60, step=1.0)
    assert view(net, "a", "to_b").state == "Established"
    assert view(net, "a", "to_b").bfd is None


def test_metrics_show_the_bfd_state_failures_and_drops() -> None:
    net = nodes()
    a = net.nodes["a"].speaker
    a.bfd_changed("to_b", "Up", failure=False, diag="", now=net.now)
    source = SnapshotSource(
        a,
        clock=lambda: net.now,
        wall=lambda: 0.0,
        bfd_drops=lambda: {"ttl": 4},
        bfd_restarts=lambda: 2,
    )

    def text() -> str:
        return render(new_registry(source.snapshot, process=False))[0].decode()

    assert 'bgpd_peer_bfd_up{address="127.0.0.2",peer="to_b"} 1.0' in text()
    assert 'peer="to_c"' not in "".join(
        line for line in text().splitlines() if line.startswith("bgpd_peer_bfd")
    )
    assert 'bgpd_bfd_packets_dropped_total{reason="ttl"} 4.0' in text()
    assert "bgpd_bfd_process_restarts_total 2.0" in text()
    a.bfd_changed("to_b", "Down", failure=True, diag="x", now=net.now)
    assert 'bgpd_peer_bfd_up{address="127.0.0.2",peer="to_b"} 0.0' in text()
    assert 'bgpd_peer_bfd_failures_total{address="127.0.0.2",peer="to_b"} 1.0' in text()

"""The sans-IO speaker: sessions come up, statics are exported with the right attributes,
learned routes land in the Loc-RIB, reloads touch only what changed."""

from __future__ import annotations

from bgpd.views import RouteView

from .harness import Net, config

STATICS_A = """
[[static]]
prefix = "10.10.1.0/24"
communities = ["64512:100"]
large_communities = ["64512:1:2"]
med = 10

[[static]]
prefix = "fd00:10:1::/64"
next_hop = "fd00::a"
"""


def two_nodes(asn_b: int = 64512, statics_a: str = STATICS_A) -> Net:
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [("to_b", "127.0.0.2", asn_b)], statics_a))
    net.add("b", "127.0.0.2", config(asn_b, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    return net


def routes(net: Net, node: str, prefix: str | None = None) -> list[RouteView]:
    return [r for r in net.nodes[node].speaker.route_views(prefix) if r.peer != "static"]


def test_ibgp_session_comes_up_and_statics_cross_with_attributes() -> None:
    net = two_nodes()
    for node in ("a", "b"):
        views = net.nodes[node].speaker.peer_views(net.now)
        assert [v.state for v in views] == ["Established"], (node, views)
    (v4,) = routes(net, "b", "10.10.1.0/24")
    assert v4.next_hop == "127.0.0.1"
    assert v4.as_path == ()
    assert v4.local_pref == 100
    assert v4.med == 10
    assert v4.communities == ("64512:100",)
    assert v4.large_communities == ("64512:1:2",)
    (v6,) = routes(net, "b", "fd00:10:1::/64")
    assert v6.next_hop == "fd00::a"
    a_view = net.nodes["a"].speaker.peer_views(net.now)[0]
    assert a_view.prefixes_sent == 2
    b_view = net.nodes["b"].speaker.peer_views(net.now)[0]
    assert b_view.prefixes_received == 2


def test_ebgp_prepends_our_as_and_sends_no_local_pref() -> None:
    net = two_nodes(asn_b=65001)
    (v4,) = routes(net, "b", "10.10.1.0/24")
    assert v4.as_path == (64512,)
    assert v4.local_pref is None


def test_reload_changing_statics_re_exports_without_a_reset() -> None:
    net = two_nodes()
    closed_before = list(net.closed)
    flaps_before = net.nodes["b"].speaker.peer_view("to_a", net.now)
    assert flaps_before is not None
    new_a = config(
        64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], '[[static]]\nprefix = "10.10.9.0/24"\n'
    )
    actions = net.reload("a", new_a)
    assert "static routes re-exported" in actions
    assert routes(net, "b", "10.10.1.0/24") == []
    assert routes(net, "b", "fd00:10:1::/64") == []
    assert len(routes(net, "b", "10.10.9.0/24")) == 1
    assert net.nodes["b"].speaker.peer_views(net.now)[0].state == "Established"
    assert net.closed == closed_before
    flaps_after = net.nodes["b"].speaker.peer_view("to_a", net.now)
    assert flaps_after is not None
    assert (
        flaps_after.detail.session.established_transitions
        == flaps_before.detail.session.established_transitions
    )


def test_reload_removing_a_peer_sends_cease_and_the_other_side_drops_routes() -> None:
    net = two_nodes()
    net.reload("a", config(64512, "127.0.0.1", [], STATICS_A))
    assert net.nodes["a"].speaker.peer_views(net.now) == []
    assert routes(net, "b") == []
    assert net.nodes["b"].speaker.peer_views(net.now)[0].state != "Established"


def test_shutdown_sends_cease_and_peer_forgets_routes() -> None:
    net = two_nodes()
    net.nodes["a"].speaker.shutdown(net.now)
    net.settle()
    assert routes(net, "b") == []
    last_error = net.nodes["b"].speaker.peer_views(net.now)[0].last_error
    assert last_error and "Cease" in last_error


def test_hold_timer_expiry_when_the_peer_goes_silent() -> None:
    net = two_nodes()
    # Cut the wire without closing it: b stops hearing a; a's keepalives are dropped.
    for conn_id, (node, _peer, _other) in list(net.ends.items()):
        if node == "a":
            del net.ends[conn_id]
    net.advance(242)  # hold 240 s, and the error wait (5 s) has not yet let it redial
    view = net.nodes["b"].speaker.peer_views(net.now)[0]
    assert view.state != "Established"
    assert "Hold Timer Expired" in (view.last_error or "")
    assert routes(net, "b") == []
    # The cut was only of the old connection: after the error wait the session comes back.
    net.advance(30)
    assert net.nodes["b"].speaker.peer_views(net.now)[0].state == "Established"
    assert len(routes(net, "b", "10.10.1.0/24")) == 1


def test_a_blocked_peer_gets_no_updates_then_only_the_latest_state() -> None:
    net = two_nodes()
    a = net.nodes["a"].speaker
    conn = a._peers["to_b"].session.established_conn_id
    assert conn is not None
    a.set_writable("to_b", conn, False, net.now)
    updates_before = a._peers["to_b"].session.counters.updates_out
    for n in range(20):  # churn while the peer is slow: nothing may pile up for it
        net.reload(
            "a",
            config(
                64512,
                "127.0.0.1",
                [("to_b", "127.0.0.2", 64512)],
                f'[[static]]\nprefix = "10.77.{n}.0/24"\n',
            ),
        )
    assert a._peers["to_b"].session.counters.updates_out == updates_before
    assert len(routes(net, "b", "10.10.1.0/24")) == 1  # b still holds the old state
    a.set_writable("to_b", conn, True, net.now)
    net.settle()
    assert [r.prefix for r in routes(net, "b")] == ["10.77.19.0/24"]
    # One withdrawal UPDATE per family and one announcement: not 20 rounds of churn.
    assert a._peers["to_b"].session.counters.updates_out - updates_before <= 3


def three_nodes() -> Net:
    net = Net()
    net.add(
        "a",
        "127.0.0.1",
        config(
            64512,
            "127.0.0.1",
            [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)],
            STATICS_A,
        ),
    )
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.add("c", "127.0.0.3", config(64512, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    return net


def flaps(net: Net, node: str, peer: str) -> int:
    view = net.nodes[node].speaker.peer_view(peer, net.now)
    assert view is not None
    return int(view.detail.session.established_transitions)


def test_reload_resets_only_the_peer_whose_session_parameters_changed() -> None:
    net = three_nodes()
    before = flaps(net, "a", "to_b"), flaps(net, "a", "to_c")
    changed = config(
        64512,
        "127.0.0.1",
        [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)],
        STATICS_A,
    ).replace('address = "127.0.0.3"\n', 'address = "127.0.0.3"\nhold_time = 90\n')
    actions = net.reload("a", changed)
    assert actions == ["peer to_c restarted (session parameters changed)"]
    assert flaps(net, "a", "to_b") == before[0]
    assert flaps(net, "a", "to_c") == before[1] + 1
    c_view = net.nodes["a"].speaker.peer_view("to_c", net.now)
    assert c_view is not None and c_view.detail.session.negotiated.hold_time == 90
    assert len(routes(net, "c", "10.10.1.0/24")) == 1


def test_reload_of_timers_only_resets_nothing_and_takes_the_new_values() -> None:
    net = two_nodes()
    before = flaps(net, "a", "to_b")
    new = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], STATICS_A).replace(
        'local_address = "127.0.0.1"\n', 'local_address = "127.0.0.1"\nconnect_retry_time = 17\n'
    )
    assert net.reload("a", new) == ["peer to_b timers updated"]
    assert flaps(net, "a", "to_b") == before
    assert net.nodes["a"].speaker._peers["to_b"].session.settings.connect_retry_time == 17


def test_reload_adding_a_peer_starts_it_at_once() -> None:
    net = two_nodes()
    net.add("c", "127.0.0.3", config(64512, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    net.nodes["c"].speaker.start(net.now)
    actions = net.reload(
        "a",
        config(
            64512,
            "127.0.0.1",
            [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)],
            STATICS_A,
        ),
    )
    assert actions == ["peer to_c added"]
    assert len(routes(net, "c", "10.10.1.0/24")) == 1  # no timer had to fire: settle() only


def test_a_failed_connection_attempt_is_the_peers_last_error_until_a_later_one() -> None:
    from bgpd.speaker import Dial

    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65002)]))
    speaker = net.nodes["a"].speaker
    speaker.start(net.now)
    assert any(isinstance(o, Dial) for o in speaker.take_outputs())
    speaker.connection_failed("b", 1, net.now, "Connection refused")
    view = speaker.peer_view("b", net.now)
    assert view is not None and view.last_error == "Socket: Connection refused"


def test_a_session_coming_up_clears_the_socket_error() -> None:
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65002)]))
    net.add("b", "127.0.0.2", config(65002, "127.0.0.2", [("a", "127.0.0.1", 65001)]))
    a = net.nodes["a"].speaker
    a.connection_failed("b", 99, net.now, "Connection refused")
    view = a.peer_view("b", net.now)
    assert view is not None and view.last_error == "Socket: Connection refused"
    net.start()
    view = a.peer_view("b", net.now)
    assert view is not None and view.state == "Established"
    assert view.last_error == ""


def test_a_reload_keeps_the_import_cache_unless_our_loop_identity_changes() -> None:
    net = two_nodes()
    b = net.nodes["b"].speaker
    cache = b._peers["to_a"].candidates  # the session's (attribute set, next hop) cache
    assert cache is not None
    net.reload("b", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], STATICS_A))
    assert b._peers["to_a"].candidates is cache  # a static route is no reason to re-decode
    assert len(routes(net, "b", "10.10.1.0/24")) == 1
    reflector = config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]).replace(
        "[bgp]\n", '[bgp]\ncluster_id = "1.2.3.4"\n'
    )
    net.reload("b", reflector)
    # A cluster id is part of the loop check (RFC 4456 §8): cached verdicts must go.
    assert b._peers["to_a"].candidates is not cache
    assert len(routes(net, "b", "10.10.1.0/24")) == 1

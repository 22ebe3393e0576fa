"""Two Peers back-to-back reach Established and agree on what they negotiated."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.session import (
    NotEstablishedError,
    RouteRefreshReceived,
    SessionError,
    SessionEstablished,
    SessionState,
    StateChanged,
    UpdateReceived,
    add_path_modes,
)
from bgpd.speaker.views import session_detail
from bgpd.wire.capabilities import AddPathMode
from bgpd.wire.codec import encode_end_of_rib, encode_keepalive
from bgpd.wire.constants import MessageType
from bgpd.wire.negotiated import Negotiated
from tests.unit.session.session_harness import mirror, pair, settings


def established(net_events: list[object]) -> list[Negotiated]:
    return [e.negotiated for e in net_events if isinstance(e, SessionEstablished)]


def test_pair_reaches_established_through_every_state() -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)

    assert pa.state is SessionState.ESTABLISHED
    assert pb.state is SessionState.ESTABLISHED
    transitions = [(e.old, e.new) for e in net.of_type("A", StateChanged)]
    assert transitions == [
        (SessionState.IDLE, SessionState.CONNECT),
        (SessionState.CONNECT, SessionState.OPEN_SENT),
        (SessionState.OPEN_SENT, SessionState.OPEN_CONFIRM),
        (SessionState.OPEN_CONFIRM, SessionState.ESTABLISHED),
    ]
    b_transitions = [(e.old, e.new) for e in net.of_type("B", StateChanged)]
    assert b_transitions[0] == (SessionState.IDLE, SessionState.ACTIVE)
    assert b_transitions[-1] == (SessionState.OPEN_CONFIRM, SessionState.ESTABLISHED)
    assert pa.established_at == net.now - 1
    assert pa.counters.established_transitions == 1
    assert pa.counters.messages_out[MessageType.OPEN] == 1
    assert pa.counters.messages_in[MessageType.KEEPALIVE] == 1
    assert pa.counters.last_state_change == net.now - 1
    # The SessionEstablished event follows the state change, once.
    (neg,) = established([e for _, e in net.events["A"]])
    assert neg.peer_router_id == pb.settings.router_id
    assert neg.ibgp
    assert pa.negotiated == neg


def test_negotiated_hold_is_the_minimum_and_keepalive_a_third() -> None:
    a = settings(hold_time=240)
    net, pa, pb = pair(a, mirror(a, hold_time=90, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.negotiated is not None and pb.negotiated is not None
    assert pa.negotiated.hold_time == pb.negotiated.hold_time == 90
    assert pa.keepalive_interval == pb.keepalive_interval == 30


def test_configured_keepalive_is_used_below_the_hold_time() -> None:
    a = settings(keepalive_time=10)
    net, pa, pb = pair(a, mirror(a, passive=True, hold_time=9))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    # Negotiated hold 9: a configured 10 s keepalive would let the peer time out.
    assert pa.keepalive_interval == 3
    assert pb.keepalive_interval == 3


def test_hold_time_zero_runs_no_timers() -> None:
    a = settings(hold_time=0)
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.state is SessionState.ESTABLISHED
    assert pa.keepalive_interval is None
    assert pa.next_deadline() is None
    before = pa.counters.messages_out[MessageType.KEEPALIVE]
    net.advance(100_000)
    assert pa.state is SessionState.ESTABLISHED
    assert pa.counters.messages_out[MessageType.KEEPALIVE] == before


def test_families_as4_add_path_and_graceful_restart_negotiation() -> None:
    a = settings(
        local_asn=4_200_000_001,
        peer_asn=64512,
        families=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
        add_path=add_path_modes({IPV4_UNICAST: AddPathMode.BOTH, IPV6_UNICAST: AddPathMode.BOTH}),
        graceful_restart=True,
        restarting=True,
    )
    b = mirror(
        a,
        families=frozenset({IPV4_UNICAST}),
        add_path=add_path_modes({IPV4_UNICAST: AddPathMode.RECEIVE}),
        graceful_restart=False,
        extended_message=False,
        passive=True,
    )
    net, pa, pb = pair(a, b)
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    na, nb = pa.negotiated, pb.negotiated
    assert na is not None and nb is not None
    assert na.families == nb.families == frozenset({IPV4_UNICAST})
    assert na.as4 and nb.as4
    assert nb.peer_asn == 4_200_000_001  # the real AS, not AS_TRANS
    assert not na.ibgp
    assert na.add_path_send == frozenset({IPV4_UNICAST})
    assert na.add_path_receive == frozenset()
    assert nb.add_path_receive == frozenset({IPV4_UNICAST})
    assert nb.add_path_send == frozenset()
    assert na.peer_graceful_restart is None
    assert nb.peer_graceful_restart is not None
    assert nb.peer_graceful_restart.restart_state  # our R bit
    assert nb.peer_graceful_restart.restart_time == 120
    assert not na.extended_message
    assert na.route_refresh and na.enhanced_route_refresh


def test_two_octet_peer_without_as4() -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, four_octet_as=False, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.negotiated is not None
    assert not pa.negotiated.as4
    assert pa.negotiated.peer_asn == 64512


def test_updates_and_route_refresh_flow_and_keepalive_is_skipped() -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    eor = encode_end_of_rib(IPV4_UNICAST)

    keepalive_due = pa.next_deadline()
    assert keepalive_due is not None
    net.advance(50)
    pa.send_update_bytes(eor + eor, net.now)
    # RFC 4271 §4.4: sending an UPDATE moved our keepalive out.
    assert (pa.next_deadline() or 0) > keepalive_due
    net.pump()
    updates = net.of_type("B", UpdateReceived)
    assert len(updates) == 2
    assert updates[0].update.end_of_rib == IPV4_UNICAST
    assert pa.counters.updates_out == 2
    assert pb.counters.updates_in == 2

    pb.send_route_refresh(IPV4_UNICAST, net.now)
    net.pump()
    (refresh,) = net.of_type("A", RouteRefreshReceived)
    assert refresh.message.family == IPV4_UNICAST
    assert pa.counters.messages_in[MessageType.ROUTE_REFRESH] == 1


def test_send_before_established_and_bad_update_bytes_raise() -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, passive=True))
    eor = encode_end_of_rib(IPV4_UNICAST)
    with pytest.raises(NotEstablishedError):
        pa.send_update_bytes(eor, net.now)
    with pytest.raises(NotEstablishedError):
        pa.send_route_refresh(IPV4_UNICAST, net.now)
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    with pytest.raises(SessionError, match="UPDATE"):
        pa.send_update_bytes(encode_keepalive(), net.now)
    with pytest.raises(SessionError, match=r"boundary|truncated"):
        pa.send_update_bytes(eor[:-1], net.now)
    with pytest.raises(SessionError, match="ipv6"):
        pa.send_route_refresh(IPV6_UNICAST, net.now)
    assert pa.counters.updates_out == 0
    assert pa.data_to_send(next(iter(pa.connection_states()))) == b""


def test_route_refresh_not_negotiated_raises() -> None:
    a = settings(route_refresh=False)
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    with pytest.raises(SessionError, match="route refresh"):
        pa.send_route_refresh(IPV4_UNICAST, net.now)


def test_session_detail_and_established_conn_id() -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, passive=True))
    assert pa.established_conn_id is None
    assert pa.state.value == "Idle"
    assert session_detail(pa, net.now).negotiated is None
    pa.start(net.now)
    pb.start(net.now)
    net.advance(10)
    (conn_id,) = pa.connection_states()
    assert pa.established_conn_id == conn_id
    view = session_detail(pa, net.now)
    assert pa.state.value == "Established"
    assert view.established_for_s == 10
    assert view.connections == ((conn_id, "Established"),)
    negotiated = view.negotiated
    assert negotiated is not None
    assert negotiated.hold_time == 240 and negotiated.keepalive_time == 80
    assert negotiated.families == ("ipv4-unicast",)
    assert negotiated.peer_router_id == "10.0.0.2"
    assert pa.counters.last_error_text() == ""
    pb.stop(net.now, text="bye")
    net.pump()
    assert pa.counters.last_error_text() == "Received: Cease/Administrative Shutdown: bye"
    assert pb.counters.last_error_text() == "Sent: Cease/Administrative Shutdown: bye"
    assert "negotiated" not in session_detail(pa, net.now).to_json()

"""Keepalive cadence, hold-timer expiry, connect retry with jitter, passive peers and the error
wait back-off, all on a fake clock."""

from __future__ import annotations

import itertools
import random

import pytest

from bgpd.session import (
    LARGE_HOLD_TIME,
    CloseRequested,
    ConnectRequested,
    Session,
    SessionDown,
    SessionState,
)
from bgpd.wire.codec import decode_notification
from bgpd.wire.constants import ErrorCode, MessageType, OpenSubcode
from bgpd.wire.messages import NotificationMessage
from tests.unit.session.session_harness import (
    Network,
    RawEnd,
    mirror,
    pair,
    peer_open,
    run_timers,
    settings,
)


def up(**a_changes: object) -> tuple[Network, Session, Session]:
    a = settings(**a_changes)
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.state is SessionState.ESTABLISHED
    return net, pa, pb


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_keepalive_cadence_is_a_third_of_the_hold_with_jitter(seed: int) -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, passive=True, hold_time=90), seed=seed)
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    net.advance(3600)
    times = [s.at for s in net.sent("A", MessageType.KEEPALIVE)]
    # The first KEEPALIVE answers the OPEN; then one every 30 s * [0.75, 1] (RFC 4271 §10).
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert len(gaps) > 100
    assert all(22.5 - 1e-9 <= g <= 30 + 1e-9 for g in gaps), gaps
    assert len(set(gaps)) > 10  # jittered, not a fixed period
    assert pa.state is SessionState.ESTABLISHED and pb.state is SessionState.ESTABLISHED


def test_hold_timer_expiry_sends_4_0_and_goes_down() -> None:
    net, pa, _ = up()
    last_heard = max(s.at for s in net.sent("B"))
    net.paused.add("B")  # B hangs: sends nothing, reads nothing
    net.advance(last_heard + 239.9 - net.now)
    assert pa.state is SessionState.ESTABLISHED
    net.advance(LARGE_HOLD_TIME)
    assert pa.state is not SessionState.ESTABLISHED
    (notification,) = net.sent("A", MessageType.NOTIFICATION)
    assert notification.notification() == NotificationMessage(
        code=ErrorCode.HOLD_TIMER_EXPIRED, subcode=0
    )
    # Expired exactly one negotiated hold time after the last message from B.
    assert notification.at == pytest.approx(last_heard + 240)
    (down,) = net.of_type("A", SessionDown)
    assert down.sent_by_us and down.notification is not None
    assert "hold timer expired" in down.reason
    assert pa.counters.last_error is not None
    assert (pa.counters.last_error.code, pa.counters.last_error.sent) == (4, True)


def test_open_sent_uses_the_large_hold_timer() -> None:
    peer = Session(settings(hold_time=9), random.Random(1))
    peer.start(0.0)
    assert peer.take_actions() == [ConnectRequested(timeout=5.0)]
    peer.connection_made(7, 0.0, outbound=True)
    RawEnd(peer, 7).read_open()
    # RFC 4271 §8.2.2: 4 minutes while waiting for the OPEN, whatever hold we configured.
    assert peer.next_deadline() == LARGE_HOLD_TIME
    run_timers(peer, LARGE_HOLD_TIME, 0.0)
    assert peer.state is SessionState.IDLE  # error wait after the 4/0
    closes = [a for a in peer.take_actions() if isinstance(a, CloseRequested)]
    assert [c.conn_id for c in closes] == [7]
    assert decode_notification(peer.data_to_send(7)[19:]).code == ErrorCode.HOLD_TIMER_EXPIRED


@pytest.mark.parametrize("seed", range(5))
def test_connect_retry_jitter_bounds_and_connect_delay(seed: int) -> None:
    a = settings(connect_delay_time=2.0)
    net, pa, _ = pair(a, mirror(a), seed=seed)
    net.refuse_dials.add("B")  # nothing listens at B
    pa.start(net.now)
    start = net.now
    net.advance(200)
    dials = net.dials["A"]
    assert dials[0] == start + 2.0  # BIRD's connect delay before the first dial
    gaps = [b - a for a, b in itertools.pairwise(dials)]
    assert len(gaps) > 35
    assert all(3.75 - 1e-9 <= g <= 5.0 + 1e-9 for g in gaps), gaps
    assert pa.state is SessionState.ACTIVE  # between dials


def test_connect_state_while_dialling_and_timeout_in_action() -> None:
    peer = Session(settings(connect_retry_time=7), random.Random(3))
    peer.start(10.0)
    assert peer.state is SessionState.CONNECT
    assert peer.take_actions() == [ConnectRequested(timeout=7)]
    # The ConnectRetry timer fires while the dial is still out: no second dial races it.
    first = peer.next_deadline()
    assert first is not None and 10 + 7 * 0.75 <= first <= 17
    now = run_timers(peer, first, 10.0)
    assert peer.take_actions() == []
    assert peer.state is SessionState.CONNECT
    peer.connection_failed(99, now)
    assert peer.state is SessionState.ACTIVE
    retry = peer.next_deadline()
    assert retry is not None and retry > now
    run_timers(peer, retry, now)
    assert peer.take_actions() == [ConnectRequested(timeout=7)]


def test_passive_peer_never_dials_but_accepts() -> None:
    a = settings(passive=True)
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(3600)
    assert net.dials == {"A": [], "B": []}
    assert pa.state is SessionState.ACTIVE
    assert pa.next_deadline() is None
    # An active far end gets through.
    net.peers.remove(pb)
    pc = Session(mirror(a), random.Random(5), name="C")
    net.add(pc)
    pc.start(net.now)
    net.advance(10)
    assert pa.state is SessionState.ESTABLISHED
    assert net.dials["A"] == []
    # After the session drops, the passive side waits again without dialling.
    net.drop_links()
    net.paused.add("C")
    net.advance(600)
    assert net.dials["A"] == []
    assert pa.state is SessionState.ACTIVE


def _refuse_with(
    peer: Session, conn_id: int, now: float, notification: NotificationMessage
) -> None:
    peer.connection_made(conn_id, now, outbound=True)
    RawEnd(peer, conn_id).send_notification(notification, now)


def test_error_wait_backs_off_then_is_forgotten_after_stability() -> None:
    s = settings()
    peer = Session(s, random.Random(4))
    now = 0.0
    peer.start(now)
    bad_as = NotificationMessage(code=ErrorCode.OPEN_MESSAGE, subcode=OpenSubcode.BAD_PEER_AS)
    waits: list[float] = []
    conn_id = 0
    for _ in range(6):
        assert peer.take_actions()[-1:] == [ConnectRequested(timeout=5.0)]
        conn_id += 1
        _refuse_with(peer, conn_id, now, bad_as)
        assert peer.state is SessionState.IDLE
        failed_at = now
        deadline = peer.next_deadline()
        assert deadline is not None
        now = run_timers(peer, deadline, now)
        waits.append(now - failed_at)
        now += 1.0  # the next attempt fails a second after the dial
    assert waits == [5, 10, 20, 30, 30, 30]
    assert peer.error_wait == 30

    # Now a session that stays up longer than error_forget_time (300 s).
    assert peer.take_actions()[-1:] == [ConnectRequested(timeout=5.0)]
    conn_id += 1
    peer.connection_made(conn_id, now, outbound=True)
    end = RawEnd(peer, conn_id)
    end.read_open()
    end.send_open(peer_open(hold_time=0), now)
    end.send_keepalive(now)
    assert peer.state is SessionState.ESTABLISHED
    now += 400
    end.send_notification(NotificationMessage(code=ErrorCode.UPDATE_MESSAGE, subcode=1), now)
    assert peer.state is SessionState.IDLE
    assert peer.next_deadline() == now + 5  # back to error_wait_min


def test_errors_within_the_forget_time_keep_compounding() -> None:
    peer = Session(settings(error_forget_time=50), random.Random(4))
    now = 0.0
    peer.start(now)
    bad_as = NotificationMessage(code=ErrorCode.OPEN_MESSAGE, subcode=OpenSubcode.BAD_PEER_AS)
    peer.take_actions()
    _refuse_with(peer, 1, now, bad_as)
    now = run_timers(peer, 5, now)
    peer.take_actions()
    _refuse_with(peer, 2, now, bad_as)
    assert peer.next_deadline() == now + 10
    now = run_timers(peer, now + 10, now) + 60  # the next error comes 60 s later
    peer.take_actions()
    _refuse_with(peer, 3, now, bad_as)
    assert peer.next_deadline() == now + 5


def test_cease_from_the_peer_is_not_an_error() -> None:
    peer = Session(settings(), random.Random(4))
    peer.start(0.0)
    peer.take_actions()
    _refuse_with(peer, 1, 0.0, NotificationMessage(code=ErrorCode.CEASE, subcode=5))
    assert peer.state is SessionState.ACTIVE  # connect retry, not the error wait
    deadline = peer.next_deadline()
    assert deadline is not None and 3.75 <= deadline <= 5.0
    assert peer.error_wait == 0


def test_inbound_connection_refused_while_idle() -> None:
    peer = Session(settings(passive=True), random.Random(4))
    peer.connection_made(3, 0.0, outbound=False)
    assert peer.take_actions() == [CloseRequested(conn_id=3, reason="peer is stopped")]
    data = peer.data_to_send(3)
    assert decode_notification(data[19:]) == NotificationMessage(code=6, subcode=5)
    assert peer.data_to_send(3) == b""
    assert peer.connection_states() == {}
    assert peer.state is SessionState.IDLE


def test_inbound_connection_refused_during_the_error_wait() -> None:
    peer = Session(settings(passive=True), random.Random(4))
    peer.start(0.0)
    peer.connection_made(1, 0.0, outbound=False)
    RawEnd(peer, 1).send_open(peer_open(asn=1), 0.0)  # 2/2: an error
    assert peer.state is SessionState.IDLE
    peer.take_actions()
    peer.connection_made(2, 1.0, outbound=False)
    assert peer.take_actions() == [CloseRequested(conn_id=2, reason="waiting after an error")]
    assert decode_notification(peer.data_to_send(2)[19:]) == NotificationMessage(code=6, subcode=5)
    run_timers(peer, 5.0, 1.0)
    assert peer.state is SessionState.ACTIVE  # passive: waits for the next inbound
    peer.connection_made(3, 5.0, outbound=False)
    assert peer.connection_states() == {3: SessionState.OPEN_SENT}

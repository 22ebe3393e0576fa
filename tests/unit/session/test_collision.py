"""Connection collisions (RFC 4271 §6.8) and new connections while Established (RFC 4724 §4.2)."""

from __future__ import annotations

import random

import pytest

from bgpd.net import parse_router_id
from bgpd.session import (
    CloseRequested,
    ConnectRequested,
    Session,
    SessionDown,
    SessionEstablished,
    SessionState,
)
from bgpd.session.collision import (
    Loser,
    keeps_new_connection,
    open_collisions,
    peer_is_dominant,
    replaced_by_inbound,
)
from bgpd.session.connection import Connection
from bgpd.wire.capabilities import GracefulRestart
from bgpd.wire.codec import decode_notification
from bgpd.wire.constants import CeaseSubcode, ErrorCode, MessageType
from bgpd.wire.messages import NotificationMessage
from bgpd.wire.negotiated import negotiate
from tests.unit.session.session_harness import RawEnd, mirror, pair, peer_open, settings

GR_CAPS = (GracefulRestart(restart_state=False, notification=False, restart_time=120),)
COLLISION = NotificationMessage(code=ErrorCode.CEASE, subcode=CeaseSubcode.CONNECTION_COLLISION)


@pytest.mark.parametrize("a_higher", [True, False])
def test_simultaneous_dials_keep_the_connection_of_the_higher_router_id(a_higher: bool) -> None:
    a_id, b_id = ("10.0.0.9", "10.0.0.2") if a_higher else ("10.0.0.1", "10.0.0.2")
    a = settings(router_id=parse_router_id(a_id))
    b = mirror(a, router_id=parse_router_id(b_id))
    net, pa, pb = pair(a, b)
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)

    assert pa.state is SessionState.ESTABLISHED and pb.state is SessionState.ESTABLISHED
    assert sorted(net.dials.values()) == [[net.now - 1], [net.now - 1]]  # both dialled
    winner = "A" if a_higher else "B"
    ((link, dialer),) = net.open_links()
    assert dialer == winner
    for peer in (pa, pb):
        assert list(peer.connection_states().values()) == [SessionState.ESTABLISHED]
        assert len(net.of_type(peer.name, SessionEstablished)) == 1
        assert net.of_type(peer.name, SessionDown) == []
    loser_link = 3 - link
    cease = [s for s in net.wire if s.msg_type == MessageType.NOTIFICATION]
    assert cease and all(s.link == loser_link and s.notification() == COLLISION for s in cease)
    assert not [s for s in net.wire if s.link == link and s.msg_type == MessageType.NOTIFICATION]


def _two_connections(peer: Session) -> tuple[RawEnd, RawEnd]:
    peer.start(0.0)
    assert peer.take_actions() == [ConnectRequested(timeout=5.0)]
    peer.connection_made(1, 0.0, outbound=True)
    peer.connection_made(2, 0.0, outbound=False)
    out, inb = RawEnd(peer, 1), RawEnd(peer, 2)
    out.read_open()
    inb.read_open()
    return out, inb


@pytest.mark.parametrize(("peer_id", "survivor"), [("10.0.0.2", 2), ("9.0.0.1", 1)])
@pytest.mark.parametrize("first", [1, 2])
def test_collision_decided_at_the_first_open(peer_id: str, survivor: int, first: int) -> None:
    peer = Session(settings(), random.Random(1))  # our id is 10.0.0.1; 1 is ours, 2 theirs
    ends = dict(zip((1, 2), _two_connections(peer), strict=True))
    ends[first].send_open(peer_open(router_id=peer_id), 0.0)
    # The OPEN names the neighbour's identifier, which decides for both connections at once.
    loser = 3 - survivor
    expected = SessionState.OPEN_CONFIRM if survivor == first else SessionState.OPEN_SENT
    assert peer.connection_states() == {survivor: expected}
    assert [a.conn_id for a in peer.take_actions() if isinstance(a, CloseRequested)] == [loser]
    assert [decode_notification(b) for t, b in ends[loser].read() if t == 3] == [COLLISION]
    if survivor != first:
        ends[survivor].send_open(peer_open(router_id=peer_id), 0.0)
    ends[survivor].send_keepalive(0.0)
    assert peer.state is SessionState.ESTABLISHED


@pytest.mark.parametrize(("peer_id", "survivor"), [("10.0.0.2", 2), ("9.0.0.1", 1)])
def test_collision_against_open_confirm(peer_id: str, survivor: int) -> None:
    peer = Session(settings(), random.Random(1))
    peer.start(0.0)
    peer.take_actions()
    peer.connection_made(1, 0.0, outbound=True)
    ends = {1: RawEnd(peer, 1)}
    ends[1].read_open()
    ends[1].send_open(peer_open(router_id=peer_id), 0.0)
    assert peer.state is SessionState.OPEN_CONFIRM
    # The neighbour's own dial arrives after our OPEN was accepted on the first connection.
    peer.connection_made(2, 0.5, outbound=False)
    ends[2] = RawEnd(peer, 2)
    ends[2].read_open()
    ends[2].send_open(peer_open(router_id=peer_id), 0.5)
    loser = 3 - survivor
    assert peer.connection_states() == {survivor: SessionState.OPEN_CONFIRM}
    assert [a.conn_id for a in peer.take_actions() if isinstance(a, CloseRequested)] == [loser]
    assert [decode_notification(b) for t, b in ends[loser].read() if t == 3] == [COLLISION]


def test_open_sent_connection_is_closed_when_the_other_establishes() -> None:
    peer = Session(settings(), random.Random(1))
    peer.start(0.0)
    peer.take_actions()
    peer.connection_made(1, 0.0, outbound=True)
    out = RawEnd(peer, 1)
    out.read_open()
    out.send_open(peer_open(), 0.0)
    peer.connection_made(2, 0.0, outbound=False)
    inb = RawEnd(peer, 2)
    inb.read_open()
    out.send_keepalive(0.0)
    assert peer.connection_states() == {1: SessionState.ESTABLISHED}
    assert [decode_notification(b) for t, b in inb.read() if t == 3] == [COLLISION]


def test_new_connection_while_established_is_closed_without_graceful_restart() -> None:
    peer = Session(settings(), random.Random(1))
    peer.start(0.0)
    peer.take_actions()
    peer.connection_made(1, 0.0, outbound=True)
    old = RawEnd(peer, 1)
    old.read_open()
    old.send_open(peer_open(), 0.0)
    old.send_keepalive(0.0)
    peer.take_events()
    peer.connection_made(2, 5.0, outbound=False)
    new = RawEnd(peer, 2)
    new.read_open()
    new.send_open(peer_open(), 5.0)
    assert [decode_notification(b) for t, b in new.read() if t == 3] == [COLLISION]
    assert peer.connection_states() == {1: SessionState.ESTABLISHED}
    assert peer.take_events() == []
    # A dial of ours completing now is dropped silently.
    peer.connection_made(3, 6.0, outbound=True)
    assert peer.data_to_send(3) == b""
    assert peer.connection_states() == {1: SessionState.ESTABLISHED}


def test_restarted_peer_replaces_the_established_session_gracefully() -> None:
    a = settings(graceful_restart=True)
    b = mirror(a, graceful_restart=True, passive=False)
    net, pa, pb = pair(a, mirror(a, passive=True, graceful_restart=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pb.state is SessionState.ESTABLISHED
    net.advance(30)
    # A crashes without a FIN; its replacement dials B, which still believes in the old session.
    net.crash(pa)
    pa2 = Session(settings(graceful_restart=True, restarting=True), random.Random(9), name="A")
    net.add(pa2)
    pa2.start(net.now)
    net.advance(1)
    assert pb.state is SessionState.ESTABLISHED and pa2.state is SessionState.ESTABLISHED
    (down,) = net.of_type("B", SessionDown)
    assert down.graceful and down.notification is None
    assert len(net.of_type("B", SessionEstablished)) == 2
    n = pb.negotiated
    assert n is not None and n.peer_graceful_restart is not None
    assert n.peer_graceful_restart.restart_state
    assert b.graceful_restart  # (the mirror helper keeps GR on)


@pytest.mark.parametrize(("made_after", "restart"), [(0.01, False), (1.9, False), (2.0, True)])
def test_late_connection_of_a_collision_is_not_taken_for_a_restart(
    made_after: float, restart: bool
) -> None:
    # Both ends dialled at once; our dial reached Established, and our accept of the peer's dial
    # ran just after (seen with BIRD 1.6 in CI). With graceful restart that used to count as a
    # restart (RFC 4724 §4.2) and drop the session the peer keeps: a flap at start. Within
    # RESTART_MIN_UPTIME_S it is a collision (RFC 4271 §6.8: the Established session stays).
    peer = Session(settings(graceful_restart=True), random.Random(1))
    peer.start(0.0)
    peer.take_actions()
    peer.connection_made(1, 0.0, outbound=True)
    old = RawEnd(peer, 1)
    old.read_open()
    old.send_open(peer_open(caps=GR_CAPS), 0.5)
    old.send_keepalive(0.5)
    assert peer.state is SessionState.ESTABLISHED
    peer.take_events()
    peer.connection_made(2, 0.5 + made_after, outbound=False)
    late = RawEnd(peer, 2)
    late.read_open()
    late.send_open(peer_open(caps=GR_CAPS), 0.6 + made_after)
    if restart:
        assert 1 not in peer.connection_states()
        assert [type(e) for e in peer.take_events() if isinstance(e, SessionDown)] == [SessionDown]
    else:
        assert [decode_notification(b) for t, b in late.read() if t == 3] == [COLLISION]
        assert peer.connection_states() == {1: SessionState.ESTABLISHED}
        assert peer.take_events() == []  # no SessionDown: nothing flapped


def test_dominance_rules() -> None:
    assert peer_is_dominant(1, 65000, 2, 65000)
    assert not peer_is_dominant(2, 65000, 1, 65000)
    # RFC 6286 §2.3: equal identifiers, the higher AS wins.
    assert peer_is_dominant(5, 65000, 5, 65001)
    assert not peer_is_dominant(5, 65001, 5, 65000)
    assert keeps_new_connection(peer_dominant=True, new_is_inbound=True)
    assert not keeps_new_connection(peer_dominant=True, new_is_inbound=False)
    assert keeps_new_connection(peer_dominant=False, new_is_inbound=False)


def test_newer_inbound_replaces_an_older_one() -> None:
    peer = Session(settings(passive=True), random.Random(1))
    peer.start(0.0)
    peer.connection_made(1, 0.0, outbound=False)
    peer.connection_made(2, 1.0, outbound=False)
    assert peer.connection_states() == {2: SessionState.OPEN_SENT}
    closes = [a.conn_id for a in peer.take_actions() if isinstance(a, CloseRequested)]
    assert closes == [1]
    types = [t for t, _ in RawEnd(peer, 1).reader.feed(peer.data_to_send(1))]
    assert types == [MessageType.OPEN, MessageType.NOTIFICATION]


def _conn(
    conn_id: int,
    *,
    outbound: bool,
    state: SessionState = SessionState.OPEN_SENT,
    gr: bool = False,
    made_at: float = 0.0,
) -> Connection:
    local = settings().build_open()
    conn = Connection(
        conn_id,
        outbound=outbound,
        local_open=local,
        open_bytes=b"",
        extended_message=False,
        now=made_at,
    )
    conn.state = state
    if state is SessionState.ESTABLISHED:
        conn.negotiated = negotiate(local, peer_open(caps=GR_CAPS if gr else ()))
    return conn


def test_the_collision_plan_names_the_losers_in_order() -> None:
    ours = settings()  # our identifier is 10.0.0.1
    new = _conn(2, outbound=False, made_at=10.0)
    # A peer with graceful restart, up long enough: it restarted; its old session goes without
    # a NOTIFICATION and the OPEN goes on (nothing names the new connection).
    old = _conn(1, outbound=True, state=SessionState.ESTABLISHED, gr=True)
    assert open_collisions(ours, peer_open(), new, [old, new], 0.0) == [
        Loser(
            conn=old, reason="peer restarted (new connection while Established)", notification=None
        )
    ]
    # Without it the Established session stays and the new connection loses, last.
    plain = _conn(1, outbound=True, state=SessionState.ESTABLISHED)
    (loser,) = open_collisions(ours, peer_open(), new, [plain, new], 0.0)
    assert (loser.conn, loser.notification, loser.kept) == (new, COLLISION, None)
    # Two opening connections: the dominant side's own connection stays, and is named.
    out = _conn(1, outbound=True)
    (loser,) = open_collisions(ours, peer_open(router_id="10.0.0.2"), new, [out, new], None)
    assert (loser.conn, loser.notification, loser.kept) == (out, COLLISION, 2)
    (loser,) = open_collisions(ours, peer_open(router_id="9.0.0.1"), new, [out, new], None)
    assert (loser.conn, loser.notification, loser.kept) == (new, COLLISION, 1)


def test_a_new_inbound_connection_replaces_older_inbound_ones_not_established() -> None:
    opening_in = _conn(1, outbound=False)
    established_in = _conn(2, outbound=False, state=SessionState.ESTABLISHED)
    opening_out = _conn(3, outbound=True)
    assert replaced_by_inbound([opening_in, established_in, opening_out]) == [opening_in]

"""Bad OPENs, FSM errors, malformed input, refused capabilities and administrative shutdown."""

from __future__ import annotations

import random

import pytest

from bgpd.net import IPV4_UNICAST, parse_router_id
from bgpd.session import (
    CloseRequested,
    ConnectRequested,
    Session,
    SessionDown,
    SessionEstablished,
    SessionState,
    UpdateReceived,
)
from bgpd.wire.capabilities import (
    AddPath,
    CapabilityCode,
    FourOctetAs,
    GracefulRestart,
    Multiprotocol,
    encode_capability,
)
from bgpd.wire.codec import decode_notification, encode_end_of_rib, encode_keepalive
from bgpd.wire.constants import CeaseSubcode, ErrorCode, FsmSubcode, MessageType, OpenSubcode
from bgpd.wire.framing import frame
from bgpd.wire.messages import NotificationMessage, OpenMessage
from tests.unit.session.session_harness import RawEnd, mirror, pair, peer_open, run_timers, settings


def dialled(peer: Session, conn_id: int, now: float = 0.0) -> RawEnd:
    """Starts `peer` (if needed), completes its dial as `conn_id`, and reads its OPEN."""
    if not peer.enabled:
        peer.start(now)
    actions = peer.take_actions()
    assert ConnectRequested(timeout=peer.settings.connect_retry_time) in actions, actions
    peer.connection_made(conn_id, now, outbound=True)
    return RawEnd(peer, conn_id)


def sent_notification(end: RawEnd) -> NotificationMessage:
    messages = end.read()
    notes = [decode_notification(b) for t, b in messages if t == MessageType.NOTIFICATION]
    assert len(notes) == 1, messages
    return notes[0]


def closed(peer: Session) -> list[int]:
    return [a.conn_id for a in peer.take_actions() if isinstance(a, CloseRequested)]


def established(peer: Session, end: RawEnd, now: float = 0.0) -> None:
    end.read_open()
    end.send_open(peer_open(), now)
    end.send_keepalive(now)
    assert peer.state is SessionState.ESTABLISHED
    end.read()
    peer.take_events()


def test_wrong_peer_as_in_a_pair_gives_2_2_and_no_session() -> None:
    a = settings(peer_asn=65001)
    net, pa, pb = pair(a, mirror(a, local_asn=65002, peer_asn=64512, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    notes = [s.notification() for s in net.sent("A", MessageType.NOTIFICATION)]
    assert notes == [NotificationMessage(code=2, subcode=OpenSubcode.BAD_PEER_AS)]
    assert net.of_type("A", SessionEstablished) == []
    assert net.of_type("B", SessionEstablished) == []
    assert pa.state is SessionState.IDLE  # error wait
    assert pb.counters.last_error is not None
    assert (pb.counters.last_error.code, pb.counters.last_error.subcode) == (2, 2)
    assert not pb.counters.last_error.sent
    assert pb.counters.last_error.text == "OPEN Message Error/Bad Peer AS"


def test_dynamic_neighbour_accepts_any_as() -> None:
    peer = Session(settings(peer_asn=None), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_open(peer_open(asn=4_200_000_000, caps=(FourOctetAs(asn=4_200_000_000),)), 0.0)
    end.send_keepalive(0.0)
    assert peer.negotiated is not None and peer.negotiated.peer_asn == 4_200_000_000


@pytest.mark.parametrize(
    ("open_message", "subcode"),
    [
        (peer_open(asn=64999), OpenSubcode.BAD_PEER_AS),
        (peer_open(hold_time=2), OpenSubcode.UNACCEPTABLE_HOLD_TIME),
        (peer_open(hold_time=1), OpenSubcode.UNACCEPTABLE_HOLD_TIME),
        (peer_open(router_id="10.0.0.1"), OpenSubcode.BAD_BGP_IDENTIFIER),  # ours, iBGP
        (peer_open(router_id="0.0.0.0"), OpenSubcode.BAD_BGP_IDENTIFIER),
    ],
)
def test_bad_open_is_refused(open_message: OpenMessage, subcode: int) -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_open(open_message, 0.0)
    assert sent_notification(end) == NotificationMessage(code=2, subcode=subcode)
    assert closed(peer) == [1]
    assert peer.state is SessionState.IDLE
    assert not [e for e in peer.take_events() if isinstance(e, SessionEstablished)]
    assert peer.counters.last_error is not None and peer.counters.last_error.sent


def test_equal_router_id_is_fine_between_ases() -> None:
    peer = Session(settings(peer_asn=65001), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_open(peer_open(asn=65001, router_id="10.0.0.1"), 0.0)
    end.send_keepalive(0.0)
    assert peer.state is SessionState.ESTABLISHED


def test_unsupported_version_answers_2_1() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    body = bytes((3,)) + bytes(end.peer.settings.local_asn.to_bytes(2, "big"))
    body += (240).to_bytes(2, "big") + parse_router_id("10.0.0.2").to_bytes(4, "big") + b"\0"
    end.send(frame(MessageType.OPEN, body), 0.0)
    assert sent_notification(end) == NotificationMessage(code=2, subcode=1, data=b"\x00\x04")


def test_unexpected_message_in_open_sent_is_5_1() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_keepalive(0.0)
    assert sent_notification(end) == NotificationMessage(
        code=ErrorCode.FSM, subcode=FsmSubcode.UNEXPECTED_IN_OPENSENT
    )
    assert closed(peer) == [1]
    assert peer.state is SessionState.IDLE


def test_unexpected_message_in_open_confirm_is_5_2() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_open(peer_open(), 0.0)
    assert peer.state is SessionState.OPEN_CONFIRM
    end.read()
    end.send(encode_end_of_rib(IPV4_UNICAST), 0.0)
    assert sent_notification(end) == NotificationMessage(
        code=ErrorCode.FSM, subcode=FsmSubcode.UNEXPECTED_IN_OPENCONFIRM
    )


def test_open_in_established_is_5_3_and_the_session_goes_down() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    established(peer, end)
    end.send_open(peer_open(), 1.0)
    assert sent_notification(end) == NotificationMessage(
        code=ErrorCode.FSM, subcode=FsmSubcode.UNEXPECTED_IN_ESTABLISHED
    )
    downs = [e for e in peer.take_events() if isinstance(e, SessionDown)]
    assert len(downs) == 1 and downs[0].sent_by_us
    assert peer.negotiated is None and peer.established_at is None


def test_update_decoding_error_sends_its_notification() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    established(peer, end)
    # Withdrawn Routes Length runs past the message: RFC 7606 §5.3 session reset, 3/1.
    end.send(frame(MessageType.UPDATE, b"\xff\xff\x00\x00"), 1.0)
    note = sent_notification(end)
    assert (note.code, note.subcode) == (ErrorCode.UPDATE_MESSAGE, 1)
    assert peer.state is SessionState.IDLE
    assert [e.notification for e in peer.take_events() if isinstance(e, SessionDown)] == [note]


def test_header_error_sends_1_x() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    established(peer, end)
    keepalive = bytearray(encode_keepalive())
    keepalive[0] = 0  # bad marker
    end.send(bytes(keepalive), 1.0)
    assert sent_notification(end) == NotificationMessage(code=1, subcode=1)
    assert closed(peer) == [1]


def test_received_notification_ends_the_session_with_its_description() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    established(peer, end)
    end.send_notification(NotificationMessage.shutdown(CeaseSubcode.ADMIN_RESET, "upgrade"), 2.0)
    (down,) = [e for e in peer.take_events() if isinstance(e, SessionDown)]
    assert not down.sent_by_us
    assert down.reason == "received NOTIFICATION: Cease/Administrative Reset: upgrade"
    assert end.read() == []  # nothing answers a NOTIFICATION
    assert closed(peer) == [1]
    assert peer.state is SessionState.ACTIVE  # a Cease is no error: connect retry


def test_unsupported_capability_retry_omits_the_refused_capability() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    first = end.read_open()
    assert first.capability(GracefulRestart) is not None
    refused = first.capability(GracefulRestart)
    assert refused is not None
    end.send_notification(
        NotificationMessage(
            code=ErrorCode.OPEN_MESSAGE,
            subcode=OpenSubcode.UNSUPPORTED_CAPABILITY,
            data=encode_capability(refused),
        ),
        0.0,
    )
    assert closed(peer) == [1]
    assert peer.refused_capabilities == frozenset({CapabilityCode.GRACEFUL_RESTART})
    # Not counted as an error: the next dial comes after the connect retry, not an error wait.
    assert peer.state is SessionState.ACTIVE and peer.error_wait == 0
    deadline = peer.next_deadline()
    assert deadline is not None and deadline <= 5.0
    now = run_timers(peer, deadline, 0.0)
    end2 = dialled(peer, 2, now)
    second = end2.read_open()
    assert second.capability(GracefulRestart) is None
    assert second.capabilities == tuple(
        c for c in first.capabilities if not isinstance(c, GracefulRestart)
    )
    end2.send_open(peer_open(), now)
    end2.send_keepalive(now)
    assert peer.state is SessionState.ESTABLISHED
    assert peer.negotiated is not None and peer.negotiated.local_graceful_restart is None


def test_unsupported_capability_for_a_capability_we_did_not_send_is_an_error() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_notification(
        NotificationMessage(
            code=2,
            subcode=7,
            data=encode_capability(AddPath(families=())),  # we sent none
        ),
        0.0,
    )
    assert peer.refused_capabilities == frozenset()
    assert not peer.capabilities_disabled
    assert peer.state is SessionState.IDLE and peer.error_wait == 5


def test_unsupported_optional_parameter_retries_without_capabilities() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    assert end.read_open().capabilities
    end.send_notification(
        NotificationMessage(
            code=ErrorCode.OPEN_MESSAGE, subcode=OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER
        ),
        0.0,
    )
    assert peer.capabilities_disabled
    deadline = peer.next_deadline()
    assert deadline is not None
    now = run_timers(peer, deadline, 0.0)
    end2 = dialled(peer, 2, now)
    second = end2.read_open()
    assert second.capabilities == ()
    end2.send_open(peer_open(), now)
    end2.send_keepalive(now)
    n = peer.negotiated
    assert n is not None
    assert n.families == frozenset({IPV4_UNICAST}) and not n.as4 and not n.route_refresh
    # A second refusal of a capability-less OPEN is an ordinary error.
    peer.stop(now)
    peer.start(now)
    assert not peer.capabilities_disabled  # an operator's start forgets the refusal


def test_a_second_2_4_without_capabilities_is_an_error() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_notification(NotificationMessage(code=2, subcode=4), 0.0)
    now = run_timers(peer, peer.next_deadline() or 0.0, 0.0)
    end2 = dialled(peer, 2, now)
    assert end2.read_open().capabilities == ()
    end2.send_notification(NotificationMessage(code=2, subcode=4), now)
    assert peer.state is SessionState.IDLE and peer.error_wait == 5


def test_admin_shutdown_carries_rfc8203_text() -> None:
    a = settings()
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    pb.stop(net.now, text="maintenance ✓")
    net.pump()
    (note,) = [s.notification() for s in net.sent("B", MessageType.NOTIFICATION)]
    assert (note.code, note.subcode) == (ErrorCode.CEASE, CeaseSubcode.ADMIN_SHUTDOWN)
    assert note.shutdown_text == "maintenance ✓"
    (down_a,) = net.of_type("A", SessionDown)
    (down_b,) = net.of_type("B", SessionDown)
    assert down_a.notification == note and not down_a.sent_by_us
    assert down_b.sent_by_us
    assert pb.state is SessionState.IDLE
    assert pb.next_deadline() is None
    # A keeps trying; B refuses with Cease/Connection Rejected while stopped.
    net.advance(30)
    assert pa.state is not SessionState.ESTABLISHED
    rejected = [s.notification() for s in net.sent("B", MessageType.NOTIFICATION)][1:]
    assert rejected and all(n == NotificationMessage(code=6, subcode=5) for n in rejected)
    pb.start(net.now)
    net.advance(10)
    assert pa.state is SessionState.ESTABLISHED


def test_stop_without_text_sends_a_plain_cease_and_reset_comes_back() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    established(peer, end)
    peer.reset(10.0)
    assert sent_notification(end) == NotificationMessage(code=6, subcode=CeaseSubcode.ADMIN_RESET)
    assert peer.state is SessionState.IDLE
    assert peer.next_deadline() == 15.0  # error_wait_min
    run_timers(peer, 15.0, 10.0)
    assert peer.take_actions()[-1] == ConnectRequested(timeout=5.0)
    peer.stop(15.0)
    assert peer.state is SessionState.IDLE and peer.next_deadline() is None
    # The dial that was out completes after the stop: closed without a word.
    peer.connection_made(2, 16.0, outbound=True)
    assert peer.take_actions() == [CloseRequested(conn_id=2, reason="peer is stopped")]
    assert peer.data_to_send(2) == b""


def test_open_with_multiprotocol_for_other_families_only() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    from bgpd.net import IPV6_UNICAST

    end.send_open(peer_open(caps=(Multiprotocol(family=IPV6_UNICAST),)), 0.0)
    end.send_keepalive(0.0)
    # No common family: the session is up but carries nothing (the speaker decides what to do).
    assert peer.negotiated is not None and peer.negotiated.families == frozenset()


def test_afi_safi_disable_keeps_the_session_and_reports_the_family() -> None:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    established(peer, end)
    # MP_UNREACH_NLRI for IPv4 unicast with the wrong flags (transitive, not optional):
    # RFC 7606 §7.11 AFI/SAFI disable.
    value = b"\x00\x01\x01" + b"\x18\x0a\x00\x00"
    attrs = bytes((0x40, 15, len(value))) + value
    end.send(frame(MessageType.UPDATE, b"\x00\x00" + len(attrs).to_bytes(2, "big") + attrs), 1.0)
    assert peer.state is SessionState.ESTABLISHED
    assert end.read() == []
    (event,) = peer.take_events()
    assert isinstance(event, UpdateReceived)
    assert event.update.disabled_families == (IPV4_UNICAST,)

"""ROUTE-REFRESH at the session (RFC 2918, RFC 7313) and the OPEN checks of RFC 8654 / RFC 6793,
from a raw peer sending crafted bytes."""

from __future__ import annotations

import logging
import random

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.session import RouteRefreshReceived, Session, SessionEstablished, SessionState
from bgpd.session.route_refresh import ignored_because, refused_because
from bgpd.wire.capabilities import (
    EnhancedRouteRefresh,
    ExtendedMessage,
    FourOctetAs,
    Multiprotocol,
    RouteRefresh,
)
from bgpd.wire.codec import encode_keepalive, encode_open, encode_route_refresh
from bgpd.wire.constants import MessageType
from bgpd.wire.framing import frame
from bgpd.wire.messages import NotificationMessage, RouteRefreshMessage
from bgpd.wire.negotiated import negotiate
from tests.unit.session.session_harness import RawEnd, peer_open, settings
from tests.unit.session.test_errors import closed, dialled, sent_notification

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST
ERR_CAPS = (
    Multiprotocol(family=V4),
    Multiprotocol(family=V6),
    RouteRefresh(),
    EnhancedRouteRefresh(),
    FourOctetAs(asn=64512),
)


def up(caps: tuple[object, ...] = ERR_CAPS) -> tuple[Session, RawEnd]:
    peer = Session(settings(families=frozenset({V4, V6})), random.Random(1), name="A")
    end = dialled(peer, 1)
    end.read_open()
    end.send_open(peer_open(caps=caps), 0.0)  # type: ignore[arg-type]
    end.send_keepalive(0.0)
    assert peer.state is SessionState.ESTABLISHED
    end.read()
    peer.take_events()
    return peer, end


def rr(family: object, subtype: int) -> bytes:
    return encode_route_refresh(RouteRefreshMessage(family=family, subtype=subtype))  # type: ignore[arg-type]


def refreshes(peer: Session) -> list[tuple[object, int]]:
    return [
        (e.message.family, e.message.subtype)
        for e in peer.take_events()
        if isinstance(e, RouteRefreshReceived)
    ]


def test_markers_and_requests_reach_the_speaker_with_their_subtype() -> None:
    peer, end = up()
    end.send(rr(V6, 0) + rr(V4, 1) + rr(V4, 2), 1.0)
    assert refreshes(peer) == [(V6, 0), (V4, 1), (V4, 2)]
    assert peer.counters.messages_in[MessageType.ROUTE_REFRESH] == 3


def test_markers_without_enhanced_route_refresh_are_ignored_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caps = (Multiprotocol(family=V4), RouteRefresh(), FourOctetAs(asn=64512))
    peer, end = up(caps)
    assert peer.negotiated is not None and not peer.negotiated.enhanced_route_refresh
    with caplog.at_level(logging.INFO, logger="bgpd.session.fsm"):
        end.send(rr(V4, 1) + rr(V4, 2) + rr(V4, 0), 1.0)
    assert refreshes(peer) == [(V4, 0)]  # only the request
    assert "subtype=BORR reason=enhanced_not_negotiated" in caplog.text
    assert "subtype=EORR reason=enhanced_not_negotiated" in caplog.text
    assert peer.state is SessionState.ESTABLISHED


def test_refresh_of_a_family_not_negotiated_and_unknown_subtype_are_ignored_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caps = (Multiprotocol(family=V4), RouteRefresh(), EnhancedRouteRefresh())
    peer, end = up(caps)
    with caplog.at_level(logging.INFO, logger="bgpd.session.fsm"):
        end.send(rr(V6, 0), 1.0)
        end.send(frame(MessageType.ROUTE_REFRESH, bytes.fromhex("00010301")), 1.0)
    assert refreshes(peer) == []
    assert "family=ipv6-unicast subtype=REQUEST reason=family_not_negotiated" in caplog.text
    assert "message=00010301 reason=unknown_family_or_subtype" in caplog.text
    assert peer.state is SessionState.ESTABLISHED


@pytest.mark.parametrize("subtype", [0, 1, 2])
def test_route_refresh_of_wrong_length_is_route_refresh_message_error(subtype: int) -> None:
    peer, end = up()
    message = frame(MessageType.ROUTE_REFRESH, bytes((0, 1, subtype, 1, 0)))  # 24 octets
    end.send(message, 1.0)
    # RFC 7313 §5: 7/1 Invalid Message Length, the data the complete message.
    assert sent_notification(end) == NotificationMessage(code=7, subcode=1, data=message)
    assert closed(peer) == [1]
    assert peer.state is not SessionState.ESTABLISHED


def test_open_longer_than_4096_is_refused_though_extended_messages_were_offered() -> None:
    peer = Session(settings(), random.Random(1), name="A")
    end = dialled(peer, 1)
    assert ExtendedMessage() in end.read_open().capabilities
    # A well-formed OPEN grown past 4,096 octets with RFC 9072 extended parameters.
    big = peer_open(
        caps=(
            ExtendedMessage(),
            *(Multiprotocol(family=V4) for _ in range(700)),  # 6 octets each
        )
    )
    data = encode_open(big)
    assert len(data) > 4096
    end.send(data, 0.0)
    # RFC 8654 §3 / RFC 4271 §6.1: Message Header Error / Bad Message Length, data the length.
    assert sent_notification(end) == NotificationMessage(
        code=1, subcode=2, data=len(data).to_bytes(2, "big")
    )
    assert closed(peer) == [1]
    assert peer.state is not SessionState.ESTABLISHED


def test_a_long_update_in_the_read_of_an_open_without_extended_messages_is_refused() -> None:
    # We offered extended messages, so the reader starts at 65,535; the peer's OPEN (without
    # the capability) narrows it to 4,096 -- also for an UPDATE that arrived in the same read.
    peer = Session(settings(), random.Random(1), name="A")
    end = dialled(peer, 1)
    end.read_open()
    update = frame(MessageType.UPDATE, b"\0" * (5000 - 19))
    end.send(encode_open(peer_open()) + encode_keepalive() + update, 0.0)
    notes = [m for m in end.read() if m[0] == MessageType.NOTIFICATION]
    assert notes == [(MessageType.NOTIFICATION, bytes((1, 2)) + (5000).to_bytes(2, "big"))]
    assert peer.state is not SessionState.ESTABLISHED


def _open_bytes(my_as: int, *as4: int) -> bytes:
    caps = b"".join(b"\x41\x04" + a.to_bytes(4, "big") for a in as4)
    param = bytes((2, len(caps))) + caps
    body = (
        bytes((4,))
        + my_as.to_bytes(2, "big")
        + (90).to_bytes(2, "big")
        + bytes((10, 0, 0, 2, len(param)))
        + param
    )
    return frame(MessageType.OPEN, body)


@pytest.mark.parametrize(
    ("open_bytes", "reason"),
    [
        (_open_bytes(64512, 64513), "My AS 64512 disagrees with the four-octet AS capability"),
        (_open_bytes(23456, 4200000001, 4200000002), "conflicting four-octet AS capabilities"),
    ],
)
def test_an_open_naming_two_ases_gets_bad_peer_as_and_a_log_line(
    open_bytes: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    peer = Session(settings(peer_asn=None), random.Random(1), name="A")  # any AS would do
    end = dialled(peer, 1)
    end.read_open()
    with caplog.at_level(logging.INFO, logger="bgpd.session.fsm"):
        end.send(open_bytes, 0.0)
    note = sent_notification(end)
    assert (note.code, note.subcode) == (2, 2)
    assert reason in caplog.text
    assert peer.take_events() and peer.state is not SessionState.ESTABLISHED
    assert not [e for e in peer.take_events() if isinstance(e, SessionEstablished)]


def test_the_route_refresh_rules_name_what_was_not_negotiated() -> None:
    local = settings(families=frozenset({V4, V6})).build_open()
    plain = negotiate(local, peer_open(caps=(Multiprotocol(family=V4), RouteRefresh())))
    enhanced = negotiate(local, peer_open(caps=ERR_CAPS))
    none = negotiate(local, peer_open(caps=(Multiprotocol(family=V4),)))
    assert ignored_because(plain, RouteRefreshMessage(family=V4, subtype=0)) == ""
    assert ignored_because(enhanced, RouteRefreshMessage(family=V4, subtype=1)) == ""
    assert ignored_because(none, RouteRefreshMessage(family=V4, subtype=0)) == "not_negotiated"
    v6 = RouteRefreshMessage(family=V6, subtype=0)
    assert ignored_because(plain, v6) == "family_not_negotiated"
    borr = RouteRefreshMessage(family=V4, subtype=1)
    assert ignored_because(plain, borr) == "enhanced_not_negotiated"
    assert refused_because(plain, V4, 0) is None
    assert refused_because(enhanced, V4, 2) is None
    assert refused_because(none, V4, 0) == "did not negotiate route refresh"
    assert refused_because(plain, V4, 1) == "did not negotiate enhanced route refresh"
    assert refused_because(plain, V6, 0) == "did not negotiate ipv6-unicast"

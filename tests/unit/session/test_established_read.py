"""One read on an Established connection (`Session._established_read`): every UPDATE of it is
queued in order and counted, other messages in between take the general dispatch, and a
malformed UPDATE ends the session with nothing after it applied."""

from __future__ import annotations

import random

from bgpd.session import Session, SessionDown, SessionState, UpdateReceived
from bgpd.wire.codec import encode_keepalive
from bgpd.wire.constants import ErrorCode, MessageType, UpdateSubcode
from bgpd.wire.framing import frame
from tests.unit.session.session_harness import RawEnd, peer_open, settings
from tests.unit.session.test_errors import dialled, sent_notification

# ORIGIN IGP, an empty AS_PATH, NEXT_HOP 192.0.2.1
_ATTRS = bytes((0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 1))


def update(nlri: bytes) -> bytes:
    return frame(MessageType.UPDATE, b"\x00\x00" + len(_ATTRS).to_bytes(2, "big") + _ATTRS + nlri)


def up() -> tuple[Session, RawEnd]:
    peer = Session(settings(), random.Random(1))
    end = dialled(peer, 1)
    end.read_open()
    end.send_open(peer_open(), 0.0)
    end.send_keepalive(0.0)
    assert peer.state is SessionState.ESTABLISHED
    end.read()
    peer.take_events()
    return peer, end


def test_updates_and_a_keepalive_in_one_read_are_all_taken_in_order() -> None:
    peer, end = up()
    first = bytes((24, 10, 0, 1))
    second = bytes((24, 10, 0, 2, 24, 10, 0, 3))
    end.send(update(first) + encode_keepalive() + update(second), 1.0)
    assert peer.state is SessionState.ESTABLISHED
    events = peer.take_events()
    updates = [e for e in events if isinstance(e, UpdateReceived)]
    assert len(updates) == len(events) == 2
    got = [p for e in updates for b in e.update.announced for p in b.prefixes]
    assert got == [first, second[:4], second[4:]]
    counters = peer.counters
    assert counters.messages_in[MessageType.UPDATE] == 2
    assert counters.messages_in[MessageType.KEEPALIVE] == 2  # the one of the handshake too
    assert counters.prefixes_announced_in == 3


def test_a_malformed_update_ends_the_session_and_nothing_after_it_is_taken() -> None:
    peer, end = up()
    good = bytes((24, 10, 0, 1))
    bad = bytes((33, 10, 0, 0, 0, 0))  # RFC 7606 §5.3: an IPv4 prefix longer than 32 bits
    end.send(update(good) + update(bad) + update(bytes((24, 10, 0, 9))), 1.0)
    assert peer.state is not SessionState.ESTABLISHED
    note = sent_notification(end)
    assert (note.code, note.subcode) == (
        ErrorCode.UPDATE_MESSAGE,
        UpdateSubcode.INVALID_NETWORK_FIELD,
    )
    events = peer.take_events()
    updates = [e for e in events if isinstance(e, UpdateReceived)]
    assert [b.prefixes for u in updates for b in u.update.announced] == [(good,)]
    assert isinstance(events[len(updates)], SessionDown)  # after the UPDATE before it
    assert peer.counters.messages_in[MessageType.UPDATE] == 2
    assert peer.counters.prefixes_announced_in == 1


def test_a_notification_in_the_read_ends_it_there() -> None:
    peer, end = up()
    good = bytes((24, 10, 0, 1))
    cease = frame(MessageType.NOTIFICATION, bytes((ErrorCode.CEASE, 2)))
    end.send(update(good) + cease + update(bytes((24, 10, 0, 9))), 1.0)
    assert peer.state is not SessionState.ESTABLISHED
    events = peer.take_events()
    updates = [e for e in events if isinstance(e, UpdateReceived)]
    assert [b.prefixes for u in updates for b in u.update.announced] == [(good,)]
    assert any(isinstance(e, SessionDown) for e in events)

"""Stream framing (RFC 4271 §4.1, §6.1)."""

from __future__ import annotations

import pytest

from bgpd.errors import WireError
from bgpd.wire.codec import encode_keepalive
from bgpd.wire.constants import MARKER
from bgpd.wire.framing import MessageReader
from tests.unit.wire.helpers import h, message

KEEPALIVE = encode_keepalive()
UPDATE_EOR = message(2, h("0000 0000"))


def test_keepalive_is_nineteen_octets() -> None:
    assert MARKER + h("0013 04") == KEEPALIVE


def test_messages_split_at_any_byte_boundary_are_reassembled() -> None:
    stream = KEEPALIVE + UPDATE_EOR + KEEPALIVE
    for cut in range(len(stream) + 1):
        reader = MessageReader()
        got = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert got == [(4, b""), (2, h("00000000")), (4, b"")]
        assert reader.pending == 0


def test_byte_by_byte_feed() -> None:
    reader = MessageReader()
    got = []
    for i in range(len(UPDATE_EOR)):
        got += reader.feed(UPDATE_EOR[i : i + 1])
    assert got == [(2, h("00000000"))]


def test_partial_message_is_kept() -> None:
    reader = MessageReader()
    assert reader.feed(UPDATE_EOR[:20]) == []
    assert reader.pending == 20


def _error(data: bytes, max_len: int = 4096) -> WireError:
    with pytest.raises(WireError) as info:
        MessageReader(max_len).feed(data)
    return info.value


def test_bad_marker_is_connection_not_synchronized() -> None:
    err = _error(b"\xfe" + KEEPALIVE[1:])
    assert (err.code, err.subcode) == (1, 1)


@pytest.mark.parametrize("length", [0, 18, 4097, 65535])
def test_bad_length_carries_the_length(length: int) -> None:
    err = _error(MARKER + length.to_bytes(2, "big") + b"\x04")
    assert (err.code, err.subcode, err.data) == (1, 2, length.to_bytes(2, "big"))


@pytest.mark.parametrize(
    ("msg_type", "length"),
    [
        (1, 28),  # OPEN shorter than 29
        (2, 22),  # UPDATE shorter than 23
        (3, 20),  # NOTIFICATION shorter than 21
        (4, 20),  # KEEPALIVE must be exactly 19
        (5, 22),  # ROUTE-REFRESH shorter than 23 (longer: RFC 7313 §5, see test_messages)
    ],
)
def test_per_type_length_limits(msg_type: int, length: int) -> None:
    err = _error(MARKER + length.to_bytes(2, "big") + bytes((msg_type,)) + b"\0" * (length - 19))
    assert (err.code, err.subcode, err.data) == (1, 2, length.to_bytes(2, "big"))


@pytest.mark.parametrize("msg_type", [0, 6, 255])
def test_bad_type_carries_the_type(msg_type: int) -> None:
    err = _error(MARKER + h("0013") + bytes((msg_type,)))
    assert (err.code, err.subcode, err.data) == (1, 3, bytes((msg_type,)))


def test_extended_messages_after_negotiation() -> None:
    big = message(2, h("0000 0000") + b"\x18\x0a\x00\x00" * 2000)  # 8023 octets
    assert _error(big).subcode == 2
    reader = MessageReader()
    reader.max_len = 65535  # RFC 8654, once both sides advertised it
    assert reader.feed(big) == [(2, big[19:])]


@pytest.mark.parametrize("length", [4097, 8000, 65535])
def test_open_stays_within_4096_octets_with_extended_messages(length: int) -> None:
    # RFC 8654 §3: OPEN and KEEPALIVE keep the 4,096-octet limit even once the peer may send
    # 65,535-octet messages; the header error carries the length (RFC 4271 §6.1).
    err = _error(MARKER + length.to_bytes(2, "big") + b"\x01" + b"\0" * 10, max_len=65535)
    assert (err.code, err.subcode, err.data) == (1, 2, length.to_bytes(2, "big"))
    open_4096 = message(1, b"\0" * (4096 - 19))
    assert MessageReader(65535).feed(open_4096) == [(1, open_4096[19:])]


def test_a_long_route_refresh_is_left_to_its_own_error() -> None:
    # RFC 7313 §5 gives a ROUTE-REFRESH of the wrong length a ROUTE-REFRESH Message Error, so the
    # framing passes it on instead of answering with a header error.
    rr = message(5, h("0001 01 01 00"))
    assert MessageReader().feed(rr) == [(5, h("0001 01 01 00"))]


def test_error_is_raised_before_waiting_for_the_body() -> None:
    # A bad length is reported as soon as the header is in, not after 65535 octets.
    err = _error(MARKER + h("ffff 02"))
    assert err.subcode == 2

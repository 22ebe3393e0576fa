"""Decoding never raises anything but WireError, whatever the bytes.

Random bytes and mutated valid messages go through the framing and through every decoder with
every kind of session; each decoded UPDATE must also satisfy `invariants.check_update`.
`bench/fuzz_wire.py` runs the same idea for minutes.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.capabilities import decode_capabilities
from bgpd.wire.codec import (
    EncodeContext,
    UpdateDecoder,
    decode_keepalive,
    decode_message,
    decode_notification,
    decode_open,
    decode_route_refresh,
    encode_path_attributes,
    pack_announcements,
    pack_withdrawals,
)
from bgpd.wire.constants import SegmentType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import UpdateMessage
from tests.unit.wire import helpers
from tests.unit.wire.invariants import check_update
from tests.unit.wire.vectors import VECTORS

SESSIONS = [helpers.IBGP, helpers.EBGP, helpers.OLD_EBGP, helpers.ADD_PATH, helpers.V4_ONLY]


def _seeds() -> list[bytes]:
    """UPDATE bodies covering every attribute and NLRI form."""
    ctx = EncodeContext.from_negotiated(helpers.IBGP)
    attrs = PathAttributes(
        as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(65001, 4200000001)),),
        med=5,
        local_pref=100,
        atomic_aggregate=True,
        aggregator=(65001, b"\x0a\x00\x00\x09"),
        communities=(1, 2),
        originator_id=7,
        cluster_list=(9,),
        large_communities=((1, 2, 3),),
    )
    attr_bytes = encode_path_attributes(attrs, ctx)
    v4 = [pack_prefix("10.0.0.0/24"), pack_prefix("10.1.0.0/16")]
    v6 = [pack_prefix("2001:db8::/32")]
    messages = (
        pack_announcements(ctx, IPV4_UNICAST, attr_bytes, b"\x0a\x00\x00\x01", v4)
        + pack_announcements(ctx, IPV6_UNICAST, attr_bytes, bytes(16), v6)
        + pack_withdrawals(ctx, IPV4_UNICAST, v4)
        + pack_withdrawals(ctx, IPV6_UNICAST, v6)
    )
    return [m[19:] for m in messages] + [v.data for v in VECTORS if v.kind == "update"]


UPDATE_SEEDS = _seeds()
OTHER_SEEDS = [v.data for v in VECTORS if v.kind != "update"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:  # overwrite one octet, often with a boundary value
            pos = min(pos, len(data) - 1)
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
        elif op == 1:  # insert octets
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2:  # delete octets
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == 3:  # truncate
            del data[pos:]
        elif data:  # flip one bit
            pos = min(pos, len(data) - 1)
            data[pos] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


def only_wire_errors(fn: Callable[[bytes], object], data: bytes) -> object:
    try:
        return fn(data)
    except WireError:
        return None


def decode_update_everywhere(body: bytes) -> None:
    for negotiated in SESSIONS:
        msg = only_wire_errors(UpdateDecoder(negotiated).decode, body)
        if isinstance(msg, UpdateMessage):
            check_update(msg)


DECODERS: list[Callable[[bytes], object]] = [
    decode_open,
    decode_notification,
    decode_keepalive,
    decode_route_refresh,
    decode_capabilities,
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
@example(bytes.fromhex("0000000101"))  # found by bench/fuzz_wire.py: a 1-octet attribute list
def test_random_bytes_into_every_decoder(data: bytes) -> None:
    decode_update_everywhere(data)
    for decoder in DECODERS:
        only_wire_errors(decoder, data)
    for msg_type in range(7):
        only_wire_errors(lambda d, t=msg_type: decode_message(t, d, None), data)


@settings(max_examples=400, deadline=None)
@given(mutated(UPDATE_SEEDS))
def test_mutated_updates(data: bytes) -> None:
    decode_update_everywhere(data)


@settings(max_examples=200, deadline=None)
@given(mutated(OTHER_SEEDS))
def test_mutated_other_messages(data: bytes) -> None:
    for decoder in DECODERS:
        only_wire_errors(decoder, data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=60) | mutated(UPDATE_SEEDS), max_size=6), st.booleans())
def test_random_streams_into_framing(chunks: list[bytes], with_marker: bool) -> None:
    reader = MessageReader()
    for chunk in chunks:
        data = chunk
        if with_marker:
            data = b"\xff" * 16 + (19 + len(chunk)).to_bytes(2, "big") + b"\x02" + chunk
        try:
            messages = reader.feed(data)
        except WireError:
            return
        for msg_type, body in messages:
            assert 1 <= msg_type <= 5
            if msg_type == 2:
                decode_update_everywhere(body)


def _outcome(decoder: UpdateDecoder, body: bytes) -> object:
    try:
        return decoder.decode(body)
    except WireError as error:
        return (error.code, error.subcode)


def _mp_set_as_classic() -> tuple[bytes, bytes]:
    """An IPv6 UPDATE whose attributes (MP_REACH aside) lack NEXT_HOP, and an IPv4 UPDATE
    carrying exactly those attributes: a cache filled by the first must still find the second
    missing a well-known attribute (RFC 7606 §3 d)."""
    ctx = EncodeContext.from_negotiated(helpers.IBGP)
    attr_bytes = encode_path_attributes(PathAttributes(local_pref=100), ctx)
    (v6,) = pack_announcements(ctx, IPV6_UNICAST, attr_bytes, bytes(16), [pack_prefix("::/0")])
    prefix = pack_prefix("10.0.0.0/8")
    v4 = b"\x00\x00" + len(attr_bytes).to_bytes(2, "big") + attr_bytes + prefix
    return v6[19:], v4


@settings(max_examples=300, deadline=None)
@given(st.lists(mutated(UPDATE_SEEDS), min_size=2, max_size=4))
@example(list(_mp_set_as_classic()))
def test_the_attribute_cache_changes_no_outcome(bodies: list[bytes]) -> None:
    """One session's decoder gives every UPDATE what a fresh decoder gives it, whatever the
    earlier UPDATEs left in its cache (clean sets are cached as the attribute set itself)."""
    for negotiated in SESSIONS:
        decoder = UpdateDecoder(negotiated)
        for body in bodies + bodies:
            assert _outcome(decoder, body) == _outcome(UpdateDecoder(negotiated), body)

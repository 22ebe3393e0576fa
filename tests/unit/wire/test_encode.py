"""UPDATE packing and encoding (the outbound side)."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Nlri, pack_prefix
from bgpd.wire.attributes import AsPathSegment, PathAttributes, RawAttribute
from bgpd.wire.codec import (
    EncodeContext,
    UpdateDecoder,
    encode_end_of_rib,
    encode_message,
    encode_path_attributes,
    encode_update,
    pack_announcements,
    pack_withdrawals,
)
from bgpd.wire.constants import Origin, SegmentType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import NlriBatch, UpdateMessage
from bgpd.wire.negotiated import Negotiated
from tests.unit.wire.helpers import ADD_PATH, IBGP, h, negotiated

CTX = EncodeContext.from_negotiated(IBGP)
NH4 = h("0a000001")
NH6 = h("20010db8000000000000000000000001 fe800000000000000000000000000001")
ATTRS = PathAttributes(
    origin=Origin.IGP,
    as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(65001,)),),
    local_pref=100,
)
V4 = [pack_prefix(f"10.{i >> 8}.{i & 255}.0/24") for i in range(3000)]
V6 = [pack_prefix(f"2001:db8:{i:x}::/48") for i in range(3000)]


def decode_all(messages: list[bytes], n: Negotiated = IBGP) -> list[UpdateMessage]:
    decoder = UpdateDecoder(n)
    reader = MessageReader(n.max_message_len)
    out = []
    for data in messages:
        assert len(data) <= n.max_message_len
        ((msg_type, body),) = reader.feed(data)
        assert msg_type == 2
        out.append(decoder.decode(body))
    return out


def announced(updates: list[UpdateMessage]) -> list[Nlri]:
    return [p for u in updates for b in u.announced for p in b.prefixes]


def test_ipv4_announcements_fill_messages_and_add_next_hop() -> None:
    attr_bytes = encode_path_attributes(ATTRS, CTX)  # no NEXT_HOP in ATTRS
    messages = pack_announcements(CTX, IPV4_UNICAST, attr_bytes, NH4, V4)
    assert 1 < len(messages) < 10
    assert all(len(m) > 4000 for m in messages[:-1])  # full except the last
    updates = decode_all(messages)
    assert announced(updates) == V4
    assert all(u.attributes == ATTRS.replace(next_hop=NH4) for u in updates)
    assert updates[0].attributes is updates[1].attributes  # one object per encoding


def test_ipv4_existing_next_hop_is_not_duplicated() -> None:
    attr_bytes = encode_path_attributes(ATTRS.replace(next_hop=NH4), CTX)
    (data,) = pack_announcements(CTX, IPV4_UNICAST, attr_bytes, h("0b000001"), V4[:1])
    (update,) = decode_all([data])
    assert update.problems == ()
    assert update.announced[0].next_hop == NH4


def test_ipv6_announcements_use_mp_reach_first() -> None:
    attr_bytes = encode_path_attributes(ATTRS, CTX)
    messages = pack_announcements(CTX, IPV6_UNICAST, attr_bytes, NH6, V6)
    assert len(messages) > 1
    for data in messages:
        assert data[23:25] == h("900e")  # first attribute: MP_REACH_NLRI, extended length
    updates = decode_all(messages)
    assert announced(updates) == V6
    assert {u.announced[0].next_hop for u in updates} == {NH6}


def test_extended_messages_hold_more() -> None:
    n = negotiated(extended_message=True)
    ctx = EncodeContext.from_negotiated(n)
    attr_bytes = encode_path_attributes(ATTRS, ctx)
    messages = pack_announcements(ctx, IPV6_UNICAST, attr_bytes, NH6, V6)
    assert len(messages) == 1 and len(messages[0]) > 4096
    assert announced(decode_all(messages, n)) == V6


@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST])
def test_add_path_ids_round_trip(family: object) -> None:
    ctx = EncodeContext.from_negotiated(ADD_PATH)
    prefixes = V4 if family == IPV4_UNICAST else V6
    ids = list(range(len(prefixes)))
    nh = NH4 if family == IPV4_UNICAST else NH6
    attr_bytes = encode_path_attributes(ATTRS, ctx)
    updates = decode_all(
        pack_announcements(ctx, family, attr_bytes, nh, prefixes, ids),
        ADD_PATH,  # type: ignore[arg-type]
    )
    assert announced(updates) == prefixes
    assert [i for u in updates for b in u.announced for i in b.path_ids or ()] == ids
    withdrawn = decode_all(pack_withdrawals(ctx, family, prefixes, ids), ADD_PATH)  # type: ignore[arg-type]
    assert [p for u in withdrawn for b in u.withdrawn for p in b.prefixes] == prefixes
    assert [i for u in withdrawn for b in u.withdrawn for i in b.path_ids or ()] == ids


def test_add_path_needs_ids() -> None:
    ctx = EncodeContext.from_negotiated(ADD_PATH)
    with pytest.raises(ValueError, match="path id"):
        pack_announcements(ctx, IPV4_UNICAST, b"", NH4, V4[:2])
    with pytest.raises(ValueError, match="path id"):
        pack_withdrawals(ctx, IPV6_UNICAST, V6[:2], [1])


@pytest.mark.parametrize(("family", "prefixes"), [(IPV4_UNICAST, V4), (IPV6_UNICAST, V6)])
def test_withdrawals(family: object, prefixes: list[Nlri]) -> None:
    messages = pack_withdrawals(CTX, family, prefixes)  # type: ignore[arg-type]
    assert len(messages) > 1
    updates = decode_all(messages)
    assert [p for u in updates for b in u.withdrawn for p in b.prefixes] == prefixes
    assert all(u.announced == () and u.attributes is None for u in updates)


def test_nothing_to_pack() -> None:
    assert pack_announcements(CTX, IPV4_UNICAST, b"", NH4, []) == []
    assert pack_withdrawals(CTX, IPV6_UNICAST, []) == []


def test_attributes_too_large_for_a_message() -> None:
    huge = ATTRS.replace(communities=tuple(range(1100)))  # 4400 octets of communities
    with pytest.raises(ValueError, match="no room"):
        pack_announcements(CTX, IPV4_UNICAST, encode_path_attributes(huge, CTX), NH4, V4[:1])


def test_end_of_rib() -> None:
    assert encode_end_of_rib(IPV4_UNICAST) == h("ff" * 16, "0017 02 0000 0000")
    assert encode_end_of_rib(IPV6_UNICAST) == h("ff" * 16, "001d 02 0000 0006 800f03 000201")
    for family in (IPV4_UNICAST, IPV6_UNICAST):
        (update,) = decode_all([encode_end_of_rib(family)])
        assert update.end_of_rib == family and update.announced == update.withdrawn == ()


def test_attribute_order_and_partial_bit() -> None:
    attrs = PathAttributes(
        med=7,
        unknown=(RawAttribute(flags=0xC0, type_code=16, value=h("0002fde900000064")),),
        large_communities=((1, 2, 3),),
        next_hop=NH4,
    )
    encoded = encode_path_attributes(attrs, CTX)
    assert encoded == h(
        "40 01 01 00",  # ORIGIN
        "40 02 00",  # empty AS_PATH
        "40 03 04 0a000001",  # NEXT_HOP
        "80 04 04 00000007",  # MED
        "e0 10 08 0002fde900000064",  # type 16 passed on with PARTIAL
        "c0 20 0c 00000001 00000002 00000003",  # LARGE_COMMUNITY
    )


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_path_attributes(ATTRS.replace(med=1 << 32), CTX)
    with pytest.raises(ValueError, match="IPv4"):
        encode_path_attributes(ATTRS.replace(next_hop=NH6), CTX)


def test_encode_update_round_trip_of_a_mixed_message() -> None:
    attrs = ATTRS.replace(next_hop=NH4)
    msg = UpdateMessage(
        attributes=attrs,
        announced=(
            NlriBatch(family=IPV4_UNICAST, next_hop=NH4, prefixes=tuple(V4[:3])),
            NlriBatch(family=IPV6_UNICAST, next_hop=NH6, prefixes=tuple(V6[:2])),
        ),
        withdrawn=(
            NlriBatch(family=IPV4_UNICAST, next_hop=b"", prefixes=tuple(V4[5:7])),
            NlriBatch(family=IPV6_UNICAST, next_hop=b"", prefixes=tuple(V6[5:6])),
        ),
    )
    data = encode_message(msg, IBGP)
    (decoded,) = decode_all([data])
    assert decoded == msg


def test_encode_update_refuses_what_one_message_cannot_hold() -> None:
    two_mp = UpdateMessage(
        attributes=ATTRS,
        announced=(
            NlriBatch(family=IPV6_UNICAST, next_hop=NH6, prefixes=tuple(V6[:1])),
            NlriBatch(family=IPV6_UNICAST, next_hop=NH6[:16], prefixes=tuple(V6[1:2])),
        ),
        withdrawn=(),
    )
    with pytest.raises(ValueError, match="at most one"):
        encode_update(two_mp, CTX)
    too_big = UpdateMessage(
        attributes=None,
        announced=(),
        withdrawn=(NlriBatch(family=IPV4_UNICAST, next_hop=b"", prefixes=tuple(V4)),),
    )
    with pytest.raises(ValueError, match="exceeds"):
        encode_update(too_big, CTX)
    with pytest.raises(ValueError, match="negotiated"):
        encode_message(too_big)

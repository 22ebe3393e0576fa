"""encode -> decode is the identity, for both families, with and without ADD-PATH and AS4."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, Nlri
from bgpd.wire import attributes as attributes_module
from bgpd.wire.attributes import PathAttributes, RawAttribute, encode_path_attributes_raw
from bgpd.wire.codec import (
    EncodeContext,
    UpdateDecoder,
    encode_path_attributes,
    pack_announcements,
    pack_withdrawals,
)
from bgpd.wire.constants import AttrFlag
from bgpd.wire.framing import MessageReader
from bgpd.wire.negotiated import Negotiated
from tests.unit.wire.helpers import negotiated
from tests.unit.wire.strategies import path_attributes, u32, v4_prefixes, v6_prefixes

BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})


def session(as4: bool, add_path: bool, extended: bool = False) -> Negotiated:
    ap = BOTH if add_path else frozenset()
    return negotiated(as4=as4, add_path_receive=ap, add_path_send=ap, extended_message=extended)


def expected(attrs: PathAttributes) -> PathAttributes:
    """What the receiver sees: unknown transitive attributes arrive with PARTIAL set, in
    type-code order like every attribute (RFC 4271 §5)."""
    unknown = tuple(
        RawAttribute(flags=a.flags | AttrFlag.PARTIAL, type_code=a.type_code, value=a.value)
        for a in sorted(attrs.unknown, key=lambda a: a.type_code)
    )
    return attrs.replace(unknown=unknown)


families = st.sampled_from(
    [
        (IPV4_UNICAST, v4_prefixes, b"\x0a\x00\x00\x01"),
        (IPV6_UNICAST, v6_prefixes, bytes(range(16))),
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    attrs=path_attributes,
    family=families,
    data=st.data(),
    as4=st.booleans(),
    add_path=st.booleans(),
    extended=st.booleans(),
)
def test_announcements_round_trip(
    attrs: PathAttributes,
    family: tuple[Family, st.SearchStrategy[Nlri], bytes],
    data: st.DataObject,
    as4: bool,
    add_path: bool,
    extended: bool,
) -> None:
    fam, prefix_strategy, next_hop = family
    prefixes = data.draw(st.lists(prefix_strategy, min_size=1, max_size=300))
    ids = data.draw(st.lists(u32, min_size=len(prefixes), max_size=len(prefixes)))
    n = session(as4, add_path, extended)
    ctx = EncodeContext.from_negotiated(n)
    if fam == IPV4_UNICAST:
        attrs = attrs.replace(next_hop=next_hop)
    attr_bytes = encode_path_attributes(attrs, ctx)
    messages = pack_announcements(ctx, fam, attr_bytes, next_hop, prefixes, ids)

    decoder = UpdateDecoder(n)
    reader = MessageReader(n.max_message_len)
    got_prefixes: list[Nlri] = []
    got_ids: list[int] = []
    for msg_type, body in reader.feed(b"".join(messages)):
        assert msg_type == 2
        update = decoder.decode(body)
        assert update.problems == ()
        assert update.attributes == expected(attrs)
        (batch,) = update.announced
        assert (batch.family, batch.next_hop) == (fam, next_hop)
        got_prefixes += batch.prefixes
        got_ids += batch.path_ids or ()
    assert got_prefixes == prefixes
    assert got_ids == (ids if add_path else [])


@settings(max_examples=50, deadline=None)
@given(family=families, data=st.data(), add_path=st.booleans())
def test_withdrawals_round_trip(
    family: tuple[Family, st.SearchStrategy[Nlri], bytes], data: st.DataObject, add_path: bool
) -> None:
    fam, prefix_strategy, _ = family
    prefixes = data.draw(st.lists(prefix_strategy, min_size=1, max_size=300))
    ids = data.draw(st.lists(u32, min_size=len(prefixes), max_size=len(prefixes)))
    n = session(True, add_path)
    ctx = EncodeContext.from_negotiated(n)
    decoder = UpdateDecoder(n)
    got: list[Nlri] = []
    got_ids: list[int] = []
    for message in pack_withdrawals(ctx, fam, prefixes, ids):
        update = decoder.decode(message[19:])
        (batch,) = update.withdrawn
        assert batch.family == fam and update.announced == ()
        got += batch.prefixes
        got_ids += batch.path_ids or ()
    assert got == prefixes
    assert got_ids == (ids if add_path else [])


@settings(max_examples=50, deadline=None)
@given(attrs=path_attributes, as4=st.booleans())
def test_attribute_sets_are_interned(attrs: PathAttributes, as4: bool) -> None:
    n = session(as4, False)
    ctx = EncodeContext.from_negotiated(n)
    attrs = attrs.replace(next_hop=b"\x0a\x00\x00\x01")
    attr_bytes = encode_path_attributes(attrs, ctx)
    decoder = UpdateDecoder(n)
    first = decoder.decode(
        pack_announcements(ctx, IPV4_UNICAST, attr_bytes, b"", [b"\x00"])[0][19:]
    )
    again = decoder.decode(
        pack_announcements(ctx, IPV4_UNICAST, attr_bytes, b"", [b"\x08\x0a"])[0][19:]
    )
    assert first.attributes is again.attributes
    assert decoder.cache_size == 1


@settings(max_examples=200, deadline=None)
@given(attrs=path_attributes, as4=st.booleans())
def test_attributes_encode_in_type_order_sorting_only_when_needed(
    attrs: PathAttributes, as4: bool
) -> None:
    # The encoder skips its sort when it reports the parts already ordered: that claim must
    # hold, and the bytes must be the stably sorted parts either way.
    parts, ordered = attributes_module._encode_parts(attrs, as4)
    in_order = sorted(parts, key=lambda part: part[0])
    if ordered:
        assert parts == in_order
    assert encode_path_attributes_raw(attrs, as4) == b"".join(p for _, p in in_order)

"""The Adj-RIB-Out's side of issue 11.1, at the packing boundary: a path is withheld exactly
when one message cannot carry its attributes and one of its prefixes, in either family, with
or without ADD-PATH; and a path whose attributes cannot be encoded at all is withheld too."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, pack_prefix
from bgpd.outbound.adj_out import AdjRibOut
from bgpd.rib.path_info import PathInfo
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.codec import UpdateDecoder
from bgpd.wire.framing import MessageReader
from bgpd.wire.negotiated import EncodeContext, Negotiated


def negotiated(*, extended: bool, add_path: bool = False) -> Negotiated:
    families = frozenset({IPV4_UNICAST, IPV6_UNICAST})
    return Negotiated(
        local_asn=64512,
        peer_asn=64512,
        peer_router_id=1,
        hold_time=90,
        as4=True,
        families=families,
        extended_message=extended,
        add_path_send=families if add_path else frozenset(),
        add_path_receive=families if add_path else frozenset(),
    )


def path(communities: int, family: Family, origin: str = "") -> PathInfo:
    v4 = family == IPV4_UNICAST
    hop = bytes((10, 0, 0, 1)) if v4 else bytes(15) + b"\x01"
    attrs = PathAttributes(
        next_hop=hop if v4 else None, local_pref=100, communities=tuple(range(communities))
    )
    return PathInfo(attributes=attrs, next_hop=hop, origin=origin)


def sizes(n: Negotiated, data: bytes) -> list[int]:
    reader = MessageReader(65535)
    decoder = UpdateDecoder(n)
    frames = reader.feed(data)
    for _, body in frames:
        assert not decoder.decode(body).problems
    return [len(body) + 19 for _, body in frames]


@pytest.mark.parametrize("add_path", [False, True])
@pytest.mark.parametrize(
    ("family", "short", "long"),
    [
        (IPV4_UNICAST, "10.0.0.0/8", "10.1.2.3/32"),
        (IPV6_UNICAST, "2001:db8::/32", "2001:db8::1/128"),
    ],
)
def test_withheld_exactly_when_the_prefix_does_not_fit(
    family: Family, short: str, long: str, add_path: bool
) -> None:
    n = negotiated(extended=False, add_path=add_path)
    ctx = EncodeContext.from_negotiated(n)
    ids = b"\x00\x00\x00\x07" if add_path else b""
    keys = [ids + pack_prefix(short), ids + pack_prefix(long)]
    # The largest community count for which the longer prefix still fits: one more community
    # and it is withheld; the shorter prefix (one to 12 octets fewer) fits a little longer.
    fitting = None
    for count in range(1040, 960, -1):
        adj = AdjRibOut()
        messages = adj.apply(ctx, family, dict.fromkeys(keys, path(count, family)))
        if not any(m.withheld for m in messages):
            fitting = count
            assert all(size <= 4096 for m in messages for size in sizes(n, m.data))
            break
    assert fitting is not None
    adj = AdjRibOut()
    info = path(fitting + 1, family)
    messages = adj.apply(ctx, family, dict.fromkeys(keys, info))
    withheld = [m for m in messages if m.withheld]
    assert sum(m.withheld for m in withheld) >= 1
    assert all(m.needed > 4096 for m in withheld)
    assert len(adj.table(family)) + len(adj.withheld(family)) == 2
    for m in messages:
        assert all(size <= 4096 for size in sizes(n, m.data))


def test_an_unencodable_attribute_set_is_withheld_not_raised() -> None:
    n = negotiated(extended=True)
    ctx = EncodeContext.from_negotiated(n)
    adj = AdjRibOut()
    key = pack_prefix("10.0.0.0/8")
    old = path(3, IPV4_UNICAST)
    adj.apply(ctx, IPV4_UNICAST, {key: old})
    # 16,400 communities: 65,600 octets, more than an attribute's length field can say.
    messages = adj.apply(ctx, IPV4_UNICAST, {key: path(16_400, IPV4_UNICAST)})
    assert [m.withdrawn for m in messages if m.withdrawn] == [1]  # the old path goes
    assert [m.withheld for m in messages if m.withheld] == [1]
    assert adj.table(IPV4_UNICAST) == {}
    # A member joining later is told it was withheld (its counter), and gets nothing else.
    (joiner,) = adj.full_table(ctx, IPV4_UNICAST, "late")
    assert (joiner.withheld, joiner.only, joiner.data) == (1, "late", b"")


def test_encode_update_refuses_an_oversized_update_with_value_error() -> None:
    """Found by the fuzz harness: beyond 65,535 octets the tools' encoder raised struct.error
    (its length field cannot be packed) instead of the ValueError it documents."""
    from bgpd.wire.codec import encode_update
    from bgpd.wire.messages import NlriBatch, UpdateMessage

    ctx = EncodeContext.from_negotiated(negotiated(extended=True))
    v4 = tuple(pack_prefix(f"10.{i // 256}.{i % 256}.0/24") for i in range(1000))
    v6 = tuple(pack_prefix(f"2001:db8:{i:x}::/48") for i in range(10_000))
    # 64,000 octets of communities and 4,000 of NLRI; 70,000 octets of MP_REACH_NLRI.
    for family, count, prefixes in ((IPV4_UNICAST, 16_000, v4), (IPV6_UNICAST, 0, v6)):
        info = path(count, family)
        batch = NlriBatch(family=family, next_hop=info.next_hop, prefixes=prefixes)
        message = UpdateMessage(attributes=info.attributes, announced=(batch,), withdrawn=())
        with pytest.raises(ValueError, match="exceeds"):
            encode_update(message, ctx)

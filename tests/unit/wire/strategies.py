"""Hypothesis strategies for codec values."""

from __future__ import annotations

from hypothesis import strategies as st

from bgpd.net import Nlri
from bgpd.wire.attributes import AsPathSegment, PathAttributes, RawAttribute
from bgpd.wire.constants import Origin, SegmentType

u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
asn = st.one_of(
    st.integers(min_value=1, max_value=0xFFFF),  # AS 0 is malformed (RFC 7607)
    st.integers(min_value=0x10000, max_value=0xFFFFFFFF),
)


def prefixes(max_bits: int) -> st.SearchStrategy[Nlri]:
    """Packed prefixes with host bits clear, as `bgpd.net` defines them."""

    def build(length: int, address: int) -> Nlri:
        octets = (length + 7) // 8
        address &= ((1 << max_bits) - 1) ^ ((1 << (max_bits - length)) - 1)
        return bytes((length,)) + address.to_bytes(max_bits // 8, "big")[:octets]

    return st.builds(
        build, st.integers(min_value=0, max_value=max_bits), st.integers(0, (1 << max_bits) - 1)
    )


v4_prefixes = prefixes(32)
v6_prefixes = prefixes(128)


@st.composite
def as_paths(draw: st.DrawFn) -> tuple[AsPathSegment, ...]:
    """Confederation segments only in front (where they live); no two AS_SEQUENCEs in a row
    (a 2-octet peer's AS4_PATH merge joins them, RFC 6793 §4.2.3)."""
    segments: list[AsPathSegment] = []
    if draw(st.booleans()):
        kind = draw(st.sampled_from([SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET]))
        small = st.integers(min_value=1, max_value=0xFFFF)  # confed member ASes
        segments.append(
            AsPathSegment(type=kind, asns=tuple(draw(st.lists(small, min_size=1, max_size=4))))
        )
    previous = None
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from([SegmentType.AS_SEQUENCE, SegmentType.AS_SET]))
        if kind == previous == SegmentType.AS_SEQUENCE:
            kind = SegmentType.AS_SET
        previous = kind
        segments.append(
            AsPathSegment(type=kind, asns=tuple(draw(st.lists(asn, min_size=1, max_size=12))))
        )
    return tuple(segments)


unknown_attributes = st.lists(
    st.builds(
        RawAttribute,
        flags=st.sampled_from([0xC0, 0xE0]),  # optional transitive, maybe already partial
        type_code=st.sampled_from([16, 22, 25, 35, 99, 128, 200, 255]),
        value=st.binary(max_size=300),
    ),
    max_size=3,
    unique_by=lambda a: a.type_code,
)

path_attributes = st.builds(
    PathAttributes,
    origin=st.sampled_from(list(Origin)),
    as_path=as_paths(),
    next_hop=st.none(),
    med=st.none() | u32,
    local_pref=st.none() | u32,
    atomic_aggregate=st.booleans(),
    aggregator=st.none() | st.tuples(asn, st.binary(min_size=4, max_size=4)),
    communities=st.lists(u32, max_size=20).map(tuple),
    originator_id=st.none() | u32,
    cluster_list=st.lists(u32, max_size=5).map(tuple),
    large_communities=st.lists(st.tuples(u32, u32, u32), max_size=5).map(tuple),
    unknown=unknown_attributes.map(tuple),
)

"""Path attribute values (RFC 4271 §5) and their encoder.

Invariants: `PathAttributes` is frozen and hashable so decoded sets can be compared and used as
dict keys. It always holds 4-octet AS numbers: AS4_PATH/AS4_AGGREGATOR never appear here, they
are merged on decode (RFC 6793 §4.2.3, see `bgpd.wire.attr_decode`) and produced on encode
toward 2-octet peers (RFC 6793 §4.2.2). MP_REACH/MP_UNREACH are not attributes of the set: they
carry NLRI and are built by the UPDATE packer. `next_hop` is the IPv4 NEXT_HOP attribute only.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any

from bgpd.net import AS_TRANS
from bgpd.wire.constants import AttrFlag, AttrType, Origin, SegmentType


@dataclass(frozen=True, slots=True, kw_only=True)
class AsPathSegment:
    type: SegmentType
    asns: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawAttribute:
    """An attribute bgpd does not interpret, kept with its flags (RFC 4271 §5: passed on)."""

    flags: int
    type_code: int
    value: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PathAttributes:
    origin: Origin = Origin.IGP
    as_path: tuple[AsPathSegment, ...] = ()
    next_hop: bytes | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic_aggregate: bool = False
    aggregator: tuple[int, bytes] | None = None
    communities: tuple[int, ...] = ()
    originator_id: int | None = None
    cluster_list: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    unknown: tuple[RawAttribute, ...] = ()

    def as_path_length(self) -> int:
        """RFC 4271 §9.1.2.2 a: an AS_SET counts 1; confed segments count 0 (RFC 5065 §5.3)."""
        n = 0
        for seg in self.as_path:
            if seg.type == SegmentType.AS_SEQUENCE:
                n += len(seg.asns)
            elif seg.type == SegmentType.AS_SET:
                n += 1
        return n

    def neighbor_as(self) -> int | None:
        """The first AS of the first segment when it is an AS_SEQUENCE (RFC 4271 §9.1.2.2 c)."""
        if self.as_path and self.as_path[0].type == SegmentType.AS_SEQUENCE:
            asns = self.as_path[0].asns
            return asns[0] if asns else None
        return None

    def as_path_asns(self) -> tuple[int, ...]:
        return tuple(a for seg in self.as_path for a in seg.asns)

    def replace(self, **changes: Any) -> PathAttributes:
        """`dataclasses.replace` without the frozen __init__ (export builds one per path)."""
        new: PathAttributes = _new(PathAttributes)
        for name, set_slot in _PA_SLOTS:
            set_slot(new, changes.pop(name) if name in changes else getattr(self, name))
        if changes:
            raise TypeError(f"PathAttributes has no field {', '.join(sorted(changes))}")
        return new


# Fast constructors for the decoder: one attribute set per distinct wire encoding is built, but
# the frozen-dataclass __init__ (one object.__setattr__ per field) dominated its cost. They set
# the slots directly; equality, hashing and repr stay the dataclass ones.
_new = object.__new__
_SEG: Any = AsPathSegment.__dict__
_SEG_TYPE, _SEG_ASNS = _SEG["type"].__set__, _SEG["asns"].__set__
_PA: Any = PathAttributes.__dict__
(
    _PA_ORIGIN,
    _PA_AS_PATH,
    _PA_NEXT_HOP,
    _PA_MED,
    _PA_LOCAL_PREF,
    _PA_ATOMIC,
    _PA_AGGREGATOR,
    _PA_COMMUNITIES,
    _PA_ORIGINATOR_ID,
    _PA_CLUSTER_LIST,
    _PA_LARGE,
    _PA_UNKNOWN,
) = (
    _PA[f].__set__
    for f in (
        "origin",
        "as_path",
        "next_hop",
        "med",
        "local_pref",
        "atomic_aggregate",
        "aggregator",
        "communities",
        "originator_id",
        "cluster_list",
        "large_communities",
        "unknown",
    )
)


_PA_SLOTS: tuple[tuple[str, Any], ...] = tuple(
    (f.name, _PA[f.name].__set__) for f in dataclasses.fields(PathAttributes)
)


def new_segment(seg_type: SegmentType, asns: tuple[int, ...]) -> AsPathSegment:
    seg: AsPathSegment = _new(AsPathSegment)
    _SEG_TYPE(seg, seg_type)
    _SEG_ASNS(seg, asns)
    return seg


MAX_SEGMENT_ASNS = 255  # an AS_PATH segment's length is one octet (RFC 4271 §4.3)


def prepend_asn(path: tuple[AsPathSegment, ...], asn: int) -> tuple[AsPathSegment, ...]:
    """`asn` in front of `path` (RFC 4271 §5.1.2), folded into a leading AS_SEQUENCE that has
    room, else in a new one: the one prepend rule, for our AS on export and for BGPFilter's
    prependASPath (BIRD's `bgp_path.prepend`)."""
    if path and path[0].type == SegmentType.AS_SEQUENCE and len(path[0].asns) < MAX_SEGMENT_ASNS:
        return (new_segment(SegmentType.AS_SEQUENCE, (asn, *path[0].asns)), *path[1:])
    return (new_segment(SegmentType.AS_SEQUENCE, (asn,)), *path)


def new_path_attributes(  # noqa: PLR0917 - mirrors the field order, decoder use only
    origin: Origin,
    as_path: tuple[AsPathSegment, ...],
    next_hop: bytes | None,
    med: int | None,
    local_pref: int | None,
    atomic_aggregate: bool,
    aggregator: tuple[int, bytes] | None,
    communities: tuple[int, ...],
    originator_id: int | None,
    cluster_list: tuple[int, ...],
    large_communities: tuple[tuple[int, int, int], ...],
    unknown: tuple[RawAttribute, ...],
) -> PathAttributes:
    """A PathAttributes built without the dataclass __init__ (the decoder knows its values)."""
    attrs: PathAttributes = _new(PathAttributes)
    _PA_ORIGIN(attrs, origin)
    _PA_AS_PATH(attrs, as_path)
    _PA_NEXT_HOP(attrs, next_hop)
    _PA_MED(attrs, med)
    _PA_LOCAL_PREF(attrs, local_pref)
    _PA_ATOMIC(attrs, atomic_aggregate)
    _PA_AGGREGATOR(attrs, aggregator)
    _PA_COMMUNITIES(attrs, communities)
    _PA_ORIGINATOR_ID(attrs, originator_id)
    _PA_CLUSTER_LIST(attrs, cluster_list)
    _PA_LARGE(attrs, large_communities)
    _PA_UNKNOWN(attrs, unknown)
    return attrs


# Flags we send for each attribute (RFC 4271 §5 and the RFC that defines each one).
WELL_KNOWN = AttrFlag.TRANSITIVE
OPTIONAL_TRANSITIVE = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE
OPTIONAL_NON_TRANSITIVE = AttrFlag.OPTIONAL
EXPECTED_FLAGS: dict[int, int] = {
    AttrType.ORIGIN: WELL_KNOWN,
    AttrType.AS_PATH: WELL_KNOWN,
    AttrType.NEXT_HOP: WELL_KNOWN,
    AttrType.MED: OPTIONAL_NON_TRANSITIVE,
    AttrType.LOCAL_PREF: WELL_KNOWN,
    AttrType.ATOMIC_AGGREGATE: WELL_KNOWN,
    AttrType.AGGREGATOR: OPTIONAL_TRANSITIVE,
    AttrType.COMMUNITIES: OPTIONAL_TRANSITIVE,
    AttrType.ORIGINATOR_ID: OPTIONAL_NON_TRANSITIVE,
    AttrType.CLUSTER_LIST: OPTIONAL_NON_TRANSITIVE,
    AttrType.MP_REACH_NLRI: OPTIONAL_NON_TRANSITIVE,
    AttrType.MP_UNREACH_NLRI: OPTIONAL_NON_TRANSITIVE,
    AttrType.AS4_PATH: OPTIONAL_TRANSITIVE,
    AttrType.AS4_AGGREGATOR: OPTIONAL_TRANSITIVE,
    AttrType.LARGE_COMMUNITY: OPTIONAL_TRANSITIVE,
}


# Precompiled formats of n big-endian 2- and 4-octet values, n < 256 (the decoder's too): a
# format string built per call costs more than the packing of a short AS path.
U16S = tuple(struct.Struct(f"!{n}H") for n in range(256))
U32S = tuple(struct.Struct(f"!{n}I") for n in range(256))


def _pack_u32s(values: tuple[int, ...] | list[int]) -> bytes:
    n = len(values)
    if n < 256:
        return U32S[n].pack(*values)
    return struct.pack(f"!{n}I", *values)


_EXTENDED_LENGTH = int(AttrFlag.EXTENDED_LENGTH)  # plain int: IntFlag operators are slow
_NOT_EXTENDED = 0xFF & ~_EXTENDED_LENGTH
_PACK_SHORT = struct.Struct("!BBB").pack
_PACK_LONG = struct.Struct("!BBH").pack


def encode_attribute(flags: int, type_code: int, value: bytes) -> bytes:
    """One attribute TLV; Extended Length is set only when needed (RFC 4271 §4.3)."""
    n = len(value)
    if n > 255:
        return _PACK_LONG((int(flags) | _EXTENDED_LENGTH) & 0xFF, type_code, n) + value
    return _PACK_SHORT(int(flags) & _NOT_EXTENDED, type_code, n) + value


_AS4_PATH_SEGMENTS = (SegmentType.AS_SEQUENCE, SegmentType.AS_SET)


def _encode_segments(segments: tuple[AsPathSegment, ...], four_octet: bool) -> bytes:
    structs = U32S if four_octet else U16S
    parts: list[bytes] = []
    for seg in segments:
        asns = seg.asns
        if not four_octet:
            asns = tuple(a if a <= 0xFFFF else AS_TRANS for a in asns)
        # RFC 4271 §4.3: a segment holds at most 255 ASes; longer runs are split.
        for start in range(0, max(len(asns), 1), 255):
            chunk = asns[start : start + 255]
            parts.append(bytes((seg.type, len(chunk))) + structs[len(chunk)].pack(*chunk))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def encode_path_attributes_raw(attrs: PathAttributes, as4: bool) -> bytes:
    """The attribute list of `attrs` in type-code order (RFC 4271 §5: SHOULD be ordered).

    Toward a 2-octet AS peer (`as4` False) ASes that do not fit in 2 octets become AS_TRANS and
    the real values travel in AS4_PATH/AS4_AGGREGATOR (RFC 6793 §4.2.2). Raises ValueError for
    values that do not fit their fields.
    """
    try:
        parts, ordered = _encode_parts(attrs, as4)
    except (OverflowError, struct.error) as exc:
        raise ValueError(f"attribute value out of range: {exc}") from None
    if not ordered:
        parts.sort(key=_type_of)  # stable: unknown attributes keep their order
    return b"".join([p for _, p in parts])


def _type_of(part: tuple[int, bytes]) -> int:
    return part[0]


# Headers (flags, type, length) of the fixed-size attributes, and ORIGIN whole.
_ORIGIN_TLVS = tuple(bytes((WELL_KNOWN, AttrType.ORIGIN, 1, origin)) for origin in range(3))
_NEXT_HOP_HEAD = bytes((WELL_KNOWN, AttrType.NEXT_HOP, 4))
_MED_HEAD = bytes((OPTIONAL_NON_TRANSITIVE, AttrType.MED, 4))
_LOCAL_PREF_HEAD = bytes((WELL_KNOWN, AttrType.LOCAL_PREF, 4))
_ATOMIC_TLV = bytes((WELL_KNOWN, AttrType.ATOMIC_AGGREGATE, 0))
_AGGREGATOR4_HEAD = bytes((OPTIONAL_TRANSITIVE, AttrType.AGGREGATOR, 8))
_AGGREGATOR2_HEAD = bytes((OPTIONAL_TRANSITIVE, AttrType.AGGREGATOR, 6))
_AS4_AGGREGATOR_HEAD = bytes((OPTIONAL_TRANSITIVE, AttrType.AS4_AGGREGATOR, 8))
_ORIGINATOR_HEAD = bytes((OPTIONAL_NON_TRANSITIVE, AttrType.ORIGINATOR_ID, 4))


def _encode_parts(attrs: PathAttributes, as4: bool) -> tuple[list[tuple[int, bytes]], bool]:
    """(type code, TLV) of every attribute, and whether they are in type-code order already:
    they are unless AS4_PATH, AS4_AGGREGATOR or unknown attributes were added, so export
    toward 4-octet peers, the bulk case, never sorts."""
    as_path = encode_attribute(WELL_KNOWN, AttrType.AS_PATH, _encode_segments(attrs.as_path, as4))
    parts: list[tuple[int, bytes]] = [
        (AttrType.ORIGIN, _ORIGIN_TLVS[attrs.origin]),
        (AttrType.AS_PATH, as_path),
    ]
    add = parts.append
    ordered = True
    if not as4 and any(a > 0xFFFF for seg in attrs.as_path for a in seg.asns):
        # RFC 6793 §4.2.2: AS4_PATH carries the real path; it holds no confederation
        # segments (RFC 6793 §3).
        segs = tuple(s for s in attrs.as_path if s.type in _AS4_PATH_SEGMENTS)
        value = _encode_segments(segs, True)
        add((AttrType.AS4_PATH, encode_attribute(OPTIONAL_TRANSITIVE, AttrType.AS4_PATH, value)))
        ordered = False
    if attrs.next_hop is not None:
        if len(attrs.next_hop) != 4:
            raise ValueError("the NEXT_HOP attribute is an IPv4 address")
        add((AttrType.NEXT_HOP, _NEXT_HOP_HEAD + attrs.next_hop))
    if attrs.med is not None:
        add((AttrType.MED, _MED_HEAD + attrs.med.to_bytes(4, "big")))
    if attrs.local_pref is not None:
        add((AttrType.LOCAL_PREF, _LOCAL_PREF_HEAD + attrs.local_pref.to_bytes(4, "big")))
    if attrs.atomic_aggregate:
        add((AttrType.ATOMIC_AGGREGATE, _ATOMIC_TLV))
    if attrs.aggregator is not None:
        asn, address = attrs.aggregator
        if len(address) != 4:
            raise ValueError("the AGGREGATOR address is an IPv4 address")
        if as4:
            add((AttrType.AGGREGATOR, _AGGREGATOR4_HEAD + asn.to_bytes(4, "big") + address))
        else:
            two = asn if asn <= 0xFFFF else AS_TRANS
            add((AttrType.AGGREGATOR, _AGGREGATOR2_HEAD + two.to_bytes(2, "big") + address))
            if asn > 0xFFFF:  # RFC 6793 §4.2.2
                value = asn.to_bytes(4, "big") + address
                add((AttrType.AS4_AGGREGATOR, _AS4_AGGREGATOR_HEAD + value))
                ordered = False
    if attrs.communities:
        value = _pack_u32s(attrs.communities)
        tlv = encode_attribute(OPTIONAL_TRANSITIVE, AttrType.COMMUNITIES, value)
        add((AttrType.COMMUNITIES, tlv))
    if attrs.originator_id is not None:
        add((AttrType.ORIGINATOR_ID, _ORIGINATOR_HEAD + attrs.originator_id.to_bytes(4, "big")))
    if attrs.cluster_list:
        value = _pack_u32s(attrs.cluster_list)
        tlv = encode_attribute(OPTIONAL_NON_TRANSITIVE, AttrType.CLUSTER_LIST, value)
        add((AttrType.CLUSTER_LIST, tlv))
    if attrs.large_communities:
        value = _pack_u32s([v for lc in attrs.large_communities for v in lc])
        tlv = encode_attribute(OPTIONAL_TRANSITIVE, AttrType.LARGE_COMMUNITY, value)
        add((AttrType.LARGE_COMMUNITY, tlv))
    for raw in attrs.unknown:
        # RFC 4271 §5: an unrecognized optional transitive attribute passed on gets PARTIAL.
        tlv = encode_attribute(raw.flags | AttrFlag.PARTIAL, raw.type_code, raw.value)
        add((raw.type_code, tlv))
        ordered = False
    return parts, ordered

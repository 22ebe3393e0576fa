"""Decoding of the path attribute list with the RFC 7606 error actions.

Role: turn the attribute bytes of an UPDATE into a `PathAttributes` plus the list of
RFC 7606 findings. Two steps: `split_attributes` walks the TLVs once (RFC 7606 §4 length checks,
§3 g duplicate MP attributes) and separates MP_REACH/MP_UNREACH, which carry NLRI, from the
others; `decode_attribute_list` decodes the others. The result of the second step depends only on
the bytes of the non-MP attributes and on the session (AS4, iBGP), which is what makes it
cacheable by those bytes in `UpdateDecoder`.

Invariants: nothing here raises anything but `WireError`, and only for the "session reset"
cases (an unrecognized well-known attribute, RFC 4271 §6.3; a duplicate or unlocatable MP
attribute, RFC 7606 §3 g/§3 j). Every other malformation becomes an `AttributeProblem` whose
action is the one RFC 7606 §7 (and RFC 6793 §6, RFC 7607, RFC 8092 §6) gives that attribute.
"""

from __future__ import annotations

import struct

from bgpd.errors import WireError
from bgpd.net import AS_TRANS
from bgpd.wire.attributes import (
    EXPECTED_FLAGS,
    U16S,
    U32S,
    AsPathSegment,
    PathAttributes,
    RawAttribute,
    encode_attribute,
    new_path_attributes,
    new_segment,
)
from bgpd.wire.constants import (
    AttrFlag,
    AttrType,
    ErrorAction,
    ErrorCode,
    Origin,
    SegmentType,
    UpdateSubcode,
)
from bgpd.wire.messages import AttributeProblem

TAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
MP_REACH = AttrType.MP_REACH_NLRI.value
MP_UNREACH = AttrType.MP_UNREACH_NLRI.value

# Bits of `AttrEntry.present`: the well-known mandatory attributes (RFC 4271 §5, RFC 7606 §3 d).
HAS_ORIGIN = 1
HAS_AS_PATH = 2
HAS_NEXT_HOP = 4

# Plain ints on the hot path: IntFlag/IntEnum operators go through the enum machinery.
_OPTIONAL = int(AttrFlag.OPTIONAL)
_TRANSITIVE = int(AttrFlag.TRANSITIVE)
_EXTENDED = int(AttrFlag.EXTENDED_LENGTH)
_FLAG_BITS = _OPTIONAL | _TRANSITIVE
_EXPECTED: dict[int, int] = {int(k): int(v) for k, v in EXPECTED_FLAGS.items()}
_ORIGIN, _AS_PATH, _NEXT_HOP, _MED, _LOCAL_PREF = 1, 2, 3, 4, 5
_ATOMIC, _AGGREGATOR, _COMMUNITIES, _ORIGINATOR_ID, _CLUSTER_LIST = 6, 7, 8, 9, 10
_AS4_PATH, _AS4_AGGREGATOR, _LARGE_COMMUNITY = 17, 18, 32

_SEGMENT_TYPES: tuple[SegmentType | None, ...] = (None, *SegmentType)
_AS2 = U16S
_AS4 = U32S
_ORIGINS = tuple(Origin)
_IGP = Origin.IGP
_CONFED = (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET)


class AttrEntry:
    """The decoded non-MP attributes of an UPDATE; shared by every UPDATE with the same bytes."""

    __slots__ = ("attrs", "classic_ok", "mp_ok", "present", "problems", "withdraw")

    def __init__(
        self,
        attrs: PathAttributes | None,
        problems: tuple[AttributeProblem, ...],
        withdraw: bool,
        present: int,
    ) -> None:
        self.attrs = attrs  # None when `withdraw`
        self.problems = problems
        self.withdraw = withdraw  # RFC 7606 treat-as-withdraw applies to every route
        self.present = present
        # Whether routes may be accepted with these attributes alone (RFC 7606 §3 d), for
        # classic IPv4 NLRI (which needs NEXT_HOP) and for MP_REACH_NLRI.
        ok = attrs is not None and not withdraw
        self.mp_ok = ok and present & (HAS_ORIGIN | HAS_AS_PATH) == HAS_ORIGIN | HAS_AS_PATH
        self.classic_ok = ok and present & 7 == 7


class SplitAttributes:
    """One walk over the attribute TLVs: MP attributes apart, the others' bytes joined."""

    __slots__ = ("items", "mp_reach", "mp_unreach", "overrun", "rest")

    def __init__(self) -> None:
        self.items: list[tuple[int, int, bytes]] = []  # (flags, type, value), non-MP
        self.mp_reach: tuple[int, bytes] | None = None  # (flags, value)
        self.mp_unreach: tuple[int, bytes] | None = None
        self.overrun: str | None = None  # RFC 7606 §4 finding
        self.rest = b""  # bytes of the non-MP attributes: the cache key


def split_attributes(data: bytes) -> SplitAttributes:
    """Walks the TLVs of an attribute list (RFC 4271 §4.3) applying RFC 7606 §3 g and §4."""
    out = SplitAttributes()
    append = out.items.append
    mp_ranges: list[tuple[int, int]] = []  # where MP attributes sit, to cut them out of `rest`
    i = 0
    n = len(data)
    while i < n:
        if n - i < 3:
            # RFC 7606 §4: too few octets for an attribute header: treat-as-withdraw, and the
            # Total Attribute Length locates the NLRI.
            out.overrun = "fewer than 3 octets left for an attribute header"
            break
        flags = data[i]
        type_code = data[i + 1]
        if flags & _EXTENDED:
            if n - i < 4:
                out.overrun = "fewer than 4 octets left for an extended-length attribute header"
                break
            start = i + 4
            end = start + ((data[i + 2] << 8) | data[i + 3])
        else:
            start = i + 3
            end = start + data[i + 2]
        if end > n:
            if type_code in (MP_REACH, MP_UNREACH):
                # RFC 7606 §3 j: the MP NLRI cannot be located, so treat-as-withdraw is
                # impossible: session reset (RFC 4760 §7).
                raise WireError(
                    ErrorCode.UPDATE_MESSAGE,
                    UpdateSubcode.ATTRIBUTE_LENGTH,
                    message="MP attribute overruns the attribute list",
                )
            out.overrun = f"attribute {type_code} overruns the attribute list"
            break
        if type_code in (MP_REACH, MP_UNREACH):
            if (out.mp_reach if type_code == MP_REACH else out.mp_unreach) is not None:
                # RFC 7606 §3 g: a repeated MP attribute resets the session.
                raise WireError(
                    ErrorCode.UPDATE_MESSAGE,
                    UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
                    message=f"attribute {type_code} appears more than once",
                )
            if type_code == MP_REACH:
                out.mp_reach = (flags, data[start:end])
            else:
                out.mp_unreach = (flags, data[start:end])
            mp_ranges.append((i, end))
        else:
            append((flags, type_code, data[start:end]))
        i = end
    if mp_ranges or out.overrun is not None:
        pieces = []
        pos = 0
        for first, last in mp_ranges:
            pieces.append(data[pos:first])
            pos = last
        pieces.append(data[pos:i])  # an overrun's remains are not part of `rest`
        out.rest = b"".join(pieces)
    else:
        out.rest = data
    return out


# Distinct ASNs / next hops one session's decoder holds as shared objects before starting over.
INTERNED_LIMIT = 65_536


class Interned:
    """The ASNs and next hops of one session's decoded attribute sets, one object per value.

    A decoded ASN above 256 or a next hop is a new object per attribute set (32-37 bytes);
    a table has few distinct ones (every path starts with the peer's AS, most sets share a
    next hop), so sets decoded by one session share them. Bounded: each is cleared when full.
    Used inline by the decoder (a method call per set costs as much as the lookups)."""

    __slots__ = ("asns", "hops")

    def __init__(self) -> None:
        self.asns: dict[int, int] = {}
        self.hops: dict[bytes, bytes] = {}


def parse_as_path(
    value: bytes, asn_size: int, shared: dict[int, int] | None = None
) -> tuple[AsPathSegment, ...] | str:
    """The segments of an AS_PATH/AS4_PATH value, or the reason it is malformed (RFC 7606 §7.2).
    With `shared` (`Interned.asns`), each ASN is the object already there for its value."""
    segs: list[AsPathSegment] = []
    if shared is not None and len(shared) >= INTERNED_LIMIT:
        shared.clear()
    structs = _AS4 if asn_size == 4 else _AS2
    i = 0
    n = len(value)
    while i < n:
        if n - i < 2:
            return "one octet left after the last segment"
        seg_type = value[i]
        count = value[i + 1]
        if not 1 <= seg_type <= 4:
            return f"unknown segment type {seg_type}"
        if count == 0:
            return "segment of length zero"
        end = i + 2 + count * asn_size
        if end > n:
            return "segment overruns the attribute"
        asns = structs[count].unpack_from(value, i + 2)
        if shared is not None:
            share = shared.setdefault
            asns = tuple(map(share, asns, asns))
        st = _SEGMENT_TYPES[seg_type]
        assert st is not None
        segs.append(new_segment(st, asns))
        i = end
    return tuple(segs)


def _has_as0(segs: tuple[AsPathSegment, ...]) -> bool:
    for seg in segs:  # noqa: SIM110 - a plain loop: no generator on the hot path
        if 0 in seg.asns:
            return True
    return False


def _has_confed(segs: tuple[AsPathSegment, ...]) -> bool:
    for seg in segs:  # noqa: SIM110 - a plain loop: no generator on the hot path
        if seg.type in _CONFED:
            return True
    return False


def _path_length(segs: tuple[AsPathSegment, ...]) -> int:
    n = 0
    for seg in segs:
        if seg.type == SegmentType.AS_SEQUENCE:
            n += len(seg.asns)
        elif seg.type == SegmentType.AS_SET:
            n += 1
    return n


def merge_as4_path(
    as_path: tuple[AsPathSegment, ...], as4_path: tuple[AsPathSegment, ...]
) -> tuple[AsPathSegment, ...]:
    """RFC 6793 §4.2.3: the leading ASes of AS_PATH that AS4_PATH lacks, then AS4_PATH."""
    need = _path_length(as_path) - _path_length(as4_path)
    if need < 0:
        return as_path  # AS4_PATH is longer: ignore it
    head: list[AsPathSegment] = []
    for seg in as_path:
        if seg.type in _CONFED:
            head.append(seg)  # counted 0 and kept in front (RFC 6793 §4.2.3)
            continue
        if need <= 0:
            break
        if seg.type == SegmentType.AS_SET:
            head.append(seg)
            need -= 1
        else:
            take = seg.asns[:need]
            head.append(AsPathSegment(type=seg.type, asns=take))
            need -= len(take)
    merged = head + list(as4_path)
    # Join the split AS_SEQUENCE back into one segment where it fits (canonical form).
    out: list[AsPathSegment] = []
    for seg in merged:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.type == SegmentType.AS_SEQUENCE
            and seg.type == SegmentType.AS_SEQUENCE
            and len(prev.asns) + len(seg.asns) <= 255
        ):
            out[-1] = AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=prev.asns + seg.asns)
        else:
            out.append(seg)
    return tuple(out)


def _u32s(value: bytes) -> tuple[int, ...]:
    count = len(value) >> 2
    if count < 256:
        return _AS4[count].unpack(value)  # the precompiled "!nI" formats
    return struct.unpack(f"!{count}I", value)


def decode_attribute_list(
    items: list[tuple[int, int, bytes]],
    *,
    as4: bool,
    ibgp: bool,
    interned: Interned | None = None,
) -> AttrEntry:
    """Decodes the non-MP attributes; raises WireError only for RFC 4271 §6.3 unrecognized
    well-known attributes (which RFC 7606 leaves at session reset). With `interned`, the
    AS_PATH's ASNs and the NEXT_HOP are the session's shared objects."""
    problems: list[AttributeProblem] = []
    withdraw = False
    present = 0
    seen = 0  # bit per type code seen (RFC 7606 §3 g)
    origin = _IGP
    as_path: tuple[AsPathSegment, ...] = ()
    as4_path: tuple[AsPathSegment, ...] | None = None
    next_hop: bytes | None = None
    med: int | None = None
    local_pref: int | None = None
    atomic = False
    aggregator: tuple[int, bytes] | None = None
    as4_aggregator: tuple[int, bytes] | None = None
    communities: tuple[int, ...] = ()
    originator_id: int | None = None
    cluster_list: tuple[int, ...] = ()
    large: tuple[tuple[int, int, int], ...] = ()
    unknown: list[RawAttribute] = []

    def problem(type_code: int, action: ErrorAction, reason: str) -> None:
        nonlocal withdraw
        problems.append(AttributeProblem(attr_type=type_code, action=action, reason=reason))
        if action is TAW:
            withdraw = True

    for flags, t, value in items:
        bit = 1 << t
        if seen & bit:
            # RFC 7606 §3 g: every occurrence but the first is discarded.
            problem(t, DISCARD, "duplicate attribute")
            continue
        seen |= bit
        n = len(value)
        expected = _EXPECTED.get(t)
        if expected is None:
            if not flags & _OPTIONAL:
                # RFC 4271 §6.3: unrecognized well-known attribute; data is the attribute.
                raise WireError(
                    ErrorCode.UPDATE_MESSAGE,
                    UpdateSubcode.UNRECOGNIZED_WELL_KNOWN,
                    encode_attribute(flags, t, value),
                    f"unrecognized well-known attribute {t}",
                )
            if flags & _TRANSITIVE:  # RFC 4271 §5: passed on, Partial set on the way out
                unknown.append(
                    RawAttribute(flags=flags & ~_EXTENDED & 0xFF, type_code=t, value=value)
                )
            # Unrecognized optional non-transitive: quietly ignored (RFC 4271 §5).
            continue
        # RFC 7606 §3 c: Optional/Transitive bits that conflict make the attribute malformed.
        bad_flags = (flags & _FLAG_BITS) != expected
        if t == _ORIGIN:  # RFC 7606 §7.1
            present |= HAS_ORIGIN
            if bad_flags or n != 1 or value[0] > 2:
                problem(t, TAW, "malformed ORIGIN")
            else:
                origin = _ORIGINS[value[0]]
        elif t == _AS_PATH:  # RFC 7606 §7.2
            present |= HAS_AS_PATH
            shared = None if interned is None else interned.asns
            parsed = parse_as_path(value, 4 if as4 else 2, shared)
            if bad_flags:
                problem(t, TAW, "AS_PATH flags")
            elif isinstance(parsed, str):
                problem(t, TAW, f"malformed AS_PATH: {parsed}")
            elif _has_as0(parsed):
                problem(t, TAW, "AS 0 in AS_PATH (RFC 7607)")
            elif not ibgp and _has_confed(parsed):
                # RFC 7606 §7.2 / RFC 5065 §5: confederation segments from outside.
                problem(t, TAW, "confederation segment from an external peer")
            else:
                as_path = parsed
        elif t == _NEXT_HOP:  # RFC 7606 §7.3
            present |= HAS_NEXT_HOP
            if bad_flags or n != 4:
                problem(t, TAW, "malformed NEXT_HOP")
            elif interned is None:
                next_hop = value
            else:
                hops = interned.hops
                if len(hops) >= INTERNED_LIMIT:
                    hops.clear()
                next_hop = hops.setdefault(value, value)
        elif t == _MED:  # RFC 7606 §7.4
            if bad_flags or n != 4:
                problem(t, TAW, "malformed MULTI_EXIT_DISC")
            else:
                med = int.from_bytes(value, "big")
        elif t == _LOCAL_PREF:  # RFC 7606 §7.5
            if not ibgp:
                problem(t, DISCARD, "LOCAL_PREF from an external peer")
            elif bad_flags or n != 4:
                problem(t, TAW, "malformed LOCAL_PREF")
            else:
                local_pref = int.from_bytes(value, "big")
        elif t == _ATOMIC:  # RFC 7606 §7.6
            if bad_flags or n != 0:
                problem(t, DISCARD, "malformed ATOMIC_AGGREGATE")
            else:
                atomic = True
        elif t == _AGGREGATOR:  # RFC 7606 §7.7
            size = 8 if as4 else 6
            if bad_flags or n != size:
                problem(t, DISCARD, "malformed AGGREGATOR")
            else:
                asn = int.from_bytes(value[: size - 4], "big")
                if asn == 0:
                    problem(t, DISCARD, "AS 0 in AGGREGATOR (RFC 7607)")
                else:
                    aggregator = (asn, value[size - 4 :])
        elif t == _COMMUNITIES:  # RFC 7606 §7.8
            if bad_flags or n == 0 or n % 4:
                problem(t, TAW, "malformed COMMUNITIES")
            else:
                communities = _u32s(value)
        elif t == _ORIGINATOR_ID:  # RFC 7606 §7.9
            if not ibgp:
                problem(t, DISCARD, "ORIGINATOR_ID from an external peer")
            elif bad_flags or n != 4:
                problem(t, TAW, "malformed ORIGINATOR_ID")
            else:
                originator_id = int.from_bytes(value, "big")
        elif t == _CLUSTER_LIST:  # RFC 7606 §7.10
            if not ibgp:
                problem(t, DISCARD, "CLUSTER_LIST from an external peer")
            elif bad_flags or n == 0 or n % 4:
                problem(t, TAW, "malformed CLUSTER_LIST")
            else:
                cluster_list = _u32s(value)
        elif t == _AS4_PATH:
            parsed = parse_as_path(value, 4)
            if as4:
                # RFC 6793 §4.1: a NEW speaker discards AS4_PATH received from a NEW speaker.
                problem(t, DISCARD, "AS4_PATH on a 4-octet AS session")
            elif bad_flags or isinstance(parsed, str):
                problem(t, DISCARD, "malformed AS4_PATH")  # RFC 6793 §6
            elif _has_as0(parsed):
                problem(t, DISCARD, "AS 0 in AS4_PATH (RFC 7607)")
            else:
                # RFC 6793 §6: confederation segments in AS4_PATH are ignored.
                as4_path = tuple(s for s in parsed if s.type not in _CONFED)
        elif t == _AS4_AGGREGATOR:
            if as4:
                problem(t, DISCARD, "AS4_AGGREGATOR on a 4-octet AS session")
            elif bad_flags or n != 8:
                problem(t, DISCARD, "malformed AS4_AGGREGATOR")  # RFC 6793 §6
            elif int.from_bytes(value[:4], "big") == 0:
                problem(t, DISCARD, "AS 0 in AS4_AGGREGATOR (RFC 7607)")
            else:
                as4_aggregator = (int.from_bytes(value[:4], "big"), value[4:])
        elif t == _LARGE_COMMUNITY:  # RFC 8092 §6
            if bad_flags or n == 0 or n % 12:
                problem(t, TAW, "malformed LARGE_COMMUNITY")
            else:
                v = _u32s(value)
                large = tuple(zip(v[0::3], v[1::3], v[2::3], strict=True))

    if not as4:
        # RFC 6793 §4.2.3: an AGGREGATOR that is not AS_TRANS means an OLD speaker aggregated
        # after the NEW ones: AS4_AGGREGATOR and AS4_PATH are then both ignored.
        if aggregator is not None and aggregator[0] != AS_TRANS and as4_aggregator is not None:
            as4_aggregator = None
            as4_path = None
        elif as4_aggregator is not None and aggregator is not None:
            aggregator = as4_aggregator
        if as4_path is not None:
            as_path = merge_as4_path(as_path, as4_path)

    if withdraw:
        return AttrEntry(None, tuple(problems), True, present)
    attrs = new_path_attributes(
        origin,
        as_path,
        next_hop,
        med,
        local_pref,
        atomic,
        aggregator,
        communities,
        originator_id,
        cluster_list,
        large,
        tuple(unknown) if unknown else (),
    )
    return AttrEntry(attrs, tuple(problems), False, present)

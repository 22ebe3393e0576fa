"""UPDATE decoding (RFC 4271 §4.3, RFC 4760, RFC 7911, RFC 4724 §2) with RFC 7606 outcomes.

Role: `UpdateDecoder.decode(body)` turns an UPDATE body into an `UpdateMessage` whose prefixes
are packed `Nlri` bytes and whose attributes are cached `PathAttributes` (one object per encoding).

Invariants:
- Only the RFC 7606 "session reset" cases raise (`WireError`); every other malformation is
  applied (treat-as-withdraw moves the announced prefixes into `withdrawn`, attribute-discard
  drops the attribute, AFI/SAFI disable names the family in `disabled_families` and drops all
  of its prefixes from the message) and recorded in `problems`.
- `attributes` is not None exactly when `announced` is not empty.
- The decoded non-MP attributes are cached per decoder by their raw bytes (MP_REACH/MP_UNREACH
  removed, since those carry NLRI), so an attribute set seen before costs one dict lookup and
  the same encoding always yields the same object. The cache is bounded and lives on the instance.

Performance: this is the receive hot path. The per-UPDATE work on a cache hit is a few integer
reads, one dict lookup, the NLRI loop (`bgpd.wire.nlri`) and two NamedTuples built in one
step each (`tuple.__new__`; see `NlriBatch` for why they are not frozen dataclasses).
"""

from __future__ import annotations

from typing import Any

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, Afi, Family, Nlri
from bgpd.wire.attr_decode import (
    HAS_AS_PATH,
    HAS_NEXT_HOP,
    HAS_ORIGIN,
    MP_REACH,
    MP_UNREACH,
    AttrEntry,
    Interned,
    SplitAttributes,
    decode_attribute_list,
    split_attributes,
)
from bgpd.wire.attributes import EXPECTED_FLAGS, PathAttributes
from bgpd.wire.constants import AttrFlag, AttrType, ErrorAction, ErrorCode, UpdateSubcode
from bgpd.wire.messages import AttributeProblem, NlriBatch, UpdateMessage
from bgpd.wire.negotiated import Negotiated
from bgpd.wire.nlri import (
    SPAN_V4,
    SPANS,
    NlriError,
    parse_prefixes,
    parse_prefixes_add_path,
)

DEFAULT_CACHE_SIZE = 100_000
_NO_ATTRIBUTES = AttrEntry(None, (), False, 0)
_NEED_CLASSIC = HAS_ORIGIN | HAS_AS_PATH | HAS_NEXT_HOP
_NEED_MP = HAS_ORIGIN | HAS_AS_PATH
_MP_FLAGS = int(EXPECTED_FLAGS[AttrType.MP_REACH_NLRI])
_FLAG_BITS = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
# The flags octet every encoder we know uses for MP_REACH_NLRI: optional + extended length.
_MP_REACH_FLAGS = _MP_FLAGS | int(AttrFlag.EXTENDED_LENGTH)
# (family, prefix span table, path ids received, allowed next hop lengths)
_FamilyInfo = tuple[Family, tuple[int, ...], bool, tuple[int, ...]]
# RFC 4760 §3 with RFC 2545 §3: the next hop lengths each family may carry.
_NEXT_HOP_LENGTHS: dict[Afi, tuple[int, ...]] = {Afi.IPV4: (4,), Afi.IPV6: (16, 32)}
_MISSING = (
    (HAS_ORIGIN, AttrType.ORIGIN),
    (HAS_AS_PATH, AttrType.AS_PATH),
    (HAS_NEXT_HOP, AttrType.NEXT_HOP),
)


# What the attribute cache holds per encoding: a clean set (no problem, ORIGIN and AS_PATH
# present) as the PathAttributes itself, since an AttrEntry around it costs 80 bytes per set;
# anything else as its AttrEntry. `_entry` gives the AttrEntry back on the slow paths.
_Cached = AttrEntry | PathAttributes


def _entry(cached: _Cached) -> AttrEntry:
    if type(cached) is PathAttributes:
        present = _NEED_MP if cached.next_hop is None else _NEED_CLASSIC
        return AttrEntry(cached, (), False, present)
    assert isinstance(cached, AttrEntry)
    return cached


def _cached(entry: AttrEntry) -> _Cached:
    if entry.mp_ok and not entry.problems:
        assert entry.attrs is not None  # `mp_ok`: decoded, not treat-as-withdraw
        return entry.attrs
    return entry


# Fast constructors: the NamedTuples built in one step, without their Python-level __new__.
_tuple_new: Any = tuple.__new__


def new_batch(
    family: Family, next_hop: bytes, prefixes: tuple[Nlri, ...], path_ids: tuple[int, ...] | None
) -> NlriBatch:
    batch: NlriBatch = _tuple_new(NlriBatch, (family, next_hop, prefixes, path_ids))
    return batch


def new_update(  # noqa: PLR0917 - positional on purpose: called once per UPDATE
    attributes: PathAttributes | None,
    announced: tuple[NlriBatch, ...],
    withdrawn: tuple[NlriBatch, ...],
    end_of_rib: Family | None,
    problems: tuple[AttributeProblem, ...],
    disabled: tuple[Family, ...],
) -> UpdateMessage:
    update: UpdateMessage = _tuple_new(
        UpdateMessage, (attributes, announced, withdrawn, end_of_rib, problems, disabled)
    )
    return update


def _malformed_list(reason: str) -> WireError:
    return WireError(
        ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, message=reason
    )


class _MpOutcome:
    """What the MP attributes of one UPDATE add to it."""

    __slots__ = ("announced", "disabled", "end_of_rib", "problems", "withdrawn")

    def __init__(self) -> None:
        self.announced: list[NlriBatch] = []
        self.withdrawn: list[NlriBatch] = []
        self.problems: list[AttributeProblem] = []
        self.disabled: list[Family] = []
        self.end_of_rib: Family | None = None


class UpdateDecoder:
    """Decodes the UPDATEs of one session; holds the attribute cache of that session."""

    __slots__ = (
        "_as4",
        "_cache",
        "_families",
        "_ibgp",
        "_interned",
        "_max_cache",
        "_v4_add_path",
        "negotiated",
    )

    def __init__(self, negotiated: Negotiated, *, max_cache: int = DEFAULT_CACHE_SIZE) -> None:
        self.negotiated = negotiated
        self._as4 = negotiated.as4
        self._ibgp = negotiated.ibgp
        self._v4_add_path = IPV4_UNICAST in negotiated.add_path_receive
        # AFI/SAFI octets as they appear in MP attributes -> what parsing that family needs
        # (hashing a Family costs two Python-level enum __hash__ calls; bytes keys do not).
        self._families: dict[bytes, _FamilyInfo] = {
            f.afi.to_bytes(2, "big") + bytes((f.safi,)): (
                f,
                SPANS[f.afi],
                f in negotiated.add_path_receive,
                _NEXT_HOP_LENGTHS[f.afi],
            )
            for f in negotiated.families
        }
        self._cache: dict[bytes, _Cached] = {}
        self._max_cache = max_cache
        self._interned = Interned()

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def decode(self, body: bytes) -> UpdateMessage:
        n = len(body)
        if n < 4:
            raise _malformed_list("UPDATE shorter than its two length fields")
        wlen = (body[0] << 8) | body[1]
        a = 2 + wlen
        if a + 2 > n:
            # RFC 4271 §6.3 (kept by RFC 7606 §4): lengths that exceed the message.
            raise _malformed_list("withdrawn routes length exceeds the message")
        s = a + 2
        e = s + ((body[a] << 8) | body[a + 1])
        if e > n:
            raise _malformed_list("total path attribute length exceeds the message")

        entry: AttrEntry | None = None
        split: SplitAttributes | None = None
        if e > s:
            attr_data = body[s:e]
            cached = self._cache.get(attr_data)
            if cached is None:
                if (
                    not wlen
                    and e == n
                    and e - s > 9
                    and body[s + 1] == MP_REACH
                    and body[s] == _MP_REACH_FLAGS
                ):
                    # Fast path: MP_REACH_NLRI first (RFC 7606 §5.1), nothing else with NLRI.
                    update = self._mp_reach_first(attr_data)
                    if update is not None:
                        return update
                entry, split = self._attributes(attr_data)
                if split.rest is attr_data:  # no MP attribute, no overrun: as good as a hit
                    split = None
                attrs = entry.attrs
                classic_ok = entry.classic_ok
                problems = entry.problems
            elif type(cached) is PathAttributes:  # a clean set (see `_Cached`)
                attrs = cached
                classic_ok = cached.next_hop is not None
                problems = ()
            else:
                assert isinstance(cached, AttrEntry)
                entry = cached
                attrs = entry.attrs
                classic_ok = entry.classic_ok
                problems = entry.problems
            if split is None and not wlen and e < n and classic_ok:
                # Fast path: IPv4 announcement with a clean attribute set.
                assert attrs is not None
                if self._v4_add_path:
                    nlri = self._classic(body[e:], attrs.next_hop or b"", "NLRI")
                else:  # `_classic` and `new_batch` inline: this runs once per UPDATE
                    try:
                        prefixes = parse_prefixes(body[e:], SPAN_V4)
                    except NlriError:
                        self._classic(body[e:], b"", "NLRI")  # raises the session reset
                        raise
                    nlri = _tuple_new(
                        NlriBatch, (IPV4_UNICAST, attrs.next_hop or b"", tuple(prefixes), None)
                    )
                u: UpdateMessage = _tuple_new(
                    UpdateMessage, (attrs, (nlri,), (), None, problems, ())
                )
                return u
            if entry is None:
                assert cached is not None
                entry = _entry(cached)
        elif e == n:
            if not wlen:  # RFC 4724 §2: the IPv4 unicast End-of-RIB is an empty UPDATE
                return new_update(None, (), (), IPV4_UNICAST, (), ())
            return new_update(None, (), (self._classic(body[2:a], b"", "withdrawn"),), None, (), ())
        else:
            entry = _NO_ATTRIBUTES
        assert entry is not None

        withdrawn: list[NlriBatch] = []
        if wlen:
            withdrawn.append(self._classic(body[2:a], b"", "withdrawn routes"))
        problems = entry.problems
        announced: list[NlriBatch] = []
        need = _NEED_MP
        if e < n:  # RFC 4271 §4.3: the NLRI field runs to the end of the message
            attrs = entry.attrs
            nh = attrs.next_hop if attrs is not None else None
            announced.append(self._classic(body[e:], nh or b"", "NLRI"))
            need = _NEED_CLASSIC

        mp: _MpOutcome | None = None
        overrun = False
        if split is not None:
            if split.mp_reach is not None or split.mp_unreach is not None:
                mp = self._mp(split, e == n and not wlen)
                announced += mp.announced
                withdrawn += mp.withdrawn
                if mp.problems:
                    problems = problems + tuple(mp.problems)
            if split.overrun is not None:
                overrun = True
                problems = (
                    *problems,
                    AttributeProblem(
                        attr_type=0, action=ErrorAction.TREAT_AS_WITHDRAW, reason=split.overrun
                    ),
                )

        attributes: PathAttributes | None = None
        if announced:
            withdraw = entry.withdraw or overrun
            missing = need & ~entry.present
            if missing:  # RFC 7606 §3 d
                withdraw = True
                problems = problems + tuple(
                    AttributeProblem(
                        attr_type=t,
                        action=ErrorAction.TREAT_AS_WITHDRAW,
                        reason="missing well-known attribute",
                    )
                    for bit, t in _MISSING
                    if missing & bit
                )
            if withdraw:  # RFC 7606 §2: as if every announced route had been withdrawn
                withdrawn += [new_batch(b.family, b"", b.prefixes, b.path_ids) for b in announced]
                announced = []
            else:
                attributes = entry.attrs

        if mp is None:
            return new_update(attributes, tuple(announced), tuple(withdrawn), None, problems, ())
        if mp.disabled:
            off = mp.disabled
            announced = [b for b in announced if b.family not in off]
            withdrawn = [b for b in withdrawn if b.family not in off]
            if not announced:
                attributes = None
        return new_update(
            attributes,
            tuple(announced),
            tuple(withdrawn),
            mp.end_of_rib,
            problems,
            tuple(mp.disabled),
        )

    def _classic(self, data: bytes, next_hop: bytes, what: str) -> NlriBatch:
        """An IPv4 unicast NLRI or Withdrawn Routes field; errors reset (RFC 7606 §5.3)."""
        try:
            if self._v4_add_path:
                prefixes, ids = parse_prefixes_add_path(data, SPAN_V4)
                return new_batch(IPV4_UNICAST, next_hop, tuple(prefixes), tuple(ids))
            return new_batch(IPV4_UNICAST, next_hop, tuple(parse_prefixes(data, SPAN_V4)), None)
        except NlriError as exc:
            raise WireError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.INVALID_NETWORK_FIELD,
                message=f"{what}: {exc}",
            ) from None

    def _mp_reach_first(self, data: bytes) -> UpdateMessage | None:
        """An UPDATE whose attributes are a well-formed MP_REACH_NLRI followed by a clean
        attribute set, or None when anything is unusual (the general path then decides)."""
        end = 4 + ((data[2] << 8) | data[3])
        if end < 9 or end > len(data):  # shorter than AFI, SAFI, next hop length, reserved
            return None
        info = self._families.get(data[4:7])
        if info is None:
            return None
        family, span, add_path, nh_lengths = info
        nh_len = data[7]
        nlri_start = 9 + nh_len
        if nh_len not in nh_lengths or nlri_start > end:
            return None
        rest = data[end:]
        cached = self._cache.get(rest)
        if cached is None:
            split = split_attributes(rest)
            if split.mp_reach or split.mp_unreach or split.overrun:
                return None
            entry = self._decoded(split)
            if not entry.mp_ok:
                return None
            attrs, problems = entry.attrs, entry.problems
        elif type(cached) is PathAttributes:
            attrs, problems = cached, ()
        else:
            assert isinstance(cached, AttrEntry)
            if not cached.mp_ok:
                return None
            attrs, problems = cached.attrs, cached.problems
        try:
            if add_path:
                prefixes, ids = parse_prefixes_add_path(data[nlri_start:end], span)
                batch = new_batch(family, data[8 : 8 + nh_len], tuple(prefixes), tuple(ids))
            else:
                prefixes = parse_prefixes(data[nlri_start:end], span)
                batch = new_batch(family, data[8 : 8 + nh_len], tuple(prefixes), None)
        except NlriError:
            return None
        if not prefixes:
            return None
        return new_update(attrs, (batch,), (), None, problems, ())

    def _attributes(self, data: bytes) -> tuple[AttrEntry, SplitAttributes]:
        """The slow path of attribute decoding: split off MP attributes, then cache."""
        split = split_attributes(data)
        if split.overrun is None and split.rest is not data:
            cached = self._cache.get(split.rest)
            if cached is not None:
                return _entry(cached), split
        return self._decoded(split), split

    def _decoded(self, split: SplitAttributes) -> AttrEntry:
        """Decodes the non-MP attributes and caches the entry: one attribute set object per
        distinct encoding (not interned by value: hashing a set walks every field, and two
        encodings of one set from one peer are rare enough not to be worth it)."""
        entry = decode_attribute_list(
            split.items, as4=self._as4, ibgp=self._ibgp, interned=self._interned
        )
        if split.overrun is None:  # an overrun's outcome depends on more than `rest`
            cache = self._cache
            if len(cache) >= self._max_cache:
                cache.clear()
            cache[split.rest] = _cached(entry)
        return entry

    def _family(self, value: bytes, type_code: int, out: _MpOutcome) -> _FamilyInfo | None:
        if len(value) < 3:
            # RFC 7606 §3 j / §7.11: without AFI/SAFI no softer action can be scoped.
            raise WireError(
                ErrorCode.UPDATE_MESSAGE,
                UpdateSubcode.OPTIONAL_ATTRIBUTE,
                message=f"attribute {type_code} too short for AFI/SAFI",
            )
        info = self._families.get(value[:3])
        if info is None:
            afi = int.from_bytes(value[:2], "big")
            # A family that was not negotiated is not ours to act on (RFC 4760 §6): ignored.
            out.problems.append(
                AttributeProblem(
                    attr_type=type_code,
                    action=ErrorAction.ATTRIBUTE_DISCARD,
                    reason=f"AFI/SAFI {afi}/{value[2]} not negotiated",
                )
            )
        return info

    def _disable(self, out: _MpOutcome, type_code: int, family: Family, reason: str) -> None:
        out.problems.append(
            AttributeProblem(
                attr_type=type_code, action=ErrorAction.AFI_SAFI_DISABLE, reason=reason
            )
        )
        if family not in out.disabled:
            out.disabled.append(family)

    @staticmethod
    def _mp_nlri(data: bytes, info: _FamilyInfo) -> tuple[list[Nlri], tuple[int, ...] | None]:
        if info[2]:
            prefixes, ids = parse_prefixes_add_path(data, info[1])
            return prefixes, tuple(ids)
        return parse_prefixes(data, info[1]), None

    def _mp(self, split: SplitAttributes, alone: bool) -> _MpOutcome:
        """MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4; RFC 7606 §7.11, §5.3)."""
        out = _MpOutcome()
        if split.mp_unreach is not None:
            flags, value = split.mp_unreach
            info = self._family(value, MP_UNREACH, out)
            if info is None:
                pass
            elif (flags & _FLAG_BITS) != _MP_FLAGS:
                self._disable(out, MP_UNREACH, info[0], "MP_UNREACH_NLRI flags")
            elif len(value) == 3:
                # RFC 4724 §2: an UPDATE holding only an empty MP_UNREACH is End-of-RIB.
                if alone and split.mp_reach is None and not split.rest and not split.overrun:
                    out.end_of_rib = info[0]
            else:
                try:
                    prefixes, ids = self._mp_nlri(value[3:], info)
                except NlriError as exc:
                    self._disable(out, MP_UNREACH, info[0], f"MP_UNREACH_NLRI: {exc}")
                else:
                    out.withdrawn.append(new_batch(info[0], b"", tuple(prefixes), ids))
        if split.mp_reach is not None:
            flags, value = split.mp_reach
            info = self._family(value, MP_REACH, out)
            if info is None:
                return out
            family = info[0]
            if (flags & _FLAG_BITS) != _MP_FLAGS:
                self._disable(out, MP_REACH, family, "MP_REACH_NLRI flags")
                return out
            n = len(value)
            nh_len = value[3] if n > 3 else -1
            if nh_len not in info[3] or n < 5 + nh_len:
                # RFC 7606 §7.11: the NLRI cannot be located reliably.
                self._disable(out, MP_REACH, family, "MP_REACH_NLRI next hop length")
                return out
            try:
                prefixes, ids = self._mp_nlri(value[5 + nh_len :], info)
            except NlriError as exc:
                self._disable(out, MP_REACH, family, f"MP_REACH_NLRI: {exc}")
                return out
            if prefixes:
                out.announced.append(new_batch(family, value[4 : 4 + nh_len], tuple(prefixes), ids))
        return out

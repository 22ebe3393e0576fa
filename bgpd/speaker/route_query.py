"""`bgpctl show routes` queries: which prefixes and paths of the Loc-RIB (or of a peer's
Adj-RIB-Out) an operator asked for, answered without a view per route.

Role: `RouteQuery.from_args` reads the control request's arguments (a bad one is a
`RouteQueryError` naming it); `select_prefixes` picks the prefixes of one family from any
table (the Loc-RIB, an update group's Adj-RIB-Out, a peer's refused prefixes) and
`PathFilter` the paths. `bgpd.speaker.route_answers` turns them into views.

Invariants (a million routes must stay cheap to ask about):
- A longest match (`for ADDRESS`), an exact prefix and `--shorter` are dict lookups, one per
  prefix length at most; only `--longer` and attribute filters without a prefix scan the
  table, and they build a view for the matches only, in chunks the event loop runs between
  (`bgpd.speaker.steps`).
- The AS path regex runs once per attribute set (paths share them), not once per prefix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from bgpd.net import FAMILIES_BY_NAME, IPV4_UNICAST, IPV6_UNICAST, Family, Nlri
from bgpd.rib.path_info import PathInfo
from bgpd.speaker.steps import chunks
from bgpd.views import as_path_text
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.constants import SegmentType

__all__ = ["PathFilter", "RouteQuery", "RouteQueryError", "select_prefixes"]

_BITS = {4: 32, 6: 128}
_FAMILY_WORDS = {"ipv4": IPV4_UNICAST, "ipv6": IPV6_UNICAST, **FAMILIES_BY_NAME}


class RouteQueryError(ValueError):
    """A query bgpd cannot answer as asked (bad prefix, regex, community, unknown peer)."""


@dataclass(frozen=True, slots=True)
class _Base:
    """The prefix (or address, as a host prefix) a query is about, as an integer."""

    family: Family
    bits: int  # 32 or 128
    value: int
    length: int

    def packed(self, length: int) -> Nlri:
        """The covering prefix of `length` bits, packed as the tables key it."""
        shift = self.bits - length
        value = self.value >> shift << shift
        return bytes((length,)) + value.to_bytes(self.bits // 8, "big")[: (length + 7) // 8]

    def covers(self, nlri: Nlri) -> bool:
        """Whether `nlri` is this prefix or a more specific one inside it."""
        if nlri[0] < self.length:
            return False
        full, rest = divmod(self.length, 8)
        base = self.packed(self.length)
        if nlri[1 : 1 + full] != base[1 : 1 + full]:
            return False
        if not rest:
            return True
        mask = (0xFF << (8 - rest)) & 0xFF
        return nlri[1 + full] & mask == base[1 + full]


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteQuery:
    """What `bgpctl show routes` asks. `prefix` alone is an exact match; with `longer` it and
    every more specific prefix, with `shorter` it and every covering one; `address` is a
    longest match (`show routes for ADDRESS`). Attribute filters all must hold."""

    prefix: str | None = None
    address: str | None = None
    longer: bool = False
    shorter: bool = False
    peer: str | None = None
    family: Family | None = None
    communities: frozenset[int] = frozenset()
    large_communities: frozenset[tuple[int, int, int]] = frozenset()
    as_path: str | None = None
    stale: bool = False
    best: bool = False
    received: bool = False
    advertised: bool = False
    count: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, object]) -> RouteQuery:
        prefix = _opt_text(args, "prefix")
        address = _opt_text(args, "for")
        longer, shorter = _flag(args, "longer"), _flag(args, "shorter")
        if prefix is not None and address is not None:
            raise RouteQueryError("give a prefix or 'for ADDRESS', not both")
        if (longer or shorter) and prefix is None:
            raise RouteQueryError("--longer and --shorter need a prefix")
        if longer and shorter:
            raise RouteQueryError("--longer and --shorter exclude each other")
        received, advertised = _flag(args, "received"), _flag(args, "advertised")
        peer = _opt_text(args, "peer")
        if (received or advertised) and peer is None:
            raise RouteQueryError("--received and --advertised need --peer NAME")
        if received and advertised:
            raise RouteQueryError("--received and --advertised exclude each other")
        if received and _flag(args, "count"):
            raise RouteQueryError(
                "--count does not combine with --received: `show peer NAME` has the peer's "
                "prefixes_received and prefixes_accepted"
            )
        as_path = _opt_text(args, "as_path")
        if as_path is not None:
            try:
                re.compile(as_path)
            except re.error as exc:
                raise RouteQueryError(f"bad --as-path regex {as_path!r}: {exc}") from None
        query = cls(
            prefix=prefix,
            address=address,
            longer=longer,
            shorter=shorter,
            peer=peer,
            family=_family(_opt_text(args, "family")),
            communities=frozenset(_community(c) for c in _texts(args, "communities")),
            large_communities=frozenset(
                _large_community(c) for c in _texts(args, "large_communities")
            ),
            as_path=as_path,
            stale=_flag(args, "stale"),
            best=_flag(args, "best"),
            received=received,
            advertised=advertised,
            count=_flag(args, "count"),
        )
        query.base()  # a bad prefix or address is refused now, before any table is read
        return query

    def base(self) -> _Base | None:
        """The prefix or address asked about, None when the query names neither."""
        text = self.prefix if self.prefix is not None else self.address
        if text is None:
            return None
        try:
            if self.address is not None:
                net = ipaddress.ip_network(ipaddress.ip_address(text))
            else:
                net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            what = "address" if self.address is not None else "prefix"
            raise RouteQueryError(f"bad {what}: {exc}") from None
        family = IPV4_UNICAST if net.version == 4 else IPV6_UNICAST
        if self.family is not None and self.family != family:
            raise RouteQueryError(f"{text} is not in --family {self.family}")
        return _Base(family, _BITS[net.version], int(net.network_address), net.prefixlen)

    def families(self, present: Iterable[Family]) -> list[Family]:
        """The families of `present` the query is about, in order."""
        base = self.base()
        wanted = base.family if base is not None else self.family
        return [f for f in present if wanted is None or f == wanted]

    @property
    def filters_paths(self) -> bool:
        """Whether the query looks at paths' attributes (not only at prefixes and sources)."""
        return bool(self.communities or self.large_communities or self.as_path or self.stale)


def select_prefixes(
    query: RouteQuery,
    family: Family,
    contains: Callable[[Nlri], bool],
    keys: Callable[[], Collection[Nlri]],
) -> Iterator[list[Nlri]]:
    """The prefixes of one table (`contains`, `keys`) the query's prefix part selects, in no
    particular order, in batches: a lookup is one batch; `--longer` and a query without a
    prefix walk a snapshot of `keys()` (they alone call it), one batch (maybe empty) per
    `WALK_CHUNK` keys, so that the caller can pause between batches (`bgpd.speaker.steps`)."""
    base = query.base()
    if base is None:
        yield from chunks(keys())
        return
    if base.family != family:
        return
    if query.address is not None:  # longest match: the longest covering prefix held
        for length in range(base.bits, -1, -1):
            nlri = base.packed(length)
            if contains(nlri):
                yield [nlri]
                return
        return
    if query.shorter:
        covering = (base.packed(length) for length in range(base.length, -1, -1))
        yield [nlri for nlri in covering if contains(nlri)]
        return
    if query.longer:
        covers = base.covers
        for chunk in chunks(keys()):
            yield [nlri for nlri in chunk if covers(nlri)]
        return
    nlri = base.packed(base.length)
    if contains(nlri):
        yield [nlri]


class PathFilter:
    """The query's attribute filters over one path; the AS path regex is matched once per
    attribute set (keyed by identity: the set is kept alive with its verdict)."""

    __slots__ = ("_as_path", "_communities", "_large", "_seen", "_stale")

    def __init__(self, query: RouteQuery) -> None:
        self._communities = query.communities
        self._large = query.large_communities
        self._as_path = None if query.as_path is None else re.compile(query.as_path)
        self._stale = query.stale
        self._seen: dict[int, tuple[PathAttributes, bool]] = {}

    def __call__(self, info: PathInfo, stale: bool) -> bool:
        if self._stale and not stale:
            return False
        attrs = info.attributes
        if self._communities and not self._communities.issubset(attrs.communities):
            return False
        if self._large and not self._large.issubset(attrs.large_communities):
            return False
        if self._as_path is None:
            return True
        seen = self._seen.get(id(attrs))
        if seen is None:
            text = as_path_text((SegmentType(s.type).name, s.asns) for s in attrs.as_path)
            seen = self._seen[id(attrs)] = (attrs, self._as_path.search(text) is not None)
        return seen[1]


def sort_key(nlri: Nlri) -> tuple[bytes, int]:
    """Address order, shorter prefix first at one address."""
    return nlri[1:].ljust(16, b"\0"), nlri[0]


# ---------------------------------------------------------------------------- argument reads


def _opt_text(args: Mapping[str, object], key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RouteQueryError(f"bad {key}: expected a string, got {type(value).__name__}")
    return value


def _flag(args: Mapping[str, object], key: str) -> bool:
    value = args.get(key, False)
    if not isinstance(value, bool):
        raise RouteQueryError(f"bad {key}: expected true or false")
    return value


def _texts(args: Mapping[str, object], key: str) -> list[str]:
    value = args.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RouteQueryError(f"bad {key}: expected a list of strings")
    return [str(v) for v in value]


def _family(text: str | None) -> Family | None:
    if text is None:
        return None
    family = _FAMILY_WORDS.get(text.lower())
    if family is None:
        raise RouteQueryError(f"unknown family {text!r} (ipv4, ipv6, ipv4-unicast, ipv6-unicast)")
    return family


def _numbers(text: str, parts: int, what: str) -> list[int]:
    words = text.split(":")
    limit = 0xFFFF if parts == 2 else 0xFFFFFFFF
    try:
        numbers = [int(w) for w in words]
    except ValueError:
        numbers = []
    if len(words) != parts or len(numbers) != parts or not all(0 <= n <= limit for n in numbers):
        shape = "ASN:VALUE (16 bits each)" if parts == 2 else "ASN:DATA1:DATA2 (32 bits each)"
        raise RouteQueryError(f"bad {what} {text!r}: expected {shape}")
    return numbers


def _community(text: str) -> int:
    high, low = _numbers(text, 2, "community")
    return high << 16 | low


def _large_community(text: str) -> tuple[int, int, int]:
    g, l1, l2 = _numbers(text, 3, "large community")
    return g, l1, l2

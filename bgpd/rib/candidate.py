"""Route values of the Loc-RIB: one path (`Candidate`) and what the Loc-RIB reports when a
prefix's selection moves (`RouteChange`).

Invariants:
- A `Candidate` is immutable; its decision keys are computed once, on first use, so
  comparing paths costs tuple comparisons only. Build one per NLRI batch and share it: the
  Loc-RIB stores the very object as the value of every prefix it covers, so a prefix held by
  a single path costs one dict entry and nothing else.
- A path is identified within a prefix by (source name, path id). `stale` (RFC 4724 §4.2) is
  not part of what a path says: it never takes part in the decision nor in change detection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from bgpd.net import Family, Nlri
from bgpd.rib.decision import PathKeys, path_keys
from bgpd.rib.path_info import PathInfo, new_path_info
from bgpd.rib.source import Source
from bgpd.wire.attributes import PathAttributes


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One path for one prefix: who said it, what it said, under which ADD-PATH id.

    Equality is (source, info, path_id, stale). The decision keys (see
    `bgpd.rib.decision.path_keys`) are computed on first use and kept: most prefixes have a
    single path and never need them, so a table of single-path prefixes does not pay for them.
    """

    source: Source
    info: PathInfo
    path_id: int = 0  # RFC 7911 path identifier; 0 without ADD-PATH
    stale: bool = False  # RFC 4724 §4.2: kept across the peer's restart, not yet refreshed
    _keys: PathKeys = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.path_id <= 0xFFFFFFFF:
            raise ValueError(f"path id out of range: {self.path_id}")

    def decision_keys(self) -> PathKeys:
        """(preference key, neighbour AS, MED, tie key), computed once."""
        try:
            return self._keys
        except AttributeError:
            keys = path_keys(self.source, self.info.attributes, self.path_id)
            object.__setattr__(self, "_keys", keys)  # frozen: a cache, set once
            return keys

    def with_path_id(self, path_id: int) -> Candidate:
        return replace(self, path_id=path_id)

    def as_stale(self) -> Candidate:
        return self if self.stale else replace(self, stale=True)

    def same_path(self, other: Candidate | None) -> bool:
        """Equal apart from the stale mark: the comparison change detection uses."""
        return other is not None and (
            other is self
            or (
                self.path_id == other.path_id
                and self.info == other.info
                and self.source == other.source
            )
        )


class RouteChange(NamedTuple):
    """The new selection of one prefix (`best` None: no path left, `multipath` empty).

    A NamedTuple rather than a frozen dataclass: one is built per changed prefix on the
    forwarding hot path, and a tuple is several times cheaper to create.
    `multipath` is the ECMP set, best first; it always starts with `best` when there is one.
    """

    family: Family
    nlri: Nlri
    best: Candidate | None
    multipath: tuple[Candidate, ...]


# Sized for a full feed: a cache that thrashes builds a new Candidate (and its keys) per
# UPDATE instead of per attribute set.
CANDIDATE_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class NextHopRefused:
    """The import cache's verdict on a path whose next hop is unusable (RFC 4271 §6.3): the
    route is treat-as-withdraw. `reason` is the next hop check's (bgpd.policy.next_hop)."""

    attributes: PathAttributes  # the cache key's attribute set, kept alive with the entry
    next_hop: bytes
    reason: str


# What the import cache holds for a path: the shared candidate, the next hop refusal, or
# the attribute set itself for a path that loops.
_Verdict = Candidate | NextHopRefused | PathAttributes


class CandidateCache:
    """One session's import cache: per (attribute set, next hop) the shared `Candidate`, the
    verdict that the path loops (RFC 4271 §9.1.2, RFC 4456 §8), or a `NextHopRefused`.

    A peer that sends one prefix per UPDATE would otherwise cost a PathInfo and a Candidate
    per prefix (and a key computation, loop and next hop check per UPDATE). Keyed by the
    attribute set's identity (the decoder caches one object per distinct encoding; hashing one
    walks every field): the value holds the attribute set (a looping path's value is the
    attribute set itself), so the id cannot be reused while the entry exists. The next hop is
    checked on the hit rather than made part of the key (a key tuple per attribute set is
    about 90 bytes, a twentieth of what a set costs): an attribute set seen with a second next
    hop (MP_REACH next hops are not in the set) has its entry in `_by_hop`. A looping verdict
    does not depend on the next hop. Bounded: cleared when full. Build a new cache for each
    session, since the session's `Source` goes into every candidate, and when the loop check
    (our AS on the session, the allowance of it, router and cluster id) or the next hop check
    changes.
    """

    __slots__ = ("_by_hop", "_cache", "_max_size", "looped", "next_hop_problem", "source")

    def __init__(
        self,
        source: Source,
        looped: Callable[[PathAttributes], bool] = lambda _attrs: False,
        max_size: int = CANDIDATE_CACHE_SIZE,
        next_hop_problem: Callable[[bytes], str | None] = lambda _hop: None,
    ) -> None:
        self.source = source
        # Both checks are read by the speaker: the cache is rebuilt when either changes.
        self.looped = looped
        self.next_hop_problem = next_hop_problem
        self._max_size = max_size
        self._cache: dict[int, _Verdict] = {}
        self._by_hop: dict[tuple[int, bytes], _Verdict] = {}

    def candidate(
        self, attributes: PathAttributes, next_hop: bytes
    ) -> Candidate | NextHopRefused | None:
        """The shared candidate for the path; None when it loops; `NextHopRefused` when its
        next hop is unusable (checked after the loop: a looping path is not worth a report)."""
        key = id(attributes)
        hit = self._cache.get(key)
        if hit is not None:
            if hit is attributes:
                return None
            if type(hit) is Candidate:
                if hit.info.attributes is attributes:
                    if hit.info.next_hop == next_hop:
                        return hit
                    return self._other_hop(attributes, next_hop)
            elif type(hit) is NextHopRefused and hit.attributes is attributes:
                if hit.next_hop == next_hop:
                    return hit
                return self._other_hop(attributes, next_hop)
        # A miss, or the entry of a dead attribute set whose id was reused: replaced.
        verdict = self._cache[key] = self._verdict(attributes, next_hop)
        return None if isinstance(verdict, PathAttributes) else verdict

    def _other_hop(
        self, attributes: PathAttributes, next_hop: bytes
    ) -> Candidate | NextHopRefused | None:
        """A live attribute set seen with a second next hop (it does not loop: its first entry
        is no loop verdict)."""
        key = (id(attributes), next_hop)
        hit = self._by_hop.get(key)
        if isinstance(hit, Candidate) and hit.info.attributes is attributes:
            return hit
        if isinstance(hit, NextHopRefused) and hit.attributes is attributes:
            return hit
        verdict = self._by_hop[key] = self._verdict(attributes, next_hop)
        return None if isinstance(verdict, PathAttributes) else verdict

    def _verdict(self, attributes: PathAttributes, next_hop: bytes) -> _Verdict:
        if len(self._cache) + len(self._by_hop) >= self._max_size:
            self._cache.clear()
            self._by_hop.clear()
        if self.looped(attributes):
            return attributes
        problem = self.next_hop_problem(next_hop)
        if problem is not None:
            return NextHopRefused(attributes=attributes, next_hop=next_hop, reason=problem)
        return new_candidate(self.source, new_path_info(attributes, next_hop))

    def clear(self) -> None:
        self._cache.clear()
        self._by_hop.clear()


# Candidate without its frozen-dataclass __init__ and __post_init__ (path id 0 is in range): one
# is built per attribute set received. Equality, hashing and repr stay the dataclass ones.
_C: Any = Candidate.__dict__
_SET_SOURCE, _SET_INFO, _SET_PATH_ID, _SET_STALE = (
    _C[f].__set__ for f in ("source", "info", "path_id", "stale")
)


def new_candidate(source: Source, info: PathInfo) -> Candidate:
    """`Candidate(source=source, info=info)`, built through its slots."""
    candidate: Candidate = object.__new__(Candidate)
    _SET_SOURCE(candidate, source)
    _SET_INFO(candidate, info)
    _SET_PATH_ID(candidate, 0)
    _SET_STALE(candidate, False)
    return candidate


class ChangeGroup(NamedTuple):
    """Prefixes of one family that moved to the same selection (`LocRib.take_change_groups`)."""

    family: Family
    best: Candidate | None
    multipath: tuple[Candidate, ...]
    nlris: list[Nlri]
    # Every prefix had no path when the changes were taken before (a first load's batch):
    # a consumer keeping what it sent need not look them up.
    fresh: bool = False

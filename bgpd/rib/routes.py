"""Route values of the Loc-RIB: one path (`Candidate`) and what the Loc-RIB reports when a
prefix's selection moves (`RouteChange`).

Invariants:
- A `Candidate` is immutable and carries its decision keys, computed once when it is built,
  so comparing paths costs tuple comparisons only. Build one per NLRI batch and share it: the
  Loc-RIB stores the very object as the value of every prefix it covers, so a prefix held by
  a single path costs one dict entry and nothing else.
- A path is identified within a prefix by (source name, path id). `stale` (RFC 4724 §4.2) is
  not part of what a path says: it never takes part in the decision nor in change detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from bgpd.net import Family, Nlri
from bgpd.rib.adj_in import PathInfo
from bgpd.rib.decision import PrefKey, TieKey, path_keys
from bgpd.rib.source import Source


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One path for one prefix: who said it, what it said, under which ADD-PATH id.

    The four key fields are derived (see `bgpd.rib.decision.path_keys`); they are excluded
    from equality, which is (source, info, path_id, stale).
    """

    source: Source
    info: PathInfo
    path_id: int = 0  # RFC 7911 path identifier; 0 without ADD-PATH
    stale: bool = False  # RFC 4724 §4.2: kept across the peer's restart, not yet refreshed
    pref_key: PrefKey = field(init=False, repr=False, compare=False)
    neighbor_as: int = field(init=False, repr=False, compare=False)
    med: int = field(init=False, repr=False, compare=False)
    tie_key: TieKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.path_id <= 0xFFFFFFFF:
            raise ValueError(f"path id out of range: {self.path_id}")
        keys = path_keys(self.source, self.info.attributes, self.path_id)
        set_field = object.__setattr__  # frozen: derived fields are set once, here
        set_field(self, "pref_key", keys[0])
        set_field(self, "neighbor_as", keys[1])
        set_field(self, "med", keys[2])
        set_field(self, "tie_key", keys[3])

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


# As large as the PathInfo interning (bgpd/rib/adj_in.py): smaller thrashes on a full feed.
CANDIDATE_CACHE_SIZE = 100_000


class CandidateCache:
    """One source's candidates, one per distinct PathInfo object and path id.

    A peer that sends one prefix per UPDATE would otherwise cost one Candidate per prefix (and
    its key computation per UPDATE). Keyed by the PathInfo's identity, which `AdjRibIn`
    interns: the cached candidate keeps its PathInfo alive, so the id cannot be reused while
    the entry exists. Bounded: cleared when full. Build a new cache for each session, since
    the session's `Source` goes into every candidate.
    """

    __slots__ = ("_cache", "_max_size", "source")

    def __init__(self, source: Source, max_size: int = CANDIDATE_CACHE_SIZE) -> None:
        self.source = source
        self._max_size = max_size
        self._cache: dict[tuple[int, int], Candidate] = {}

    def candidate(self, info: PathInfo, path_id: int = 0) -> Candidate:
        key = (id(info), path_id)
        cached = self._cache.get(key)
        if cached is None or cached.info is not info:
            if len(self._cache) >= self._max_size:
                self._cache.clear()
            cached = self._cache[key] = Candidate(source=self.source, info=info, path_id=path_id)
        return cached

    def clear(self) -> None:
        self._cache.clear()


class ChangeGroup(NamedTuple):
    """Prefixes of one family that moved to the same selection (`LocRib.take_change_groups`)."""

    family: Family
    best: Candidate | None
    multipath: tuple[Candidate, ...]
    nlris: list[Nlri]

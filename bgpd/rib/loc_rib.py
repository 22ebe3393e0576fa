"""The Loc-RIB: every path of every source per prefix, the best path and the ECMP set.

Role: sources (BGP sessions, kernel, static, connected routes) announce and withdraw paths;
the Loc-RIB runs the decision process (`bgpd.rib.decision`) for each prefix that moved and
reports, through `take_changes`, the prefixes whose best path or ECMP set changed. It also
holds a peer's routes across its graceful restart (RFC 4724 §4.2 helper mode): marked stale,
still used, swept when the peer's End-of-RIB or a timer says so (`GracefulRestartTracker`).

Layout, chosen for memory (a table of 100,000 prefixes must stay small):
- `_tables[family][nlri]` is the `Candidate` itself when one path holds the prefix (the common
  case: the object is shared by the whole NLRI batch, so the prefix costs one dict entry), or
  a `_Paths` (all paths, best, ECMP set) when several do.
- `_sources[name].prefixes[family]` is the set of prefixes where the source has a path, so a
  session going down touches its own routes only. A source past `INDEX_LIMIT` paths in a
  family drops its set (None) and is found by a scan of the table instead: for a big feed the
  set would cost about 40 bytes per route, and removing such a source walks most of the table
  anyway.
- `_pending[family][nlri]` is the entry a prefix had when it first moved since the last
  `take_changes`; that call compares it with the current entry, so a change that was undone
  in between is not reported. `_fresh[family]` holds, instead, the batches announced into
  empty slots while `_pending[family]` was empty (a first load: no "before" to remember per
  prefix, and each batch is a change group as it stands); the first write that needs
  `_pending` moves them into it (`_pending_for`), so a family has one or the other at a time,
  and readers of what moved settle them first (`_settle`). The last call's `_pending` and
  `_fresh` are kept (`_taken`, `_taken_fresh`) until its consumers have applied them
  (`forget_taken`): until then, `best_before_take` tells a consumer what the table held when it
  last took them (a derived Adj-RIB-Out, `bgpd.outbound.derived`, reads what it sent there).

Invariants:
- Entries are never mutated, only replaced: a pending "before" entry stays valid.
- Within a prefix a path is identified by (source name, path id); announcing it again
  replaces it (and clears its stale mark).
- Every path in `_tables` is counted in `_paths` and in its source's `paths`, and its prefix is
  in its source's prefix set; a prefix with no path has no entry.
- Change detection ignores the stale mark (`Candidate.same_path`): marking a peer's routes
  stale is not a routing change, sweeping them is.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from types import MappingProxyType
from typing import NamedTuple

from bgpd.net import Family, Nlri
from bgpd.rib.candidate import Candidate, ChangeGroup, RouteChange
from bgpd.rib.decision import rank, select

logger = logging.getLogger(__name__)


class _Paths(NamedTuple):
    """A prefix held by two paths or more (a tuple: cheap to build, never mutated)."""

    paths: tuple[Candidate, ...]  # in arrival order
    best: Candidate
    multipath: tuple[Candidate, ...]


_Entry = Candidate | _Paths


def _paths_entry(paths: tuple[Candidate, ...]) -> _Entry:
    if len(paths) == 1:
        return paths[0]
    best, multipath = select(paths)
    return _Paths(paths, best, multipath)


def _drop_path(paths: tuple[Candidate, ...], name: str, path_id: int) -> tuple[_Entry, bool] | None:
    """(the entry without the source's path, whether the source has another path there),
    or None when the source has no such path."""
    for i, p in enumerate(paths):
        if p.path_id == path_id and p.source.name == name:
            kept = (*paths[:i], *paths[i + 1 :])
            break
    else:
        return None
    source_left = False
    for p in kept:
        if p.source.name == name:  # another ADD-PATH path of the same source
            source_left = True
            break
    return _paths_entry(kept), source_left


def _view(entry: _Entry | None) -> tuple[Candidate | None, tuple[Candidate, ...]]:
    if entry is None:
        return None, ()
    if type(entry) is Candidate:
        return entry, (entry,)
    assert isinstance(entry, _Paths)
    return entry.best, entry.multipath


def _best(entry: _Entry) -> Candidate:
    if type(entry) is Candidate:
        return entry
    assert isinstance(entry, _Paths)
    return entry.best


def _same_selection(old: _Entry | None, new: _Entry | None) -> bool:
    ob, om = _view(old)
    nb, nm = _view(new)
    if ob is None or nb is None:
        return ob is nb
    if om is nm:
        return True
    if len(om) != len(nm):
        return False
    return all(a.same_path(b) for a, b in zip(om, nm, strict=True))


def _same_paths(old: _Entry | None, new: _Entry | None) -> bool:
    a = () if old is None else LocRib._entry_paths(old)
    b = () if new is None else LocRib._entry_paths(new)
    return len(a) == len(b) and all(x.same_path(y) for x, y in zip(a, b, strict=True))


INDEX_LIMIT = 10_000
_NOTHING_TAKEN: Mapping[Nlri, object] = MappingProxyType({})


class _SourceRoutes:
    """Where one source has paths, and how many (ADD-PATH: several per prefix).

    A family is a key of `prefixes` exactly when the source has paths in it; the value is the
    set of those prefixes, or None once there are too many to index (see the module doc).
    """

    __slots__ = ("paths", "prefixes")

    def __init__(self) -> None:
        self.prefixes: dict[Family, set[Nlri] | None] = {}
        self.paths: dict[Family, int] = {}


class LocRib:
    __slots__ = (
        "_fresh",
        "_paths",
        "_pending",
        "_sources",
        "_tables",
        "_taken",
        "_taken_fresh",
        "report_all_paths",
    )

    def __init__(self) -> None:
        self._tables: dict[Family, dict[Nlri, _Entry]] = {}
        self._pending: dict[Family, dict[Nlri, _Entry | None]] = {}
        # family -> (candidate, the prefixes it took from nobody) per batch (module docstring)
        self._fresh: dict[Family, list[tuple[Candidate, Collection[Nlri]]]] = {}
        # The `_pending` the last `take_changes` consumed (see the module docstring), and its
        # `_fresh` batches' prefixes (a set built when first asked for).
        self._taken: dict[Family, dict[Nlri, _Entry | None]] = {}
        self._taken_fresh: dict[Family, list[tuple[Candidate, Collection[Nlri]]] | set[Nlri]] = {}
        self._sources: dict[str, _SourceRoutes] = {}
        self._paths: dict[Family, int] = {}
        # ADD-PATH send needs every path that moved, not only best and ECMP set changes.
        self.report_all_paths = False

    # -------------------------------------------------------------------------------- changes

    def announce(self, family: Family, nlri: Nlri, candidate: Candidate) -> None:
        """Adds a path, or replaces the path with the same (source name, path id)."""
        self.announce_many(family, (nlri,), candidate)

    def announce_many(
        self,
        family: Family,
        nlris: Collection[Nlri],
        candidate: Candidate,
        path_ids: Sequence[int] | None = None,
    ) -> int:
        """Announces `candidate` for every prefix of one NLRI batch; returns the paths added.

        With `path_ids` (ADD-PATH receive, parallel to `nlris`) each prefix gets the candidate
        with its own path id; one candidate per distinct id is built, not one per prefix.
        """
        if not nlris:
            return 0
        table = self._tables.get(family)
        if table is None:
            table = self._tables[family] = {}
        source = self._sources.get(candidate.source.name)
        if source is None:  # `_source_routes` inline: this runs once per UPDATE
            source = self._sources[candidate.source.name] = _SourceRoutes()
        if path_ids is None and not self._pending.get(family) and table.keys().isdisjoint(nlris):
            # Into empty slots, nothing else moved since the last take: a fresh batch, no
            # "before" per prefix (dict operations in C, no Python loop per prefix).
            size = len(table)
            table.update(zip(nlris, repeat(candidate)))
            added = len(table) - size
            fresh = nlris if added == len(nlris) else list(dict.fromkeys(nlris))  # repeats
            self._fresh.setdefault(family, []).append((candidate, fresh))
        else:
            added = self._announce_rest(family, table, nlris, candidate, path_ids)
        indexes = source.prefixes
        index = indexes.get(family)
        if index is not None:
            index.update(nlris)
            if len(index) > INDEX_LIMIT:
                indexes[family] = None
        elif family not in indexes:
            indexes[family] = set(nlris)
        if added:
            self._paths[family] = self._paths.get(family, 0) + added
            source.paths[family] = source.paths.get(family, 0) + added
        return added

    def _announce_rest(
        self,
        family: Family,
        table: dict[Nlri, _Entry],
        nlris: Iterable[Nlri],
        candidate: Candidate,
        path_ids: Sequence[int] | None,
    ) -> int:
        """`announce_many`'s general way: each prefix's entry before the change is
        remembered in `_pending`."""
        # The first entry a prefix had since the last take wins (see the module docstring).
        get = table.get
        added = 0
        if path_ids is None:
            remember = None  # the same announcement again moves nothing: no fresh batch settled
            for nlri in nlris:
                old = get(nlri)
                if old is None:
                    table[nlri] = candidate
                    added += 1
                elif old is candidate:
                    continue  # the same announcement again: nothing moved
                else:
                    table[nlri], n = self._merge(old, candidate)
                    added += n
                if remember is None:
                    remember = self._pending_for(family).setdefault
                remember(nlri, old)
            return added
        remember = self._pending_for(family).setdefault
        by_id: dict[int, Candidate] = {}
        for nlri, path_id in zip(nlris, path_ids, strict=True):
            cand = by_id.get(path_id)
            if cand is None:
                cand = candidate
                if cand.path_id != path_id:
                    cand = candidate.with_path_id(path_id)
                by_id[path_id] = cand
            old = get(nlri)
            if old is None:
                table[nlri] = cand
                added += 1
            elif old is cand:
                continue
            else:
                table[nlri], n = self._merge(old, cand)
                added += n
            remember(nlri, old)
        return added

    def _pending_for(self, family: Family) -> dict[Nlri, _Entry | None]:
        """`_pending[family]`, with the fresh batches moved into it (see the module
        docstring): for a write that remembers what a prefix had before."""
        pending = self._pending.get(family)
        if pending is None:
            pending = self._pending[family] = {}
        fresh = self._fresh.pop(family, None)
        if fresh:
            for _candidate, nlris in fresh:
                pending.update(dict.fromkeys(nlris))
        return pending

    def _settle(self) -> None:
        """Every family's fresh batches into `_pending` (for the readers of what moved)."""
        for family in list(self._fresh):
            self._pending_for(family)

    def withdraw(self, family: Family, nlri: Nlri, source_name: str, path_id: int = 0) -> bool:
        """Removes one path; False when the source had no such path for the prefix."""
        return self.withdraw_many(family, (nlri,), source_name, (path_id,)) == 1

    def withdraw_many(
        self,
        family: Family,
        nlris: Iterable[Nlri],
        source_name: str,
        path_ids: Iterable[int] | None = None,
    ) -> int:
        """Removes the source's path (with that path id, default 0) for each prefix.

        Returns how many paths were removed; prefixes the source did not have are ignored.
        """
        table = self._tables.get(family)
        source = self._sources.get(source_name)
        if not table or source is None:
            return 0
        if family not in source.prefixes:
            return 0
        index = source.prefixes[family]
        remember = self._pending_for(family).setdefault
        get = table.get
        removed = 0
        ids: Iterable[int] = repeat(0) if path_ids is None else path_ids
        for nlri, path_id in zip(nlris, ids, strict=path_ids is not None):
            old = get(nlri)
            if old is None:
                continue
            if type(old) is Candidate:
                if old.path_id != path_id or old.source.name != source_name:
                    continue
                del table[nlri]
                if index is not None:
                    index.discard(nlri)
            else:
                assert isinstance(old, _Paths)
                dropped = _drop_path(old.paths, source_name, path_id)
                if dropped is None:
                    continue
                table[nlri], source_left = dropped
                if not source_left and index is not None:
                    index.discard(nlri)
            removed += 1
            remember(nlri, old)
        if removed:
            self._count(family, source_name, -removed)
            if not source.paths[family]:
                del source.prefixes[family]
                del source.paths[family]
                self._forget_if_empty(source_name, source)
        return removed

    def withdraw_source(self, source_name: str, families: Iterable[Family] | None = None) -> int:
        """Removes every path of a source (of `families`, default all): its session is gone.

        Returns the number of paths removed.
        """
        source = self._sources.get(source_name)
        if source is None:
            return 0
        removed = 0
        for family in list(source.prefixes) if families is None else families:
            removed += self._remove_source_paths(source_name, source, family, stale_only=False)
        self._forget_if_empty(source_name, source)
        return removed

    # ------------------------------------------------------------- graceful restart (helper)

    def mark_stale(self, source_name: str, families: Iterable[Family]) -> int:
        """Marks every path of a source in `families` stale (RFC 4724 §4.2); returns how many.

        Stale paths keep forwarding and keep their place in the decision; announcing the same
        (prefix, path id) again replaces the path and so clears the mark. Not a change for
        `take_changes`.
        """
        source = self._sources.get(source_name)
        if source is None:
            return 0
        self._settle()  # a fresh batch's change is its candidate: the twins replace it
        # The shared candidates of a batch stay shared: one stale twin per distinct candidate.
        twins: dict[int, tuple[Candidate, Candidate]] = {}

        def twin(c: Candidate) -> Candidate:
            hit = twins.get(id(c))
            if hit is None:
                hit = twins[id(c)] = (c, c.as_stale())
            return hit[1]

        marked = 0
        for family in families:
            table = self._tables.get(family)
            if family not in source.prefixes or table is None:
                continue
            for nlri in self._prefixes_of(source_name, source, family, table):
                entry = table[nlri]
                if type(entry) is Candidate:
                    if not entry.stale:
                        table[nlri] = twin(entry)
                        marked += 1
                    continue
                assert isinstance(entry, _Paths)
                paths = entry.paths
                mine = sum(1 for p in paths if p.source.name == source_name and not p.stale)
                if mine:
                    table[nlri] = _paths_entry(
                        tuple(twin(p) if p.source.name == source_name else p for p in paths)
                    )
                    marked += mine
        return marked

    def sweep_stale(self, source_name: str, family: Family) -> int:
        """Removes the source's paths of `family` still marked stale; returns how many."""
        source = self._sources.get(source_name)
        if source is None:
            return 0
        removed = self._remove_source_paths(source_name, source, family, stale_only=True)
        self._forget_if_empty(source_name, source)
        return removed

    def stale_paths(self, source_name: str, family: Family) -> list[tuple[Nlri, Candidate]]:
        """The source's paths of `family` still marked stale, with their prefixes."""
        source = self._sources.get(source_name)
        table = self._tables.get(family)
        if source is None or table is None or family not in source.prefixes:
            return []
        return [
            (nlri, p)
            for nlri in self._prefixes_of(source_name, source, family, table)
            for p in self._entry_paths(table[nlri])
            if p.stale and p.source.name == source_name
        ]

    def stale_count(self, source_name: str, family: Family) -> int:
        source = self._sources.get(source_name)
        table = self._tables.get(family)
        if source is None or table is None:
            return 0
        if family not in source.prefixes:
            return 0
        return sum(
            1
            for nlri in self._prefixes_of(source_name, source, family, table)
            for p in self._entry_paths(table[nlri])
            if p.stale and p.source.name == source_name
        )

    # --------------------------------------------------------------------------------- output

    def take_changes(self) -> list[RouteChange]:
        """The prefixes whose best path or ECMP set differs from the last call, with the new one.

        One entry per (family, prefix), in the order the prefixes first moved, per family.
        """
        out: list[RouteChange] = []
        append = out.append
        new_change = tuple.__new__  # RouteChange without its Python-level __new__ frame
        self._settle()
        pending_by_family, self._pending = self._pending, {}
        self._taken = pending_by_family
        self._taken_fresh = {}
        for family, pending in pending_by_family.items():
            get = self._tables.get(family, {}).get
            for nlri, old in pending.items():
                new = get(nlri)
                if new is old:
                    continue
                # The hot cases first: a prefix appears, or its one path is replaced.
                if type(new) is Candidate and (
                    old is None or (type(old) is Candidate and not old.same_path(new))
                ):
                    append(new_change(RouteChange, (family, nlri, new, (new,))))
                elif type(old) is _Paths and type(new) is Candidate:
                    # Back to one path (the other withdrawn): changed unless the ECMP set
                    # already was that path alone.
                    multipath = old.multipath
                    if len(multipath) != 1 or not multipath[0].same_path(new):
                        append(new_change(RouteChange, (family, nlri, new, (new,))))
                elif not _same_selection(old, new):
                    best, multipath = _view(new)
                    append(new_change(RouteChange, (family, nlri, best, multipath)))
        return out

    def take_change_groups(self) -> list[ChangeGroup]:
        """`take_changes` with the prefixes that moved to the same selection put together.

        The bulk form: prefixes announced together share one `ChangeGroup`, so a consumer
        packing UPDATEs gets them already grouped by path and nobody builds an object per
        prefix. Groups appear in the order their first prefix moved, per family.
        """
        out: list[ChangeGroup] = []
        new_group = tuple.__new__  # ChangeGroup without its Python-level __new__ frame
        pending_by_family, self._pending = self._pending, {}
        fresh_by_family, self._fresh = self._fresh, {}
        self._taken = pending_by_family
        self._taken_fresh = dict(fresh_by_family)
        for family, batches in fresh_by_family.items():
            # Nothing else moved in the family (see the module docstring): each batch's
            # prefixes still hold its candidate, which they had from nobody.
            by_candidate: dict[int, list[Nlri]] = {}
            for candidate, fresh in batches:
                nlris = by_candidate.get(id(candidate))
                if nlris is None:
                    nlris = by_candidate[id(candidate)] = list(fresh)
                    out.append(
                        new_group(ChangeGroup, (family, candidate, (candidate,), nlris, True))
                    )
                else:
                    nlris.extend(fresh)
        for family, pending in pending_by_family.items():
            get = self._tables.get(family, {}).get
            # Keyed by object identity: every object keyed on is alive in the table or in
            # `pending` for the whole loop, so no id can be reused meanwhile.
            groups: dict[object, list[Nlri]] = {}
            # Prefixes of one batch sit next to each other in `pending`: the last one-path
            # group is remembered, which spares most of the lookups in `groups`.
            last: Candidate | None = None
            last_nlris: list[Nlri] = []
            for nlri, old in pending.items():
                new = get(nlri)
                if new is old:
                    continue
                key: object
                if type(new) is Candidate and (
                    old is None or (type(old) is Candidate and not old.same_path(new))
                ):
                    if new is last:
                        last_nlris.append(nlri)
                        continue
                    key = id(new)
                    best: Candidate | None = new
                    multipath: tuple[Candidate, ...] | None = None
                elif _same_selection(old, new) and (
                    not self.report_all_paths or _same_paths(old, new)
                ):
                    continue
                else:
                    best, multipath = _view(new)
                    if best is None:
                        key = None
                    elif len(multipath) == 1:
                        key = id(best)
                    else:
                        key = tuple(map(id, multipath))
                nlris = groups.get(key)
                if nlris is None:
                    nlris = groups[key] = [nlri]
                    if multipath is None:
                        multipath = (new,) if type(new) is Candidate else ()
                    change = (family, best, multipath, nlris, False)
                    out.append(new_group(ChangeGroup, change))
                else:
                    nlris.append(nlri)
                if type(new) is Candidate:  # its group is keyed by id(new), as above
                    last, last_nlris = new, nlris
        return out

    @property
    def changes_pending(self) -> bool:
        """Whether some prefix moved since the last `take_changes` (it may have moved back)."""
        return any(self._pending.values()) or any(self._fresh.values())

    @property
    def pending_count(self) -> int:
        """How many prefixes moved since the last `take_changes` (some may have moved back)."""
        fresh = sum(len(nlris) for batches in self._fresh.values() for _c, nlris in batches)
        return sum(map(len, self._pending.values())) + fresh

    # ---------------------------------------------------------------------------------- views

    def best(self, family: Family, nlri: Nlri) -> Candidate | None:
        return _view(self._tables.get(family, {}).get(nlri))[0]

    def multipath(self, family: Family, nlri: Nlri) -> tuple[Candidate, ...]:
        return _view(self._tables.get(family, {}).get(nlri))[1]

    def candidates(self, family: Family, nlri: Nlri) -> tuple[Candidate, ...]:
        """Every path of the prefix, best first (ranked on demand: meant for views)."""
        entry = self._tables.get(family, {}).get(nlri)
        if entry is None:
            return ()
        if type(entry) is Candidate:
            return (entry,)
        assert isinstance(entry, _Paths)
        return rank(entry.paths)

    def forget_taken(self) -> None:
        """The consumers have applied the last take: its "before" entries (a withdrawn feed's
        prefixes and paths among them) need not stay alive until the next one."""
        self._taken = {}
        self._taken_fresh = {}

    def taken(self, family: Family) -> Mapping[Nlri, object]:
        """Prefixes the last `take_changes` call looked at, each to the entry it had before
        (None: no path), for a presence test in a hot loop. The prefixes of its fresh
        batches are not in it: their `ChangeGroup`s say so (`fresh`)."""
        return self._taken.get(family, _NOTHING_TAKEN)

    def best_before_take(self, family: Family, nlri: Nlri) -> Candidate | None:
        """The best path of `nlri` as of the last take but one: what a consumer that has not
        applied the last `take_changes` yet last heard of."""
        taken = self._taken.get(family)
        if taken is not None and nlri in taken:
            return _view(taken[nlri])[0]
        fresh = self._taken_fresh.get(family)
        if fresh:
            if not isinstance(fresh, set):  # built once, when first asked for
                fresh = self._taken_fresh[family] = {n for _c, batch in fresh for n in batch}
            if nlri in fresh:
                return None
        return self.best_at_take(family, nlri)

    def best_at_take(self, family: Family, nlri: Nlri) -> Candidate | None:
        """The best path of `nlri` as of the last `take_changes` (what its consumers were
        told), whatever moved since."""
        pending = self._pending_for(family) if family in self._fresh else self._pending.get(family)
        if pending is not None and nlri in pending:
            return _view(pending[nlri])[0]
        return _view(self._tables.get(family, {}).get(nlri))[0]

    def iter_best_at_take(self, family: Family) -> Iterator[tuple[Nlri, Candidate]]:
        """`iter_best` as of the last `take_changes` (see `best_at_take`)."""
        pending = self._pending_for(family) if family in self._fresh else self._pending.get(family)
        if not pending:
            yield from self.iter_best(family)
            return
        table = self._tables.get(family, {})
        for nlri, entry in table.items():
            if nlri not in pending:
                yield nlri, _best(entry)
            elif (before := pending[nlri]) is not None:
                yield nlri, _best(before)
        for nlri, before in pending.items():
            if before is not None and nlri not in table:
                yield nlri, _best(before)

    def moved_since_take(self, family: Family) -> Collection[Nlri]:
        """The prefixes that moved since the last `take_changes` (some may have moved back)."""
        return self._pending_for(family).keys()

    def iter_best(self, family: Family) -> Iterator[tuple[Nlri, Candidate]]:
        for nlri, entry in self._tables.get(family, {}).items():
            if type(entry) is Candidate:
                yield nlri, entry
            else:
                assert isinstance(entry, _Paths)
                yield nlri, entry.best

    def iter_routes(self, family: Family) -> Iterator[RouteChange]:
        """The whole table as `RouteChange`s (e.g. to program the kernel from scratch)."""
        for nlri, entry in self._tables.get(family, {}).items():
            best, multipath = _view(entry)
            assert best is not None
            yield RouteChange(family, nlri, best, multipath)

    def source_routes(self, source_name: str, family: Family) -> Iterator[tuple[Nlri, Candidate]]:
        """Every path of one source in `family` (several per prefix under ADD-PATH)."""
        source = self._sources.get(source_name)
        table = self._tables.get(family)
        if source is None or table is None:
            return
        if family not in source.prefixes:
            return
        for nlri in self._prefixes_of(source_name, source, family, table):
            for p in self._entry_paths(table[nlri]):
                if p.source.name == source_name:
                    yield nlri, p

    def source_prefixes(self, source_name: str, family: Family) -> Collection[Nlri] | None:
        """The prefixes where the source has a path in `family` (a live set, not a copy), or
        None when it has too many to be indexed (a scan of `prefixes` finds them)."""
        source = self._sources.get(source_name)
        if source is None:
            return ()
        return source.prefixes.get(family, ())

    def prefixes(self, family: Family) -> Collection[Nlri]:
        """The prefixes held for `family`: a live view of the table's keys, not a copy."""
        return self._tables.get(family, {}).keys()

    def count(self, family: Family) -> tuple[int, int]:
        """(prefixes, paths) held for `family`."""
        return len(self._tables.get(family, ())), self._paths.get(family, 0)

    def source_count(self, source_name: str, family: Family | None = None) -> int:
        """Paths held from one source, in `family` or in all families."""
        source = self._sources.get(source_name)
        if source is None:
            return 0
        if family is None:
            return sum(source.paths.values())
        return source.paths.get(family, 0)

    def families(self) -> list[Family]:
        return [f for f, t in self._tables.items() if t]

    def source_names(self) -> list[str]:
        return list(self._sources)

    # ------------------------------------------------------------------------------ internals

    @staticmethod
    def _prefixes_of(
        name: str, source: _SourceRoutes, family: Family, table: dict[Nlri, _Entry]
    ) -> Collection[Nlri]:
        """The prefixes where the source has a path: its index, or a scan of the table."""
        index = source.prefixes.get(family)
        if index is not None:
            return index
        found: list[Nlri] = []
        for nlri, entry in table.items():
            if isinstance(entry, Candidate):
                if entry.source.name == name:
                    found.append(nlri)
            elif any(p.source.name == name for p in entry.paths):
                found.append(nlri)
        return found

    def _source_routes(self, name: str) -> _SourceRoutes:
        source = self._sources.get(name)
        if source is None:
            source = self._sources[name] = _SourceRoutes()
        return source

    def _forget_if_empty(self, name: str, source: _SourceRoutes) -> None:
        if not source.prefixes:
            del self._sources[name]

    def _count(self, family: Family, source_name: str, delta: int) -> None:
        self._paths[family] += delta
        self._sources[source_name].paths[family] += delta

    @staticmethod
    def _entry_paths(entry: _Entry) -> tuple[Candidate, ...]:
        if type(entry) is Candidate:
            return (entry,)
        assert isinstance(entry, _Paths)
        return entry.paths

    @staticmethod
    def _merge(old: _Entry, candidate: Candidate) -> tuple[_Entry, int]:
        """The entry with `candidate` added or replacing its (source, path id) twin, and
        whether a path was added (1) or replaced (0)."""
        name = candidate.source.name
        path_id = candidate.path_id
        if type(old) is Candidate:
            if old.path_id == path_id and old.source.name == name:
                return candidate, 0
            return _paths_entry((old, candidate)), 1
        assert isinstance(old, _Paths)
        paths = old.paths
        for i, p in enumerate(paths):
            if p.path_id == path_id and p.source.name == name:
                return _paths_entry((*paths[:i], candidate, *paths[i + 1 :])), 0
        return _paths_entry((*paths, candidate)), 1

    def _remove_source_paths(
        self, name: str, source: _SourceRoutes, family: Family, *, stale_only: bool
    ) -> int:
        table = self._tables.get(family)
        if family not in source.prefixes or table is None:
            source.prefixes.pop(family, None)
            return 0
        index = source.prefixes[family]
        remember = self._pending_for(family).setdefault
        removed = 0
        emptied: list[Nlri] = []
        for nlri in list(self._prefixes_of(name, source, family, table)):
            old = table[nlri]
            if type(old) is Candidate:
                if stale_only and not old.stale:
                    continue
                del table[nlri]
                emptied.append(nlri)
                removed += 1
            else:
                assert isinstance(old, _Paths)
                paths = old.paths
                kept = tuple(
                    p for p in paths if p.source.name != name or (stale_only and not p.stale)
                )
                if len(kept) == len(paths):
                    continue
                removed += len(paths) - len(kept)
                if kept:
                    table[nlri] = _paths_entry(kept)
                else:  # every path was this source's (ADD-PATH)
                    del table[nlri]
                if not any(p.source.name == name for p in kept):
                    emptied.append(nlri)
            remember(nlri, old)
        if removed:
            self._count(family, name, -removed)
        if not source.paths.get(family):
            del source.prefixes[family]
            source.paths.pop(family, None)
        elif index is not None:
            index.difference_update(emptied)
        if removed and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "rib source removed source=%s family=%s routes=%d stale_only=%s",
                name,
                family,
                removed,
                stale_only,
            )
        return removed

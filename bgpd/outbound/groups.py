"""Update groups: established peers whose outbound treatment is identical share one Adj-RIB-Out.

Role: the speaker stages each Loc-RIB change once per group (not once per peer); the group
coalesces (latest state per prefix), packs prefixes sharing an attribute set together, encodes
each UPDATE once, and the same bytes go to every member (minus a member's own routes, see
`adj_out`). Two peers are in one group when everything that changes the bytes is equal: the
export profile (iBGP/eBGP, client flag, cluster id, next-hop mode and address), the negotiated
encoding (AS4, ADD-PATH send, extended messages), the families and Calico's internal flag.

A slow member never holds its group back: when its socket backs up (and the group has other
members) it is split off into a group of its own holding a copy of what it was sent; that group
coalesces changes while the member is blocked, sends them when it drains, and folds back into
the main group once both hold the same state.

Invariants:
- Every member of a group holds the group's table minus its own routes (after the bytes
  handed to its session are delivered).
- `pending` holds at most one entry per key, so a blocked group's memory grows with the table,
  never with churn.
- `UpdateGroups.canonical` maps each key to at most one group; split-off groups are not in it
  until they rejoin or become the only group of their key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from bgpd.config.filter_section import FilterConfig
from bgpd.net import Family, Nlri
from bgpd.outbound.adj_out import AdjRibOut, GroupMessage, Run
from bgpd.outbound.advertise import ExportCache, PeerProfile
from bgpd.policy.filter_eval import FilterChain
from bgpd.rib import PathInfo
from bgpd.wire.negotiated import EncodeContext


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupKey:
    profile: PeerProfile
    ctx: EncodeContext
    families: frozenset[Family]
    internal: bool  # Calico's "internal" flag for its export rules
    export_filters: tuple[FilterConfig, ...] = ()  # the peer's [[filter]] export rules


class Member:
    """One established peer in a group."""

    __slots__ = ("blocked", "eor_pending", "group", "name", "refresh_pending")

    def __init__(self, name: str, group: UpdateGroup) -> None:
        self.name = name
        self.group = group
        self.blocked = False
        self.eor_pending: tuple[Family, ...] = ()
        # Families whose route refresh waits for the member to drain (it asked while blocked).
        self.refresh_pending: set[Family] = set()


class UpdateGroup:
    __slots__ = (
        "add_path_index",
        "adj_out",
        "cache",
        "export_chains",
        "key",
        "members",
        "pending",
        "recheck",
        "runs",
        "self_skip",
    )

    def __init__(self, key: GroupKey, cache: ExportCache, adj_out: AdjRibOut | None = None) -> None:
        self.key = key
        self.cache = cache
        self.adj_out = adj_out if adj_out is not None else AdjRibOut()
        self.members: dict[str, Member] = {}
        self.pending: dict[Family, dict[bytes, PathInfo | None]] = {}
        # One propagation's changes, already grouped by path (`stage_run`); empty between
        # propagations: `take_messages` sends them or `fold_runs` moves them into `pending`.
        self.runs: dict[Family, list[Run]] = {}
        # Prefixes to stage again at the next propagation (`Exporter._recheck`).
        self.recheck: dict[Family, set[Nlri]] = {}
        # ADD-PATH send: the keys (path id + prefix) staged for each prefix, so a path that
        # disappears from the prefix is withdrawn under its own id.
        self.add_path_index: dict[Family, dict[Nlri, frozenset[bytes]]] = {}
        # The one member of a group created for it: its own routes are left out of the table
        # altogether (nobody else would receive them), which saves a whole table per eBGP
        # neighbour. Cleared, and the table completed, before a second member joins.
        self.self_skip = ""
        # IP version -> the compiled export filter chain (built on first use, per group, so
        # the per-prefix path never hashes the filter definitions).
        self.export_chains: dict[int, FilterChain] = {}

    @property
    def profile(self) -> PeerProfile:
        return self.key.profile

    @property
    def ctx(self) -> EncodeContext:
        return self.key.ctx

    @property
    def families(self) -> frozenset[Family]:
        return self.key.families

    @property
    def internal(self) -> bool:
        return self.key.internal

    @property
    def blocked(self) -> bool:
        return all(m.blocked for m in self.members.values())

    def holds_nothing(self, family: Family) -> bool:
        """Nothing sent, withheld or pending in `family`: a withdrawal would be a no-op."""
        return (
            not self.adj_out.table(family)
            and not self.pending.get(family)
            and not self.runs.get(family)
            and not self.adj_out.withheld(family)
        )

    def add_path(self, family: Family) -> bool:
        return family in self.key.ctx.add_path_send

    def stage(self, family: Family, key: bytes, info: PathInfo | None) -> None:
        self.pending.setdefault(family, {})[key] = info

    def stage_many(self, family: Family, keys: Iterable[bytes], info: PathInfo | None) -> None:
        self.pending.setdefault(family, {}).update(dict.fromkeys(keys, info))

    def stage_run(
        self, family: Family, keys: Sequence[bytes], info: PathInfo | None, fresh: bool = False
    ) -> None:
        """Stages `keys` -> `info` from one Loc-RIB change batch (each key once per batch);
        `fresh`: none of them had a path before it (`ChangeGroup.fresh`)."""
        runs = self.runs.get(family)
        if runs is None:
            self.runs[family] = [(info, keys, fresh)]
        else:
            runs.append((info, keys, fresh))

    def fold_runs(self) -> None:
        """Moves staged runs into `pending` (the group cannot send them now); a derived
        Adj-RIB-Out keeps what it sent for their keys meanwhile."""
        for family, runs in self.runs.items():
            for info, keys, fresh in runs:
                self.adj_out.hold(family, keys, fresh)
                self.stage_many(family, keys, info)
        self.runs = {}

    def stage_paths(self, family: Family, nlri: Nlri, paths: dict[bytes, PathInfo]) -> None:
        """ADD-PATH send: `paths` (path id + prefix -> path) is everything `nlri` now has."""
        index = self.add_path_index.setdefault(family, {})
        pending = self.pending.setdefault(family, {})
        for key in index.get(nlri, frozenset()) - paths.keys():
            pending[key] = None
        pending.update(paths)
        if paths:
            index[nlri] = frozenset(paths)
        else:
            index.pop(nlri, None)

    def take_messages(self) -> list[GroupMessage]:
        if self.blocked:
            self.fold_runs()
            return []
        if self.pending:
            self.fold_runs()
        elif not self.runs:
            return []
        members = self.members.keys()
        messages: list[GroupMessage] = []
        ctx = self.key.ctx
        for family, changes in self.pending.items():
            messages.extend(self.adj_out.apply(ctx, family, changes, members))
        for family, runs in self.runs.items():
            messages.extend(self.adj_out.apply_runs(ctx, family, runs, members))
        self.pending = {}
        self.runs = {}
        return messages

    def reconcile(self, family: Family, desired: dict[bytes, PathInfo]) -> list[GroupMessage]:
        if self.add_path(family):
            index: dict[Nlri, set[bytes]] = {}
            for key in desired:
                index.setdefault(key[4:], set()).add(key)
            self.add_path_index[family] = {n: frozenset(k) for n, k in index.items()}
        return self.adj_out.reconcile(self.key.ctx, family, desired, self.members.keys())


class UpdateGroups:
    """Every update group of a speaker, and which one a new member of a key joins."""

    __slots__ = ("_caches", "canonical", "groups")

    def __init__(self) -> None:
        self.groups: list[UpdateGroup] = []
        self.canonical: dict[GroupKey, UpdateGroup] = {}
        # One export cache per key: groups of one key build identical (same object) paths,
        # which is what makes comparing a split-off group with its main group cheap.
        self._caches: dict[GroupKey, ExportCache] = {}

    def __iter__(self) -> Iterator[UpdateGroup]:
        return iter(self.groups)

    def sizes(self) -> list[int]:
        return [len(g.members) for g in self.groups]

    def joinable(self, key: GroupKey) -> UpdateGroup | None:
        """The group a new member of `key` can join right away (None: it needs its own)."""
        group = self.canonical.get(key)
        if group is None or group.blocked:
            return None
        return group

    def new_group(self, key: GroupKey, adj_out: AdjRibOut | None = None) -> UpdateGroup:
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = ExportCache(key.profile)
        group = UpdateGroup(key, cache, adj_out)
        self.groups.append(group)
        main = self.canonical.get(key)
        if main is None or main.blocked:
            self.canonical[key] = group
        return group

    def add_member(self, name: str, group: UpdateGroup) -> Member:
        member = Member(name, group)
        group.members[name] = member
        return member

    def remove_member(self, member: Member) -> None:
        group = member.group
        group.members.pop(member.name, None)
        if not group.members:
            self._drop(group)

    def split(self, member: Member) -> UpdateGroup:
        """Takes a slow member out of its group into one of its own (same key, same state)."""
        old = member.group
        del old.members[member.name]
        group = UpdateGroup(old.key, old.cache, old.adj_out.copy())
        group.add_path_index = {f: dict(i) for f, i in old.add_path_index.items()}
        group.pending = {f: dict(p) for f, p in old.pending.items()}
        self.groups.append(group)
        group.members[member.name] = member
        member.group = group
        return group

    def try_rejoin(self, member: Member) -> bool:
        """A drained member's own group folds back into the main group of its key when both
        hold the same state; with no main group left, its group becomes the main one."""
        group = member.group
        main = self.canonical.get(group.key)
        if main is group:
            return False
        if main is None or main.blocked:
            self.canonical[group.key] = group
            return False
        if group.pending or main.pending or not group.adj_out.same_state(main.adj_out):
            return False
        del group.members[member.name]
        main.members[member.name] = member
        member.group = main
        self._drop(group)
        return True

    def drop_if_empty(self, group: UpdateGroup) -> None:
        self._drop(group)

    def _drop(self, group: UpdateGroup) -> None:
        if group.members:
            return
        self.groups.remove(group)
        if self.canonical.get(group.key) is group:
            del self.canonical[group.key]
            for other in self.groups:
                if other.key == group.key:
                    self.canonical[group.key] = other
                    break
        if group.key not in self.canonical:
            self._caches.pop(group.key, None)

"""The export side of the speaker: Loc-RIB changes -> update groups -> bytes for each member.

Role: decides, once per update group, what its members must hold for each prefix (the plain
iBGP/eBGP and RFC 4456 rules of `export`, then Calico's per-prefix rules when configured), stages
it in the group, and hands every member the group's encoded UPDATEs through `deliver`. Under
ADD-PATH send (RFC 7911) a group's members receive every usable path of a prefix, each under a
path id that stays the same for as long as its (source, received path id) exists.

Invariants:
- Sans-IO: bytes leave only through the `deliver` callback, once per member per batch: the
  batch's messages joined once (shared by every member that receives all of them; the others
  get slices of the same bytes, never a copy), with the prefix and message counts for the
  peer's counters.
- Staging is per group, never per member; the only per-member work is writing the shared
  bytes (and a member's own full table when it joins or asks for a route refresh).
- A blocked member (socket above its high-water mark) receives nothing until it drains; its
  group (split off when it had company) keeps the latest state per prefix meanwhile.
- A route refresh resends the member the Adj-RIB-Out of the families asked for, and only
  those, each between BoRR and EoRR (RFC 7313 §4, through `mark`); a member blocked when it
  asks gets it after it drains: a refresh is never dropped, and never bracketed around nothing.
- While `deferred` (we are a restarting speaker, RFC 4724 §4.1) nothing is staged or sent:
  peers join their groups silently, and `release` sends every group its whole table and
  End-of-RIB at once, computed from the Loc-RIB as it stands then.
- A path too big for a group's messages is withheld from that group only (see `adj_out`): its
  members' counters count it (`deliver`'s `withheld`) and a warning names them, at most once a
  minute.
- Fault containment: every piece of work done for one group (or one member of it) runs inside
  `bgpd.errors.contained`. When it raises, that group's members (or that member) leave the
  exporter, since what their Adj-RIB-Out says was sent can no longer be trusted, and `fault`
  ends their sessions; the other groups carry on, whichever peer's input started the work.
- A group whose export is a function of the best path alone keeps no table per prefix: what
  it sent is derived from the Loc-RIB (`bgpd.outbound.derived`). Every take of the Loc-RIB's
  changes reaches every group (applied, or held while blocked or deferred), and a change of
  the export turns the tables back into dicts first (`set_policy`, `_export_table`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Protocol

from bgpd.errors import contained
from bgpd.net import Afi, Family, Nlri
from bgpd.outbound.adj_out import GroupMessage, runs_by_path
from bgpd.outbound.derived import LocRibDerivation, export_best
from bgpd.outbound.groups import GroupKey, Member, UpdateGroup, UpdateGroups
from bgpd.outbound.operated import OperatedPaths
from bgpd.outbound.shares import MemberShares, Part
from bgpd.policy import ExportPolicy, merge_communities
from bgpd.policy.filter_eval import FilterChain, compile_filters
from bgpd.rib import Candidate, ChangeGroup, LocRib, PathInfo
from bgpd.wire.codec import encode_end_of_rib
from bgpd.wire.constants import RouteRefreshSubtype
from bgpd.wire.framing import Chunk

logger = logging.getLogger(__name__)


class Deliver(Protocol):
    def __call__(
        self,
        peer: str,
        data: tuple[Chunk, ...],
        announced: int,
        withdrawn: int,
        count: int,
        *,
        now: float,
        withheld: int = 0,
    ) -> None:
        """Hand `data` (chunks of `count` whole UPDATEs, announcing and withdrawing that many
        prefixes; `count` may be 0) to the peer's session; `withheld` prefixes were not
        announced to it because their attributes do not fit its messages."""


class Fault(Protocol):
    def __call__(self, peers: list[str], error: Exception, now: float) -> None:
        """Work for these peers raised `error`: they have left the exporter; end their
        sessions (`peers` may be empty when the work concerned no member)."""


class MarkRefresh(Protocol):
    def __call__(
        self, peer: str, family: Family, subtype: RouteRefreshSubtype, *, now: float
    ) -> None:
        """A route refresh of `family` to the peer begins (BoRR) or ends (EoRR): RFC 7313 §4
        markers, sent in order with the UPDATEs when the session negotiated them."""


_AFI_IPV6 = Afi.IPV6
_TAGGED_CACHE_SIZE = 100_000
# At most one "update withheld" warning per this many seconds; the counters count every one.
WITHHELD_WARNING_INTERVAL = 60.0
_WARNED_MAX = 256


class Exporter:
    __slots__ = (
        "_deliver",
        "_derive",
        "_fault",
        "_groups",
        "_kernel_ifnames",
        "_mark",
        "_members",
        "_operated",
        "_path_ids",
        "_rib",
        "_tagged",
        "_withheld_warning",
        "deferred",
        "policy",
    )

    def __init__(
        self,
        rib: LocRib,
        policy: ExportPolicy,
        kernel_ifnames: dict[tuple[Family, Nlri], str | None],
        deliver: Deliver,
        fault: Fault,
        *,
        mark: MarkRefresh | None = None,
        derive: bool = True,
    ) -> None:
        self._rib = rib
        # Derive the tables that can be (False: a dict per group and family, as a check).
        self._derive = derive
        self._mark = mark
        self.policy = policy
        self._kernel_ifnames = kernel_ifnames
        self._deliver = deliver
        self._fault = fault
        # peers named by an "update withheld" warning -> [when it went out, withheld since]
        self._withheld_warning: dict[str, list[float]] = {}
        self._groups = UpdateGroups()
        self.deferred = False
        self._members: dict[str, Member] = {}
        # (source name, received path id) -> the path id we send it under (ADD-PATH send).
        self._path_ids: dict[tuple[str, int], int] = {}
        # Paths an export rule's operations changed, per (exported path, operations).
        self._operated = OperatedPaths()
        self._tagged: dict[
            tuple[int, tuple[int, ...], tuple[tuple[int, int, int], ...]],
            tuple[PathInfo, PathInfo],
        ] = {}

    # ------------------------------------------------------------------------------ members

    def member(self, name: str) -> Member | None:
        return self._members.get(name)

    def group_sizes(self) -> list[int]:
        return self._groups.sizes()

    def sent_count(self, name: str, family: Family | None = None) -> int:
        member = self._members.get(name)
        return 0 if member is None else member.group.adj_out.count_for(name, family)

    def add_peer(self, name: str, key: GroupKey, now: float) -> None:
        """A session came up: the peer joins its group and receives the table, then End-of-RIB."""
        if key.ctx.add_path_send:
            self._rib.report_all_paths = True
        group = self._joinable(key, now)
        fresh = group is None
        if group is None:
            group = self._groups.new_group(key)
            # While deferred every table is built complete at `release`: no self-skip then.
            group.self_skip = "" if self.deferred else name
        member = self._members[name] = self._groups.add_member(name, group)
        member.eor_pending = tuple(sorted(key.families))
        if self.deferred:
            return
        if fresh:
            self._guarded(group, partial(self._export_table, group, now), now)
        else:
            self._guarded(group, partial(self._send_full_table, member, now), now, only=member)

    def remove_peer(self, name: str) -> None:
        member = self._members.pop(name, None)
        if member is not None:
            self._groups.remove_member(member)

    def refresh(self, name: str, now: float, families: Iterable[Family] | None = None) -> None:
        """Route refresh (RFC 2918) or a soft reset: the table of `families` (default: all the
        peer's) again, to this peer only, each between the `mark` callback's BoRR and EoRR
        (RFC 7313 §4). A blocked member gets it once it drains (its group's pending changes
        first); while deferred nothing is sent (`release` sends every table)."""
        member = self._members.get(name)
        if member is None or self.deferred:
            return
        own = member.group.key.families
        member.refresh_pending.update(own if families is None else own.intersection(families))
        if not member.blocked:
            self._guarded(member.group, partial(self._send_refresh, member, now), now, only=member)

    def regroup(self, name: str, key: GroupKey, now: float) -> None:
        """The peer's outbound treatment changed without a session reset (policy change)."""
        member = self._members.get(name)
        if member is None or member.group.key == key:
            return
        old = member.group
        old.members.pop(name)
        if self.deferred:
            joinable = None if member.blocked else self._groups.joinable(key)  # as below
            group = joinable or self._groups.new_group(key)
            group.members[name] = member
            member.group = group
            self._groups.drop_if_empty(old)
            return
        # A blocked member gets a group of its own, which stages its catch-up until it drains:
        # in a group with writable members it would miss what they are sent meanwhile.
        target = None if member.blocked else self._joinable(key, now)
        member.group = self._groups.new_group(key) if target is None else target
        self._guarded(member.group, partial(self._move, member, old, target, now), now, only=member)
        self._groups.drop_if_empty(old)

    def _move(
        self, member: Member, old: UpdateGroup, target: UpdateGroup | None, now: float
    ) -> None:
        """`regroup`: the member catches up from `old`'s state to `target`'s, or (no target)
        gets a group of its own (already `member.group`) starting from `old`'s state."""
        name = member.name
        key = member.group.key
        if target is not None:
            # Catch up from the old state to the target group's, for this member only.
            scratch = UpdateGroup(key, target.cache, old.adj_out.copy())
            messages: list[GroupMessage] = []
            for family in key.families:
                desired = dict(target.adj_out.table(family))
                messages.extend(scratch.adj_out.reconcile(key.ctx, family, desired, (name,)))
            target.members[name] = member
            self._send(member, messages, now)
        else:
            group = member.group
            group.adj_out = old.adj_out.copy()
            group.self_skip = old.self_skip if old.self_skip == name else ""
            group.members[name] = member
            self._export_table(group, now)

    def set_blocked(self, name: str, blocked: bool, now: float) -> None:
        member = self._members.get(name)
        if member is None or member.blocked == blocked:
            return
        if blocked:
            if len(member.group.members) > 1:
                self._groups.split(member)
            member.blocked = True
            return
        member.blocked = False
        group = member.group
        if not self._guarded(group, partial(self._flush, group, now), now):
            return
        if member.refresh_pending and not self._guarded(
            group, partial(self._send_refresh, member, now), now, only=member
        ):
            return
        main = self._groups.canonical.get(group.key)
        if main is not None and main is not group and main.self_skip:
            self._guarded(main, partial(self._open_up, main, now), now)
        self._groups.try_rejoin(member)

    def release(self, now: float) -> None:
        """End of the restarting speaker's deferral: every group gets its table and End-of-RIB."""
        if not self.deferred:
            return
        self.deferred = False
        self.reexport_all(now)

    def set_policy(self, policy: ExportPolicy, now: float) -> None:
        """A new export policy: every group's table is recomputed and the difference sent."""
        for group in self._groups:
            group.adj_out.materialize()  # derived from the old policy's export: kept as sent
        self.policy = policy
        self.reexport_all(now)

    def reexport_all(self, now: float) -> None:
        """The export policy changed: every group's table is recomputed and the difference sent."""
        if self.deferred:
            return
        for group in list(self._groups):
            if group.members:  # not ended by a fault of an earlier group
                self._guarded(group, partial(self._export_table, group, now), now)

    # ------------------------------------------------------------------------------ changes

    def propagate(self, changes: list[ChangeGroup], now: float) -> None:
        """Stages the Loc-RIB's coalesced changes in every group, then sends them."""
        if self.deferred:  # `release` computes every table from the Loc-RIB
            for group in self._groups:  # a derived table keeps what it sent meanwhile
                for change in changes:
                    group.adj_out.hold(change.family, change.nlris, change.fresh)
            return
        # Group by group, so what is the same for every change (families, flags) is looked
        # up once, and a group whose work fails ends its own members only.
        for group in list(self._groups):
            if group.members:  # not ended by a fault of an earlier group
                self._guarded(group, partial(self._propagate_group, group, changes, now), now)

    # ----------------------------------------------------------------------------- internals

    def _propagate_group(self, group: UpdateGroup, changes: list[ChangeGroup], now: float) -> None:
        """Stages the changes in one group and sends them: once per change group of the
        Loc-RIB, per-prefix work only under per-prefix rules."""
        key = group.key
        families = key.families
        add_path_families = key.ctx.add_path_send
        per_prefix = self.policy.calico or bool(key.export_filters)
        if group.recheck:
            self._recheck(group)
        stage = group.stage_run
        for change in changes:
            family = change.family
            if family not in families:
                continue
            if family in add_path_families:
                for nlri in change.nlris:
                    group.stage_paths(family, nlri, self._all_paths(group, family, nlri))
                continue
            best = change.best
            info = self._exported_path(group, family, best)
            if info is None:
                if not group.holds_nothing(family):
                    stage(family, change.nlris, None)
                # else nothing to withdraw (say the sender's own routes, self-skipped)
                continue
            if not per_prefix:
                stage(family, change.nlris, info, change.fresh)
                continue
            assert best is not None
            # Per-prefix rules: the prefixes that end with the same path form one run.
            decided = (
                (nlri, self._prefix_export(group, family, nlri, best, info))
                for nlri in change.nlris
            )
            for out, nlris, _ in runs_by_path(decided):
                stage(family, nlris, out, change.fresh)
        self._flush(group, now)

    def _recheck(self, group: UpdateGroup) -> None:
        """Stages what the group must hold now for the prefixes that moved between its last
        whole-table export and the take (`_export_table`); a change of this take for the same
        prefix replaces it (`fold_runs`), and one equal to what was sent sends nothing."""
        recheck, group.recheck = group.recheck, {}
        best = self._rib.best
        for family, nlris in recheck.items():
            if group.add_path(family):
                for nlri in nlris:
                    group.stage_paths(family, nlri, self._all_paths(group, family, nlri))
                continue
            for nlri in nlris:
                group.stage(family, nlri, self._exported(group, family, nlri, best(family, nlri)))

    def _guarded(
        self,
        group: UpdateGroup,
        step: Callable[[], None],
        now: float,
        *,
        only: Member | None = None,
    ) -> bool:
        """Runs work for `group` (or for its member `only`) inside the core's fault boundary
        (`bgpd.errors.contained`); False when it raised: those members are then gone."""
        error = contained(step)
        if error is None:
            return True
        names = [only.name] if only is not None else list(group.members)
        for name in names:
            self.remove_peer(name)
        self._fault(names, error, now)
        return False

    def _joinable(self, key: GroupKey, now: float) -> UpdateGroup | None:
        """The group a new member of `key` joins right away, its table completed first
        (`_open_up`); a group whose completion failed is gone (its members ended)."""
        while True:
            group = self._groups.joinable(key)
            if group is None or self.deferred or not group.self_skip:
                return group
            if self._guarded(group, partial(self._open_up, group, now), now):
                return group

    def _open_up(self, group: UpdateGroup, now: float) -> None:
        """Before a second member joins: the routes of the first go into the table too."""
        if group.self_skip:
            group.self_skip = ""
            self._export_table(group, now)

    def _send(self, member: Member, messages: Iterable[GroupMessage], now: float) -> None:
        self._send_batch([member], list(messages), now)

    def _send_batch(self, members: list[Member], messages: list[GroupMessage], now: float) -> None:
        """Every member's share of `messages` in one delivery: a member that no message is
        tagged for (skip or only) gets the one joined blob all such members share.

        A failure while handing one member its bytes is that member's alone: the group's state
        is already what was sent, so the others keep it (and their sessions). One fault
        boundary covers the whole loop (not one per member: this is the hot path), and the
        loop resumes after the member it failed on."""
        if not messages:
            return
        shares = MemberShares(messages)
        at = [0]  # the member being handed its bytes
        while at[0] < len(members):
            step = partial(self._deliver_from, members, shares, at, now)
            error = contained(step)
            if error is None:
                break
            failed = members[at[0]]
            at[0] += 1
            self.remove_peer(failed.name)
            self._fault([failed.name], error, now)
        if any(m.withheld for m in messages):
            self._warn_withheld(members, messages, now)

    def _deliver_from(
        self, members: list[Member], shares: MemberShares, at: list[int], now: float
    ) -> None:
        deliver = self._deliver
        everyone = shares.everyone
        for i in range(at[0], len(members)):
            at[0] = i
            name = members[i].name
            part = shares.share(name) if shares.tagged(name) else everyone
            if not (part[3] or part[4]):
                continue  # nothing in the batch concerns it
            data, announced, withdrawn, count, withheld = part
            deliver(name, data, announced, withdrawn, count, now=now, withheld=withheld)
        at[0] = len(members)

    def _deliver_to(self, member: Member, part: Part, now: float) -> None:
        """Hands one member its bytes (End-of-RIB); a failure there is that member's alone."""
        data, announced, withdrawn, count, withheld = part
        step = partial(
            self._deliver,
            member.name,
            data,
            announced,
            withdrawn,
            count,
            now=now,
            withheld=withheld,
        )
        self._guarded(member.group, step, now, only=member)

    def _warn_withheld(
        self, members: list[Member], messages: list[GroupMessage], now: float
    ) -> None:
        """One warning line for the paths withheld in a batch, at most once a minute for the
        same peers (the per-peer counters count every one); `earlier` counts the prefixes
        withheld from them since the last line."""
        withheld = [m for m in messages if m.withheld]
        names = {p.name for m in withheld for p in members if m.for_member(p.name)}
        peers = ",".join(sorted(names))
        if not peers:
            return
        count = sum(m.withheld for m in withheld)
        warned = self._withheld_warning
        state = warned.get(peers)
        if state is not None and now - state[0] < WITHHELD_WARNING_INTERVAL:
            state[1] += count
            return
        if state is None and len(warned) >= _WARNED_MAX:  # forget the quiet ones
            quiet = [k for k, v in warned.items() if now - v[0] >= WITHHELD_WARNING_INTERVAL]
            for key in quiet:
                del warned[key]
        suppressed = 0 if state is None else int(state[1])
        warned[peers] = [now, 0]
        logger.warning(
            "update withheld too big peers=%s prefixes=%d octets=%d max=%d earlier=%d",
            peers,
            count,
            min(m.needed for m in withheld),
            members[0].group.key.ctx.max_message_len,
            suppressed,
        )

    def _send_full_table(self, member: Member, now: float) -> None:
        group = member.group
        if member.blocked:
            return  # it catches up from the group's state when it drains
        for family in sorted(group.key.families):
            self._send_table(member, family, now)
        self._send_eor(member, now)

    def _send_table(self, member: Member, family: Family, now: float) -> None:
        """The group's table of `family` minus the member's own routes: slices of bytes every
        member joining while the table is unchanged shares."""
        group = member.group
        part, withheld = group.adj_out.table_share(group.key.ctx, family, member.name)
        if part[3] or part[4]:
            self._deliver_to(member, part, now)
        if withheld is not None:
            self._warn_withheld([member], [withheld], now)

    def _send_refresh(self, member: Member, now: float) -> None:
        mark = self._mark
        families = sorted(member.refresh_pending)
        member.refresh_pending.clear()
        for family in families:
            if mark is not None:
                mark(member.name, family, RouteRefreshSubtype.BORR, now=now)
            self._send_table(member, family, now)
            if mark is not None:
                mark(member.name, family, RouteRefreshSubtype.EORR, now=now)

    def _send_eor(self, member: Member, now: float) -> None:
        pending, member.eor_pending = member.eor_pending, ()
        for family in pending:
            self._deliver_to(member, ((encode_end_of_rib(family),), 0, 0, 1, 0), now)

    def _flush(self, group: UpdateGroup, now: float) -> None:
        if group.blocked:
            group.fold_runs()  # the latest state per prefix waits in `pending`
            return
        messages = group.take_messages()
        members = [m for m in group.members.values() if not m.blocked]
        self._send_batch(members, messages, now)
        for member in members:
            if member.eor_pending:
                self._send_eor(member, now)

    def _export_table(self, group: UpdateGroup, now: float) -> None:
        """Recomputes the group's whole table (new group, policy change) and sends the rest;
        the table is derived from the Loc-RIB from then on when the export allows it."""
        group.adj_out.materialize()  # the old export described what was sent
        group.pending = {}
        group.runs = {}
        # The table is the Loc-RIB of now, the next take reports what moved since the last:
        # a prefix that moved and moves back before it is not in it, so it is looked at again.
        moved = {f: set(self._rib.moved_since_take(f)) for f in group.key.families}
        group.recheck = {f: nlris for f, nlris in moved.items() if nlris}
        for family in sorted(group.key.families):
            desired = self._desired(group, family)
            if group.blocked:
                for key, info in desired.items():
                    group.stage(family, key, info)
                for key in group.adj_out.table(family).keys() - desired.keys():
                    group.stage(family, key, None)
                continue
            messages = group.reconcile(family, desired)
            members = [m for m in group.members.values() if not m.blocked]
            self._send_batch(members, messages, now)
        self._flush(group, now)
        if not self._derive or group.blocked or self.policy.calico or group.key.export_filters:
            return  # their rules read the prefix and the kernel's interfaces, not only the path
        for family in group.key.families - group.key.ctx.add_path_send:
            derivation = LocRibDerivation(self._rib, family, group.cache, group.self_skip)
            group.adj_out.derive(family, derivation)

    def _desired(self, group: UpdateGroup, family: Family) -> dict[bytes, PathInfo]:
        """The group's whole table from the Loc-RIB as it is now: complete, so End-of-RIB
        can follow it (a restarting speaker's peers sweep what it does not hold)."""
        desired: dict[bytes, PathInfo] = {}
        if group.add_path(family):
            for nlri, _best in self._rib.iter_best(family):
                desired.update(self._all_paths(group, family, nlri))
            return desired
        for nlri, best in self._rib.iter_best(family):
            info = self._exported(group, family, nlri, best)
            if info is not None:
                desired[nlri] = info
        return desired

    def _all_paths(self, group: UpdateGroup, family: Family, nlri: Nlri) -> dict[bytes, PathInfo]:
        """ADD-PATH send: every path of `nlri` the group may receive, keyed by path id + prefix."""
        paths: dict[bytes, PathInfo] = {}
        for candidate in self._rib.candidates(family, nlri):
            info = self._exported(group, family, nlri, candidate)
            if info is None:
                continue
            path_key = (candidate.source.name, candidate.path_id)
            path_id = self._path_ids.get(path_key)
            if path_id is None:
                path_id = self._path_ids[path_key] = len(self._path_ids) + 1
            paths[path_id.to_bytes(4, "big") + nlri] = info
        return paths

    def _exported(
        self, group: UpdateGroup, family: Family, nlri: Nlri, best: Candidate | None
    ) -> PathInfo | None:
        """The path the group's members must hold for `nlri` (None: they must hold nothing)."""
        info = self._exported_path(group, family, best)
        if info is None or best is None:
            return info
        if not self.policy.calico and not group.key.export_filters:
            return info
        return self._prefix_export(group, family, nlri, best, info)

    def _exported_path(
        self, group: UpdateGroup, family: Family, best: Candidate | None
    ) -> PathInfo | None:
        """The part of the export that depends on the path and the group, not on the prefix
        (`bgpd.outbound.derived.export_best`)."""
        return export_best(
            best,
            group.cache,
            self_skip=group.self_skip,
            calico=self.policy.calico,
            v6=family.afi is _AFI_IPV6,
        )

    def _chain(self, group: UpdateGroup, family: Family) -> FilterChain:
        version = 6 if family.afi is _AFI_IPV6 else 4
        chain = group.export_chains.get(version)
        if chain is None:
            filters = group.key.export_filters
            names = [f.name for f in filters]
            ibgp = group.key.profile.ibgp
            chain = compile_filters(filters, names, export=True, version=version, ibgp=ibgp)
            group.export_chains[version] = chain
        return chain

    def _prefix_export(
        self, group: UpdateGroup, family: Family, nlri: Nlri, best: Candidate, info: PathInfo
    ) -> PathInfo | None:
        """The peer's export filters, then Calico's rules (about the prefix: pools, blocks).

        A filter's accept or reject decides (as a BIRD filter's `accept`/`reject` ends it,
        calico-bgp.md §2.8); with no matching rule Calico's export policy does, and a plain
        router advertises."""
        source = best.source
        ifname = self._kernel_ifnames.get((family, nlri)) if source.kind.local else None
        if group.key.export_filters:
            # The rules see the route as it is exported (Calico's BIRD 1.6 runs its export
            # filter after the protocol's export preparation), priority from its own LOCAL_PREF.
            rule = self._chain(group, family).match_nlri(
                nlri,
                interface=ifname,
                from_remote_peer=not source.kind.local,
                attributes=info.attributes,
                route_local_pref=best.info.attributes.local_pref,
            )
            if rule is not None:
                if not rule.accept:
                    return None
                ops = rule.operations
                if ops is None:
                    return info
                return self._operated.get(info, ops, ibgp=group.key.profile.ibgp)
        if not self.policy.calico:
            return info
        decision = self.policy.decide_nlri(
            family.afi, nlri, ifname, group.key.internal, best.info.attributes.local_pref
        )
        if not decision.accept:
            return None
        if not (decision.communities or decision.large_communities):
            return info
        # One shared result per (path, added communities): UPDATE packing and the encoding
        # cache work by identity, so a new object per prefix would cost an UPDATE per prefix.
        key = (id(info), decision.communities, decision.large_communities)
        entry = self._tagged.get(key)
        if entry is None or entry[0] is not info:
            if len(self._tagged) > _TAGGED_CACHE_SIZE:
                self._tagged.clear()
            a = info.attributes
            tagged = PathInfo(
                attributes=a.replace(
                    communities=merge_communities(a.communities, decision.communities),
                    large_communities=merge_communities(
                        a.large_communities, decision.large_communities
                    ),
                ),
                next_hop=info.next_hop,
                origin=info.origin,
            )
            entry = self._tagged[key] = (info, tagged)
        return entry[1]

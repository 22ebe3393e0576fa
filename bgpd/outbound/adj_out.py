"""Adj-RIB-Out: what an update group last told its members, and the UPDATEs that move it on.

Invariants: the table holds exactly what was sent to the group (after the bytes were handed to
the sessions), keyed like the Loc-RIB: the packed prefix, or under ADD-PATH send the 4-octet
path id followed by the packed prefix. `apply` (incremental) and `reconcile` (whole table) are
the only ways to change it, and both return the messages that make the members' view match, so
the table and the members' view cannot drift apart.

A member never receives its own routes (RFC 4271 §9.2, RFC 4456 §6): every exported path
carries its `origin` (the peer it was learned from), and a message announcing it is tagged to
skip that member. What member M holds is therefore "the table minus the entries whose origin is
M"; when a prefix M had from someone else moves to M's own path, M gets a withdrawal of its
own (`GroupMessage.only`). Announcements sharing a PathInfo are packed together and the
attribute bytes are encoded once per attribute set, not once per prefix or per member.

A path whose attributes leave no room for its prefix in one message of the group's maximum size
(RFC 8654: 4,096 octets without extended messages) is withheld: the table does not take it (so
the members get a withdrawal when they held an older path there, and nothing otherwise), the
messages report it (`GroupMessage.withheld`, for the peers' counters and the warning), and
`_withheld` remembers it so a member joining later (`full_table`) is told too. Whether a path
fits is decided once per attribute set and batch, from the cached encoding; prefixes are looked
at one by one only for the rare set that leaves less room than the longest prefix.

A joining member's table (`full_table`) is served from what was sent, not from a walk of the
table: `_by_origin` keeps, per family and origin, the messages that announced that origin's
entries, as long as they still describe them exactly (announcements of new entries append; an
entry of the origin withdrawn or replaced drops the origin's messages, which are packed again
from the table at the next `full_table`). A member's table is then the messages of every
origin but its own: O(origins) per join instead of O(table). The messages are the group's
encoding (`ctx`): a table copied into another group starts without them. An origin with more
than `KEEP_UNASKED_LIMIT` entries (a full feed) keeps no messages until a join packs them from
the table: a router that forwards a feed and sees no join holds only the table.

A family's table may be derived instead of kept (`derive`, see `bgpd.outbound.derived`): what
was sent for a key is then the derivation's export of the Loc-RIB, except the keys held in
`_exceptions` (a path withheld as too big: None; a change a blocked group has not sent yet:
what it sent before, recorded by `hold` when the change is staged). `table` is then a
read-only view, `reconcile` and `materialize` turn it back into a dict, and the counts per
origin are kept exactly as for a dict (`_sizes` holds the table's length).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Protocol

from bgpd.net import IPV4_UNICAST, Family, Nlri
from bgpd.outbound.shares import MemberShares, Part
from bgpd.rib.path_info import PathInfo
from bgpd.wire.codec import (
    EncodeContext,
    encode_path_attributes,
    ipv4_head,
    pack_announcements,
    pack_ipv4_announcements,
    pack_withdrawals,
)
from bgpd.wire.constants import HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN
from bgpd.wire.update_encode import LONGEST_ENTRY, announcement_overhead

# Encoded attribute sets kept per group before the cache starts over (bounds memory under churn).
ENCODED_CACHE_SIZE = 50_000
# An origin with more entries than this starts keeping its messages only once a member joins
# (see the module docstring): a full feed's UPDATEs held for a join that may never come cost
# 6-24 bytes per route, a walk of the table at the first join costs what sending it does.
KEEP_UNASKED_LIMIT = 10_000
# The overhead recorded for a path whose attributes cannot be encoded at all: more than any
# message may hold (RFC 8654: 65,535 octets), so it is withheld like a path that does not fit.
UNENCODABLE = MAX_EXTENDED_MESSAGE_LEN + 1


@dataclass(frozen=True, slots=True)
class GroupMessage:
    """Encoded UPDATEs (`count` whole messages in `data`) for the members of a group.

    `skip`: the member that must not receive them (they announce that member's own routes);
    `only`: the one member they are meant for. Empty strings mean "nobody" / "everyone".
    `withheld`: prefixes (paths) not announced because their attributes do not fit one message
    (`count` 0 and no `data` when nothing else is in it); `needed`: the octets the smallest of
    those UPDATEs would have taken.
    """

    data: bytes
    skip: str = ""
    only: str = ""
    # Prefixes announced / withdrawn by these UPDATEs, for the per-peer counters.
    announced: int = 0
    withdrawn: int = 0
    count: int = 1
    withheld: int = 0
    needed: int = 0

    def for_member(self, name: str) -> bool:
        return self.skip != name and (not self.only or self.only == name)


class Derivation(Protocol):
    """What a group sent, computed (`bgpd.outbound.derived.LocRibDerivation`)."""

    def taken(self) -> Mapping[bytes, object]: ...
    def sent_before_take(self, key: bytes) -> PathInfo | None: ...
    def sent_at_take(self, key: bytes) -> PathInfo | None: ...
    def moved(self) -> Collection[bytes]: ...
    def items(self) -> Iterator[tuple[bytes, PathInfo]]: ...


class _DerivedTable(Mapping[bytes, PathInfo]):
    """A derived family's table, read-only: the derivation overlaid with the exceptions."""

    __slots__ = ("_derivation", "_exceptions", "_size")

    def __init__(
        self, derivation: Derivation, exceptions: dict[bytes, PathInfo | None], size: int
    ) -> None:
        self._derivation = derivation
        self._exceptions = exceptions
        self._size = size

    def __getitem__(self, key: bytes) -> PathInfo:
        exceptions = self._exceptions
        info = exceptions[key] if key in exceptions else self._derivation.sent_at_take(key)
        if info is None:
            raise KeyError(key)
        return info

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return (key for key, _info in self.items())

    def items(self) -> Iterator[tuple[bytes, PathInfo]]:  # type: ignore[override]
        exceptions = self._exceptions
        for key, info in self._derivation.items():
            if key not in exceptions:
                yield key, info
        for key, held in exceptions.items():
            if held is not None:
                yield key, held


# (path or None to withdraw, its keys, whether none of them had a path at the Loc-RIB's take
# before: `ChangeGroup.fresh`): the unit `apply_runs` takes. Keys are unique across the runs
# of one call.
Run = tuple[PathInfo | None, Sequence[bytes], bool]


def runs_by_path(changes: Iterable[tuple[bytes, PathInfo | None]]) -> list[Run]:
    """(key, path) pairs as runs: the keys of each path object together, in first-seen order.

    Grouped by identity: hashing a PathInfo walks every attribute, per key."""
    runs: dict[int, tuple[PathInfo | None, list[bytes]]] = {}
    for key, info in changes:
        run = runs.get(id(info))
        if run is None:
            runs[id(info)] = (info, [key])
        else:
            run[1].append(key)
    return [(info, keys, False) for info, keys in runs.values()]


# id(path) -> (path, its attribute bytes or IPv4 head, whether it is the head, the octets of an
# UPDATE carrying it besides the NLRI)
_Encoded = tuple[PathInfo, bytes, bool, int]


# A key absent from the last take (`Derivation.taken`).
_NOT_TAKEN = object()


class AdjRibOut:
    __slots__ = (
        "_by_origin",
        "_derived",
        "_encoded",
        "_exceptions",
        "_joined",
        "_origins",
        "_shares",
        "_sizes",
        "_tables",
        "_withheld",
    )

    def __init__(self) -> None:
        self._tables: dict[Family, dict[bytes, PathInfo]] = {}
        # family -> origin -> entries of that origin in the family's table (what each member
        # does NOT hold there); "" counts the entries of no peer (our own routes).
        self._origins: dict[Family, dict[str, int]] = {}
        # family -> origin -> the messages announcing exactly that origin's entries (see the
        # module docstring); an origin with entries and no list here is packed on demand.
        self._by_origin: dict[Family, dict[str, list[GroupMessage]]] = {}
        # id(path) -> (path, its attribute bytes or IPv4 head, whether it is the head):
        # exported paths are shared objects, so one encoding serves every UPDATE that carries
        # the path. Holding the path keeps its id from being reused while the entry lives.
        self._encoded: dict[int, _Encoded] = {}
        # Keys whose path was withheld as too big -> (that path, octets its UPDATE needed).
        self._withheld: dict[Family, dict[bytes, tuple[PathInfo, int]]] = {}
        # family -> `_by_origin`'s messages joined once (`table_share`), while it is unchanged.
        self._shares: dict[Family, MemberShares] = {}
        # family -> the origins over `KEEP_UNASKED_LIMIT` entries whose messages a join asked
        # for: kept from then on, until a change of the origin drops them.
        self._joined: dict[Family, set[str]] = {}
        # Derived families (see the module docstring): no `_tables` entry, the derivation,
        # the keys held explicitly (None: nothing sent) and the table's length.
        self._derived: dict[Family, Derivation] = {}
        self._exceptions: dict[Family, dict[bytes, PathInfo | None]] = {}
        self._sizes: dict[Family, int] = {}

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values()) + sum(self._sizes.values())

    def _size(self, family: Family) -> int:
        table = self._tables.get(family)
        return len(table) if table is not None else self._sizes.get(family, 0)

    def derived(self, family: Family) -> bool:
        return family in self._derived

    def exceptions(self, family: Family) -> int:
        """How many keys a derived family holds explicitly."""
        return len(self._exceptions.get(family, ()))

    def derive(self, family: Family, derivation: Derivation) -> None:
        """From now on `family`'s table is `derivation`'s, but for the keys where what was
        sent differs from it (the ones moved since the last take, and withheld paths). The
        caller vouches that the table holds the derivation's export of the Loc-RIB as it is
        now (a whole-table export just reconciled it)."""
        if family in self._derived:
            return
        sent = self._tables.pop(family, {})
        exceptions: dict[bytes, PathInfo | None] = {}
        for key in chain(derivation.moved(), self._withheld.get(family, ())):
            mine = sent.get(key)
            if derivation.sent_at_take(key) != mine:
                exceptions[key] = mine
        self._derived[family] = derivation
        self._exceptions[family] = exceptions
        self._sizes[family] = len(sent)

    def materialize(self, family: Family | None = None) -> None:
        """Turns derived tables (of `family`, or all) back into dicts, while their
        derivation still describes what was sent (before the export changes)."""
        for f in list(self._derived) if family is None else [family]:
            if f in self._derived:
                self._tables[f] = dict(self.table(f).items())
                del self._derived[f], self._exceptions[f], self._sizes[f]

    def hold(self, family: Family, keys: Iterable[bytes], fresh: bool = False) -> None:
        """The last take's changes of `keys` are staged, not sent: a derived table keeps what
        was sent there (the first hold wins until they are applied). `fresh`: none of them
        had a path at the take before."""
        derivation = self._derived.get(family)
        if derivation is None:
            return
        exceptions = self._exceptions[family]
        before = derivation.sent_before_take
        for key in keys:
            if key not in exceptions:
                exceptions[key] = None if fresh else before(key)

    def _sent_before(self, family: Family, key: bytes) -> PathInfo | None:
        """What a derived family sent for `key`, taking its exception if any (the change
        being applied now replaces it)."""
        exceptions = self._exceptions[family]
        if key in exceptions:
            return exceptions.pop(key)
        derivation = self._derived[family]
        if derivation.taken().get(key, _NOT_TAKEN) is None:
            return None  # it had no path at the take before (the common case, no export)
        return derivation.sent_before_take(key)

    def copy(self) -> AdjRibOut:
        """The same sent state (a member split off its group keeps what it was sent)."""
        other = AdjRibOut()
        other._tables = {family: dict(table) for family, table in self._tables.items()}
        other._derived = dict(self._derived)
        other._exceptions = {family: dict(held) for family, held in self._exceptions.items()}
        other._sizes = dict(self._sizes)
        other._origins = {family: dict(counts) for family, counts in self._origins.items()}
        other._encoded = self._encoded  # read-mostly, bounded: sharing it is safe
        other._withheld = {family: dict(held) for family, held in self._withheld.items()}
        # `_by_origin` is not copied: its bytes are this group's encoding, maybe not the other's.
        return other

    def same_state(self, other: AdjRibOut) -> bool:
        for family in {*self._tables, *self._derived, *other._tables, *other._derived}:
            mine, theirs = self.table(family), other.table(family)
            if len(mine) != len(theirs):
                return False
            derivation = self._derived.get(family)
            if derivation is not None and derivation is other._derived.get(family):
                # One derivation (a split-off copy): they differ only where one holds a key.
                held = self._exceptions[family].keys() | other._exceptions[family].keys()
                if any(mine.get(key) != theirs.get(key) for key in held):
                    return False
            elif mine != theirs:
                return False
        return True

    def clear(self) -> None:
        self._tables.clear()
        self._derived.clear()
        self._exceptions.clear()
        self._sizes.clear()
        self._origins.clear()
        self._encoded.clear()
        self._withheld.clear()
        self._by_origin.clear()
        self._shares.clear()
        self._joined.clear()

    def table(self, family: Family) -> Mapping[bytes, PathInfo]:
        derivation = self._derived.get(family)
        if derivation is not None:
            return _DerivedTable(derivation, self._exceptions[family], self._sizes[family])
        return self._tables.get(family, {})

    def withheld(self, family: Family) -> Mapping[bytes, tuple[PathInfo, int]]:
        """Keys whose current path was withheld as too big (the path, octets needed)."""
        return self._withheld.get(family, {})

    def count_for(self, member: str, family: Family | None = None) -> int:
        """Prefixes (paths, under ADD-PATH) `member` holds from us (in `family`, or all)."""
        families = [*self._tables, *self._derived] if family is None else (family,)
        return sum(self._size(f) - self._origins.get(f, {}).get(member, 0) for f in families)

    def apply(
        self,
        ctx: EncodeContext,
        family: Family,
        changes: Mapping[bytes, PathInfo | None],
        members: Collection[str] = (),
    ) -> list[GroupMessage]:
        """Returns the messages for incremental `changes` (None = withdraw), and records them.

        A withdrawal of a prefix never sent produces nothing; an announcement equal to what
        was sent produces nothing.
        """
        return self.apply_runs(ctx, family, runs_by_path(changes.items()), members)

    def apply_runs(
        self,
        ctx: EncodeContext,
        family: Family,
        runs: Iterable[Run],
        members: Collection[str] = (),
    ) -> list[GroupMessage]:
        """`apply` for changes already grouped by path (no key in two runs): the bulk form,
        which never builds a per-prefix mapping."""
        # Derived (see the module docstring): nothing is recorded per key, and what was sent
        # there before is looked up from the derivation instead of the dict.
        sent = None if family in self._derived else self._tables.setdefault(family, {})
        exceptions = self._exceptions.get(family, {})
        lookup = sent.get if sent is not None else partial(self._sent_before, family)
        size = 0  # the derived table's growth
        # Keyed by the withdrawn path's origin: that member never held it, so it is skipped.
        withdrawn: dict[str, list[bytes]] = {}
        personal: dict[str, list[bytes]] = {}
        announce: dict[int, tuple[_Encoded, list[bytes]]] = {}
        origins = self._origins.setdefault(family, {})
        held = self._withheld.get(family)
        # origin of the withheld path -> (prefixes withheld, octets the smallest UPDATE needed)
        too_big: dict[str, list[int]] = {}
        # Origins an entry of which was replaced by another path (their messages are stale).
        replaced: set[str] = set()
        max_len = ctx.max_message_len
        # `_encoding`'s cache hit inline (once per run, the per-UPDATE-received cost here).
        encoded_get = self._encoded.get
        v4_head = family == IPV4_UNICAST and family not in ctx.add_path_send
        for info, keys, new_keys in runs:
            if held:  # whatever happens to these keys now replaces their withheld path
                for key in keys:
                    held.pop(key, None)
            if info is None:
                for key in keys:
                    old = sent.pop(key, None) if sent is not None else lookup(key)
                    if old is not None:
                        size -= 1
                        origin = old.origin
                        origins[origin] -= 1
                        gone = withdrawn.get(origin)
                        if gone is None:
                            withdrawn[origin] = [key]
                        else:
                            gone.append(key)
                continue
            encoding = encoded_get(id(info))
            if encoding is None or encoding[0] is not info or encoding[2] is not v4_head:
                encoding = self._encoding(ctx, family, info)
            room = max_len - encoding[3]
            fitting = keys
            if room < LONGEST_ENTRY:  # rare: only a huge attribute set gets here
                fitting = self._withhold(
                    family, info, keys, room, withdrawn=withdrawn, too_big=too_big
                )
            origin = info.origin
            if new_keys and sent is None and not exceptions:
                # The bulk case: none of them had a path, so nothing was sent there.
                fresh = list(fitting)
                size += len(fresh)
                fitting = ()
            else:
                fresh = []
            add = fresh.append
            for key in fitting:
                old = lookup(key)
                if old is not None and (old is info or old == info):
                    continue
                if sent is not None:
                    sent[key] = info
                add(key)
                if old is None:
                    size += 1
                    continue
                origins[old.origin] -= 1
                replaced.add(old.origin)
                if origin and old.origin != origin and origin in members:
                    # The member held someone else's path here and now its own is the
                    # one we select: it must stop holding ours.
                    personal.setdefault(origin, []).append(key)
            if not fresh:
                continue
            origins[origin] = origins.get(origin, 0) + len(fresh)
            run = announce.get(id(info))
            if run is None:
                announce[id(info)] = (encoding, fresh)
            else:
                run[1].extend(fresh)
        if sent is None:
            self._sizes[family] += size
            if not exceptions:  # a dict keeps its size when emptied: a drained lag's
                self._exceptions[family] = {}
        messages = self._pack(ctx, family, withdrawn, announce.values())
        if withdrawn or replaced or announce:
            self._note_sent(family, messages, replaced.union(withdrawn))
        for member, keys in personal.items():
            messages.append(
                _message(_withdrawals(ctx, family, keys), only=member, withdrawn=len(keys))
            )
        for origin, (count, needed) in too_big.items():
            messages.append(GroupMessage(b"", origin, "", 0, 0, 0, count, needed))
        return messages

    def _withhold(
        self,
        family: Family,
        info: PathInfo,
        keys: Sequence[bytes],
        room: int,
        *,
        withdrawn: dict[str, list[bytes]],
        too_big: dict[str, list[int]],
    ) -> Sequence[bytes]:
        """The keys of `info` that fit in `room` octets; the others are withheld, and what the
        members held there is withdrawn (they must not keep a path we no longer select)."""
        fit = [key for key in keys if len(key) <= room]
        if len(fit) == len(keys):
            return keys
        sent = self._tables.get(family)
        held = self._withheld.setdefault(family, {})
        origin = info.origin
        overhead = self._encoded[id(info)][3]  # `room` was computed from it just now
        counts = too_big.setdefault(origin, [0, 0])
        for key in keys:
            if len(key) <= room:
                continue
            octets = overhead + len(key)
            counts[0] += 1
            counts[1] = octets if not counts[1] else min(counts[1], octets)
            held[key] = (info, octets)
            if sent is not None:
                old = sent.pop(key, None)
            else:
                old = self._sent_before(family, key)
                self._exceptions[family][key] = None  # the derivation says `info`
            if old is not None:
                if sent is None:
                    self._sizes[family] -= 1
                self._origins[family][old.origin] -= 1
                withdrawn.setdefault(old.origin, []).append(key)
        return fit

    def _encoding(self, ctx: EncodeContext, family: Family, info: PathInfo) -> _Encoded:
        """The cached encoding of `info` for `family` (encoded on first use)."""
        # IPv4 without ADD-PATH, the bulk case: the cache holds the whole part of the UPDATE
        # between header and NLRI, so packing is one join per message.
        v4_head = family == IPV4_UNICAST and family not in ctx.add_path_send
        encoded = self._encoded
        entry = encoded.get(id(info))
        if entry is None or entry[0] is not info or entry[2] is not v4_head:
            if len(encoded) >= ENCODED_CACHE_SIZE:
                encoded.clear()
            try:
                attr_bytes = encode_path_attributes(info.attributes, ctx)
            except ValueError:
                # An attribute longer than its 2-octet length field allows (Calico's tags or
                # our prepend on a near-65,535-octet path): no message can carry the path.
                entry = encoded[id(info)] = (info, b"", v4_head, UNENCODABLE)
                return entry
            if v4_head:
                data = ipv4_head(attr_bytes, info.next_hop)
                overhead = HEADER_LEN + len(data)
            else:
                data = attr_bytes
                overhead = announcement_overhead(family, attr_bytes, info.next_hop)
            entry = encoded[id(info)] = (info, data, v4_head, overhead)
        return entry

    def reconcile(
        self,
        ctx: EncodeContext,
        family: Family,
        desired: Mapping[bytes, PathInfo],
        members: Collection[str] = (),
    ) -> list[GroupMessage]:
        """Returns the messages that turn the sent state into `desired`, and records it
        (a derived table becomes a dict: `desired` may not be the derivation's)."""
        self.materialize(family)
        sent = self._tables.setdefault(family, {})
        changes: dict[bytes, PathInfo | None] = dict.fromkeys(
            [key for key in sent if key not in desired]
        )
        changes.update((key, info) for key, info in desired.items() if sent.get(key) is not info)
        held = self._withheld.get(family)
        if held:  # a path withheld before is not tried (nor counted) again
            for key, (info, _octets) in list(held.items()):
                if desired.get(key) is info:
                    del changes[key]
                elif key not in desired:
                    del held[key]
        return self.apply(ctx, family, changes, members)

    def _note_sent(
        self, family: Family, messages: list[GroupMessage], stale: Iterable[str]
    ) -> None:
        """Keeps `_by_origin` exact after `apply_runs`: the origins that lost or changed an
        entry drop their messages; the batch's announcements (`messages`, one per origin)
        extend the messages of their origin, or replace them when they announce every entry
        the origin has."""
        self._shares.pop(family, None)
        by_origin = self._by_origin.setdefault(family, {})
        joined = self._joined.get(family, ())
        for origin in stale:
            if by_origin.pop(origin, None) is not None and origin in joined:
                self._joined[family].discard(origin)
        counts = self._origins[family]
        for message in messages:
            if not message.announced:
                continue  # withdrawals
            origin = message.skip
            count = counts[origin]
            if count > KEEP_UNASKED_LIMIT and origin not in joined:
                by_origin.pop(origin, None)  # kept from the first join on (`full_table`)
            elif count == message.announced:
                by_origin[origin] = [message]
            else:
                held = by_origin.get(origin)
                if held is not None:
                    held.append(message)

    def full_table(self, ctx: EncodeContext, family: Family, member: str) -> list[GroupMessage]:
        """Everything `member` holds, as announcements (a new member, a route refresh): the
        messages of every origin but `member`, those not kept packed from the table first."""
        by_origin = self._kept(ctx, family, member)
        messages = [m for origin, sent in by_origin.items() if origin != member for m in sent]
        withheld = self._withheld_for(family, member)
        if withheld is not None:
            messages.append(withheld)
        return messages

    def table_share(
        self, ctx: EncodeContext, family: Family, member: str
    ) -> tuple[Part, GroupMessage | None]:
        """`full_table` as `member`'s share of the messages of every origin, joined once and
        kept until the table changes: members joining meanwhile share those bytes (slices of
        them), none is sent a copy. Also the message telling it of withheld paths, if any."""
        shares = self._shares.get(family)
        if shares is None:
            by_origin = self._kept(ctx, family, None)  # "" is our own routes' origin
            shares = MemberShares([m for sent in by_origin.values() for m in sent])
            self._shares[family] = shares
        part = shares.share(member) if shares.tagged(member) else shares.everyone
        withheld = self._withheld_for(family, member)
        if withheld is not None:
            chunks, announced, withdrawn, count, held = part
            part = (chunks, announced, withdrawn, count, held + withheld.withheld)
        return part, withheld

    def _kept(
        self, ctx: EncodeContext, family: Family, member: str | None
    ) -> dict[str, list[GroupMessage]]:
        """`_by_origin` of `family` with every origin but `member` present (packed from the
        table when its messages were dropped)."""
        by_origin = self._by_origin.setdefault(family, {})
        missing = {
            origin
            for origin, count in self._origins.get(family, {}).items()
            if count and origin not in by_origin and origin != member
        }
        if missing:
            self._shares.pop(family, None)
            by_path: dict[int, tuple[PathInfo, list[bytes]]] = {}
            for key, info in self.table(family).items():
                if info.origin not in missing:
                    continue
                group = by_path.get(id(info))
                if group is None:
                    by_path[id(info)] = (info, [key])
                else:
                    group[1].append(key)
            encoded = [(self._encoding(ctx, family, info), keys) for info, keys in by_path.values()]
            for message in self._pack(ctx, family, {}, encoded):
                by_origin[message.skip] = [message]
            counts = self._origins[family]
            big = [origin for origin in missing if counts[origin] > KEEP_UNASKED_LIMIT]
            if big:
                self._joined.setdefault(family, set()).update(big)
        return by_origin

    def _withheld_for(self, family: Family, member: str) -> GroupMessage | None:
        """The message telling a joining `member` of the paths withheld from it, if any."""
        held = [octets for info, octets in self.withheld(family).values() if info.origin != member]
        if not held:
            return None
        return GroupMessage(b"", "", member, 0, 0, 0, len(held), min(held))

    def _pack(
        self,
        ctx: EncodeContext,
        family: Family,
        withdrawn: Mapping[str, list[bytes]],
        by_path: Iterable[tuple[_Encoded, list[bytes]]],
    ) -> list[GroupMessage]:
        """Withdrawals first, then announcements (each path with its `_encoding`, looked up
        once per batch by the caller); one message object per skip tag, holding every UPDATE
        of the batch for the members it concerns."""
        messages: list[GroupMessage] = []
        for origin, keys in withdrawn.items():
            messages.append(
                _message(_withdrawals(ctx, family, keys), skip=origin, withdrawn=len(keys))
            )
        add_path = family in ctx.add_path_send
        max_len = ctx.max_message_len
        # skip tag -> (UPDATEs, prefixes announced)
        tagged: dict[str, tuple[list[bytes], list[int]]] = {}
        for entry, keys in by_path:
            info = entry[0]
            if entry[2]:  # the IPv4 head
                packed = pack_ipv4_announcements(entry[1], keys, max_len)
            elif add_path:
                ids = [int.from_bytes(k[:4], "big") for k in keys]
                packed = pack_announcements(
                    ctx, family, entry[1], info.next_hop, [k[4:] for k in keys], ids
                )
            else:
                packed = pack_announcements(ctx, family, entry[1], info.next_hop, keys)
            parts = tagged.get(info.origin)
            if parts is None:
                tagged[info.origin] = (packed, [len(keys)])
            else:
                parts[0].extend(packed)
                parts[1][0] += len(keys)
        for skip, (packed, counted) in tagged.items():
            messages.append(_message(packed, skip=skip, announced=counted[0]))
        return messages


def _withdrawals(ctx: EncodeContext, family: Family, keys: list[bytes]) -> list[bytes]:
    if family in ctx.add_path_send:
        ids = [int.from_bytes(k[:4], "big") for k in keys]
        return pack_withdrawals(ctx, family, [k[4:] for k in keys], ids)
    nlris: list[Nlri] = keys
    return pack_withdrawals(ctx, family, nlris)


def _message(
    packed: list[bytes], *, skip: str = "", only: str = "", announced: int = 0, withdrawn: int = 0
) -> GroupMessage:
    """The UPDATEs of one batch as one message object."""
    data = packed[0] if len(packed) == 1 else b"".join(packed)
    return GroupMessage(data, skip, only, announced, withdrawn, len(packed))

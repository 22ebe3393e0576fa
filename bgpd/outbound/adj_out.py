"""Adj-RIB-Out: what we last told one peer, and the UPDATEs that move it to a new desired state.

Invariants: the table holds exactly what the peer was sent (after the bytes were handed to the
session), keyed like the Adj-RIB-In (packed prefix, no path id: we send one path per prefix
until ADD-PATH send arrives). `apply` (incremental) and `reconcile` (whole table) are the only
ways to change it, and both return the bytes that make the peer's view match, so the table and
the peer's view cannot drift apart. Announcements sharing a PathInfo are packed together: the
attribute bytes are encoded once per attribute set, not once per prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bgpd.net import Family, Nlri
from bgpd.rib.adj_in import PathInfo
from bgpd.wire.codec import (
    EncodeContext,
    encode_path_attributes,
    pack_announcements,
    pack_withdrawals,
)

# Encoded attribute sets kept per peer before the cache starts over (bounds memory under churn).
ENCODED_CACHE_SIZE = 50_000


class AdjRibOut:
    __slots__ = ("_encoded", "_tables")

    def __init__(self) -> None:
        self._tables: dict[Family, dict[Nlri, PathInfo]] = {}
        # id(path) -> (path, its attribute bytes): exported paths are shared objects, so one
        # encoding serves every UPDATE that carries the path. Holding the path keeps its id
        # from being reused while the entry lives.
        self._encoded: dict[int, tuple[PathInfo, bytes]] = {}

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def clear(self) -> None:
        self._tables.clear()
        self._encoded.clear()

    def table(self, family: Family) -> Mapping[Nlri, PathInfo]:
        return self._tables.get(family, {})

    def apply(
        self, ctx: EncodeContext, family: Family, changes: Mapping[Nlri, PathInfo | None]
    ) -> list[bytes]:
        """Returns the UPDATEs for incremental `changes` (None = withdraw), and records them.

        A withdrawal of a prefix the peer was never sent produces nothing; an announcement equal
        to what was sent produces nothing.
        """
        sent = self._tables.setdefault(family, {})
        withdrawn: list[Nlri] = []
        # Grouped by identity: hashing a PathInfo walks every attribute, per prefix.
        by_path: dict[int, tuple[PathInfo, list[Nlri]]] = {}
        for nlri, info in changes.items():
            old = sent.get(nlri)
            if info is None:
                if old is not None:
                    withdrawn.append(nlri)
                    del sent[nlri]
            elif old is not info and old != info:
                group = by_path.get(id(info))
                if group is None:
                    by_path[id(info)] = (info, [nlri])
                else:
                    group[1].append(nlri)
                sent[nlri] = info
        return self._pack(ctx, family, withdrawn, by_path.values())

    def reconcile(
        self, ctx: EncodeContext, family: Family, desired: Mapping[Nlri, PathInfo]
    ) -> list[bytes]:
        """Returns the UPDATE messages that turn the sent state into `desired`, and records it."""
        sent = self._tables.setdefault(family, {})
        withdrawn = [nlri for nlri in sent if nlri not in desired]
        for nlri in withdrawn:
            del sent[nlri]
        changes = {nlri: info for nlri, info in desired.items() if sent.get(nlri) is not info}
        messages = self.apply(ctx, family, changes)
        if withdrawn:
            messages[:0] = pack_withdrawals(ctx, family, withdrawn)
        return messages

    def _pack(
        self,
        ctx: EncodeContext,
        family: Family,
        withdrawn: list[Nlri],
        by_path: Iterable[tuple[PathInfo, list[Nlri]]],
    ) -> list[bytes]:
        messages: list[bytes] = []
        if withdrawn:
            messages.extend(pack_withdrawals(ctx, family, withdrawn))
        encoded = self._encoded
        for info, prefixes in by_path:
            entry = encoded.get(id(info))
            if entry is None or entry[0] is not info:
                if len(encoded) >= ENCODED_CACHE_SIZE:
                    encoded.clear()
                entry = encoded[id(info)] = (info, encode_path_attributes(info.attributes, ctx))
            messages.extend(pack_announcements(ctx, family, entry[1], info.next_hop, prefixes))
        return messages

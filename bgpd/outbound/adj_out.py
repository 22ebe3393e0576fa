"""Adj-RIB-Out: what we last told one peer, and the UPDATEs that move it to a new desired state.

Invariants: the table holds exactly what the peer was sent (after the bytes were handed to the
session), keyed like the Adj-RIB-In (packed prefix, no path id: we send one path per prefix
until ADD-PATH send arrives). `apply` (incremental) and `reconcile` (whole table) are the only
ways to change it, and both return the bytes that make the peer's view match, so the table and
the peer's view cannot drift apart. Announcements sharing a PathInfo are packed together: the
attribute bytes are encoded once per attribute set, not once per prefix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from bgpd.net import Family, Nlri
from bgpd.rib.adj_in import PathInfo
from bgpd.wire.codec import (
    EncodeContext,
    encode_path_attributes,
    pack_announcements,
    pack_withdrawals,
)


class AdjRibOut:
    __slots__ = ("_tables",)

    def __init__(self) -> None:
        self._tables: dict[Family, dict[Nlri, PathInfo]] = {}

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def clear(self) -> None:
        self._tables.clear()

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
        by_path: dict[PathInfo, list[Nlri]] = defaultdict(list)
        for nlri, info in changes.items():
            old = sent.get(nlri)
            if info is None:
                if old is not None:
                    withdrawn.append(nlri)
                    del sent[nlri]
            elif old is not info and old != info:
                by_path[info].append(nlri)
                sent[nlri] = info
        return self._pack(ctx, family, withdrawn, by_path)

    def reconcile(
        self, ctx: EncodeContext, family: Family, desired: Mapping[Nlri, PathInfo]
    ) -> list[bytes]:
        """Returns the UPDATE messages that turn the sent state into `desired`, and records it."""
        sent = self._tables.setdefault(family, {})
        withdrawn = [nlri for nlri in sent if nlri not in desired]
        by_path: dict[PathInfo, list[Nlri]] = defaultdict(list)
        for nlri, info in desired.items():
            if sent.get(nlri) != info:
                by_path[info].append(nlri)
        for nlri in withdrawn:
            del sent[nlri]
        for info, prefixes in by_path.items():
            for nlri in prefixes:
                sent[nlri] = info
        return self._pack(ctx, family, withdrawn, by_path)

    @staticmethod
    def _pack(
        ctx: EncodeContext,
        family: Family,
        withdrawn: list[Nlri],
        by_path: Mapping[PathInfo, list[Nlri]],
    ) -> list[bytes]:
        messages: list[bytes] = []
        if withdrawn:
            messages.extend(pack_withdrawals(ctx, family, withdrawn))
        for info, prefixes in by_path.items():
            attr_bytes = encode_path_attributes(info.attributes, ctx)
            messages.extend(pack_announcements(ctx, family, attr_bytes, info.next_hop, prefixes))
        return messages

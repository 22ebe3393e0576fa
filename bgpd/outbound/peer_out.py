"""One peer's outbound state: its export profile, Adj-RIB-Out and the changes not yet sent.

Invariants: `pending` holds at most one entry per prefix (the latest exported path, or None to
withdraw), so while a peer is blocked by backpressure its memory grows with the table at most,
never with churn. Bytes leave only through `take_messages`, which moves `pending` into the
Adj-RIB-Out and returns the UPDATEs that say it.
"""

from __future__ import annotations

from collections.abc import Iterable

from bgpd.net import Family, Nlri
from bgpd.outbound.adj_out import AdjRibOut
from bgpd.outbound.export import ExportCache, PeerProfile
from bgpd.rib import PathInfo
from bgpd.wire.negotiated import EncodeContext


class PeerOutbound:
    __slots__ = (
        "adj_out",
        "blocked",
        "cache",
        "ctx",
        "eor_pending",
        "families",
        "internal",
        "pending",
    )

    def __init__(
        self,
        profile: PeerProfile,
        ctx: EncodeContext,
        *,
        families: frozenset[Family],
        internal: bool,
    ) -> None:
        self.cache = ExportCache(profile)
        self.ctx = ctx
        self.families = families
        # Calico's "internal" flag for its export rules (mesh peers are internal across ASes).
        self.internal = internal
        self.adj_out = AdjRibOut()
        self.pending: dict[Family, dict[Nlri, PathInfo | None]] = {}
        self.blocked = False
        self.eor_pending: tuple[Family, ...] = ()

    @property
    def profile(self) -> PeerProfile:
        return self.cache.profile

    def stage(self, family: Family, nlri: Nlri, info: PathInfo | None) -> None:
        self.pending.setdefault(family, {})[nlri] = info

    def stage_many(self, family: Family, nlris: Iterable[Nlri], info: PathInfo | None) -> None:
        self.pending.setdefault(family, {}).update(dict.fromkeys(nlris, info))

    def take_messages(self) -> list[bytes]:
        if self.blocked or not self.pending:
            return []
        messages: list[bytes] = []
        for family, changes in self.pending.items():
            messages.extend(self.adj_out.apply(self.ctx, family, changes))
        self.pending = {}
        return messages

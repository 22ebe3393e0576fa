"""Long-lived graceful restart in the speaker (RFC 9494): the helper's long-lived phase.

Role: `LongLivedRestart` is the part of `bgpd.speaker.core.Speaker` that acts when the
graceful restart tracker says a peer's families entered the long-lived phase: their stale
paths get LLGR_STALE (or go, with NO_LLGR; `bgpd.rib.long_lived`). The rest is elsewhere, each
rule in its one home: the tracker's phases and timers (`bgpd.rib.graceful`), the lowest
preference (`bgpd.rib.decision` step 0), not exporting to peers without LLGR
(`bgpd.outbound.advertise`), our OPEN's capability (`bgpd.session.settings`).

Invariants: a mixin of `Speaker` only, with no state of its own (no slots).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bgpd.net import Family
from bgpd.rib import LocRib
from bgpd.rib.long_lived import mark_long_lived
from bgpd.wire.negotiated import Negotiated

logger = logging.getLogger(__name__)


def long_lived_preserved(negotiated: Negotiated) -> set[Family]:
    """RFC 9494 §4.2: the families whose long-lived stale routes wait for End-of-RIB when the
    session is back (F bit set in the new LLGR capability); the others go at once."""
    if negotiated.peer_long_lived is None or not negotiated.long_lived:
        return set()
    return {f.family for f in negotiated.peer_long_lived.families if f.forwarding_preserved}


class LongLivedRestart:
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:
        _rib: LocRib

    def _mark_long_lived(self, entered: Iterable[tuple[str, Family]]) -> None:
        for name, family in entered:
            kept, dropped = mark_long_lived(self._rib, name, family)
            logger.info(
                "long-lived stale routes peer=%s family=%s routes=%d no_llgr_dropped=%d",
                name,
                family,
                kept,
                dropped,
            )

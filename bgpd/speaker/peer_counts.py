"""One peer's identity and per-family prefix counts, for the metrics snapshot.

Role: `peer_counts` reads a peer's state, the Loc-RIB and the exporter into a frozen
`PeerCounts`: its AS numbers, whether it is iBGP and a reflector client (the labels of
`bgpd_peer_info`), and received / accepted / advertised prefixes per configured family.
Counting reads counters kept by the RIB and the Adj-RIB-Out; only the peer's rejected set
(what loop checks and import rules refused) is walked, and only for a peer of several families.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bgpd.net import Family

if TYPE_CHECKING:
    from bgpd.outbound.exporter import Exporter
    from bgpd.rib import LocRib
    from bgpd.speaker.peer_state import PeerState

__all__ = ["FamilyPrefixes", "PeerCounts", "peer_counts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyPrefixes:
    family: Family
    received: int  # accepted + refused by the import checks and rules
    accepted: int  # held in the Loc-RIB
    advertised: int  # in the Adj-RIB-Out toward the peer


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerCounts:
    peer_asn: int  # the negotiated one once a session came up (dynamic peers), else configured
    local_asn: int
    ibgp: bool
    rr_client: bool
    families: tuple[FamilyPrefixes, ...]  # per configured family, sorted


def peer_counts(name: str, state: PeerState, rib: LocRib, exporter: Exporter) -> PeerCounts:
    session = state.session
    local_asn = session.settings.local_asn
    negotiated = state.negotiated
    peer_asn = state.config.asn if negotiated is None else negotiated.peer_asn
    configured = sorted(session.settings.families)
    rejected: Counter[Family] = Counter()
    if len(configured) == 1:  # the common case needs no walk of the rejected set
        rejected[configured[0]] = len(state.rejected)
    else:
        rejected.update(family for family, _nlri in state.rejected)
    families = []
    for family in configured:
        accepted = rib.source_count(name, family)
        families.append(
            FamilyPrefixes(
                family=family,
                received=accepted + rejected[family],
                accepted=accepted,
                advertised=exporter.sent_count(name, family),
            )
        )
    return PeerCounts(
        peer_asn=peer_asn,
        local_asn=local_asn,
        ibgp=peer_asn == local_asn if negotiated is None else negotiated.ibgp,
        rr_client=state.config.rr_client,
        families=tuple(families),
    )

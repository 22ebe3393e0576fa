"""Read-only views of the speaker's state for the control socket (bgpctl, JSON).

Role: turn peers and Loc-RIB paths into plain dicts with stable keys; nothing here changes
state. The keys are the JSON contract of `bgpctl --json` (docs and tests rely on them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bgpd.net import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Family,
    Nlri,
    format_address,
    format_prefix,
    pack_network,
)
from bgpd.rib import Candidate, LocRib
from bgpd.session import PeerCounters
from bgpd.wire.constants import Origin, SegmentType

if TYPE_CHECKING:
    from bgpd.speaker.peer_state import PeerState


def peer_view(
    name: str,
    state: PeerState,
    rib: LocRib,
    now: float,
    *,
    sent: int = 0,
    detail: bool = False,
    stale: Iterable[Family] = (),
) -> dict[str, Any]:
    session = state.session
    established_at = session.established_at
    view: dict[str, Any] = {
        "name": name,
        "address": str(state.config.address),
        "port": state.config.port,
        "asn": state.config.asn,
        "state": session.state.value,
        "uptime_s": None if established_at is None else round(now - established_at, 3),
        "prefixes_received": rib.source_count(name) + len(state.rejected),
        "prefixes_accepted": rib.source_count(name),
        "prefixes_sent": sent,
        "last_error": session.counters.last_error_text(),
        # negotiated families none of our routes can be sent on (no next hop of ours)
        "families_without_next_hop": sorted(str(f) for f in state.no_next_hop),
        # Why the session is held down whatever happens (a password that could not be had).
        "down_reason": state.config.down_reason,
    }
    if detail:
        view.update(session.describe(now))
        # Announcements not sent: their attributes do not fit the peer's maximum message size.
        view["prefixes_withheld_too_big"] = session.counters.prefixes_withheld_too_big
        view["graceful_restart_stale"] = sorted(str(f) for f in stale)
        view.update(input_problems_view(session.counters, now))
    if state.config.down_reason is not None:
        view["last_error"] = state.config.down_reason  # what the operator must act on
    return view


def input_problems_view(counters: PeerCounters, now: float) -> dict[str, Any]:
    """What the peer's input cost it: RFC 7606 §8 actions applied, prefixes refused for their
    next hop (by reason), and the latest such problem with its age."""
    last = counters.last_input_problem
    return {
        "rfc7606_actions": dict(counters.rfc7606_actions),
        "next_hop_refused": dict(sorted(counters.next_hop_refused.items())),
        "last_input_problem": "" if last is None else last[0],
        "last_input_problem_age_s": None if last is None else round(now - last[1], 3),
    }


def route_views(
    rib: LocRib, prefix: str | None = None, peer: str | None = None
) -> list[dict[str, Any]]:
    """Every path of every prefix (or of one), best first per prefix, in address order."""
    want: tuple[Family, Nlri] | None = None
    if prefix:
        network = ipaddress.ip_network(prefix, strict=False)
        family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
        want = (family, pack_network(network))
    views: list[dict[str, Any]] = []
    for family in rib.families():
        if want is not None and want[0] != family:
            continue
        if want is not None:
            entries: Iterable[tuple[Nlri, tuple[Candidate, ...]]] = [
                (want[1], rib.candidates(family, want[1]))
            ]
        else:
            entries = (
                (change.nlri, rib.candidates(family, change.nlri))
                for change in rib.iter_routes(family)
            )
        for nlri, candidates in sorted(entries, key=lambda e: (e[0][1:].ljust(16, b"\0"), e[0][0])):
            for rank, candidate in enumerate(candidates):
                if peer is not None and candidate.source.name != peer:
                    continue
                views.append(route_view(family, nlri, candidate, best=rank == 0))
    return views


def route_view(family: Family, nlri: Nlri, candidate: Candidate, *, best: bool) -> dict[str, Any]:
    a = candidate.info.attributes
    return {
        "prefix": format_prefix(nlri, family.afi),
        "path_id": candidate.path_id or None,
        "next_hop": format_address(candidate.info.next_hop) if candidate.info.next_hop else None,
        "as_path": list(a.as_path_asns()),  # flattened; the segments keep AS_SETs apart
        "as_path_segments": [
            {"type": SegmentType(s.type).name, "asns": list(s.asns)} for s in a.as_path
        ],
        "peer": candidate.source.name,
        "source": candidate.source.kind.name.lower(),
        "communities": [f"{c >> 16}:{c & 0xFFFF}" for c in a.communities],
        "large_communities": [f"{g}:{l1}:{l2}" for g, l1, l2 in a.large_communities],
        "med": a.med,
        "local_pref": a.local_pref,
        "origin": Origin(a.origin).name,
        "originator_id": None
        if a.originator_id is None
        else format_address(a.originator_id.to_bytes(4, "big")),
        "cluster_list": [format_address(c.to_bytes(4, "big")) for c in a.cluster_list],
        "best": best,
        "stale": candidate.stale,
    }

"""Builds the read-only views of the speaker's state (`bgpd.views`) for the control socket,
the BIRD-compatible sockets and the metrics snapshot.

Role: read peers, their sessions and Loc-RIB paths into frozen `PeerView`s and `RouteView`s;
nothing here changes state. The views' `to_json()` is the JSON contract of `bgpctl --json`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bgpd.net import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Family,
    Nlri,
    format_address,
    format_prefix,
    format_router_id,
    pack_network,
)
from bgpd.rib import Candidate, LocRib, PathInfo
from bgpd.session import PeerCounters, Session
from bgpd.speaker.admin_down import disabled_reason
from bgpd.speaker.peer_info import family_capabilities, graceful_restart_state
from bgpd.views import (
    AsPathSegmentView,
    GracefulRestartView,
    InputProblemsView,
    NegotiatedView,
    PeerDetail,
    PeerView,
    RouteView,
    SessionDetail,
)
from bgpd.wire.constants import MessageType, Origin, SegmentType

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
    long_lived: Iterable[Family] = (),
    bfd: str | None = None,
    bfd_held: str | None = None,
    bfd_failures: int = 0,
    disabled: str | None = None,
    role: str = "",
) -> PeerView:
    """`bfd`: the BFD session's state (None: no BFD); `bfd_held`: why BFD holds the session
    down, shown as its last error; `disabled`: the operator's shutdown message of a disabled
    peer ("" without one), None when not disabled."""
    session = state.session
    established_at = session.established_at
    down_reason = state.config.down_reason
    if down_reason is None and disabled is not None:
        down_reason = disabled_reason(disabled)
    latest = session.counters.latest_error()
    conn_id = session.established_conn_id
    local = None if conn_id is None else state.connections.get(conn_id)
    local_port = None if conn_id is None else state.ports.get(conn_id, 0)
    stale, long_lived = frozenset(stale), frozenset(long_lived)
    last_error = session.counters.last_error_text() if down_reason is None else down_reason
    return PeerView(
        name=name,
        address=str(state.config.address),
        port=state.config.port,
        asn=state.config.asn,
        local_asn=session.settings.local_asn,
        state=session.state.value,
        uptime_s=None if established_at is None else round(now - established_at, 3),
        prefixes_received=rib.source_count(name) + len(state.rejected),
        prefixes_accepted=rib.source_count(name),
        prefixes_sent=sent,
        # a held-down peer's reason is what the operator must act on
        last_error=bfd_held if bfd_held is not None and down_reason is None else last_error,
        families_without_next_hop=tuple(sorted(str(f) for f in state.no_next_hop)),
        down_reason=down_reason,
        bfd=bfd,
        bfd_failures=bfd_failures,
        disabled=disabled is not None,
        local_address=None if local is None else local[0],
        local_port=local_port or None,
        role=role,
        description=state.config.description,
        flaps=session.counters.established_transitions,
        last_error_age_s=None
        if latest is None or down_reason is not None or bfd_held is not None
        else round(now - latest[1], 3),
        graceful_restart=graceful_restart_state(session.negotiated, stale, long_lived),
        detail=PeerDetail(
            session=session_detail(session, now),
            prefixes_withheld_too_big=session.counters.prefixes_withheld_too_big,
            graceful_restart_stale=tuple(sorted(str(f) for f in stale)),
            long_lived_stale=tuple(sorted(str(f) for f in long_lived)),
            input_problems=input_problems_view(session.counters, now),
        )
        if detail
        else None,
    )


def session_detail(session: Session, now: float) -> SessionDetail:
    """The session's details for `bgpctl show peer`, read from its public state."""
    established_at = session.established_at
    counters = session.counters
    n = session.negotiated
    negotiated = None
    if n is not None:
        gr = n.peer_graceful_restart
        negotiated = NegotiatedView(
            peer_asn=n.peer_asn,
            peer_router_id=format_router_id(n.peer_router_id),
            hold_time=n.hold_time,
            keepalive_time=session.keepalive_interval,
            as4=n.as4,
            families=tuple(sorted(str(f) for f in n.families)),
            add_path_receive=tuple(sorted(str(f) for f in n.add_path_receive)),
            add_path_send=tuple(sorted(str(f) for f in n.add_path_send)),
            extended_message=n.extended_message,
            route_refresh=n.route_refresh,
            enhanced_route_refresh=n.enhanced_route_refresh,
            peer_graceful_restart=None
            if gr is None
            else GracefulRestartView(restart_time=gr.restart_time, restarting=gr.restart_state),
            family_capabilities=family_capabilities(n),
        )
    return SessionDetail(
        established_for_s=None if established_at is None else round(now - established_at, 3),
        connections=tuple((cid, s.value) for cid, s in session.connection_states().items()),
        error_wait_s=session.error_wait,
        refused_capabilities=tuple(sorted(session.refused_capabilities)),
        capabilities_disabled=session.capabilities_disabled,
        messages_in=tuple((MessageType(t).name, c) for t, c in counters.messages_in.items()),
        messages_out=tuple((MessageType(t).name, c) for t, c in counters.messages_out.items()),
        established_transitions=counters.established_transitions,
        negotiated=negotiated,
    )


def input_problems_view(counters: PeerCounters, now: float) -> InputProblemsView:
    """What the peer's input cost it: RFC 7606 §8 actions applied, prefixes refused for their
    next hop (by reason), and the latest such problem with its age."""
    last = counters.last_input_problem
    return InputProblemsView(
        rfc7606_actions=tuple(counters.rfc7606_actions.items()),
        next_hop_refused=tuple(sorted(counters.next_hop_refused.items())),
        last_input_problem="" if last is None else last[0],
        last_input_problem_age_s=None if last is None else round(now - last[1], 3),
    )


def route_views(rib: LocRib, prefix: str | None = None, peer: str | None = None) -> list[RouteView]:
    """Every path of every prefix (or of one), best first per prefix, in address order."""
    want: tuple[Family, Nlri] | None = None
    if prefix:
        network = ipaddress.ip_network(prefix, strict=False)
        family = IPV4_UNICAST if network.version == 4 else IPV6_UNICAST
        want = (family, pack_network(network))
    views: list[RouteView] = []
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


def route_view(family: Family, nlri: Nlri, candidate: Candidate, *, best: bool) -> RouteView:
    return path_view(
        family,
        nlri,
        candidate.info,
        peer=candidate.source.name,
        source=candidate.source.kind.name.lower(),
        path_id=candidate.path_id,
        best=best,
        stale=candidate.stale,
    )


def path_view(
    family: Family,
    nlri: Nlri,
    info: PathInfo,
    *,
    peer: str,
    source: str,
    path_id: int,
    best: bool,
    stale: bool,
) -> RouteView:
    """One path as a route view: a Loc-RIB candidate's, or an exported path of an
    Adj-RIB-Out (`peer` then the peer it was learned from)."""
    a = info.attributes
    next_hop = info.next_hop
    return RouteView(
        prefix=format_prefix(nlri, family.afi),
        path_id=path_id or None,
        next_hop=format_address(next_hop) if next_hop else None,
        as_path_segments=tuple(
            AsPathSegmentView(type=SegmentType(s.type).name, asns=tuple(s.asns)) for s in a.as_path
        ),
        peer=peer,
        source=source,
        communities=tuple(f"{c >> 16}:{c & 0xFFFF}" for c in a.communities),
        large_communities=tuple(f"{g}:{l1}:{l2}" for g, l1, l2 in a.large_communities),
        med=a.med,
        local_pref=a.local_pref,
        origin=Origin(a.origin).name,
        originator_id=None
        if a.originator_id is None
        else format_address(a.originator_id.to_bytes(4, "big")),
        cluster_list=tuple(format_address(c.to_bytes(4, "big")) for c in a.cluster_list),
        best=best,
        stale=stale,
    )

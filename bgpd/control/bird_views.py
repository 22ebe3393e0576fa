"""bgpd's views as BIRD's protocols and routes, for the BIRD-compatible sockets.

Role: a `PeerView` becomes a BGP protocol (`show protocols [all]`), bgpd's local route sources
the protocols of Calico's bird.cfg (static1, kernel1, direct1), a `RouteView` a BIRD route
(`show route [all]`) with BIRD's attribute names and value formats; `ProtocolClock` dates the
protocols' state changes, which bgpd's views do not carry.

Invariant: pure; nothing here reads a clock (times are parameters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bgpd.control.aspath import bird_as_path, bird_origin_as, path_segments
from bgpd.control.bird_replies import BirdRouteView, ProtocolView
from bgpd.views import NegotiatedView, PeerView, RouteView

# Protocol preferences (nest/protocol.h DEF_PREF_*), shown in `show route` and `show protocols
# all`.
PREF_DIRECT = 240
PREF_STATIC = 200
PREF_BGP = 100
PREF_KERNEL = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerFacts:
    """What the BIRD view of one peer needs beyond its `bgpctl` view (from the config)."""

    local_asn: int
    local_address: str | None = None
    multihop: bool = False
    rr_client: bool = False
    description: str | None = None
    passive: bool = False


def bgp_state(peer: PeerView, facts: PeerFacts) -> str:
    """BIRD's bgp_state_dsc(): the FSM state, except that a passive session with no connection
    is "Passive" (bgpd's FSM says Active, RFC 4271 §8.2.2's wait for the peer to connect)."""
    state = peer.state
    if facts.passive and state in ("Idle", "Active"):
        return "Passive"
    return state


def bgp_info(peer: PeerView, facts: PeerFacts) -> str:
    """The info column of a BGP protocol (proto/bgp/bgp.c bgp_get_status): the BGP state padded
    to 14, then the last error while not Established (BIRD clears it when a session comes up)."""
    held = peer.down_reason
    if peer.disabled:
        # BIRD's `disable` stores a BE_MAN_DOWN error, whose class and message are both empty
        return ""
    if held:
        # bgp_get_status of a protocol in PS_DOWN: no state, the error class and message only.
        return f"Error: {held}"
    state = bgp_state(peer, facts)
    error = "" if state == "Established" else _bird_error(peer.last_error)
    return f"{state:<14}{error}"


def _disable_message(peer: PeerView) -> str:
    """The operator's message of a disabled peer: its down reason after "disabled by
    operator: " (`bgpd.speaker.admin_down.disabled_reason`), "" without one."""
    if not peer.disabled or peer.down_reason is None:
        return ""
    _, _, message = peer.down_reason.partition(": ")
    return message


def _bird_error(text: str) -> str:
    # bgp_err_classes: a NOTIFICATION we sent is a "BGP Error: ", one we got is "Received: ".
    if text.startswith("Sent: "):
        return "BGP Error: " + text.removeprefix("Sent: ")
    return text


def bgp_protocol(peer: PeerView, facts: PeerFacts, *, since: float, preferred: int) -> ProtocolView:
    """A bgpd peer as BIRD's BGP protocol. `peer` is its `bgpctl show peers` view, with its
    `detail` for `show protocols all`; `preferred` is how many of its routes are best."""
    held = peer.down_reason
    # BIRD's bgp_state_dsc() says "Down" for a protocol that is down (disabled, or shut down).
    state = "Down" if held else bgp_state(peer, facts)
    up = state == "Established"
    details: list[str] = []
    if facts.description:
        details.append(f"  Description:    {facts.description}")
    message = _disable_message(peer)
    if message:  # BIRD 2's proto_cmd_show: the shutdown message of `disable NAME "TEXT"`
        details.append(f"  Message:        {message}")
    details += [
        f"  Preference:     {PREF_BGP}",
        "  Input filter:   ACCEPT",
        # Calico's export filters are anonymous blocks, which BIRD names "(unnamed)".
        "  Output filter:  (unnamed)",
        f"  Routes:         {peer.prefixes_accepted} imported, "
        f"{peer.prefixes_sent} exported, {preferred} preferred",
        f"  BGP state:          {state}",
        f"    Neighbor address: {peer.address}",
        f"    Neighbor AS:      {peer.asn}",
    ]
    detail = peer.detail
    if detail is not None and detail.graceful_restart_stale:
        details.append("    Neighbor graceful restart active")
    negotiated = None if detail is None else detail.session.negotiated
    if up and negotiated is not None:
        details += _session_lines(peer, negotiated, facts)
    last_error = peer.last_error
    if peer.disabled:
        pass  # bgp_show_proto_info shows no BE_MAN_DOWN error: the protocol is just down
    elif held:
        details.append(f"    Last error:       Error: {held}")
    elif last_error and not up:
        details.append(f"    Last error:       {_bird_error(last_error)}")
    return ProtocolView(
        name=peer.name,
        proto="BGP",
        state="up" if up else "down" if held else "start",
        since=since,
        info=bgp_info(peer, facts),
        details=tuple(details),
    )


def _session_lines(peer: PeerView, n: NegotiatedView, facts: PeerFacts) -> list[str]:
    """bgp_show_proto_info's lines for an Established session."""
    caps = [
        "refresh" if n.route_refresh else "",
        "enhanced-refresh" if n.enhanced_route_refresh else "",
        "restart-aware" if n.peer_graceful_restart is not None else "",
        "AS4" if n.as4 else "",
        # The peer's ADD-PATH receive side is our send side, and the reverse (RFC 7911 §4).
        "add-path-rx" if n.add_path_send else "",
        "add-path-tx" if n.add_path_receive else "",
        "ext-messages" if n.extended_message else "",
    ]
    internal = peer.asn == facts.local_asn
    session = [
        "internal" if internal else "external",
        # BIRD's iBGP sessions are multihop unless told otherwise.
        "multihop" if internal or facts.multihop else "",
        "route-reflector" if facts.rr_client else "",
        "AS4" if n.as4 else "",
        "add-path-rx" if n.add_path_receive else "",
        "add-path-tx" if n.add_path_send else "",
        "ext-messages" if n.extended_message else "",
    ]
    lines = [
        f"    Neighbor ID:      {n.peer_router_id}",
        "    Neighbor caps:   " + "".join(f" {c}" for c in caps if c),
        "    Session:          " + " ".join(s for s in session if s),
    ]
    if facts.local_address:
        lines.append(f"    Source address:   {facts.local_address}")
    # bgpd does not expose the running timers' remaining time: "-" stands for it.
    lines.append(f"    Hold timer:       -/{n.hold_time}")
    keepalive = "-" if n.keepalive_time is None else int(n.keepalive_time)
    lines.append(f"    Keepalive timer:  -/{keepalive}")
    return lines


def local_protocol(
    name: str, proto: str, preference: int, *, since: float, imported: int, preferred: int
) -> ProtocolView:
    """A non-BGP protocol of Calico's bird.cfg (static1, kernel1, device1, direct1)."""
    details = (
        f"  Preference:     {preference}",
        "  Input filter:   ACCEPT",
        "  Output filter:  REJECT",
        f"  Routes:         {imported} imported, 0 exported, {preferred} preferred",
    )
    return ProtocolView(name=name, proto=proto, state="up", since=since, details=details)


# bgpd's local route sources, as the protocols Calico's bird.cfg names them (the node-status
# reporter classifies routes by these name prefixes).
LOCAL_SOURCES: Mapping[str, tuple[str, str, int]] = {
    "static": ("static1", "Static", PREF_STATIC),
    "kernel": ("kernel1", "Kernel", PREF_KERNEL),
    "connected": ("direct1", "Direct", PREF_DIRECT),
}


def bird_route(
    route: RouteView,
    *,
    since: float,
    device: str | None,
    peer_address: str | None,
) -> BirdRouteView:
    """One path of bgpd's `show routes` view as a BIRD route. `device` is the interface the
    kernel route goes out of (when known), `peer_address` the neighbour it was learned from."""
    local = LOCAL_SOURCES.get(route.source)
    next_hop = route.next_hop
    if next_hop:
        # BIRD always names the interface; "?" when bgpd has no kernel route to tell it.
        via = f"via {next_hop} on {device or '?'}"
    elif device:
        via = f"dev {device}"
    else:
        # bgpd's local routes without a next hop are Calico's block blackholes.
        via = "blackhole"
    origin = route.origin
    if local is not None:
        protocol, kind, preference = local
        info = f" ({preference})"
        route_type = f"{kind.lower()} unicast univ"
        attributes: tuple[str, ...] = ()
    else:
        protocol = route.peer
        segments = path_segments(route)
        stale = "s" if route.stale else ""
        last = bird_origin_as(segments)
        origin_as = "" if last is None else f"AS{last}"
        info = f" ({PREF_BGP}{stale}/0) [{origin_as}{_ORIGIN_CHAR.get(origin, '?')}]"
        route_type = "BGP unicast univ"
        attributes = _bgp_attributes(route, bird_as_path(segments), origin)
    return BirdRouteView(
        prefix=route.prefix,
        via=via,
        protocol=protocol,
        since=since,
        primary=route.best,
        info=info,
        from_address=peer_address if peer_address and peer_address != next_hop else None,
        route_type=route_type,
        attributes=attributes,
    )


_ORIGIN_CHAR = {"IGP": "i", "EGP": "e", "INCOMPLETE": "?"}


def _bgp_attributes(route: RouteView, as_path: str, origin: str) -> tuple[str, ...]:
    """`show route all` attribute lines, in BIRD's names and value formats."""
    attrs = [
        f"BGP.origin: {origin.capitalize() if origin == 'INCOMPLETE' else origin}",
        f"BGP.as_path: {as_path}",
        f"BGP.next_hop: {route.next_hop or ''}",
    ]
    if route.med is not None:
        attrs.append(f"BGP.med: {route.med}")
    if route.local_pref is not None:
        attrs.append(f"BGP.local_pref: {route.local_pref}")
    if route.originator_id:
        attrs.append(f"BGP.originator_id: {route.originator_id}")
    if route.cluster_list:
        attrs.append("BGP.cluster_list: " + " ".join(route.cluster_list))
    if route.communities:
        pairs = (c.split(":") for c in route.communities)
        attrs.append("BGP.community: " + " ".join(f"({a},{b})" for a, b in pairs))
    if route.large_communities:
        triples = (c.split(":") for c in route.large_communities)
        attrs.append("BGP.large_community: " + " ".join(f"({a}, {b}, {c})" for a, b, c in triples))
    return tuple(attrs)


class ProtocolClock:
    """When each BGP protocol last changed between BIRD's "start" and "up".

    bgpd's peer view gives the uptime of an Established session, which dates "up" exactly; the
    moment a session went down is not in the view, so it is observed here (on each query), and a
    protocol never seen up dates from when it was configured (boot, or the reload adding it).
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[bool, float]] = {}

    def configured(self, names: Iterable[str], at: float) -> None:
        """The protocols of the running config (at start and after each reload): new names date
        from `at`, names gone are forgotten."""
        wanted = set(names)
        for name in [n for n in self._seen if n not in wanted]:
            del self._seen[name]
        for name in wanted:
            self._seen.setdefault(name, (False, at))

    def since(self, name: str, uptime_s: float | None, now: float) -> float:
        up = uptime_s is not None
        previous = self._seen.get(name)
        if uptime_s is not None:
            stamp = now - uptime_s
        elif previous is None or previous[0]:
            stamp = now  # unknown, or it was up at the last look and is down now
        else:
            stamp = previous[1]
        self._seen[name] = (up, stamp)
        return stamp

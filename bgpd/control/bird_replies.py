"""BIRD 1.x CLI replies: each command's reply as `ReplyLine`s, from BIRD-shaped values.

Role: the layouts of `show status`, `show protocols [all]`, `show route [all]` and `configure`
over `StatusView`, `ProtocolView` and `BirdRouteView` (what `bird_views` makes of bgpd's state);
`bird_protocol.ReplyEncoder` frames the lines.

Invariants:
- Layouts, column widths and time formats are BIRD 1.6's (`proto_cmd_show`, `rt_show_rte`,
  `cmd_show_status`, `bgp_show_proto_info`), down to trailing spaces, so parsers written for BIRD
  (calicoctl's `strings.Fields` split, the node-status reporter's regexes) read our replies
  unchanged. Golden tests compare against text captured from a real BIRD 1.6.8.
- Nothing here reads a clock: wall-clock times come in the views.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bgpd.config.bird_timeformat import BASE_DEFAULT, ROUTE_DEFAULT, TimeFormat
from bgpd.control.bird_protocol import (
    MASTER_TABLE,
    Configure,
    Reply,
    ReplyLine,
    ShowBfdSessions,
    ShowProtocols,
    ShowRoute,
)
from bgpd.speaker.steps import VIEW_CHUNK, Steps, Stream, chunks, finish

# conf/conf.c: protocol and route times use "%T" within 20 hours, "%F" beyond.
_RECENT_S = 20 * 3600

# ------------------------------------------------------------------------------------ values


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    """What `show status` reports. Times are wall-clock seconds (time.time())."""

    version: str
    router_id: str
    now: float
    boot_time: float
    reconfigured_at: float
    # Protocols still to recover while a graceful restart (BIRD's -R) is in progress.
    graceful_restart_waiting: int | None = None
    shutting_down: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolView:
    """One row of `show protocols`, with the detail lines `show protocols all` adds."""

    name: str
    proto: str  # BIRD protocol type: "BGP", "Static", "Kernel", "Device", "Direct"
    state: str  # proto_state_name(): "up", "start", "down"...
    since: float  # wall-clock time of the last protocol state change
    info: str = ""
    table: str = MASTER_TABLE
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BirdRouteView:
    """One route (one path of one network) as `show route` prints it."""

    prefix: str
    via: str  # "via 10.0.0.2 on eth0", "blackhole", "dev cali12345", "unreachable"
    protocol: str
    since: float
    primary: bool
    info: str  # after the primary mark: " (100/0) [AS65001i]", " (200)"
    from_address: str | None = None  # the BGP neighbour when it differs from the gateway
    route_type: str = "unicast univ"  # `show route all`: "BGP unicast univ"
    attributes: tuple[str, ...] = ()  # `show route all`: "BGP.origin: IGP", ...


# ------------------------------------------------------------------------------- rendering


def format_time(t: float, now: float) -> str:
    """BIRD's tf_proto/tf_route: "%T" (local time) within 20 hours of now, "%F" beyond."""
    return ROUTE_DEFAULT.format(t, now)


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdSessionRow:
    """One row of `show bfd sessions`: `since` is wall-clock, intervals in seconds."""

    address: str
    interface: str  # "---" when not bound to one (BIRD's text for a multihop session)
    state: str  # "AdminDown", "Down", "Init", "Up"
    since: float
    interval_s: float
    timeout_s: float


BFD_PROTOCOL = "bfd1"  # BIRD's default name for the first `protocol bfd`
BFD_HEADING = (
    f"{'IP address':<25} {'Interface':<10} {'State':<10} {'Since':<12}  "
    f"{'Interval':>8} {'Timeout':>8}"
)


def render_bfd_sessions(
    rows: Sequence[BfdSessionRow], command: ShowBfdSessions, now: float
) -> list[ReplyLine]:
    """`show bfd sessions` as BIRD 2 prints it (proto/bfd/bfd.c bfd_show_sessions): the
    protocol's name, the heading, one "%-25I %-10s %-10s %-12s  %7t  %7t" row per session."""
    if command.name is not None and command.name != BFD_PROTOCOL:
        return [ReplyLine(Reply.INVALID_SYMBOL, f"{command.name} is not a protocol", final=True)]
    if not rows and command.name is None:
        return [ReplyLine(Reply.NO_PROTOCOLS_MATCH, "No protocols match", final=True)]
    lines = [
        ReplyLine(Reply.BFD_SESSIONS, f"{BFD_PROTOCOL}:"),
        ReplyLine(Reply.BFD_SESSIONS, BFD_HEADING),
    ]
    for row in rows:
        # BIRD 2 prints BFD state times with milliseconds ("%T.%3f" within 20 hours)
        since = format_time(row.since, now)
        if now - row.since < _RECENT_S:
            since += f".{int(row.since * 1000) % 1000:03d}"
        lines.append(
            ReplyLine(
                Reply.BFD_SESSIONS,
                f"{row.address:<25} {row.interface:<10} {row.state:<10} {since:<12}  "
                f"{row.interval_s:7.3f}  {row.timeout_s:7.3f}",
            )
        )
    lines.append(ReplyLine(Reply.OK, "", final=True))
    return lines


def render_status(status: StatusView, base: TimeFormat = BASE_DEFAULT) -> list[ReplyLine]:
    """`show status` (nest/cmds.c cmd_show_status); `base` is `timeformat base`."""

    def format_datetime(t: float) -> str:
        return base.format(t, status.now)

    lines = [
        ReplyLine(Reply.VERSION, f"BIRD {status.version}"),
        ReplyLine(Reply.UPTIME, f"Router ID is {status.router_id}"),
        ReplyLine(Reply.UPTIME, f"Current server time is {format_datetime(status.now)}"),
        ReplyLine(Reply.UPTIME, f"Last reboot on {format_datetime(status.boot_time)}"),
        ReplyLine(
            Reply.UPTIME, f"Last reconfiguration on {format_datetime(status.reconfigured_at)}"
        ),
    ]
    if status.graceful_restart_waiting is not None:
        # calico-node's -bird-ready reads a 0024 line as "graceful restart in progress".
        lines.append(
            ReplyLine(Reply.GRACEFUL_RESTART_STATUS, "Graceful restart recovery in progress")
        )
        lines.append(
            ReplyLine(
                Reply.GRACEFUL_RESTART_STATUS,
                f"  Waiting for {status.graceful_restart_waiting} protocols to recover",
            )
        )
    text = "Shutdown in progress" if status.shutting_down else "Daemon is up and running"
    lines.append(ReplyLine(Reply.STATUS, text, final=True))
    return lines


PROTOCOL_HEADING = "name     proto    table    state  since       info"


def protocol_row(protocol: ProtocolView, now: float, timeformat: TimeFormat = ROUTE_DEFAULT) -> str:
    """One `show protocols` row: "%-8s %-8s %-8s %-5s  %-10s  %s" as proto_cmd_show prints it."""
    since = timeformat.format(protocol.since, now)
    return (
        f"{protocol.name:<8} {protocol.proto:<8} {protocol.table:<8} {protocol.state:<5}  "
        f"{since:<10}  {protocol.info}"
    )


def render_protocols(
    protocols: Sequence[ProtocolView],
    command: ShowProtocols,
    now: float,
    timeformat: TimeFormat = ROUTE_DEFAULT,
) -> list[ReplyLine]:
    """`show protocols [all] [name | "pattern"]` (nest/proto.c proto_apply_cmd); `timeformat`
    is `timeformat protocol`."""
    if command.name is not None:
        chosen = [p for p in protocols if p.name == command.name]
        if not chosen:
            return [
                ReplyLine(Reply.INVALID_SYMBOL, f"{command.name} is not a protocol", final=True)
            ]
    elif command.pattern is not None:
        items = _pattern(command.pattern)
        chosen = [p for p in protocols if _matches(items, p.name)]
    else:
        chosen = list(protocols)
    if not chosen:
        return [ReplyLine(Reply.NO_PROTOCOLS_MATCH, "No protocols match", final=True)]
    lines = [ReplyLine(Reply.PROTOCOL_HEADING, PROTOCOL_HEADING)]
    for protocol in chosen:
        lines.append(ReplyLine(Reply.PROTOCOL_LIST, protocol_row(protocol, now, timeformat)))
        if command.verbose:
            lines.extend(ReplyLine(Reply.PROTOCOL_DETAILS, d) for d in protocol.details)
            lines.append(ReplyLine(Reply.PROTOCOL_DETAILS, ""))
    lines.append(ReplyLine(Reply.OK, "", final=True))
    return lines


_ANY_ONE = ""  # a pattern item: `?`


def _pattern(pattern: str) -> list[str | None]:
    """BIRD's patmatch() pattern as items: a literal character, `_ANY_ONE` for `?`, None for
    `*` (any run); a backslash makes the next character literal."""
    items: list[str | None] = []
    escaped = False
    for char in pattern:
        if escaped or char not in "\\*?":
            items.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "?":
            items.append(_ANY_ONE)
        elif not items or items[-1] is not None:  # `**` is `*`
            items.append(None)
    if escaped:
        items.append("\\")  # a trailing backslash matches itself, as in BIRD
    return items


def _matches(items: Sequence[str | None], name: str) -> bool:
    """Glob matching in O(len(items) * len(name)) at worst: BIRD's own recursive patmatch and a
    regex translation both backtrack exponentially on `"*****...x"`, which would stall the
    speaker's loop (the BIRD sockets run on it)."""
    i = j = 0
    star: tuple[int, int] | None = None  # (the item after the last `*`, where its run ends)
    while j < len(name):
        if i < len(items) and items[i] is None:
            star = (i + 1, j)
            i += 1
        elif i < len(items) and items[i] in (_ANY_ONE, name[j]):
            i += 1
            j += 1
        elif star is not None:
            # The last `*` takes one more character; the rest is tried again from there.
            star = (star[0], star[1] + 1)
            i, j = star
        else:
            return False
    return all(item is None for item in items[i:])


def route_line(
    route: BirdRouteView, now: float, *, first: bool, timeformat: TimeFormat = ROUTE_DEFAULT
) -> str:
    """One `show route` line (nest/rt-table.c rt_show_rte); the network only on its first."""
    return _network_column(route.prefix if first else "") + _line_tail(route, now, timeformat)


def _network_column(network: str) -> str:
    return f"{network:<18} "


def _line_tail(route: BirdRouteView, now: float, timeformat: TimeFormat) -> str:
    """A route's line after its network column."""
    source = f" from {route.from_address}" if route.from_address else ""
    mark = " *" if route.primary else ""
    since = timeformat.format(route.since, now)
    return f"{route.via} [{route.protocol} {since}{source}]{mark}{route.info}"


@dataclass(frozen=True, slots=True)
class RouteText:
    """A route's reply text but for its network: the same for every network of one path (a
    full feed's paths are shared by thousands of networks), so made once per path."""

    tail: str  # the route line after its network column
    details: tuple[ReplyLine, ...]  # `show route all`'s lines under it


def route_text(
    route: BirdRouteView, now: float, *, verbose: bool, timeformat: TimeFormat = ROUTE_DEFAULT
) -> RouteText:
    details: tuple[ReplyLine, ...] = ()
    if verbose:
        details = (
            ReplyLine(Reply.ROUTE_DETAILS, f"\tType: {route.route_type}"),
            *(ReplyLine(Reply.ROUTE_ATTRIBUTES, f"\t{a}") for a in route.attributes),
        )
    return RouteText(_line_tail(route, now, timeformat), details)


def render_route_stream(
    rows: Stream[tuple[str, RouteText]],
    command: ShowRoute,
    table_counts: Callable[[], tuple[int, int]],
) -> Stream[ReplyLine]:
    """`show route` of a whole table (no network), its lines a chunk of `rows` at a time: the
    lines `render_routes` makes of the same routes, never the whole reply at once.

    `rows` are the (network, text) of the routes shown, in the table's order (each network's
    together, primary first): the routes of the command's `protocol` only, the primary ones
    only for `primary`. `table_counts` gives the table's (networks, routes), read once the
    rows are out, for the count line of `stats` with a `protocol` (the routes of the others
    are counted, not shown); `count` itself (`stats == 2`) has no rows to stream:
    `route_count_line`."""
    shown = networks = 0
    network: str | None = None
    route_list, verbose = Reply.ROUTE_LIST, command.verbose
    for chunk in rows:
        lines: list[ReplyLine] = []
        for prefix, text in chunk:
            if prefix != network:
                network = prefix
                networks += 1
                column = _network_column(prefix)
            else:
                column = _BLANK_COLUMN
            lines.append(ReplyLine(route_list, column + text.tail))
            if verbose:
                lines.extend(text.details)
            shown += 1
        yield lines
    if not command.stats:
        yield [ReplyLine(Reply.OK, "", final=True)]
        return
    counted = shown
    if command.protocol is not None:
        networks, counted = table_counts()
    if command.primary_only:
        counted = networks
    yield [route_count_line(shown, counted, networks)]


_BLANK_COLUMN = _network_column("")


def route_count_line(shown: int, counted: int, networks: int) -> ReplyLine:
    """The last line of `show route stats|count` (nest/rt-table.c rt_show_cont)."""
    return ReplyLine(
        Reply.ROUTE_COUNT, f"{shown} of {counted} routes for {networks} networks", final=True
    )


def render_routes(
    routes: Sequence[BirdRouteView],
    command: ShowRoute,
    now: float,
    timeformat: TimeFormat = ROUTE_DEFAULT,
) -> list[ReplyLine]:
    """`show route [<prefix> | for <prefix|ip>] [protocol P] [primary] [all] [stats|count]`,
    all at once (`render_routes_steps`)."""
    return finish(render_routes_steps(routes, command, now, timeformat))


def render_routes_steps(
    routes: Sequence[BirdRouteView],
    command: ShowRoute,
    now: float,
    timeformat: TimeFormat = ROUTE_DEFAULT,
) -> Steps[list[ReplyLine]]:
    """`render_routes` in steps of `VIEW_CHUNK` routes (a whole table is a million lines).

    `routes` holds every path of the view's table, grouped by network (each network's paths
    together), primary path first.
    """
    if command.network is not None:
        networks: dict[str, list[BirdRouteView]] = {}
        for route in routes:
            networks.setdefault(route.prefix, []).append(route)
        chosen = _lookup(networks, command.network, longest=command.longest_match)
        if chosen is None:
            return [ReplyLine(Reply.ROUTE_NOT_FOUND, "Network not in table", final=True)]
        routes = networks[chosen]
    lines: list[ReplyLine] = []
    shown = counted = networks_seen = 0
    network: str | None = None
    first = True  # the next line shown is its network's first
    for batch in chunks(routes, VIEW_CHUNK):
        for route in batch:
            if route.prefix != network:
                network, first = route.prefix, True
                networks_seen += 1
            elif command.primary_only:
                continue
            counted += 1
            if command.protocol is not None and route.protocol != command.protocol:
                continue
            shown += 1
            if command.stats == 2:
                continue
            line = route_line(route, now, first=first, timeformat=timeformat)
            lines.append(ReplyLine(Reply.ROUTE_LIST, line))
            first = False
            if command.verbose:
                lines.append(ReplyLine(Reply.ROUTE_DETAILS, f"\tType: {route.route_type}"))
                lines.extend(ReplyLine(Reply.ROUTE_ATTRIBUTES, f"\t{a}") for a in route.attributes)
        yield
    if command.network is not None:
        # rt_show() for one network: no count line, and "not in table" when nothing matched.
        if counted == 0:
            return [ReplyLine(Reply.ROUTE_NOT_FOUND, "Network not in table", final=True)]
        return [*lines, ReplyLine(Reply.OK, "", final=True)]
    if command.stats:
        return [*lines, route_count_line(shown, counted, networks_seen)]
    return [*lines, ReplyLine(Reply.OK, "", final=True)]


def _lookup(
    networks: Mapping[str, object],
    want: ipaddress.IPv4Network | ipaddress.IPv6Network,
    *,
    longest: bool,
) -> str | None:
    if not longest:
        key = str(want)
        return key if key in networks else None
    # net_route(): the most specific network of the table that covers `want`.
    best: tuple[int, str] | None = None
    for key in networks:
        net = ipaddress.ip_network(key)
        if (
            net.version == want.version
            and net.prefixlen <= want.prefixlen
            and want.subnet_of(net)  # type: ignore[arg-type]
            and (best is None or net.prefixlen > best[0])
        ):
            best = (net.prefixlen, key)
    return None if best is None else best[1]


def render_configure_result(
    command: Configure, config_path: str | None, problems: Sequence[str] | None
) -> list[ReplyLine]:
    """The reply to `configure`/`configure check` after trying the file (sysdep/unix/main.c):
    `problems` None means the file loaded (and, for a reload, was applied)."""
    if command.action == "confirm":
        return [ReplyLine(Reply.NOTHING_TO_DO, "Nothing to do", final=True)]
    if command.action == "undo":
        return [
            ReplyLine(Reply.UNDO_REQUESTED, "Undo requested"),
            ReplyLine(Reply.NOTHING_TO_DO, "Nothing to do", final=True),
        ]
    lines = [ReplyLine(Reply.READING_CONFIGURATION, f"Reading configuration from {config_path}")]
    if problems:
        *head, last = [p for problem in problems for p in problem.splitlines() if p.strip()] or [
            "configuration rejected"
        ]
        lines.extend(ReplyLine(Reply.CONFIGURATION_ERROR, p) for p in head)
        lines.append(ReplyLine(Reply.CONFIGURATION_ERROR, last, final=True))
        return lines
    if command.action == "check":
        lines.append(ReplyLine(Reply.CONFIGURATION_OK, "Configuration OK", final=True))
    else:
        lines.append(ReplyLine(Reply.RECONFIGURED, "Reconfigured", final=True))
    return lines

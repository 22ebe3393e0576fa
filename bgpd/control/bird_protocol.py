"""BIRD 1.x CLI protocol: command parsing and reply rendering, without I/O.

Role: `calicoctl node status`, calico-node's `-bird-live`/`-bird-ready` probes, Calico's
node-status reporter and `birdc`/`birdcl` talk to BIRD's control socket. This module speaks that
protocol over views of bgpd's state: it parses one command line into a `Command` and renders the
reply as `ReplyLine`s, which `ReplyEncoder` turns into bytes.

The wire format (BIRD's nest/cli.c): every reply line is a four-digit code followed by `-` when
the reply continues or a space on its last line; a continuation line whose code equals the
previous line's may replace the whole prefix by a single space. The "previous line" is tracked
per connection, across commands, as BIRD does. Codes: doc/reply_codes (0xxx done, 1xxx table
entry, 2xxx table heading, 8xxx run-time error, 9xxx parse error).

Invariants:
- Layouts, column widths and time formats are BIRD 1.6's (`proto_cmd_show`, `rt_show_rte`,
  `cmd_show_status`, `bgp_show_proto_info`), down to trailing spaces, so parsers written for BIRD
  (calicoctl's `strings.Fields` split, the node-status reporter's regexes) read our replies
  unchanged. Golden tests compare against text captured from a real BIRD 1.6.8.
- Nothing here reads a clock: wall-clock times come in the views.
- The parser accepts BIRD's grammar for the supported commands (keywords are case-sensitive, as
  in BIRD); anything else is `9001 syntax error`, never an exception.
- Every reply line is one line of printable text: `ReplyEncoder` escapes the control characters
  of whatever a line carries (a peer's shutdown text, datastore names: `bgpd.text`), except the
  tab BIRD's layouts open a line with, so no value can forge a line for a line-reading client.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from bgpd.control.aspath import bird_as_path, bird_origin_as, path_segments
from bgpd.text import ascii_digits, escape_controls

IpVersion = Literal[4, 6]

# nest/cli.c CLI_RX_BUF_SIZE: BIRD drops longer commands.
MAX_COMMAND_BYTES = 1024
# BIRD's master routing table; Calico's bird.cfg never names another one.
MASTER_TABLE = "master"
# conf/conf.c: protocol and route times use "%T" within 20 hours, "%F" beyond.
_RECENT_S = 20 * 3600

# Protocol preferences (nest/protocol.h DEF_PREF_*), shown in `show route` and `show protocols
# all`.
PREF_DIRECT = 240
PREF_STATIC = 200
PREF_BGP = 100
PREF_KERNEL = 10


class Reply(IntEnum):
    """BIRD 1.x reply codes (doc/reply_codes) that bgpd sends."""

    OK = 0
    WELCOME = 1
    READING_CONFIGURATION = 2
    RECONFIGURED = 3
    STATUS = 13
    ROUTE_COUNT = 14
    ACCESS_RESTRICTED = 16
    NOTHING_TO_DO = 19
    CONFIGURATION_OK = 20
    UNDO_REQUESTED = 21
    GRACEFUL_RESTART_STATUS = 24
    VERSION = 1000
    PROTOCOL_LIST = 1002
    PROTOCOL_DETAILS = 1006
    ROUTE_LIST = 1007
    ROUTE_DETAILS = 1008
    UPTIME = 1011
    ROUTE_ATTRIBUTES = 1012
    PROTOCOL_HEADING = 2002
    ROUTE_NOT_FOUND = 8001
    CONFIGURATION_ERROR = 8002
    NO_PROTOCOLS_MATCH = 8003
    ACCESS_DENIED = 8007
    # BIRD's "Evaluation runtime error": bgpd's answer when a command fails inside (a bug), so
    # the client gets an error reply and the connection stays up.
    RUNTIME_ERROR = 8008
    COMMAND_TOO_LONG = 9000
    PARSE_ERROR = 9001
    INVALID_SYMBOL = 9002


@dataclass(frozen=True, slots=True)
class ReplyLine:
    """One line of a reply; `final` marks the line that ends it (code then a space)."""

    code: Reply
    text: str
    final: bool = False


class ReplyEncoder:
    """Turns reply lines into BIRD's wire text for one connection (cli_printf's rules)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: int | None = None

    def encode(self, lines: Iterable[ReplyLine]) -> bytes:
        out: list[str] = []
        for line in lines:
            code = int(line.code)
            if line.final:
                prefix = f"{code:04d} "
            elif code == self._last:
                prefix = " "
            else:
                prefix = f"{code:04d}-"
            self._last = code
            out.append(f"{prefix}{_safe_line(line.text)}\n")
        return "".join(out).encode()


def _safe_line(text: str) -> str:
    """The one place every reply line passes: a line break or control character in it (a
    peer's shutdown text, a name from the datastore, a client's word echoed back) would end the
    line early and forge the next one for line-reading clients. BIRD's own layouts use a tab
    only to open a line (`show route all`), which is kept."""
    if text.isprintable():  # nearly every line: no call, no copy
        return text
    if text.startswith("\t"):
        return "\t" + escape_controls(text[1:])
    return escape_controls(text)


def welcome(version: str) -> list[ReplyLine]:
    """The greeting BIRD sends on connect (cli_hello); -bird-live checks it starts "BIRD"."""
    return [ReplyLine(Reply.WELCOME, f"BIRD {version} ready.", final=True)]


# ------------------------------------------------------------------------------------ views


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
class RouteView:
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


# ---------------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowStatus:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowProtocols:
    verbose: bool = False
    name: str | None = None  # a protocol symbol: exact match, 9002 when unknown
    pattern: str | None = None  # a quoted shell pattern ("Mesh_*"): 8003 when nothing matches


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowRoute:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    longest_match: bool = False  # `for <prefix|ip>`: the most specific network covering it
    protocol: str | None = None
    primary_only: bool = False
    verbose: bool = False
    stats: Literal[0, 1, 2] = 0  # 1: routes then a count line (`stats`), 2: count only


@dataclass(frozen=True, slots=True, kw_only=True)
class Configure:
    action: Literal["reload", "check", "confirm", "undo"] = "reload"
    file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Restrict:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit:
    """Not a BIRD server command (birdc handles `quit` itself): bgpd closes the connection,
    which is what someone typing into `socat` means by it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseError:
    code: Reply = Reply.PARSE_ERROR
    message: str = "syntax error"


Command = ShowStatus | ShowProtocols | ShowRoute | Configure | Restrict | Quit | ParseError

_TOKEN = re.compile(r'\s*(?:"([^"]*)"|([^\s"]+))')
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_UNSUPPORTED_ROUTE_OPTIONS = frozenset(
    {"filter", "where", "filtered", "export", "preexport", "noexport"}
)


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    quoted: bool


def _tokens(line: str) -> list[_Token] | None:
    tokens: list[_Token] = []
    pos = 0
    line = line.rstrip()
    while pos < len(line):
        match = _TOKEN.match(line, pos)
        if match is None:
            return None  # an unterminated quote
        quoted, bare = match.groups()
        tokens.append(_Token(quoted if quoted is not None else bare, quoted is not None))
        pos = match.end()
    return tokens


def parse_command(line: str, ip_version: IpVersion) -> Command:
    """One command line (without its newline) as BIRD 1.6's CLI grammar reads it."""
    tokens = _tokens(line)
    if not tokens:
        return ParseError()
    words = [t.text if not t.quoted else "" for t in tokens]
    head = words[0]
    if head in ("quit", "exit") and len(tokens) == 1:
        return Quit()
    if head == "restrict" and len(tokens) == 1:
        return Restrict()
    if head == "configure":
        return _parse_configure(tokens[1:])
    if head == "show" and len(tokens) >= 2:
        what, rest = words[1], tokens[2:]
        if what == "status" and not rest:
            return ShowStatus()
        if what == "protocols":
            return _parse_show_protocols(rest)
        if what == "route":
            return _parse_show_route(rest, ip_version)
    return ParseError()


def _parse_show_protocols(rest: list[_Token]) -> Command:
    verbose = bool(rest) and not rest[0].quoted and rest[0].text == "all"
    if verbose:
        rest = rest[1:]
    if not rest:
        return ShowProtocols(verbose=verbose)
    if len(rest) > 1:
        return ParseError()
    if rest[0].quoted:
        return ShowProtocols(verbose=verbose, pattern=rest[0].text)
    if not _symbol(rest[0].text):
        return ParseError()
    return ShowProtocols(verbose=verbose, name=rest[0].text)


def _symbol(text: str) -> bool:
    # BIRD symbols are C identifiers; bgpd peer names may also hold '-' or '.' ([[peer]] name),
    # which BIRD never has but bgpd's own names can: accept any bare word that is not a number.
    return bool(_SYMBOL.match(text)) or (bool(text) and not ascii_digits(text[0]))


def _parse_show_route(rest: list[_Token], ip_version: IpVersion) -> Command:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    longest = primary = verbose = False
    stats: Literal[0, 1, 2] = 0
    protocol: str | None = None
    i = 0
    while i < len(rest):
        token = rest[i]
        word = "" if token.quoted else token.text
        i += 1
        if word in ("all", "primary", "stats", "count"):
            verbose = verbose or word == "all"
            primary = primary or word == "primary"
            if word == "stats":
                stats = 1
            elif word == "count":
                stats = 2
            continue
        if word in ("protocol", "table"):
            if i >= len(rest) or rest[i].quoted or not _symbol(rest[i].text):
                return ParseError()
            name = rest[i].text
            i += 1
            if word == "table":
                if name != MASTER_TABLE:
                    return ParseError(message=f"{name} is not a table")
                continue
            if protocol is not None:
                return ParseError(message="Protocol specified twice")
            protocol = name
            continue
        if word in _UNSUPPORTED_ROUTE_OPTIONS:
            return ParseError(message=f"'{word}' is not supported by bgpd")
        is_for = word == "for"
        if is_for:
            if i >= len(rest):
                return ParseError()
            token = rest[i]
            i += 1
        if token.quoted or network is not None:
            if network is not None:
                return ParseError(message="Only one prefix expected")
            return ParseError()
        parsed = _parse_network(token.text, ip_version, allow_address=is_for)
        if isinstance(parsed, ParseError):
            return parsed
        network, longest = parsed, is_for
    return ShowRoute(
        network=network,
        longest_match=longest,
        protocol=protocol,
        primary_only=primary,
        verbose=verbose,
        stats=stats,
    )


def _parse_network(
    text: str, ip_version: IpVersion, *, allow_address: bool
) -> ipaddress.IPv4Network | ipaddress.IPv6Network | ParseError:
    address, slash, length = text.partition("/")
    if not slash and not allow_address:
        return ParseError()  # BIRD's `prefix` needs a length unless after `for`
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ParseError()
    if ip.version != ip_version:
        mine, other = ("IPv4", "IPv6") if ip_version == 4 else ("IPv6", "IPv4")
        return ParseError(
            message=f"This is an {mine} router, therefore {other} addresses are not supported"
        )
    if not slash:
        return ipaddress.ip_network(ip)
    # ASCII digits only: "²" passes str.isdigit() and then fails int().
    if not ascii_digits(length) or int(length) > ip.max_prefixlen:
        return ParseError(message="Invalid prefix length")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        return ParseError(message="Invalid prefix")


def _parse_configure(rest: list[_Token]) -> Command:
    words = ["" if t.quoted else t.text for t in rest]
    if words == ["confirm"]:
        return Configure(action="confirm")
    if words == ["undo"]:
        return Configure(action="undo")
    action: Literal["reload", "check"] = "reload"
    if words[:1] == ["check"]:
        action, rest, words = "check", rest[1:], words[1:]
    elif words[:1] == ["soft"]:
        rest, words = rest[1:], words[1:]
    file: str | None = None
    if rest and rest[0].quoted:
        file, rest, words = rest[0].text, rest[1:], words[1:]
    if action == "reload" and words[:1] == ["timeout"]:
        # An undo timeout: bgpd keeps no undo state, so the reload is simply final.
        rest, words = rest[1:], words[1:]
        if words and ascii_digits(words[0]):
            rest, words = rest[1:], words[1:]
    if rest:
        return ParseError()
    return Configure(action=action, file=file)


# ------------------------------------------------------------------------------- rendering


def format_time(t: float, now: float) -> str:
    """BIRD's tf_proto/tf_route: "%T" (local time) within 20 hours of now, "%F" beyond."""
    return time.strftime("%T" if now - t < _RECENT_S else "%F", time.localtime(t))


def format_datetime(t: float) -> str:
    """BIRD's tf_base: "%F %T" in local time."""
    return time.strftime("%F %T", time.localtime(t))


def render_status(status: StatusView) -> list[ReplyLine]:
    """`show status` (nest/cmds.c cmd_show_status)."""
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


def protocol_row(protocol: ProtocolView, now: float) -> str:
    """One `show protocols` row: "%-8s %-8s %-8s %-5s  %-10s  %s" as proto_cmd_show prints it."""
    since = format_time(protocol.since, now)
    return (
        f"{protocol.name:<8} {protocol.proto:<8} {protocol.table:<8} {protocol.state:<5}  "
        f"{since:<10}  {protocol.info}"
    )


def render_protocols(
    protocols: Sequence[ProtocolView], command: ShowProtocols, now: float
) -> list[ReplyLine]:
    """`show protocols [all] [name | "pattern"]` (nest/proto.c proto_apply_cmd)."""
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
        lines.append(ReplyLine(Reply.PROTOCOL_LIST, protocol_row(protocol, now)))
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


def route_line(route: RouteView, now: float, *, first: bool) -> str:
    """One `show route` line (nest/rt-table.c rt_show_rte); the network only on its first."""
    network = route.prefix if first else ""
    source = f" from {route.from_address}" if route.from_address else ""
    mark = " *" if route.primary else ""
    since = format_time(route.since, now)
    return f"{network:<18} {route.via} [{route.protocol} {since}{source}]{mark}{route.info}"


def render_routes(routes: Sequence[RouteView], command: ShowRoute, now: float) -> list[ReplyLine]:
    """`show route [<prefix> | for <prefix|ip>] [protocol P] [primary] [all] [stats|count]`.

    `routes` holds every path of the view's table, grouped by network, primary path first.
    """
    networks: dict[str, list[RouteView]] = {}
    for route in routes:
        networks.setdefault(route.prefix, []).append(route)
    if command.network is not None:
        chosen = _lookup(networks, command.network, longest=command.longest_match)
        if chosen is None:
            return [ReplyLine(Reply.ROUTE_NOT_FOUND, "Network not in table", final=True)]
        networks = {chosen: networks[chosen]}
    lines: list[ReplyLine] = []
    shown = counted = 0
    for paths in networks.values():
        first = True
        for route in paths[:1] if command.primary_only else paths:
            counted += 1
            if command.protocol is not None and route.protocol != command.protocol:
                continue
            shown += 1
            if command.stats == 2:
                continue
            lines.append(ReplyLine(Reply.ROUTE_LIST, route_line(route, now, first=first)))
            first = False
            if command.verbose:
                lines.append(ReplyLine(Reply.ROUTE_DETAILS, f"\tType: {route.route_type}"))
                lines.extend(ReplyLine(Reply.ROUTE_ATTRIBUTES, f"\t{a}") for a in route.attributes)
    if command.network is not None:
        # rt_show() for one network: no count line, and "not in table" when nothing matched.
        if counted == 0:
            return [ReplyLine(Reply.ROUTE_NOT_FOUND, "Network not in table", final=True)]
        return [*lines, ReplyLine(Reply.OK, "", final=True)]
    if command.stats:
        text = f"{shown} of {counted} routes for {len(networks)} networks"
        return [*lines, ReplyLine(Reply.ROUTE_COUNT, text, final=True)]
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


def error_reply(code: Reply, message: str) -> list[ReplyLine]:
    return [ReplyLine(code, message, final=True)]


# ----------------------------------------------------- bgpd's views as BIRD protocols and routes


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerFacts:
    """What the BIRD view of one peer needs beyond its `bgpctl` view (from the config)."""

    local_asn: int
    local_address: str | None = None
    multihop: bool = False
    rr_client: bool = False
    description: str | None = None
    passive: bool = False


def bgp_state(peer: Mapping[str, Any], facts: PeerFacts) -> str:
    """BIRD's bgp_state_dsc(): the FSM state, except that a passive session with no connection
    is "Passive" (bgpd's FSM says Active, RFC 4271 §8.2.2's wait for the peer to connect)."""
    state = str(peer["state"])
    if facts.passive and state in ("Idle", "Active"):
        return "Passive"
    return state


def bgp_info(peer: Mapping[str, Any], facts: PeerFacts) -> str:
    """The info column of a BGP protocol (proto/bgp/bgp.c bgp_get_status): the BGP state padded
    to 14, then the last error while not Established (BIRD clears it when a session comes up)."""
    held = peer.get("down_reason")
    if held:
        # bgp_get_status of a protocol in PS_DOWN: no state, the error class and message only.
        return f"Error: {held}"
    state = bgp_state(peer, facts)
    error = "" if state == "Established" else _bird_error(str(peer.get("last_error") or ""))
    return f"{state:<14}{error}"


def _bird_error(text: str) -> str:
    # bgp_err_classes: a NOTIFICATION we sent is a "BGP Error: ", one we got is "Received: ".
    if text.startswith("Sent: "):
        return "BGP Error: " + text.removeprefix("Sent: ")
    return text


def bgp_protocol(
    peer: Mapping[str, Any],
    detail: Mapping[str, Any] | None,
    facts: PeerFacts,
    *,
    since: float,
    preferred: int,
) -> ProtocolView:
    """A bgpd peer as BIRD's BGP protocol. `peer` is its `bgpctl show peers` view, `detail` its
    `show peer` view (for `show protocols all`), `preferred` how many of its routes are best."""
    held = peer.get("down_reason")
    # BIRD's bgp_state_dsc() says "Down" for a protocol that is down (disabled, or shut down).
    state = "Down" if held else bgp_state(peer, facts)
    up = state == "Established"
    details: list[str] = []
    if facts.description:
        details.append(f"  Description:    {facts.description}")
    details += [
        f"  Preference:     {PREF_BGP}",
        "  Input filter:   ACCEPT",
        # Calico's export filters are anonymous blocks, which BIRD names "(unnamed)".
        "  Output filter:  (unnamed)",
        f"  Routes:         {peer['prefixes_accepted']} imported, "
        f"{peer['prefixes_sent']} exported, {preferred} preferred",
        f"  BGP state:          {state}",
        f"    Neighbor address: {peer['address']}",
        f"    Neighbor AS:      {peer['asn']}",
    ]
    d = detail or {}
    if d.get("graceful_restart_stale"):
        details.append("    Neighbor graceful restart active")
    negotiated = d.get("negotiated")
    if up and isinstance(negotiated, Mapping):
        details += _session_lines(peer, negotiated, facts)
    last_error = str(peer.get("last_error") or "")
    if held:
        details.append(f"    Last error:       Error: {held}")
    elif last_error and not up:
        details.append(f"    Last error:       {_bird_error(last_error)}")
    return ProtocolView(
        name=str(peer["name"]),
        proto="BGP",
        state="up" if up else "down" if held else "start",
        since=since,
        info=bgp_info(peer, facts),
        details=tuple(details),
    )


def _session_lines(peer: Mapping[str, Any], n: Mapping[str, Any], facts: PeerFacts) -> list[str]:
    """bgp_show_proto_info's lines for an Established session."""
    gr = n.get("peer_graceful_restart")
    caps = [
        "refresh" if n.get("route_refresh") else "",
        "enhanced-refresh" if n.get("enhanced_route_refresh") else "",
        "restart-aware" if gr else "",
        "AS4" if n.get("as4") else "",
        # The peer's ADD-PATH receive side is our send side, and the reverse (RFC 7911 §4).
        "add-path-rx" if n.get("add_path_send") else "",
        "add-path-tx" if n.get("add_path_receive") else "",
        "ext-messages" if n.get("extended_message") else "",
    ]
    internal = int(peer["asn"]) == facts.local_asn
    session = [
        "internal" if internal else "external",
        # BIRD's iBGP sessions are multihop unless told otherwise.
        "multihop" if internal or facts.multihop else "",
        "route-reflector" if facts.rr_client else "",
        "AS4" if n.get("as4") else "",
        "add-path-rx" if n.get("add_path_receive") else "",
        "add-path-tx" if n.get("add_path_send") else "",
        "ext-messages" if n.get("extended_message") else "",
    ]
    lines = [
        f"    Neighbor ID:      {n.get('peer_router_id')}",
        "    Neighbor caps:   " + "".join(f" {c}" for c in caps if c),
        "    Session:          " + " ".join(s for s in session if s),
    ]
    if facts.local_address:
        lines.append(f"    Source address:   {facts.local_address}")
    # bgpd does not expose the running timers' remaining time: "-" stands for it.
    lines.append(f"    Hold timer:       -/{_seconds(n.get('hold_time'))}")
    lines.append(f"    Keepalive timer:  -/{_seconds(n.get('keepalive_time'))}")
    return lines


def _seconds(value: object) -> str:
    return str(int(value)) if isinstance(value, int | float) else "-"


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
    route: Mapping[str, Any],
    *,
    since: float,
    device: str | None,
    peer_address: str | None,
) -> RouteView:
    """One path of bgpd's `show routes` view as a BIRD route. `device` is the interface the
    kernel route goes out of (when known), `peer_address` the neighbour it was learned from."""
    source = str(route.get("source", ""))
    local = LOCAL_SOURCES.get(source)
    next_hop = route.get("next_hop")
    if next_hop:
        # BIRD always names the interface; "?" when bgpd has no kernel route to tell it.
        via = f"via {next_hop} on {device or '?'}"
    elif device:
        via = f"dev {device}"
    else:
        # bgpd's local routes without a next hop are Calico's block blackholes.
        via = "blackhole"
    origin = str(route.get("origin", "INCOMPLETE"))
    if local is not None:
        protocol, kind, preference = local
        info = f" ({preference})"
        route_type = f"{kind.lower()} unicast univ"
        attributes: tuple[str, ...] = ()
    else:
        protocol = str(route["peer"])
        segments = path_segments(route)
        stale = "s" if route.get("stale") else ""
        last = bird_origin_as(segments)
        origin_as = "" if last is None else f"AS{last}"
        info = f" ({PREF_BGP}{stale}/0) [{origin_as}{_ORIGIN_CHAR.get(origin, '?')}]"
        route_type = "BGP unicast univ"
        attributes = _bgp_attributes(route, bird_as_path(segments), origin)
    return RouteView(
        prefix=str(route["prefix"]),
        via=via,
        protocol=protocol,
        since=since,
        primary=bool(route.get("best")),
        info=info,
        from_address=peer_address if peer_address and peer_address != next_hop else None,
        route_type=route_type,
        attributes=attributes,
    )


_ORIGIN_CHAR = {"IGP": "i", "EGP": "e", "INCOMPLETE": "?"}


def _bgp_attributes(route: Mapping[str, Any], as_path: str, origin: str) -> tuple[str, ...]:
    """`show route all` attribute lines, in BIRD's names and value formats."""
    attrs = [
        f"BGP.origin: {origin.capitalize() if origin == 'INCOMPLETE' else origin}",
        f"BGP.as_path: {as_path}",
        f"BGP.next_hop: {route.get('next_hop') or ''}",
    ]
    if route.get("med") is not None:
        attrs.append(f"BGP.med: {route['med']}")
    if route.get("local_pref") is not None:
        attrs.append(f"BGP.local_pref: {route['local_pref']}")
    if route.get("originator_id"):
        attrs.append(f"BGP.originator_id: {route['originator_id']}")
    if route.get("cluster_list"):
        attrs.append("BGP.cluster_list: " + " ".join(route["cluster_list"]))
    if route.get("communities"):
        pairs = (c.split(":") for c in route["communities"])
        attrs.append("BGP.community: " + " ".join(f"({a},{b})" for a, b in pairs))
    if route.get("large_communities"):
        triples = (c.split(":") for c in route["large_communities"])
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

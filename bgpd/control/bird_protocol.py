"""BIRD 1.x CLI protocol: the reply framing and the command grammar, without I/O.

Role: `calicoctl node status`, calico-node's `-bird-live`/`-bird-ready` probes, Calico's
node-status reporter and `birdc`/`birdcl` talk to BIRD's control socket. bgpd speaks that
protocol over views of its state in three pure steps: this module parses one command line into a
`Command` and turns reply lines into bytes (`ReplyEncoder`); `bird_views` makes BIRD protocols
and routes of bgpd's views; `bird_replies` lays each command's reply out as `ReplyLine`s.

The wire format (BIRD's nest/cli.c): every reply line is a four-digit code followed by `-` when
the reply continues or a space on its last line; a continuation line whose code equals the
previous line's may replace the whole prefix by a single space. The "previous line" is tracked
per connection, across commands, as BIRD does. Codes: doc/reply_codes (0xxx done, 1xxx table
entry, 2xxx table heading, 8xxx run-time error, 9xxx parse error).

Invariants:
- The parser accepts BIRD's grammar for the supported commands (keywords are case-sensitive, as
  in BIRD); a BIRD command bgpd does not do is `9001 '<command>' is not supported by bgpd` (BIRD's
  parse-time refusal with its reason); anything else is `9001 syntax error`, never an
  exception.
- Every reply line is one line of printable text: `ReplyEncoder` escapes the control characters
  of whatever a line carries (a peer's shutdown text, datastore names: `bgpd.text`), except the
  tab BIRD's layouts open a line with, so no value can forge a line for a line-reading client.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from bgpd.text import ascii_digits, escape_controls

IpVersion = Literal[4, 6]

# nest/cli.c CLI_RX_BUF_SIZE: BIRD drops longer commands.
MAX_COMMAND_BYTES = 1024
# BIRD's master routing table; Calico's bird.cfg never names another one.
MASTER_TABLE = "master"
# RFC 9003 §2: a Shutdown Communication holds at most 255 octets of UTF-8.
MAX_SHUTDOWN_OCTETS = 255


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
    BFD_SESSIONS = 1020
    PROTOCOL_HEADING = 2002
    # proto_cmd_disable/enable/restart/reload (nest/proto.c): one line per protocol
    ALREADY_DISABLED = 8
    DISABLED = 9
    ALREADY_ENABLED = 10
    ENABLED = 11
    RESTARTED = 12
    RELOADING = 15
    RELOAD_FAILED = 8006
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


def error_reply(code: Reply, message: str) -> list[ReplyLine]:
    return [ReplyLine(code, message, final=True)]


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
    export: str | None = None  # `export P`: what goes to protocol P (its Adj-RIB-Out)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShowBfdSessions:
    """BIRD 2's `show bfd sessions [name]` (proto/bfd/config.Y)."""

    name: str | None = None


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
class ProtoCommand:
    """`disable`/`enable`/`restart`/`reload [in|out]` of protocols (BIRD's `proto_patt`: a
    name, a quoted shell pattern or `all`), with BIRD 2's optional quoted shutdown message
    after `disable`/`restart`."""

    action: Literal["disable", "enable", "restart", "reload"]
    name: str | None = None
    pattern: str | None = None  # "Mesh_*"; `all` is the pattern "*"
    message: str = ""
    direction: Literal["in", "out", "both"] = "both"  # `reload in|out`


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseError:
    code: Reply = Reply.PARSE_ERROR
    message: str = "syntax error"


Command = (
    ShowStatus
    | ShowProtocols
    | ShowRoute
    | ShowBfdSessions
    | ProtoCommand
    | Configure
    | Restrict
    | Quit
    | ParseError
)

_TOKEN = re.compile(r'\s*(?:"([^"]*)"|([^\s"]+))')
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_UNSUPPORTED_ROUTE_OPTIONS = frozenset({"filter", "where", "filtered", "preexport", "noexport"})
# BIRD CLI commands bgpd does not do: answered as BIRD answers what it cannot do at parse time
# (9001 with the reason, cf_error), not as a syntax error. `show` takes a second word.
_UNSUPPORTED_COMMANDS = frozenset(
    {"dump", "eval", "echo", "debug", "mrtdump", "down", "graceful", "flush", "timeformat"}
)
_UNSUPPORTED_SHOW = frozenset(
    {
        "interfaces",
        "symbols",
        "memory",
        "static",
        "ospf",
        "rip",
        "babel",
        "roa",
        "mpls",
        "rpki",
        "lsadb",
        "threads",
    }
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
    if head in ("disable", "enable", "restart", "reload"):
        return _parse_proto_command(head, tokens[1:])
    if head in _UNSUPPORTED_COMMANDS:
        return ParseError(message=f"'{head}' is not supported by bgpd")
    if head == "show" and len(tokens) >= 2 and words[1] in _UNSUPPORTED_SHOW:
        return ParseError(message=f"'show {words[1]}' is not supported by bgpd")
    if head == "show" and len(tokens) >= 2:
        what, rest = words[1], tokens[2:]
        if what == "status" and not rest:
            return ShowStatus()
        if what == "protocols":
            return _parse_show_protocols(rest)
        if what == "route":
            return _parse_show_route(rest, ip_version)
        if what == "bfd" and rest and not rest[0].quoted and rest[0].text == "sessions":
            if len(rest) == 1:
                return ShowBfdSessions()
            if len(rest) == 2 and not rest[1].quoted and _symbol(rest[1].text):
                return ShowBfdSessions(name=rest[1].text)
    return ParseError()


def _parse_proto_command(head: str, rest: list[_Token]) -> Command:
    direction: Literal["in", "out", "both"] = "both"
    if head == "reload" and rest and not rest[0].quoted and rest[0].text in ("in", "out"):
        direction = "in" if rest[0].text == "in" else "out"
        rest = rest[1:]
    if not rest:
        return ParseError()
    target, rest = rest[0], rest[1:]
    message = ""
    if rest and rest[0].quoted and head in ("disable", "restart"):
        message, rest = rest[0].text, rest[1:]
    if rest:
        return ParseError()
    if len(message.encode("utf-8")) > MAX_SHUTDOWN_OCTETS:
        return ParseError(message="Shutdown message too long")  # BIRD 2's words
    action: Literal["disable", "enable", "restart", "reload"] = (
        "disable"
        if head == "disable"
        else "enable"
        if head == "enable"
        else "restart"
        if head == "restart"
        else "reload"
    )
    if target.quoted:
        pattern, name = target.text, None
    elif target.text == "all":
        pattern, name = "*", None
    elif _symbol(target.text):
        pattern, name = None, target.text
    else:
        return ParseError()
    return ProtoCommand(
        action=action, name=name, pattern=pattern, message=message, direction=direction
    )


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
    export: str | None = None
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
        if word in ("protocol", "table", "export"):
            if i >= len(rest) or rest[i].quoted or not _symbol(rest[i].text):
                return ParseError()
            name = rest[i].text
            i += 1
            if word == "table":
                if name != MASTER_TABLE:
                    return ParseError(message=f"{name} is not a table")
                continue
            if word == "export":
                if export is not None:
                    return ParseError(message="Protocol specified twice")
                export = name
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
        export=export,
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

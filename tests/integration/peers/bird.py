"""Real BIRD 1.6 and BIRD 2 daemons as BGP peers: config builders, control, RIB parsing.

`BirdConfig` (with `BgpPeer` and `StaticRoute`) renders a config for either version;
`BirdDaemon` runs ``bird -f -c <conf> -s <socket> -P <pidfile>`` inside a `Namespace` or on the
host and talks to it with the matching ``birdc -s <socket>``; `parse_show_route` turns
``show route all`` text of either version into `Route` values.

What was verified against BIRD 1.6.8 and 2.0.12 (and why the builders look the way they do):

- BIRD 1.6 runs one daemon per family: ``bird`` for IPv4, ``bird6`` for IPv6. A `BirdConfig`
  renders for one family on 1.6 (peers and static routes of the other family are left out), so
  the same config object can drive a v4 and a v6 daemon. BIRD 2 carries both families in one
  daemon (``ipv4 { ... }``/``ipv6 { ... }`` channels).
- ``router id`` is always written: BIRD 1.6 cannot pick one without an IPv4 address.
- Loopback sessions: BIRD opens eBGP to ``127.x`` only with ``multihop`` (otherwise the session
  fails with "Invalid next hop"), so `BgpPeer` turns multihop on for loopback eBGP unless told
  otherwise. Routes learned over loopback are kept and shown as ``unreachable`` (no IGP route
  resolves the next hop; no kernel protocol is configured, on purpose): they are in the table,
  which is what tests inspect (`Route.kind` is ``"unreachable"``).
- BIRD 1.6's ``bird6`` refuses to announce a route whose next hop would be ``::1``
  ("Invalid NEXT_HOP attribute"), so IPv6 route exchange with BIRD 1.6 needs global addresses:
  a `Lan`, or one `Namespace` with addresses such as ``fd00:1::1/128`` on its ``lo`` (then
  eBGP needs an explicit ``multihop``, since the neighbour is not on a shared subnet).
- Two daemons in one namespace (or on the host) must not both listen on port 179: give each
  its own ``local_port``.
- On a shared LAN (veth) eBGP works with the defaults (``gateway direct``).
- BIRD does not send MED across eBGP unless the export filter of that BGP protocol set it, and
  never sends LOCAL_PREF over eBGP; so attributes of originated routes are set in each BGP
  protocol's export filter (``if source = RTS_STATIC then { if net = ... }``), not in the
  static protocol.
- The two versions prepend the local AS at different moments: BIRD 2 after the export filter,
  BIRD 1.6 before it. For ``as_path_prepend=(A, B)`` an eBGP peer must see ``<local AS> A B``
  from both, so on 1.6 eBGP the filter rebuilds the path (``bgp_path = +empty+`` and prepends
  including the local AS); on BIRD 2 and on iBGP it only prepends ``B`` then ``A``.
- BIRD 1.6 listens once per daemon (``listen bgp address A port P``); BIRD 2 per protocol
  (``local A port P as N``). Two BIRDs on the host therefore need distinct ``local_port``s.
- ``connect delay time`` defaults to 5 s; `BgpPeer.fast_timers` (default on) sets 1 s connect
  delay, 2 s connect retry and 1-5 s error wait so sessions come up quickly in tests.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .binaries import BirdVersion, Family, bird_binaries
from .daemon import Daemon, DaemonError, numbered, quoted
from .netns import Namespace, run
from .routes import (
    Route,
    RouteTable,
    canonical_prefix,
    family_of,
    normalise_communities,
    normalise_large,
    wait_no_route,
    wait_route,
)

__all__ = [
    "BgpPeer",
    "BirdConfig",
    "BirdDaemon",
    "BirdError",
    "StaticRoute",
    "check_bird_config",
    "parse_show_protocol_state",
    "parse_show_route",
]

logger = logging.getLogger(__name__)


class BirdError(DaemonError):
    """birdc failed, BIRD rejected a command, or a config did not parse."""


# -- config model ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticRoute:
    """A route BIRD originates, with the BGP attributes to send it with.

    ``via=None`` makes a blackhole route (always "reachable", no interface needed). The
    attributes are applied in every BGP export filter (see the module docstring); ``local_pref``
    only reaches iBGP peers, as RFC 4271 §5.1.5 requires.
    """

    prefix: str
    via: str | None = None
    as_path_prepend: tuple[int, ...] = ()
    communities: tuple[tuple[int, int], ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    med: int | None = None
    local_pref: int | None = None

    def __post_init__(self) -> None:
        if canonical_prefix(self.prefix) != self.prefix:
            raise ValueError(f"prefix {self.prefix!r} is not canonical")
        if self.via is not None and family_of(self.via) != family_of(self.prefix):
            raise ValueError(f"next hop {self.via} is not of the family of {self.prefix}")

    @property
    def family(self) -> Family:
        """4 or 6."""
        return family_of(self.prefix)

    def bgp_statements(
        self, version: BirdVersion = "2", ebgp_local_as: int | None = None
    ) -> list[str]:
        """BIRD filter statements that set this route's BGP attributes in a BGP export filter.

        ``ebgp_local_as`` is the local AS of an eBGP session (None for iBGP): BIRD 1.6 has
        already prepended it when the export filter runs, so the path is rebuilt around it.
        """
        out = [f"bgp_path.prepend({asn});" for asn in reversed(self.as_path_prepend)]
        if version == "1.6" and ebgp_local_as is not None and self.as_path_prepend:
            out = ["bgp_path = +empty+;", *out, f"bgp_path.prepend({ebgp_local_as});"]
        out += [f"bgp_community.add(({a},{b}));" for a, b in self.communities]
        out += [f"bgp_large_community.add(({a},{b},{c}));" for a, b, c in self.large_communities]
        if self.med is not None:
            out.append(f"bgp_med = {self.med};")
        if self.local_pref is not None:
            out.append(f"bgp_local_pref = {self.local_pref};")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpPeer:
    """One ``protocol bgp`` block.

    ``local_address`` is the source address (``local <addr> as <as>``); ``local_port`` the port
    BIRD listens on (BIRD 2: per protocol; BIRD 1.6: ``listen bgp``, one per daemon);
    ``neighbor_port`` the port BIRD connects to. ``import_filter``/``export_filter`` are
    ``"all"``, ``"none"`` or raw BIRD (``"filter name"``, ``"where net ~ [...]"``); ``"all"``
    on export also applies the `StaticRoute` attributes. ``families`` selects BIRD 2 channels
    (default: the neighbour address family). ``multihop=None`` means: on for eBGP to a loopback
    address, else off; ``0`` forces it off. ``add_paths`` is ``"on"``, ``"rx"`` or ``"tx"``.
    ``extra`` is raw text added inside the protocol block.
    """

    name: str
    local_as: int
    neighbor_address: str
    neighbor_as: int
    neighbor_port: int | None = None
    local_address: str | None = None
    local_port: int | None = None
    passive: bool = False
    password: str | None = None
    hold_time: int | None = None
    keepalive_time: int | None = None
    graceful_restart: bool = False
    graceful_restart_time: int | None = None
    add_paths: Literal["on", "rx", "tx"] | None = None
    multihop: int | None = None
    ttl_security: bool = False
    rr_client: bool = False
    rr_cluster_id: str | None = None
    next_hop_self: bool = False
    gateway: Literal["direct", "recursive"] | None = None
    families: tuple[Family, ...] | None = None
    import_filter: str = "all"
    export_filter: str = "all"
    fast_timers: bool = True
    extra: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(f"bad BIRD protocol name {self.name!r}")
        ipaddress.ip_address(self.neighbor_address)

    @property
    def family(self) -> Family:
        """The family of the session (of the neighbour address)."""
        return family_of(self.neighbor_address)

    @property
    def is_ebgp(self) -> bool:
        """True when local and neighbour AS differ."""
        return self.local_as != self.neighbor_as

    def _multihop(self) -> int | None:
        if self.multihop is not None:
            return self.multihop or None
        if self.is_ebgp and ipaddress.ip_address(self.neighbor_address).is_loopback:
            return 2
        return None

    def _session_lines(self, version: BirdVersion) -> list[str]:
        local = "local"
        if self.local_address:
            local += f" {self.local_address}"
        if version == "2" and self.local_port is not None:
            local += f" port {self.local_port}"
        neighbor = f"neighbor {self.neighbor_address}"
        if self.neighbor_port is not None:
            neighbor += f" port {self.neighbor_port}"
        lines = [f"{local} as {self.local_as};", f"{neighbor} as {self.neighbor_as};"]
        if self.passive:
            lines.append("passive on;")
        if self.password is not None:
            lines.append(f"password {quoted(self.password, 'BIRD')};")
        if self.hold_time is not None:
            lines.append(f"hold time {self.hold_time};")
        if self.keepalive_time is not None:
            lines.append(f"keepalive time {self.keepalive_time};")
        if self.fast_timers:
            lines += ["connect delay time 1;", "connect retry time 2;", "error wait time 1, 5;"]
        if self.graceful_restart:
            lines.append("graceful restart on;")
            if self.graceful_restart_time is not None:
                lines.append(f"graceful restart time {self.graceful_restart_time};")
        hops = self._multihop()
        if hops is not None:
            lines.append(f"multihop {hops};")
        if self.ttl_security:
            lines.append("ttl security on;")
        if self.rr_client:
            lines.append("rr client;")
        if self.rr_cluster_id is not None:
            lines.append(f"rr cluster id {self.rr_cluster_id};")
        return lines

    def _export_all(self, version: BirdVersion, statics: Sequence[StaticRoute]) -> str:
        local_as = self.local_as if self.is_ebgp else None
        conds = []
        for r in statics:
            statements = r.bgp_statements(version, local_as)
            if statements:
                conds.append(f"if net = {r.prefix} then {{ {' '.join(statements)} }}")
        if not conds:
            return "export all;"
        body = "\n".join(conds)
        return (
            "export filter {\n  if source = RTS_STATIC then {\n"
            f"{textwrap.indent(body, '    ')}\n  }}\n  accept;\n}};"
        )

    def _route_lines(self, version: BirdVersion, statics: Sequence[StaticRoute]) -> list[str]:
        lines = [f"import {self.import_filter};"]
        if self.export_filter == "all":
            lines.append(self._export_all(version, statics))
        else:
            lines.append(f"export {self.export_filter};")
        if self.next_hop_self:
            lines.append("next hop self;")
        if self.add_paths is not None:
            lines.append(f"add paths {self.add_paths};")
        if self.gateway is not None:
            lines.append(f"gateway {self.gateway};")
        return lines

    def render(self, version: BirdVersion, statics: Sequence[StaticRoute] = ()) -> str:
        """The ``protocol bgp`` block for ``version``; ``statics`` get their attributes here."""
        lines = self._session_lines(version)
        if version == "2":
            for fam in self.families or (self.family,):
                inner = "\n".join(
                    self._route_lines(version, [r for r in statics if r.family == fam])
                )
                lines.append(f"ipv{fam} {{\n{textwrap.indent(inner, '  ')}\n}};")
        else:
            lines += self._route_lines(version, statics)
        if self.extra:
            lines.append(self.extra)
        body = textwrap.indent("\n".join(lines), "  ")
        return f"protocol bgp {self.name} {{\n{body}\n}}\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class BirdConfig:
    """A whole BIRD config: router id, BGP peers, originated routes, raw extras.

    `render` writes, in order: logging to stderr, ``router id``, a device protocol, static
    protocols, BGP protocols (their export filters set the static routes' attributes), then
    ``extra`` verbatim.
    ``debug`` turns on ``debug protocols all`` (packets included); by default only state
    changes and events are logged.
    """

    router_id: str
    peers: tuple[BgpPeer, ...] = ()
    static_routes: tuple[StaticRoute, ...] = ()
    extra: str = ""
    debug: bool = False

    def __post_init__(self) -> None:
        ipaddress.IPv4Address(self.router_id)
        names = [p.name for p in self.peers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate protocol names in {names}")

    def render(self, version: BirdVersion, family: Family = 4) -> str:
        """Config text for BIRD ``version`` (``family`` selects bird/bird6 content on 1.6)."""
        peers = list(self.peers)
        statics = list(self.static_routes)
        if version == "1.6":
            peers = [p for p in peers if p.family == family]
            statics = [r for r in statics if r.family == family]
        out = [
            f"# Generated by tests/integration/peers/bird.py for BIRD {version} (IPv{family}).",
            "log stderr all;",
            f"router id {self.router_id};",
            "debug protocols all;" if self.debug else "debug protocols { states, events };",
        ]
        if version == "1.6":
            listens = {(p.local_address, p.local_port) for p in peers if p.local_port is not None}
            if len(listens) > 1:
                raise ValueError(f"BIRD 1.6 listens on one address/port, got {sorted(listens)}")
            for addr, port in listens:
                out.append(f"listen bgp {f'address {addr} ' if addr else ''}port {port};")
        out.append("protocol device { scan time 10; }")
        out += _static_protocols(version, statics)
        out += [p.render(version, statics) for p in peers]
        if self.extra:
            out.append(self.extra)
        return "\n".join(out) + "\n"


def _static_protocols(version: BirdVersion, routes: Sequence[StaticRoute]) -> list[str]:
    out = []
    for fam in (4, 6):
        group = [r for r in routes if r.family == fam]
        if not group:
            continue
        lines = [f"ipv{fam};"] if version == "2" else []
        for r in group:
            lines.append(f"route {r.prefix} {'blackhole' if r.via is None else f'via {r.via}'};")
        body = "\n".join(f"  {line}" for line in lines)
        out.append(f"protocol static bgpdt_static{fam} {{\n{body}\n}}")
    return out


# -- output parsing --------------------------------------------------------------------------

_READY = re.compile(r"^BIRD [0-9][^ ]* ready\.$")
_ROUTE = re.compile(
    r"^(?P<prefix>\S+)?\s+(?P<dest>.*?)\s*"
    r"\[(?P<proto>\S+)\s+(?P<since>[^\]]*?)(?:\s+from\s+(?P<from>\S+))?\]\s*"
    r"(?P<best>\*)?\s*\((?P<pref>\d+)(?:/[^)]*)?\)"
)
_VIA = re.compile(r"^via\s+(\S+)")
_COMMUNITY = re.compile(r"\((\d+),\s*(\d+)\)")
_LARGE = re.compile(r"\((\d+),\s*(\d+),\s*(\d+)\)")


def _strip_banner(text: str) -> list[str]:
    lines = text.splitlines()
    if lines and _READY.match(lines[0]):
        lines = lines[1:]
    return lines


def _int(text: str) -> int | None:
    m = re.match(r"\d+", text.strip())
    return int(m.group()) if m else None


def _build_route(prefix: str, head: re.Match[str], body: list[str]) -> Route:
    dest = head["dest"]
    gateway = None
    m = _VIA.match(dest)
    if m:
        gateway = m[1]
    raw: list[tuple[str, str]] = []
    for line in body:
        text = line.strip()
        m = _VIA.match(text)
        if m:
            gateway = gateway or m[1]
            continue
        name, sep, value = text.partition(":")
        if sep:
            raw.append((name.strip(), value.strip()))
    attrs = dict(raw)
    next_hop_text = attrs.get("BGP.next_hop", "").split()
    as_path_text = attrs.get("BGP.as_path", "")
    return Route(
        prefix=prefix,
        next_hop=next_hop_text[0] if next_hop_text else gateway,
        as_path=tuple(int(t) for t in re.findall(r"\d+", as_path_text)),
        communities=normalise_communities(
            (int(a), int(b)) for a, b in _COMMUNITY.findall(attrs.get("BGP.community", ""))
        ),
        large_communities=normalise_large(
            (int(a), int(b), int(c))
            for a, b, c in _LARGE.findall(attrs.get("BGP.large_community", ""))
        ),
        med=_int(attrs["BGP.med"]) if "BGP.med" in attrs else None,
        local_pref=_int(attrs["BGP.local_pref"]) if "BGP.local_pref" in attrs else None,
        origin=attrs.get("BGP.origin"),
        originator_id=attrs.get("BGP.originator_id"),
        cluster_list=tuple(attrs.get("BGP.cluster_list", "").split()),
        source=head["proto"],
        best=head["best"] is not None,
        gateway=gateway,
        kind=dest.split()[0] if dest.split() else "",
        raw=tuple(raw),
    )


def parse_show_route(text: str) -> RouteTable:
    """Parse ``birdc show route all`` output of BIRD 1.6 or 2 into routes by prefix.

    Handles: the banner, BIRD 2 ``Table x:`` headers, several paths per prefix (continuation
    lines with a blank prefix column), ``via`` inline (1.6) or on its own line (2), and
    ``BGP.*`` attribute lines. Unknown attribute lines end up in `Route.raw`.
    """
    table: RouteTable = {}
    prefix: str | None = None
    head: re.Match[str] | None = None
    body: list[str] = []

    def flush() -> None:
        if head is not None and prefix is not None:
            table.setdefault(prefix, []).append(_build_route(prefix, head, body))

    for line in _strip_banner(text):
        if not line.strip() or line.startswith("Table "):
            continue
        if line.startswith("\t"):
            body.append(line)
            continue
        m = _ROUTE.match(line)
        if m is None:
            continue
        flush()
        if m["prefix"]:
            prefix = canonical_prefix(m["prefix"])
        head, body = m, []
    flush()
    return table


def parse_show_protocol_state(text: str, name: str) -> str:
    """The BGP state (``Established``, ``Active``...) from ``show protocols all <name>``.

    Falls back to the State column (``up``/``down``/``start``) for non-BGP protocols.
    """
    lines = _strip_banner(text)
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if sep and key == "BGP state":
            return value.strip()
    for line in lines:
        cols = line.split()
        if len(cols) >= 4 and cols[0] == name:
            return cols[3]
    raise BirdError(f"no protocol {name!r} in output:\n{text}")


# -- the daemon ------------------------------------------------------------------------------


def _check_config_file(daemon: Path, path: Path, text: str, who: str) -> None:
    check = run([str(daemon), "-p", "-c", str(path)], check=False)
    if check.returncode != 0:
        raise BirdError(f"{who}: config rejected: {check.stderr.strip()}\n{numbered(text)}")


def check_bird_config(
    config: BirdConfig | str, version: BirdVersion = "2", family: Family = 4
) -> str:
    """Render ``config`` and have the real BIRD parse it (``bird -p``); returns the text.

    Raises `BirdError` with BIRD's message and the numbered config if it is rejected.
    """
    text = config if isinstance(config, str) else config.render(version, family)
    daemon = bird_binaries(version, family).daemon
    with tempfile.TemporaryDirectory(prefix="bgpdt-check-") as tmp:
        path = Path(tmp) / "bird.conf"
        path.write_text(text)
        _check_config_file(daemon, path, text, f"BIRD {version} (IPv{family})")
    return text


class BirdDaemon(Daemon):
    """A BIRD daemon (1.6 or 2) in a namespace or on the host, with birdc helpers.

    ``config`` is a `BirdConfig` (rendered for ``version``/``family``) or raw config text.
    For BIRD 1.6, ``family`` picks ``bird`` (4) or ``bird6`` (6); BIRD 2 ignores it for the
    binary and serves both families. Not started until `start()` or ``with``.
    """

    error = BirdError
    __slots__ = ("_binaries", "config", "family", "version")

    def __init__(
        self,
        config: BirdConfig | str,
        *,
        version: BirdVersion = "2",
        family: Family = 4,
        netns: Namespace | None = None,
        workdir: Path | None = None,
        name: str | None = None,
    ) -> None:
        self._binaries = bird_binaries(version, family)
        default = self.default_name(version, family)
        super().__init__(name=name or default, netns=netns, workdir=workdir)
        self.version: BirdVersion = version
        self.family: Family = family
        self.config = config

    @staticmethod
    def default_name(version: BirdVersion = "2", family: Family = 4) -> str:
        """``bird2``, ``bird16``, ``bird16-v6``...: the name when none is given."""
        return f"bird{version.replace('.', '')}" + ("-v6" if family == 6 else "")

    # -- files and process -------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        """The control socket (``-s``)."""
        return self._sockdir / "bird.ctl"

    @property
    def pidfile_path(self) -> Path:
        """The pidfile (``-P``)."""
        return self._sockdir / "bird.pid"

    def config_text(self, config: BirdConfig | str | None = None) -> str:
        """The text that is (or would be) written for ``config`` (default: the current one)."""
        cfg = self.config if config is None else config
        return cfg if isinstance(cfg, str) else cfg.render(self.version, self.family)

    def _write_and_check(self, text: str) -> None:
        self.config_path.write_text(text)
        _check_config_file(self._binaries.daemon, self.config_path, text, self.name)

    def _prepare(self) -> None:
        self._write_and_check(self.config_text())

    def _argv(self) -> list[str]:
        return [
            str(self._binaries.daemon),
            "-f",
            "-c",
            str(self.config_path),
            "-s",
            str(self.socket_path),
            "-P",
            str(self.pidfile_path),
        ]

    def _ready(self) -> bool:
        def up() -> bool:
            return "Daemon is up and running" in self.birdc("show status", timeout=2.0)

        return self._answers(self.socket_path, up)

    # -- control -----------------------------------------------------------------------------

    def birdc(self, command: str, timeout: float = 10.0) -> str:
        """Run one birdc command and return its output without the ``BIRD ... ready.`` banner.

        Raises `BirdError` if birdc fails (no socket, syntax error on BIRD 2, daemon frozen).
        """
        argv = [str(self._binaries.client), "-s", str(self.socket_path), command]
        out = self._control(
            argv,
            f"birdc {command!r}",
            timeout,
            refused=lambda output: "Unable to connect to server" in output,
        )
        return "\n".join(_strip_banner(out))

    def reconfigure(self, config: BirdConfig | str) -> str:
        """Validate and load a new config (``birdc configure``); returns BIRD's answer."""
        text = self.config_text(config)
        self._write_and_check(text)
        self.config = config
        answer = self.birdc(f'configure "{self.config_path}"')
        if "Reconfigur" not in answer:
            raise BirdError(f"{self.name}: configure failed: {answer}")
        return answer

    def protocol_state(self, name: str) -> str:
        """BGP state of protocol ``name`` (``Established``, ``Active``, ``Down``...)."""
        return parse_show_protocol_state(self.birdc(f"show protocols all {name}"), name)

    def wait_established(self, name: str, timeout: float = 15.0) -> None:
        """Wait until protocol ``name`` is Established."""
        self.wait_protocol_state(name, "Established", timeout)

    def wait_protocol_state(self, name: str, state: str, timeout: float = 15.0) -> None:
        """Wait until protocol ``name`` is in ``state`` (e.g. ``"Active"`` after a drop)."""
        self._wait_state(f"protocol {name}", lambda: self.protocol_state(name), state, timeout)

    def routes(self, table: str | None = None) -> RouteTable:
        """All routes (every table, or only ``table``) from ``show route all``."""
        cmd = "show route all" + (f" table {table}" if table else "")
        return parse_show_route(self.birdc(cmd))

    def routes_for(self, prefix: str) -> list[Route]:
        """The paths BIRD holds for exactly ``prefix`` (empty if none)."""
        key = canonical_prefix(prefix)
        try:
            text = self.birdc(f"show route {key} all")
        except BirdError as exc:
            if "Network not found" in str(exc):  # BIRD 2 exits 1 for an absent prefix
                return []
            raise
        return parse_show_route(text).get(key, [])

    def wait_route(
        self, prefix: str, timeout: float = 10.0, where: Callable[[Route], bool] | None = None
    ) -> list[Route]:
        """Wait until BIRD holds ``prefix`` (a path matching ``where``); returns its paths."""
        key = canonical_prefix(prefix)
        return wait_route(self, key, timeout, where, fetch=lambda: {key: self.routes_for(key)})

    def wait_no_route(self, prefix: str, timeout: float = 10.0) -> None:
        """Wait until BIRD holds no path for ``prefix``."""
        key = canonical_prefix(prefix)
        wait_no_route(
            self, key, timeout, fetch=lambda: {key: p} if (p := self.routes_for(key)) else {}
        )

    def _status(self) -> str:
        return self.birdc("show protocols all", timeout=3.0)

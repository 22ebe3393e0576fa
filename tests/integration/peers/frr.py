"""A real FRR 8.4 ``bgpd`` as a BGP peer: config builder, ``vtysh`` control, RIB as `Route`.

FRR's ``bgpd`` runs alone, by hand, in the foreground inside a `Namespace`: no zebra
(``-Z``), no watchfrr, no kernel routes (``-n``), no vty TCP port (``-P 0``), and root kept
(``-S``: no switch to the ``frr`` user, whose group could not reach the test's temp dirs). Its
config, pid file and vty socket live in the daemon's own directories, and ``vtysh
--vty_socket <dir>`` queries it as root with no further setup (the Debian ``frr`` package's
system daemons are never started: ``scripts/install-debian-deps.sh`` installs it under a
policy-rc.d that refuses).

What was verified against FRR 8.4.4 (Debian bookworm ``frr``), and why the builder looks so:

- Without zebra, ``network P`` only originates with ``no bgp network import-check`` (nothing
  can tell bgpd the prefix is reachable); attributes are set by the network's route-map.
- eBGP needs ``no bgp ebgp-requires-policy`` (RFC 8212 default: no routes without policy).
- ``no bgp default ipv4-unicast``: every neighbour activates its own family only, so the IPv6
  session does not also negotiate IPv4 unicast.
- ``frr defaults traditional`` still waits 30 s between eBGP UPDATEs and 120 s between
  connection attempts: `FrrNeighbor` sets ``advertisement-interval 0`` and ``timers connect 1``
  (both at ``router bgp`` level: a session command inside an ``address-family`` block is
  accepted by falling back to the parent node, which then leaves the block, so the following
  ``exit-address-family`` is refused). ``bgp log-neighbor-changes`` (off in "traditional")
  puts received NOTIFICATIONs in the log.
- vty lines are read into a 4,096-octet buffer, so a long community list is split over several
  route-map entries (``set community ... additive`` and ``on-match next``).
- ``bgpd -C`` (dry run) exits 0 even when it rejects lines; it only logs them (with an
  ``[EC <code>]`` tag), so `FrrDaemon` reads its log to check a config.
- Every bgpd process, dry runs included, makes ``/var/tmp/frr/bgpd.<pid>`` (for a crash log)
  and leaves it when it exits: `FrrDaemon` removes the ones of its own processes.
- ``show bgp <afi> unicast json`` lists prefixes without communities; the per-prefix
  ``show bgp <afi> unicast <prefix> json`` has every attribute, so `FrrDaemon.routes` asks for
  the table, then for every prefix in one ``vtysh`` call (several ``-c``, JSON documents back
  to back). ``metric`` (MED) is printed only when the attribute is present, except on locally
  originated paths.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .binaries import Family, frr_binaries
from .bird import StaticRoute
from .daemon import DaemonError, NeighborDaemon, numbered
from .netns import Namespace
from .routes import (
    ORIGIN_NAMES,
    Route,
    RouteTable,
    canonical_prefix,
    family_of,
    parse_communities,
    parse_large_communities,
)

__all__ = ["FRR_RUN_DIRS", "FrrDaemon", "FrrError", "FrrNeighbor", "parse_prefix_json"]

FRR_RUN_DIRS = Path("/var/tmp/frr")
_VTY_LINE = 4096
_COMMUNITIES_PER_LINE = 250  # "65535:65535 " is 12 octets: 250 stay well below the vty line


class FrrError(DaemonError):
    """vtysh failed, or FRR's answer was not what was expected."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FrrNeighbor:
    """One ``neighbor`` of ``router bgp``, activated in its own address family.

    ``hold_time`` also sets the keepalive (a third of it) unless ``keepalive_time`` is given.
    """

    address: str
    remote_as: int
    password: str | None = None
    hold_time: int | None = None
    keepalive_time: int | None = None
    passive: bool = False
    update_source: str | None = None
    route_map_out: str | None = None

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)

    @property
    def family(self) -> Family:
        """The address family of the session (of the neighbour address)."""
        return family_of(self.address)

    def session_lines(self) -> list[str]:
        """Lines inside ``router bgp`` (outside any address family)."""
        n = f" neighbor {self.address}"
        lines = [
            f"{n} remote-as {self.remote_as}",
            f"{n} timers connect 1",
            f"{n} advertisement-interval 0",
        ]
        if self.hold_time is not None:
            keepalive = self.keepalive_time or max(1, self.hold_time // 3)
            lines.append(f"{n} timers {keepalive} {self.hold_time}")
        if self.password is not None:
            lines.append(f"{n} password {self.password}")
        if self.passive:
            lines.append(f"{n} passive")
        if self.update_source is not None:
            lines.append(f"{n} update-source {self.update_source}")
        return lines

    def family_lines(self) -> list[str]:
        """Lines inside this neighbour's ``address-family`` block."""
        n = f"  neighbor {self.address}"
        lines = [f"{n} activate"]
        if self.route_map_out is not None:
            lines.append(f"{n} route-map {self.route_map_out} out")
        return lines


def _route_map(name: str, route: StaticRoute) -> list[str]:
    """A route-map setting ``route``'s attributes, split so no line outgrows the vty buffer."""
    first = [f" set as-path prepend {' '.join(str(a) for a in route.as_path_prepend)}"]
    first = first if route.as_path_prepend else []
    if route.large_communities:
        large = " ".join(f"{a}:{b}:{c}" for a, b, c in route.large_communities)
        first.append(f" set large-community {large}")
    if route.med is not None:
        first.append(f" set metric {route.med}")
    if route.local_pref is not None:
        first.append(f" set local-preference {route.local_pref}")
    chunks = [
        route.communities[i : i + _COMMUNITIES_PER_LINE]
        for i in range(0, len(route.communities), _COMMUNITIES_PER_LINE)
    ] or [()]
    out: list[str] = []
    for seq, chunk in enumerate(chunks, 1):
        out.append(f"route-map {name} permit {seq * 10}")
        if seq == 1:
            out += first
        if chunk:
            text = " ".join(f"{a}:{b}" for a, b in chunk)
            out.append(f" set community {text}" + (" additive" if seq > 1 else ""))
        if seq < len(chunks):
            out.append(" on-match next")
        out.append("!")
    return out


def _route_from_json(prefix: str, path: dict[str, Any]) -> Route:
    as_path: list[int] = []
    for seg in path.get("aspath", {}).get("segments", []):
        as_path += [int(a) for a in seg.get("list", [])]
    hops = path.get("nexthops", [])
    local = bool(path.get("local") or path.get("sourced"))
    peer = path.get("peer", {})
    return Route(
        prefix=prefix,
        next_hop=hops[0]["ip"] if hops else None,
        as_path=tuple(as_path),
        communities=parse_communities(path.get("community", {}).get("list", [])),
        large_communities=parse_large_communities(
            path.get("largeCommunity", {}).get("string", "").split()
        ),
        med=int(path["metric"]) if "metric" in path and not local else None,
        local_pref=int(path["locPrf"]) if "locPrf" in path else None,
        origin=ORIGIN_NAMES.get(str(path.get("origin", "")).lower()),
        originator_id=path.get("originatorId"),
        cluster_list=tuple(path.get("clusterList", {}).get("list", [])),
        source="local" if local else str(peer.get("peerId", "")),
        best=bool(path.get("bestpath", {}).get("overall", False)),
        raw=tuple(
            (k, json.dumps(v)) for k, v in path.items() if k not in ("lastUpdate", "version")
        ),
    )


def parse_prefix_json(data: dict[str, Any]) -> tuple[str, list[Route]]:
    """``show bgp <afi> unicast <prefix> json`` as (canonical prefix, every path)."""
    prefix = canonical_prefix(str(data["prefix"]))
    return prefix, [_route_from_json(prefix, p) for p in data.get("paths", [])]


def _json_documents(text: str) -> list[Any]:
    """Decode JSON documents written back to back (one per ``vtysh -c``)."""
    decoder = json.JSONDecoder()
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        out.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _remove_run_dir(pid: int) -> None:
    """Remove the per-process directory FRR leaves behind (``/var/tmp/frr/bgpd.<pid>``, for
    its crash log), of a process of ours that has exited."""
    shutil.rmtree(FRR_RUN_DIRS / f"bgpd.{pid}", ignore_errors=True)


class FrrDaemon(NeighborDaemon):
    """FRR's bgpd with a generated config, controlled through ``vtysh``.

    ``routes`` are originated with ``network`` statements (each with its attributes in a
    route-map). ``extra_config`` is appended verbatim after ``router bgp`` (e.g. route-maps
    named in `FrrNeighbor.route_map_out`). Not started until `start()` or ``with``.
    """

    error = FrrError
    __slots__ = (
        "_bgpd",
        "_vtysh",
        "extra_config",
        "graceful_restart_time",
        "neighbors",
        "originated",
    )

    def __init__(
        self,
        *,
        asn: int,
        router_id: str,
        neighbors: Sequence[FrrNeighbor] = (),
        routes: Sequence[StaticRoute] = (),
        graceful_restart_time: int | None = None,
        netns: Namespace | None = None,
        workdir: Path | None = None,
        name: str = "frr",
        extra_config: str = "",
    ) -> None:
        self._bgpd, self._vtysh = frr_binaries()
        super().__init__(asn=asn, router_id=router_id, name=name, netns=netns, workdir=workdir)
        self.neighbors = tuple(neighbors)
        self.originated = tuple(routes)
        self.graceful_restart_time = graceful_restart_time
        self.extra_config = extra_config

    def config_text(self) -> str:
        """The config written at start."""
        out = ["frr defaults traditional", f"hostname {self.name}", "log stdout informational"]
        out.append("!")
        for i, route in enumerate(self.originated):
            out += _route_map(f"ORIGINATE-{i}", route)
        out += [
            f"router bgp {self.asn}",
            f" bgp router-id {self.router_id}",
            " no bgp ebgp-requires-policy",
            " no bgp network import-check",
            " no bgp default ipv4-unicast",
            " bgp log-neighbor-changes",  # NOTIFICATIONs in the log ("traditional" has it off)
        ]
        if self.graceful_restart_time is not None:
            out += [
                " bgp graceful-restart",
                f" bgp graceful-restart restart-time {self.graceful_restart_time}",
            ]
        for n in self.neighbors:
            out += n.session_lines()
        for family in (4, 6):
            neighbors = [n for n in self.neighbors if n.family == family]
            routes = [(i, r) for i, r in enumerate(self.originated) if r.family == family]
            if not neighbors and not routes:
                continue
            out.append(f" address-family ipv{family} unicast")
            out += [f"  network {r.prefix} route-map ORIGINATE-{i}" for i, r in routes]
            for n in neighbors:
                out += n.family_lines()
            out.append(" exit-address-family")
        out.append("!")
        text = "\n".join(out) + "\n"
        too_long = [line for line in text.splitlines() if len(line) >= _VTY_LINE]
        if too_long:
            raise FrrError(f"{self.name}: config line longer than the vty buffer: {too_long[0]}")
        return text + (self.extra_config + "\n" if self.extra_config else "")

    def _prepare(self) -> None:
        text = self.config_text()
        self.config_path.write_text(text)
        # `-C` exits 0 whatever it finds: its complaints are log lines tagged "[EC <code>]".
        # It runs in the host's namespace: `-p 0` keeps it from binding the BGP port there
        # (two checks at once failed with "bind: Address already in use"), `-Z` from zebra.
        argv = [str(self._bgpd), "-C", "-S", "-Z", "-p", "0", "--log", "stdout"]
        argv += ["-f", str(self.config_path)]
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as check:
            out, _ = check.communicate(timeout=30)
        _remove_run_dir(check.pid)
        errors = [line for line in out.splitlines() if "[EC " in line]
        if check.returncode != 0 or errors:
            raise FrrError(
                f"{self.name}: config rejected:\n" + "\n".join([*errors, numbered(text)])
            )

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (peers get a Cease), SIGKILL after ``timeout``; removes FRR's run dir."""
        status = super().stop(timeout)
        if self.process is not None:
            _remove_run_dir(self.process.pid)
        return status

    def kill(self) -> int | None:
        """SIGKILL; removes FRR's run dir."""
        status = super().kill()
        if self.process is not None:
            _remove_run_dir(self.process.pid)
        return status

    def _argv(self) -> list[str]:
        return [
            str(self._bgpd),
            "-f",
            str(self.config_path),
            "-i",
            str(self._sockdir / "bgpd.pid"),
            "--vty_socket",
            str(self._sockdir),
            "-P",
            "0",  # no vty TCP port
            "-Z",  # no zebra: nothing resolves next hops or installs routes
            "-n",
            "-S",  # stay root: no switch to the frr user
        ]

    def _ready(self) -> bool:
        return self._answers(
            self._sockdir / "bgpd.vty", lambda: self.vtysh_json("show bgp summary json")
        )

    # -- control -----------------------------------------------------------------------------

    def vtysh(self, *commands: str, timeout: float = 10.0) -> str:
        """Run ``vtysh --vty_socket <dir> -c C1 -c C2 ...``; `FrrError` on failure."""
        argv = [str(self._vtysh), "--vty_socket", str(self._sockdir)]
        for command in commands:
            argv += ["-c", command]
        # vtysh exits 0 on a refused command: FRR's refusals start with "%".
        return self._control(
            argv, f"vtysh {commands}", timeout, refused=lambda out: out.lstrip().startswith("%")
        )

    def vtysh_json(self, command: str) -> Any:
        """One ``... json`` command, decoded."""
        return self._decode_json(self.vtysh(command), repr(command))

    def neighbor_json(self, address: str) -> dict[str, Any]:
        """``show bgp neighbors <address> json`` for that neighbour."""
        data = self.vtysh_json(f"show bgp neighbors {address} json")
        for key, value in (data or {}).items():
            if ipaddress.ip_address(key) == ipaddress.ip_address(address):
                return dict(value)
        raise FrrError(f"{self.name}: no neighbour {address} in {data}")

    def neighbor_state(self, address: str) -> str:
        """``Established``, ``Active``, ``Connect``, ``Idle``... (FRR's ``bgpState``)."""
        return str(self.neighbor_json(address).get("bgpState", "?"))

    def clear_soft_in(self, address: str) -> None:
        """``clear bgp <address> soft in``: ask the neighbour to resend (ROUTE-REFRESH)."""
        afi = f"ipv{family_of(address)}"
        self.vtysh(f"clear bgp {afi} unicast {address} soft in")

    def routes(self, family: Family | None = None) -> RouteTable:
        """Every path of the BGP table (both families unless ``family`` is given)."""
        families: tuple[Family, ...] = (4, 6) if family is None else (family,)
        table: RouteTable = {}
        for fam in families:
            listing = self.vtysh_json(f"show bgp ipv{fam} unicast json")
            prefixes = list((listing or {}).get("routes", {}))
            if not prefixes:
                continue
            out = self.vtysh(*(f"show bgp ipv{fam} unicast {p} json" for p in prefixes))
            for doc in _json_documents(out):
                if doc and "prefix" in doc:
                    prefix, paths = parse_prefix_json(doc)
                    table[prefix] = paths
        return table

    def _status(self) -> str:
        return self.vtysh("show bgp summary", "show bgp neighbors", timeout=3.0)[-6000:]

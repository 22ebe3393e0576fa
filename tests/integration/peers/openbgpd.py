"""A real OpenBGPD 7.7 (portable) as a BGP peer: config builder, ``bgpctl`` control, RIB.

``/usr/sbin/bgpd -d -f <conf>`` runs in the foreground inside a `Namespace`; its control socket
is set in the config (``socket "<path>"``: 7.7 has no command-line flag for it), and OpenBGPD's
own ``/usr/sbin/bgpctl -s <socket>`` queries it (always by absolute path: our ``bgpctl`` console
script in ``.venv/bin`` has the same name).

What was verified against OpenBGPD 7.7 (Debian bookworm ``openbgpd``), and why this looks so:

- The daemon is privilege-separated: the parent (root) forks a session engine, a route decision
  engine and an RTR engine that ``chroot`` into the home of the ``_openbgpd`` user,
  ``/run/openbgpd``, and drop to that user. The package creates the user (systemd-sysusers) but
  not the directory (systemd's ``RuntimeDirectory`` does, and the service is never started
  here), so `OpenbgpdDaemon` creates it (empty, root-owned, 0755) when missing; without it the
  children die with "chroot: No such file or directory". There is no flag to stay unprivileged.
- The children share the parent's process group (the parent is a group leader: `Process`
  starts it in its own session), so freezing or killing the daemon signals the whole group:
  SIGSTOP on the parent alone would leave the session engine answering keepalives, and SIGKILL
  on the parent alone would leave the children holding the BGP port.
- ``fib-update no``: the kernel routing table is never touched. Received routes still need a
  reachable next hop; in a namespace the connected LAN route resolves it.
- ``connect-retry`` defaults to 120 s: the builder sets 1 s.
- Originated routes come from ``network P set { ... }``. OpenBGPD cannot put arbitrary AS
  numbers in the path of a route it originates (only ``prepend-self``/``prepend-neighbor``), so
  `StaticRoute.as_path_prepend` is refused.
- Filters deny everything by default: ``allow from any`` / ``allow to any`` are always written.
- ``bgpctl -j`` prints JSON: ``show neighbor`` (``neighbors[].state``, ``stats``) and
  ``show rib detail`` (``rib[]`` with ``aspath`` text, ``communities``, ``large_communities``,
  ``metric``, ``exit_nexthop``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .binaries import Family, openbgpd_binaries
from .bird import StaticRoute
from .daemon import Daemon, DaemonError
from .netns import Namespace, run
from .poll import wait_until
from .routes import (
    Route,
    RouteTable,
    canonical_prefix,
    normalise_communities,
    normalise_large,
    wait_no_route,
    wait_route,
)

__all__ = ["CHROOT_DIR", "OpenbgpdDaemon", "OpenbgpdError", "OpenbgpdNeighbor", "parse_rib_json"]

CHROOT_DIR = Path("/run/openbgpd")
_ORIGINS = {"igp": "IGP", "egp": "EGP", "incomplete": "Incomplete"}


class OpenbgpdError(DaemonError):
    """bgpctl failed, or OpenBGPD's answer was not what was expected."""


def _quote(text: str) -> str:
    if '"' in text or "\\" in text or "\n" in text:
        raise ValueError(f"cannot quote {text!r} for OpenBGPD")
    return f'"{text}"'


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenbgpdNeighbor:
    """One ``neighbor`` block (its own address family is announced, as OpenBGPD defaults)."""

    address: str
    remote_as: int
    password: str | None = None
    hold_time: int | None = None
    passive: bool = False
    local_address: str | None = None
    extra: str = ""

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)

    def render(self) -> list[str]:
        """The ``neighbor`` block."""
        out = [f"neighbor {self.address} {{", f"  remote-as {self.remote_as}"]
        if self.hold_time is not None:
            out += [f"  holdtime min {min(3, self.hold_time)}", f"  holdtime {self.hold_time}"]
        if self.password is not None:
            out.append(f"  tcp md5sig password {_quote(self.password)}")
        if self.passive:
            out.append("  passive")
        if self.local_address is not None:
            out.append(f"  local-address {self.local_address}")
        if self.extra:
            out.append(f"  {self.extra}")
        return [*out, "}"]


def _network(route: StaticRoute) -> str:
    if route.as_path_prepend:
        raise ValueError(f"OpenBGPD cannot originate {route.prefix} with a foreign AS path")
    sets = [f"community {a}:{b}" for a, b in route.communities]
    sets += [f"large-community {a}:{b}:{c}" for a, b, c in route.large_communities]
    if route.med is not None:
        sets.append(f"med {route.med}")
    if route.local_pref is not None:
        sets.append(f"localpref {route.local_pref}")
    return f"network {route.prefix}" + (f" set {{ {' '.join(sets)} }}" if sets else "")


def _route_from_json(entry: dict[str, Any]) -> Route:
    prefix = canonical_prefix(str(entry["prefix"]))
    neighbor = entry.get("neighbor", {})
    local = neighbor.get("description") == "LOCAL"  # "source": "internal" means iBGP
    return Route(
        prefix=prefix,
        next_hop=entry.get("exit_nexthop"),
        as_path=tuple(int(a) for a in str(entry.get("aspath", "")).split() if a.isdigit()),
        communities=normalise_communities(
            (int(a), int(b))
            for a, b in (c.split(":") for c in entry.get("communities", []))
            if a.isdigit() and b.isdigit()
        ),
        large_communities=normalise_large(
            (int(a), int(b), int(c))
            for a, b, c in (c.split(":") for c in entry.get("large_communities", []))
        ),
        med=int(entry["metric"]) if "metric" in entry else None,
        local_pref=int(entry["localpref"]) if "localpref" in entry else None,
        origin=_ORIGINS.get(str(entry.get("origin", "")).lower()),
        source="local" if local else str(neighbor.get("remote_addr", "")),
        best=bool(entry.get("best", False)),
        raw=tuple((k, json.dumps(v)) for k, v in entry.items() if not k.startswith("last_")),
    )


def parse_rib_json(text: str) -> RouteTable:
    """Parse ``bgpctl -j show rib detail`` output into routes by prefix."""
    data = json.loads(text) if text.strip() else {}
    table: RouteTable = {}
    for entry in data.get("rib", []):
        route = _route_from_json(entry)
        table.setdefault(route.prefix, []).append(route)
    return table


class OpenbgpdDaemon(Daemon):
    """OpenBGPD's bgpd with a generated config, controlled through its ``bgpctl``.

    ``routes`` are announced with ``network`` statements. ``extra_config`` is appended verbatim
    before the filter rules. Not started until `start()` or ``with``.
    """

    __slots__ = ("_bgpctl", "_bgpd", "asn", "extra_config", "neighbors", "originated", "router_id")

    def __init__(
        self,
        *,
        asn: int,
        router_id: str,
        neighbors: Sequence[OpenbgpdNeighbor] = (),
        routes: Sequence[StaticRoute] = (),
        netns: Namespace | None = None,
        workdir: Path | None = None,
        name: str = "openbgpd",
        extra_config: str = "",
    ) -> None:
        self._bgpd, self._bgpctl = openbgpd_binaries()
        super().__init__(name=name, netns=netns, workdir=workdir)
        ipaddress.IPv4Address(router_id)
        self.asn = asn
        self.router_id = router_id
        self.neighbors = tuple(neighbors)
        self.originated = tuple(routes)
        self.extra_config = extra_config

    @property
    def config_path(self) -> Path:
        """Where bgpd.conf is written."""
        return self.workdir / f"{self.name}.conf"

    @property
    def socket_path(self) -> Path:
        """The control socket."""
        return self._sockdir / "bgpd.sock"

    def config_text(self) -> str:
        """The config written at start."""
        out = [
            f"AS {self.asn}",
            f"router-id {self.router_id}",
            f"socket {_quote(str(self.socket_path))}",
            "fib-update no",
            "connect-retry 1",
        ]
        out += [_network(r) for r in self.originated]
        for n in self.neighbors:
            out += n.render()
        if self.extra_config:
            out.append(self.extra_config)
        out += ["allow from any", "allow to any"]
        return "\n".join(out) + "\n"

    def _prepare(self) -> None:
        CHROOT_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        text = self.config_text()
        self.config_path.write_text(text)
        # The config may hold an MD5 password: readable by root only, like /etc/bgpd.conf.
        self.config_path.chmod(0o600)
        check = run([str(self._bgpd), "-n", "-f", str(self.config_path)], check=False)
        if check.returncode != 0:
            raise OpenbgpdError(
                f"{self.name}: config rejected:\n{check.stdout}{check.stderr}\n{text}"
            )

    def _argv(self) -> list[str]:
        return [str(self._bgpd), "-d", "-f", str(self.config_path)]

    def _ready(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            self.bgpctl_json("show", "neighbor")
        except OpenbgpdError:
            return False
        return True

    # -- process group ------------------------------------------------------------------------

    def _signal_group(self, sig: int) -> None:
        if self.running:
            os.killpg(self.pid, sig)  # the group of the daemon we started (see the docstring)

    def freeze(self) -> None:
        """SIGSTOP the parent and its engines: keepalives stop, hold timers run out."""
        self._signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze`."""
        self._signal_group(signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGCONT to the group (a frozen engine could not exit), then SIGTERM to the parent,
        which stops its engines."""
        self._signal_group(signal.SIGCONT)
        return super().stop(timeout)

    def kill(self) -> int | None:
        """SIGKILL the parent and its engines at once (peers see a reset or silence)."""
        self._signal_group(signal.SIGKILL)
        return super().kill()

    # -- control -----------------------------------------------------------------------------

    def bgpctl(self, *args: str, timeout: float = 10.0) -> str:
        """Run ``/usr/sbin/bgpctl -s <socket> <args>``; `OpenbgpdError` on failure."""
        argv = [str(self._bgpctl), "-s", str(self.socket_path), *args]
        try:
            proc = run(argv, check=False, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise OpenbgpdError(f"{self.name}: bgpctl {args} timed out (frozen?)") from exc
        if proc.returncode != 0:
            raise OpenbgpdError(
                f"{self.name}: bgpctl {' '.join(args)} failed ({proc.returncode}): "
                f"{(proc.stdout + proc.stderr).strip()[:2000]}"
            )
        return proc.stdout

    def bgpctl_json(self, *args: str) -> Any:
        """``bgpctl -j <args>``, decoded."""
        out = self.bgpctl("-j", *args)
        try:
            return json.loads(out) if out.strip() else {}
        except json.JSONDecodeError as exc:
            raise OpenbgpdError(f"{self.name}: not JSON from bgpctl {args}: {out[:500]}") from exc

    def neighbor_json(self, address: str) -> dict[str, Any]:
        """``bgpctl -j show neighbor <address>`` for that neighbour."""
        for n in self.bgpctl_json("show", "neighbor", address).get("neighbors", []):
            if ipaddress.ip_address(n["remote_addr"]) == ipaddress.ip_address(address):
                return dict(n)
        raise OpenbgpdError(f"{self.name}: no neighbour {address}")

    def neighbor_state(self, address: str) -> str:
        """``Established``, ``Active``, ``Idle``... as bgpctl spells them."""
        return str(self.neighbor_json(address).get("state", "?"))

    def wait_established(self, address: str, timeout: float = 15.0) -> None:
        """Wait until the session with ``address`` is Established."""
        wait_until(
            lambda: self.neighbor_state(address) == "Established",
            timeout,
            0.1,
            f"{self.name} neighbour {address} Established",
            retry_on=(OpenbgpdError,),
            describe=self.diagnostics,
        )

    def refresh(self, address: str) -> None:
        """``bgpctl neighbor <address> refresh``: ask the neighbour to resend (ROUTE-REFRESH)."""
        self.bgpctl("neighbor", address, "refresh")

    def routes(self, family: Family | None = None) -> RouteTable:
        """Every path in the RIB (both families unless ``family`` is given)."""
        args = ["show", "rib", "detail"]
        if family is not None:
            args.append("inet6" if family == 6 else "inet")
        return parse_rib_json(self.bgpctl("-j", *args))

    def wait_route(
        self, prefix: str, timeout: float = 10.0, where: Callable[[Route], bool] | None = None
    ) -> list[Route]:
        """Wait until the RIB holds ``prefix`` (a path matching ``where``)."""
        key = canonical_prefix(prefix)
        fam: Family = 6 if ipaddress.ip_network(key).version == 6 else 4
        return wait_route(self, key, timeout, where, fetch=lambda: self.routes(fam))

    def wait_no_route(self, prefix: str, timeout: float = 10.0) -> None:
        """Wait until the RIB holds no path for ``prefix``."""
        key = canonical_prefix(prefix)
        fam: Family = 6 if ipaddress.ip_network(key).version == 6 else 4
        wait_no_route(self, key, timeout, fetch=lambda: self.routes(fam))

    def diagnostics(self) -> str:
        """Neighbour summary (if bgpd answers), config path and log tail."""
        try:
            state = self.bgpctl("show", "neighbor", timeout=3.0)
        except OpenbgpdError as exc:
            state = str(exc)
        return f"== {self!r} config {self.config_path}\n{state[-6000:]}\n{self.logs()}"

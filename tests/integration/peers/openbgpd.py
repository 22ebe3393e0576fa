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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .binaries import Family, openbgpd_binaries
from .bird import StaticRoute
from .daemon import DaemonError, NeighborDaemon, numbered, quoted
from .netns import Namespace, run
from .routes import (
    ORIGIN_NAMES,
    Route,
    RouteTable,
    canonical_prefix,
    parse_communities,
    parse_large_communities,
)

__all__ = ["CHROOT_DIR", "OpenbgpdDaemon", "OpenbgpdError", "OpenbgpdNeighbor", "parse_rib_json"]

CHROOT_DIR = Path("/run/openbgpd")


class OpenbgpdError(DaemonError):
    """bgpctl failed, or OpenBGPD's answer was not what was expected."""


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
            out.append(f"  tcp md5sig password {quoted(self.password, 'OpenBGPD')}")
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
        communities=parse_communities(entry.get("communities", [])),
        large_communities=parse_large_communities(entry.get("large_communities", [])),
        med=int(entry["metric"]) if "metric" in entry else None,
        local_pref=int(entry["localpref"]) if "localpref" in entry else None,
        origin=ORIGIN_NAMES.get(str(entry.get("origin", "")).lower()),
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


class OpenbgpdDaemon(NeighborDaemon):
    """OpenBGPD's bgpd with a generated config, controlled through its ``bgpctl``.

    ``routes`` are announced with ``network`` statements. ``extra_config`` is appended verbatim
    before the filter rules. Not started until `start()` or ``with``.
    """

    error = OpenbgpdError
    __slots__ = ("_bgpctl", "_bgpd", "extra_config", "neighbors", "originated")

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
        super().__init__(asn=asn, router_id=router_id, name=name, netns=netns, workdir=workdir)
        self.neighbors = tuple(neighbors)
        self.originated = tuple(routes)
        self.extra_config = extra_config

    @property
    def socket_path(self) -> Path:
        """The control socket."""
        return self._sockdir / "bgpd.sock"

    def config_text(self) -> str:
        """The config written at start."""
        out = [
            f"AS {self.asn}",
            f"router-id {self.router_id}",
            f"socket {quoted(str(self.socket_path), 'OpenBGPD')}",
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
                f"{self.name}: config rejected:\n{check.stdout}{check.stderr}\n{numbered(text)}"
            )

    def _argv(self) -> list[str]:
        return [str(self._bgpd), "-d", "-f", str(self.config_path)]

    def _ready(self) -> bool:
        return self._answers(
            self.socket_path, lambda: self.bgpctl_json("show", "neighbor") is not None
        )

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
        return self._control(argv, f"bgpctl {' '.join(args)}", timeout)

    def bgpctl_json(self, *args: str) -> Any:
        """``bgpctl -j <args>``, decoded."""
        what = f"bgpctl -j {' '.join(args)}"
        return self._decode_json(self.bgpctl("-j", *args), what) or {}

    def neighbor_json(self, address: str) -> dict[str, Any]:
        """``bgpctl -j show neighbor <address>`` for that neighbour."""
        for n in self.bgpctl_json("show", "neighbor", address).get("neighbors", []):
            if ipaddress.ip_address(n["remote_addr"]) == ipaddress.ip_address(address):
                return dict(n)
        raise OpenbgpdError(f"{self.name}: no neighbour {address}")

    def neighbor_state(self, address: str) -> str:
        """``Established``, ``Active``, ``Idle``... as bgpctl spells them."""
        return str(self.neighbor_json(address).get("state", "?"))

    def refresh(self, address: str) -> None:
        """``bgpctl neighbor <address> refresh``: ask the neighbour to resend (ROUTE-REFRESH)."""
        self.bgpctl("neighbor", address, "refresh")

    def routes(self, family: Family | None = None) -> RouteTable:
        """Every path in the RIB (both families unless ``family`` is given)."""
        args = ["show", "rib", "detail"]
        if family is not None:
            args.append("inet6" if family == 6 else "inet")
        return parse_rib_json(self.bgpctl("-j", *args))

    def _status(self) -> str:
        return self.bgpctl("show", "neighbor", timeout=3.0)[-6000:]

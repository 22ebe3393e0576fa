"""FRR with BFD: ``zebra``, ``bfdd`` and ``bgpd`` together in one namespace (``neighbor X bfd``).

`FrrDaemon` runs FRR's bgpd alone (no zebra, no kernel); BFD needs all three: bgpd asks bfdd for
a session through zebra, and zebra installs the BGP routes in the namespace's kernel (protocol
``bgp``), which is what a failover is measured on. What was verified against FRR 8.4.4:

- zebra and bfdd refuse to run as root unless root is in the ``frrvty`` group (``privs_init``),
  and have no ``-S``; they run as the ``frr`` user (its capabilities kept by FRR's privs), so
  their directory is a fresh one under /tmp owned by ``frr``, removed at `close()`.
- ``neighbor X bfd 3 100 100`` sets multiplier, receive and transmit intervals from bgpd.
- ``show bfd peers json`` lists each peer with its ``status`` ("up", "down", "init").

Processes are spawned through the namespace (stopped by PID when it closes, or by `close()`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .frr import _remove_run_dir
from .netns import Namespace, Process
from .poll import wait_until

FRR_LIB = Path("/usr/lib/frr")


class FrrBfdSuite:
    """FRR's zebra + bfdd + bgpd in `netns`, AS `asn`, one eBGP neighbour with BFD."""

    def __init__(
        self,
        netns: Namespace,
        *,
        asn: int,
        router_id: str,
        neighbor: str,
        neighbor_as: int,
        networks: tuple[str, ...] = (),
        bfd: tuple[int, int, int] | None = (3, 100, 100),
        hold_time: int = 90,
    ) -> None:
        self.netns = netns
        self.dir = Path(tempfile.mkdtemp(prefix="bgpdt-frr-"))
        shutil.chown(self.dir, "frr", "frr")
        self.dir.chmod(0o755)
        self.neighbor = neighbor
        bgp = [
            "frr defaults traditional",
            "hostname frr",
            "log stdout informational",
            f"router bgp {asn}",
            f" bgp router-id {router_id}",
            " no bgp ebgp-requires-policy",
            " no bgp network import-check",
            f" neighbor {neighbor} remote-as {neighbor_as}",
            f" neighbor {neighbor} timers {hold_time // 3} {hold_time}",
            f" neighbor {neighbor} timers connect 1",
            f" neighbor {neighbor} advertisement-interval 0",
            *([f" neighbor {neighbor} bfd {bfd[0]} {bfd[1]} {bfd[2]}"] if bfd else []),
            " address-family ipv4 unicast",
            *(f"  network {n}" for n in networks),
            " exit-address-family",
        ]
        self._files = {
            "zebra": "hostname z\nlog stdout informational\n",
            "bfdd": "hostname b\nlog stdout informational\n",
            "bgpd": "\n".join(bgp) + "\n",
        }
        self.processes: dict[str, Process] = {}

    def start(self) -> FrrBfdSuite:
        for name, text in self._files.items():
            path = self.dir / f"{name}.conf"
            path.write_text(text)
            shutil.chown(path, "frr", "frr")
        common = ["-z", str(self.dir / "zserv.api"), "--vty_socket", str(self.dir), "-P", "0"]
        common += ["-u", "frr", "-g", "frr"]
        for name in ("zebra", "bfdd", "bgpd"):
            argv = [str(FRR_LIB / name), "-f", str(self.dir / f"{name}.conf")]
            argv += ["-i", str(self.dir / f"{name}.pid"), *common]
            if name == "bfdd":
                argv += ["--bfdctl", str(self.dir / "bfdd.sock")]
            self.processes[name] = self.netns.spawn(argv, name=f"frr-{name}", log_dir=self.dir)
            if name == "zebra":  # the others connect to its socket
                wait_until((self.dir / "zserv.api").exists, 10, message="zebra up")
        wait_until((self.dir / "bgpd.vty").exists, 10, message="bgpd vty")
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]

    def vtysh(self, command: str) -> str:
        out = subprocess.run(
            ["vtysh", "--vty_socket", str(self.dir), "-c", command],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout

    def bfd_status(self) -> str:
        peers: list[dict[str, Any]] = json.loads(self.vtysh("show bfd peers json") or "[]")
        return next((str(p["status"]) for p in peers if p.get("peer") == self.neighbor), "")

    def bgp_state(self) -> str:
        data = json.loads(self.vtysh(f"show bgp neighbors {self.neighbor} json"))
        return str(data.get(self.neighbor, {}).get("bgpState", ""))

    def output(self) -> str:
        return "\n".join(p.output() for p in self.processes.values())

    def close(self) -> None:
        for name in ("bgpd", "bfdd", "zebra"):
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop()
                _remove_run_dir(proc.pid)
        shutil.rmtree(self.dir, ignore_errors=True)

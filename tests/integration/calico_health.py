"""calico-node's BIRD health checks, as a program: `python -m tests.integration.calico_health`.

A port of `calico component node health` (node/pkg/health/health.go, `calico-node -bird-live`
etc. in older releases) for the BIRD flags only, run where calico-node runs them: inside the
node's mount and network namespaces (tests/integration/test_calico_node_runit.py enters them
with nsenter). The paths and commands are health.go's own, unchanged:

- `--bird-live` / `--bird6-live` (checkServiceIsLive, then birdcl): `sv status
  /etc/service/enabled/confd` and `.../bird` (`bird6`) must print a line starting `run`, then
  `/bin/birdcl -s /var/run/calico/bird.ctl show status` (`bird6.ctl`) must succeed and its
  output start with `BIRD`;
- `--bird-ready` / `--bird6-ready` (checkBIRDReady): stat `/var/lib/calico/nodename`, read the
  peers from `show protocols` on the socket (bird.go GetPeers, falling back to
  `/var/run/bird/` when the socket file is absent) and apply the threshold rule, with `show
  status` for a graceful restart in progress. The parsing is the rule-for-rule port in
  tests/unit/control/test_bird_calico.py.

Exit status 0 when every check passes; otherwise 1, with health.go's message on stdout.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from tests.unit.control.test_bird_calico import (
    CalicoParseError,
    bird_live,
    bird_ready,
    gr_in_progress,
    scan_bird_peers,
)

NODENAME_FILE = "/var/lib/calico/nodename"
BIRD_TIMEOUT = 2.0  # bird.go birdTimeOut


class UnhealthyError(Exception):
    """health.go returns an error: the message it prints."""


def check_service(name: str) -> None:
    """health.go checkService: `sv status /etc/service/enabled/<name>` starts with "run"."""
    done = subprocess.run(
        ["sv", "status", f"/etc/service/enabled/{name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UnhealthyError(f"exit status {done.returncode}")
    if not done.stdout.startswith("run"):
        raise UnhealthyError(
            f"service {name} is not running. Output << {done.stdout.strip(chr(10))} >>"
        )


def check_live(ipv: str) -> None:
    """The -bird-live (ipv "") / -bird6-live (ipv "6") goroutine of health.go RunOutput."""
    label = f"bird{ipv}"
    try:
        for service in ("confd", label):
            check_service(service)
    except UnhealthyError as exc:
        raise UnhealthyError(
            f"calico/node is not ready: {label}/confd is not live: {exc}"
        ) from None
    done = subprocess.run(
        ["/bin/birdcl", "-s", f"/var/run/calico/bird{ipv}.ctl", "show", "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        status = f"exit status {done.returncode}"
        raise UnhealthyError(f"calico/node is not ready: {label} is not live: {status}")
    if not bird_live(done.stdout):
        raise UnhealthyError(f"calico/node is not ready: bad response from {label}: {done.stdout}")


def _bird_query(ipv: str, command: str) -> list[str]:
    """bird.go: connect (socket in /var/run/calico, else /var/run/bird), send, read the reply."""
    path = f"/var/run/calico/bird{ipv}.ctl"
    if not os.path.exists(path):
        path = f"/var/run/bird/bird{ipv}.ctl"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError as exc:
            raise UnhealthyError(
                f"error querying BIRD: unable to connect to BIRDv{ipv or '4'} socket: {exc}"
            ) from None
        sock.sendall(command.encode() + b"\n")
        sock.settimeout(BIRD_TIMEOUT)
        lines: list[str] = []
        with sock.makefile("r", encoding="utf-8", newline="\n") as reader:
            for raw in reader:
                line = raw.removesuffix("\n")
                lines.append(line)
                if line.startswith(("0000", "0013")) or (line[:4].isdigit() and line[:1] in "89"):
                    break
        return lines


def check_ready(ipv: str, threshold: float) -> None:
    """health.go checkBIRDReady."""
    label = "BIRD6" if ipv else "BIRD"
    try:
        try:
            mtime = os.stat(NODENAME_FILE).st_mtime
        except OSError as exc:
            raise UnhealthyError(f"failed to stat() nodename file: {exc}") from None
        peers = scan_bird_peers(_bird_query(ipv, "show protocols"), 6 if ipv else 4)
        within = time.time() - mtime < threshold
        down = any(p.bgp_state != "Established" for p in peers)
        gr = bool(peers) and within and not down and gr_in_progress(_bird_query(ipv, "show status"))
        reason = bird_ready(peers, within_threshold=within, gr=gr)
    except CalicoParseError as exc:
        reason = str(exc)
    except UnhealthyError as exc:
        reason = str(exc)
    if reason is not None:
        raise UnhealthyError(f"calico/node is not ready: {label} is not ready: {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calico_health")
    for flag in ("--bird-live", "--bird6-live", "--bird-ready", "--bird6-ready"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--threshold-time", type=float, default=30.0, help="seconds")
    args = parser.parse_args(argv)
    checks: list[tuple[bool, Callable[[], None]]] = [
        (args.bird_live, lambda: check_live("")),
        (args.bird6_live, lambda: check_live("6")),
        (args.bird_ready, lambda: check_ready("", args.threshold_time)),
        (args.bird6_ready, lambda: check_ready("6", args.threshold_time)),
    ]
    if not any(wanted for wanted, _ in checks):
        parser.error("must specify at least one check")
    try:
        for wanted, check in checks:
            if wanted:
                check()
    except UnhealthyError as exc:
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

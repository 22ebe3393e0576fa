"""Runs the demo: two bgpd speakers on 127.0.0.1 and 127.0.0.2 with the shipped configs.

It starts both, waits (with a deadline) for the session and the routes, prints what bgpctl
shows on each node, then stops both with SIGTERM (each sends a Cease to its peer).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
NODES = {"a": HERE / "node-a.toml", "b": HERE / "node-b.toml"}
SOCKETS = {"a": "/tmp/bgpd-demo-a.ctl", "b": "/tmp/bgpd-demo-b.ctl"}
DEADLINE_S = 30.0


def bgpctl(node: str, *args: str, as_json: bool = False) -> str:
    cmd = [sys.executable, "-m", "bgpd.control.bgpctl", "-s", SOCKETS[node]]
    cmd += ["--json", *args] if as_json else list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"demo: timed out waiting for {what}")


def established(node: str) -> bool:
    try:
        peers = json.loads(bgpctl(node, "show", "peers", as_json=True) or "[]")
    except ValueError:
        return False
    return bool(peers) and all(p["state"] == "Established" for p in peers)


def has_route(node: str, prefix: str) -> bool:
    out = bgpctl(node, "show", "routes", prefix, as_json=True)
    try:
        return any(r["peer"] != "static" for r in json.loads(out or "[]"))
    except ValueError:
        return False


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="bgpd-demo-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for node, config in NODES.items():
            log = (logs / f"{node}.log").open("wb")
            procs[node] = subprocess.Popen(
                [sys.executable, "-m", "bgpd", "run", "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            print(f"started node {node} (pid {procs[node].pid}) with {config}")
        wait_for("both sessions Established", lambda: established("a") and established("b"))
        wait_for(
            "routes to cross",
            lambda: (
                has_route("a", "10.10.2.0/24")
                and has_route("b", "10.10.1.0/24")
                and has_route("a", "fd00:10:2::/64")
                and has_route("b", "fd00:10:1::/64")
            ),
        )
        for node in NODES:
            print(f"\n=== node {node}: bgpctl show peers")
            print(bgpctl(node, "show", "peers").rstrip())
            print(f"\n=== node {node}: bgpctl show routes")
            print(bgpctl(node, "show", "routes").rstrip())
        print("\n=== node a: bgpctl --json show routes 10.10.2.0/24")
        print(bgpctl("a", "show", "routes", "10.10.2.0/24", as_json=True).rstrip())
        return 0
    finally:
        for proc in procs.values():
            proc.terminate()
        for node, proc in procs.items():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"node {node} stopped (exit {proc.returncode}); log: {logs / (node + '.log')}")


if __name__ == "__main__":
    sys.exit(main())

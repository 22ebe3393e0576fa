"""Runs the demo without root: two bgpd speakers on 127.0.0.1 and 127.0.0.2 (node-a/b.toml).

It starts both, waits (with a deadline) for the session and the routes, then shows what an
operator sees: `bgpctl show peers` and `show routes` on each node, `birdcl show protocols`
against node A's BIRD-compatible socket, and a few lines of node A's `/metrics` with its
`/readyz`. Then it stops both with SIGTERM (each sends a Cease to its peer).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bgpd.demo.show import bgpctl, birdcl_show_protocols, established, metrics_excerpt, wait_for

HERE = Path(__file__).parent
NODES = {"a": HERE / "node-a.toml", "b": HERE / "node-b.toml"}
# As written in node-a.toml / node-b.toml.
SOCKETS = {"a": "/tmp/bgpd-demo-a.ctl", "b": "/tmp/bgpd-demo-b.ctl"}
BIRD_SOCKETS = {"a": "/tmp/bgpd-demo-a.bird.ctl", "b": "/tmp/bgpd-demo-b.bird.ctl"}
METRICS = {"a": "http://127.0.0.1:9181", "b": "http://127.0.0.2:9181"}


def has_route(node: str, prefix: str) -> bool:
    out = bgpctl(SOCKETS[node], "--json", "show", "routes", prefix)
    try:
        routes = json.loads(out or "[]")
    except ValueError:
        return False
    return isinstance(routes, list) and any(r["peer"] != "static" for r in routes)


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="bgpd-demo-"))
    succeeded = False
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
        wait_for(
            "both sessions Established",
            lambda: established(SOCKETS["a"], 1) and established(SOCKETS["b"], 1),
        )
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
            print(bgpctl(SOCKETS[node], "show", "peers").rstrip())
            print(f"\n=== node {node}: bgpctl show routes")
            print(bgpctl(SOCKETS[node], "show", "routes").rstrip())
        print("\n=== node a: bgpctl --json show routes 10.10.2.0/24")
        print(bgpctl(SOCKETS["a"], "--json", "show", "routes", "10.10.2.0/24").rstrip())
        command, output = birdcl_show_protocols(BIRD_SOCKETS["a"])
        print(f"\n=== node a: {command}")
        print(output)
        print(f"\n=== node a: curl {METRICS['a']}/metrics (a few lines)")
        print(metrics_excerpt(METRICS["a"]))
        succeeded = True
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
            where = "" if succeeded else f"; log: {logs / (node + '.log')}"
            print(f"node {node} stopped (exit {proc.returncode}){where}")
        if succeeded:  # the logs are only worth keeping when something went wrong
            shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

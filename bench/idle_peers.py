"""Memory of a speaker holding N idle Established sessions (default 100).

The device under test (DUT) listens on 127.0.2.1..N and has one peer per address 127.0.1.i;
a second bgpd process (the simulator) plays all N peers from 127.0.1.i. Both are real
processes on loopback. Once every session is Established and a few keepalives have passed,
the DUT's RSS is read from /proc. Run: `.venv/bin/python bench/idle_peers.py [--peers N]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import rss_kib, save, start_bgpd, stop, wait_for

PORT = 1790


def bgpd_config(
    *,
    asn: int,
    router_id: str,
    listen: list[str],
    peers: list[tuple[str, str]],
    socket: str,
    passive: bool,
) -> str:
    lines = [
        "[bgp]",
        f"asn = {asn}",
        f'router_id = "{router_id}"',
        f"listen = {json.dumps(listen)}",
        f"port = {PORT}",
        'log_level = "warning"',
        "hold_time = 90",
        "",
        "[control]",
        f'socket = "{socket}"',
    ]
    for address, local in peers:
        lines += [
            "",
            "[[peer]]",
            f'name = "p_{address.replace(".", "_")}"',
            f'address = "{address}"',
            f"port = {PORT}",
            f"asn = {asn}",
            f'local_address = "{local}"',
            f"passive = {'true' if passive else 'false'}",
        ]
    return "\n".join(lines) + "\n"


def established(socket: str) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "bgpd.control.bgpctl", "-s", socket, "--json", "show", "peers"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    try:
        return sum(p["state"] == "Established" for p in json.loads(out))
    except ValueError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", type=int, default=100)
    args = parser.parse_args()
    n = args.peers
    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    dut_addrs = [f"127.0.2.{i}" for i in range(1, n + 1)]
    sim_addrs = [f"127.0.1.{i}" for i in range(1, n + 1)]
    dut_cfg = work / "dut.toml"
    sim_cfg = work / "sim.toml"
    dut_sock, sim_sock = str(work / "dut.ctl"), str(work / "sim.ctl")
    dut_cfg.write_text(
        bgpd_config(
            64512,
            "127.0.2.1",
            dut_addrs,
            list(zip(sim_addrs, dut_addrs, strict=True)),
            socket=dut_sock,
            passive=True,
        )
    )
    sim_cfg.write_text(
        bgpd_config(
            64512,
            "127.0.1.1",
            sim_addrs,
            list(zip(dut_addrs, sim_addrs, strict=True)),
            socket=sim_sock,
            passive=False,
        )
    )
    dut = start_bgpd(dut_cfg, work / "dut.log")
    wait_for(lambda: established(dut_sock) >= 0 and Path(dut_sock).exists(), 20, "dut socket")
    base_rss = rss_kib(dut.pid)
    sim = start_bgpd(sim_cfg, work / "sim.log")
    try:
        took = wait_for(lambda: established(dut_sock) == n, 120, f"{n} sessions", interval=0.5)
        time.sleep(5)  # a measurement window, not synchronisation: let keepalives flow
        rss = rss_kib(dut.pid)
    finally:
        stop(sim)
        stop(dut)
    result = {
        "peers": n,
        "seconds_to_establish_all": round(took, 2),
        "dut_rss_kib_no_peers_up": base_rss,
        "dut_rss_kib": rss,
        "rss_per_idle_peer_kib": round((rss - base_rss) / n, 1),
    }
    print(json.dumps(result, indent=2))
    save("idle_peers", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

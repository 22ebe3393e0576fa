"""Memory of a speaker holding N idle Established sessions (default 100): bgpd, BIRD 2, GoBGP.

The device under test (DUT) listens on 127.0.2.1..N and has one passive peer per address
127.0.1.i; a bgpd process (the simulator) plays all N peers from 127.0.1.i. Everything is a
real process on loopback. Once every session is Established and a few keepalives have passed,
the DUT's RSS is read from /proc. Each DUT runs in turn against the same simulator config.
Run: `.venv/bin/python bench/idle_peers.py [--peers N]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import rss_kib, save, start_bgpd, stop, wait_for
from tests.integration.peers import (
    BgpPeer,
    BirdConfig,
    BirdDaemon,
    GobgpDaemon,
    GobgpNeighbor,
)

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


def run_dut(kind: str, n: int, work: Path) -> dict[str, float]:
    dut_addrs = [f"127.0.2.{i}" for i in range(1, n + 1)]
    sim_addrs = [f"127.0.1.{i}" for i in range(1, n + 1)]
    sim_cfg = work / f"sim-{kind}.toml"
    sim_sock = str(work / f"sim-{kind}.ctl")
    sim_cfg.write_text(
        bgpd_config(
            asn=64512,
            router_id="127.0.1.1",
            listen=[],  # it only dials: BIRD 2 binds the wildcard address on the port
            peers=list(zip(dut_addrs, sim_addrs, strict=True)),
            socket=sim_sock,
            passive=False,
        )
    )
    stop_dut: Callable[[], None]
    if kind == "bgpd":
        dut_cfg = work / "dut.toml"
        dut_sock = str(work / "dut.ctl")
        dut_cfg.write_text(
            bgpd_config(
                asn=64512,
                router_id="127.0.2.1",
                listen=dut_addrs,
                peers=list(zip(sim_addrs, dut_addrs, strict=True)),
                socket=dut_sock,
                passive=True,
            )
        )
        proc = start_bgpd(dut_cfg, work / "dut.log")
        wait_for(lambda: Path(dut_sock).exists(), 20, "dut socket")
        pid = proc.pid

        def stop_dut() -> None:
            stop(proc)

    elif kind == "bird2":
        bird = BirdDaemon(
            BirdConfig(
                router_id="127.0.2.1",
                peers=tuple(
                    BgpPeer(
                        name=f"p{i}",
                        local_as=64512,
                        neighbor_address=sim,
                        neighbor_as=64512,
                        neighbor_port=PORT,
                        local_address=dut,
                        local_port=PORT,
                        passive=True,
                        hold_time=90,
                        fast_timers=False,
                    )
                    for i, (sim, dut) in enumerate(zip(sim_addrs, dut_addrs, strict=True))
                ),
            ),
            version="2",
            workdir=work / "bird2",
        ).start()
        pid = bird.pid
        stop_dut = bird.stop
    else:
        gobgp = GobgpDaemon(
            asn=64512,
            router_id="127.0.2.1",
            listen_port=PORT,
            listen_addresses=dut_addrs,
            neighbors=[
                GobgpNeighbor(
                    address=sim, peer_as=64512, local_address=dut, passive=True, hold_time=90
                )
                for sim, dut in zip(sim_addrs, dut_addrs, strict=True)
            ],
            workdir=work / "gobgp",
        ).start()
        pid = gobgp.pid
        stop_dut = gobgp.stop
    base_rss = rss_kib(pid)
    sim = start_bgpd(sim_cfg, work / f"sim-{kind}.log")
    try:
        took = wait_for(lambda: established(sim_sock) == n, 120, f"{n} sessions", interval=0.5)
        time.sleep(5)  # a measurement window, not synchronisation: let keepalives flow
        rss = rss_kib(pid)
    finally:
        stop(sim)
        stop_dut()
    return {
        "seconds_to_establish_all": round(took, 2),
        "rss_kib_before_sessions": base_rss,
        "rss_kib": rss,
        "rss_per_idle_peer_kib": round((rss - base_rss) / n, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peers", type=int, default=100)
    parser.add_argument("--dut", nargs="*", default=["bgpd", "bird2", "gobgp"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    results = {kind: run_dut(kind, args.peers, work) for kind in args.dut}
    if "bgpd" in results:
        for r in results.values():
            r["rss_ratio_vs_bgpd"] = round(r["rss_kib"] / results["bgpd"]["rss_kib"], 2)
    result = {"peers": args.peers, "results": results}
    print(json.dumps(result, indent=2))
    save("idle_peers", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""BFD benchmarks: (1) BFD's cadence while bgpd ingests a full table, (2) failover time, from
a cut to the route gone from the detecting side's kernel, BFD vs the hold timer, with bgpd,
BIRD 2 and FRR as the detecting side.

(1) ``load``: a BIRD 2 sender (BFD on, 100 ms x 3) feeds N IPv4 prefixes (bench/forward_bench's
table) to bgpd, which installs them in its kernel ([kernel] enabled). The sender's static
protocol starts disabled; once both BFD sessions are Up it is enabled, and from then until bgpd
holds every prefix (plus 2 s) a capture process in the sender's namespace records the arrival
time of every BFD packet from bgpd (an AF_PACKET socket: kernel timestamps of the wire, not of
BIRD's loop). Reported: the worst and the 99th percentile gap between bgpd's BFD packets
(its transmit interval is 75-100 ms with jitter), how many times either side's BFD went Down
(and which side saw it), the ingest time, the capture's own drops, and the RSS and start-up
time of bgpd's BFD process.

(2) ``failover``: a (the detecting side: bgpd, BIRD 2 or FRR) -- veth -- b (bgpd, originates
one /24). At t0 every packet b sends or receives is dropped (iptables in b's namespace: the
link stays up, so no carrier event helps anyone); t1 is when a's kernel no longer has the
route (``ip route`` polled every 5 ms). With BFD (100 ms x 3) and without (hold time 9 s,
keepalive 3 s).

Run as root: ``.venv/bin/python bench/bfd_bench.py load [--prefixes N]`` or
``bench/bfd_bench.py failover [--repeat R]``; results go to ``bench/results/bfd_bench_*.json``.
Every namespace and process is created here and removed here, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import signal
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.common import REPO, rss_kib, save
from bench.forward_bench import BirdSocket, make_table, sender_config
from tests.integration.peers import BgpPeer, BirdConfig, BirdDaemon, Namespace, veth
from tests.integration.peers.frr_bfd import FrrBfdSuite

SENDER, DUT = "10.99.1.1", "10.99.1.2"
SO_TIMESTAMPNS = 35  # asm-generic/socket.h
SO_ATTACH_FILTER = 26
SOL_PACKET, PACKET_STATISTICS = 263, 6  # linux/socket.h, linux/if_packet.h
NS_PREFIX = "bgpdbfd"
BIRD_BFD = """
protocol bfd {
  interface "*" {
    min rx interval 100 ms;
    min tx interval 100 ms;
    multiplier 3;
  };
}
"""


# -- the capture process (runs inside the sender's namespace) ---------------------------------


def _bfd_filter(source: str) -> bytes:
    """A classic BPF program for the capture socket: only UDP from `source` to port 3784 is
    queued. Without it the socket also queues every segment of the burst and overflows on a
    busy machine, and a BFD packet dropped there reads as a gap of two intervals."""
    src = struct.unpack("!I", socket.inet_aton(source))[0]
    program = [  # offsets from the IP header (a SOCK_DGRAM packet socket)
        (0x30, 0, 0, 9),  # ldb [9]: the protocol
        (0x15, 0, 6, 17),  # jeq UDP, else drop
        (0x20, 0, 0, 12),  # ld [12]: the source address
        (0x15, 0, 4, src),  # jeq source, else drop
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): the header length
        (0x48, 0, 0, 2),  # ldh [x+2]: the destination port
        (0x15, 0, 1, 3784),  # jeq 3784, else drop
        (0x06, 0, 0, 0xFFFF),  # accept
        (0x06, 0, 0, 0),  # drop
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)


def capture(source: str, out: Path) -> None:
    """Records the arrival times of UDP packets to port 3784 from `source` until SIGTERM, and
    how many the capture socket itself dropped (PACKET_STATISTICS)."""
    import ctypes

    eth_p_ip = 0x0800
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(eth_p_ip))
    code = ctypes.create_string_buffer(_bfd_filter(source))
    fprog = struct.pack("HL", len(code.raw) // 8, ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    # the kernel's receive time, not this process's: on a busy machine it may run late
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.settimeout(0.2)
    wanted = socket.inet_aton(source)
    times: list[float] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        try:
            data, ancdata, _, _ = sock.recvmsg(2048, 64)
        except TimeoutError:
            continue
        stamp = time.time()
        for level, kind, value in ancdata:
            if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS):
                sec, nsec = struct.unpack("=qq", value[:16])
                stamp = sec + nsec / 1e9
        ihl = (data[0] & 0x0F) * 4
        if data[9] != 17 or data[12:16] != wanted:
            continue
        if struct.unpack_from("!H", data, ihl + 2)[0] == 3784:
            times.append(stamp)
    _packets, drops = struct.unpack("=II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    out.write_text(json.dumps({"times": times, "capture_drops": drops}))


# -- helpers --------------------------------------------------------------------------------


def bgpd_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "bgpd", "run", "-c", str(config)]


def ctl(sock: Path, command: str) -> Any:
    from bgpd.control.bgpctl import call
    from bgpd.control.protocol import Request

    return call(str(sock), Request(command=command))["data"]


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(interval)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@contextlib.contextmanager
def pair() -> Iterator[tuple[Namespace, Namespace]]:
    with Namespace(NS_PREFIX) as a, Namespace(NS_PREFIX) as b:
        veth(a, b, a_addresses=[f"{SENDER}/24"], b_addresses=[f"{DUT}/24"])
        yield a, b


# -- (1) load -------------------------------------------------------------------------------


def dut_config(sock: Path) -> str:
    return f"""
[bgp]
asn = 65002
router_id = "{DUT}"
listen = ["{DUT}"]

[control]
socket = "{sock}"

[kernel]
enabled = true

[bfd]
min_rx_ms = 100
min_tx_ms = 100
multiplier = 3

[[peer]]
name = "sender"
address = "{SENDER}"
asn = 65001
local_address = "{DUT}"
families = ["ipv4-unicast"]
bfd = true
"""


def run_load(n: int, work: Path) -> dict[str, Any]:
    text = sender_config(make_table(n, 10))
    text = text.replace(
        "protocol static feed {\n  ipv4;", "protocol static feed {\n  disabled;\n  ipv4;"
    )
    text = text.replace("protocol bgp dut {", "protocol bgp dut {\n  bfd on;") + BIRD_BFD
    with pair() as (s_ns, d_ns), contextlib.ExitStack() as stack:
        sock = work / "dut.ctl"
        cfg = work / "dut.toml"
        cfg.write_text(dut_config(sock))
        dut = d_ns.spawn(bgpd_argv(cfg), name="dut", log_dir=work, cwd=REPO)
        stack.callback(dut.stop)
        sender = BirdDaemon(text, version="2", netns=s_ns, workdir=work / "sender", name="sender")
        stack.callback(sender.close)
        sender.start(timeout=120.0)
        snd = BirdSocket(sender.socket_path)
        stack.callback(snd.close)
        wait(lambda: ctl(sock, "show peers")[0]["bfd"] == "Up", 60, "bgpd BFD Up")
        wait(lambda: " Up " in snd.command("show bfd sessions"), 30, "BIRD BFD Up")
        wait(lambda: ctl(sock, "show peers")[0]["state"] == "Established", 60, "Established")
        times_file = work / "bfd_times.json"
        cap = s_ns.spawn(
            [sys.executable, str(Path(__file__).resolve()), "capture", DUT, str(times_file)],
            name="capture",
            log_dir=work,
            cwd=REPO,
        )
        time.sleep(1.0)  # the capture socket is open, and a second of quiet cadence recorded
        t0, wall0 = time.monotonic(), time.time()
        snd.command("enable feed")
        wait(
            lambda: ctl(sock, "show peers")[0]["prefixes_received"] >= n,
            600,
            "bgpd holds every prefix",
            interval=0.5,
        )
        ingest = time.monotonic() - t0
        time.sleep(2.0)
        os.kill(cap.pid, signal.SIGTERM)
        wait(times_file.exists, 10, "capture written")
        cap.stop()
        captured = json.loads(times_file.read_text())
        times = captured["times"]
        during = [t for t in times if t >= wall0]
        all_gaps = gaps(times)
        burst_gaps = gaps(during)
        peer = ctl(sock, "show peers")[0]
        bird_down = snd.command("show bfd sessions")
        children = Path(f"/proc/{dut.pid}/task/{dut.pid}/children").read_text().split()
        started = re.findall(r"bfd process started pid=\d+ startup_ms=(\d+)", dut.output(10**6))
        return {
            "prefixes": n,
            "ingest_s": round(ingest, 2),
            "bfd_packets": len(times),
            "worst_gap_ms": round(max(burst_gaps) * 1000, 1),
            "p99_gap_ms": round(
                statistics.quantiles(burst_gaps, n=100, method="inclusive")[98] * 1000, 1
            ),
            "median_gap_ms": round(statistics.median(all_gaps) * 1000, 1),
            "capture_drops": captured["capture_drops"],
            "bgpd_bfd_failures": peer["bfd_failures"],
            # who saw the failure: "control detection time expired" is bgpd (BIRD's packets
            # late), "neighbor signaled session down" is BIRD (ours late)
            "bgpd_last_error": peer.get("last_error"),
            "bgpd_state": peer["state"],
            # the BFD process (a child of bgpd's, when BFD runs in one): its RSS after the
            # burst, and its start-up to its first message
            "bfd_process_rss_kib": [rss_kib(int(c)) for c in children],
            "bfd_process_startup_ms": [int(ms) for ms in started],
            "bird_bfd": bird_down.splitlines()[-1].strip(),
        }


# -- (2) failover ---------------------------------------------------------------------------

ROUTE = "10.60.0.0/24"
HOLD, KEEPALIVE = 9, 3
DETECTORS = ("bgpd", "bird2", "frr")
KERNEL_PROTO = {"bgpd": "12", "bird2": "bird", "frr": "bgp"}


def bgpd_text(me: str, other: str, asn: int, other_asn: int, sock: Path, *, bfd: bool) -> str:
    text = f"""
[bgp]
asn = {asn}
router_id = "{me}"
listen = ["{me}"]
hold_time = {HOLD}
keepalive_time = {KEEPALIVE}

[control]
socket = "{sock}"

[kernel]
enabled = true

[bfd]
min_rx_ms = 100
min_tx_ms = 100
multiplier = 3
"""
    if asn == 65010:
        text += f'\n[[static]]\nprefix = "{ROUTE}"\n'
    text += f"""
[[peer]]
name = "other"
address = "{other}"
asn = {other_asn}
local_address = "{me}"
families = ["ipv4-unicast"]
bfd = {"true" if bfd else "false"}
"""
    return text


def start_detector(kind: str, ns: Namespace, work: Path, bfd: bool) -> Callable[[], None]:
    """The detecting side on a (10.99.1.1, AS 65020); returns its closer."""
    if kind == "bgpd":
        cfg = work / "a.toml"
        cfg.write_text(bgpd_text(SENDER, DUT, 65020, 65010, work / "a.ctl", bfd=bfd))
        proc = ns.spawn(bgpd_argv(cfg), name="a", log_dir=work, cwd=REPO)
        return proc.stop
    if kind == "bird2":
        bird = BirdDaemon(
            BirdConfig(
                router_id=SENDER,
                peers=(
                    BgpPeer(
                        name="peer_b",
                        local_as=65020,
                        neighbor_address=DUT,
                        neighbor_as=65010,
                        local_address=SENDER,
                        hold_time=HOLD,
                        keepalive_time=KEEPALIVE,
                        extra="bfd on;" if bfd else "",
                    ),
                ),
                extra=(BIRD_BFD if bfd else "") + "protocol kernel { ipv4 { export all; }; }\n",
            ),
            version="2",
            netns=ns,
            workdir=work / "bird",
            name="a",
        )
        bird.start()
        return bird.close
    frr = FrrBfdSuite(
        ns,
        asn=65020,
        router_id=SENDER,
        neighbor=DUT,
        neighbor_as=65010,
        bfd=(3, 100, 100) if bfd else None,
        hold_time=HOLD,
    )
    frr.start()
    return frr.close


def in_kernel(ns: Namespace, protocol: str) -> bool:
    return any(r["dst"] == ROUTE for r in ns.kernel_routes(4, protocol=protocol))


def run_failover(kind: str, bfd: bool, work: Path) -> float:
    with pair() as (a_ns, b_ns), contextlib.ExitStack() as stack:
        stack.callback(start_detector(kind, a_ns, work, bfd))
        cfg = work / "b.toml"
        cfg.write_text(bgpd_text(DUT, SENDER, 65010, 65020, work / "b.ctl", bfd=bfd))
        b = b_ns.spawn(bgpd_argv(cfg), name="b", log_dir=work, cwd=REPO)
        stack.callback(b.stop)
        proto = KERNEL_PROTO[kind]
        wait(lambda: in_kernel(a_ns, proto), 60, f"{ROUTE} in {kind}'s kernel")
        if bfd:
            wait(lambda: ctl(work / "b.ctl", "show peers")[0]["bfd"] == "Up", 30, "BFD Up")
        time.sleep(KEEPALIVE + 0.5)  # a keepalive exchanged: the hold timer starts afresh
        for chain in ("INPUT", "OUTPUT"):  # b goes silent; its link stays up
            b_ns.run(["iptables", "-A", chain, "-j", "DROP"])
        t0 = time.monotonic()
        wait(lambda: not in_kernel(a_ns, proto), HOLD * 3, "route gone", interval=0.005)
        return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    load = sub.add_parser("load")
    load.add_argument("--prefixes", type=int, nargs="+", default=[100_000])
    load.add_argument("--repeat", type=int, default=3)
    fail = sub.add_parser("failover")
    fail.add_argument("--repeat", type=int, default=3)
    fail.add_argument("--detectors", nargs="+", default=list(DETECTORS))
    cap = sub.add_parser("capture")
    cap.add_argument("source")
    cap.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.mode == "capture":
        capture(args.source, args.out)
        return 0
    if args.mode == "failover":
        out: dict[str, dict[str, list[float]]] = {}
        for kind in args.detectors:
            for bfd in (True, False):
                label = "bfd_100ms_x3" if bfd else f"hold_{HOLD}s"
                for _ in range(args.repeat):
                    with tempfile.TemporaryDirectory(prefix="bfd_bench_") as tmp:
                        took = run_failover(kind, bfd, Path(tmp))
                    print(f"{kind} {label} {took:.3f}", flush=True)
                    out.setdefault(kind, {}).setdefault(label, []).append(round(took, 3))
        save("bfd_bench_failover", {"runs": out})
        return 0
    results = []
    for n in args.prefixes:
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bfd_bench_") as tmp:
                result = run_load(n, Path(tmp))
            print(json.dumps(result), flush=True)
            results.append(result)
    save("bfd_bench_load", {"runs": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

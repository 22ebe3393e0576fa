"""Ingest and forward: a BIRD sender feeds N IPv4 prefixes through the DUT to a BIRD collector.

Topology (three network namespaces joined by two veth pairs, no traffic outside them):

    sender (BIRD 2, AS 65001)  10.99.1.1 --- 10.99.1.2  DUT (AS 65002)
    DUT                        10.99.2.2 --- 10.99.2.3  collector (BIRD 2, AS 65003)

Both sessions are eBGP, so the DUT rewrites the next hop and prepends its AS, as a router
between two networks does. The DUT is bgpd, BIRD 2 or GoBGP, each in turn with the same sender
config and the same collector.

The table (`make_table`) is deterministic for a given size and seed: distinct IPv4 prefixes with
a full-table-like length mix (about 60 % /24), grouped into one attribute set per
``--per-set`` prefixes (default 10, i.e. 10,000 sets at 100,000 prefixes; a real full feed has
a few prefixes per attribute set). A set has 1-6 ASes in its path (sometimes prepended), 0-4
communities, a MED on one set in three, a large community on one in four and origin
INCOMPLETE on one in seven. The sender carries every attribute in a per-route block of its
static protocol; MED goes through a marker community that its export filter turns into
``bgp_med``, because BIRD sends MED over eBGP only when the export filter set it.

One run: start the collector and the DUT, wait for their session, read the DUT's RSS (the
baseline), start the sender. t0 is the moment the sender's session to the DUT became
Established, read from the sender's own clock (``timeformat protocol iso long ms``, wall
time; the sender's table is loaded by then and it starts sending at once). The collector's
import counter (``show protocols all dut``, O(1) in BIRD) is polled over BIRD's control socket
every 10 ms (``COUNT_POLL_S``); t99 and t100 are the first polls that saw 99 % and all N
prefixes. The same poll pokes the sender's control socket, which keeps BIRD from holding its
last UPDATE back for about 3 s (it sometimes does so otherwise); both times are reported anyway.
Then the DUT's VmRSS, VmHWM (peak) and CPU time are read from /proc.

Run as root: ``.venv/bin/python bench/forward_bench.py [--prefixes N ...] [--dut bgpd bird2
gobgp] [--repeat R] [--per-set N]``; results go to ``bench/results/forward_bench.json``.
``--profile FILE`` runs bgpd alone under cProfile (the first size, one run; timings are then
not comparable), from its start until the collector holds every prefix, and prints the top
functions. ``--tracemalloc FILE`` runs bgpd alone under tracemalloc and prints what the live
Python memory grew by between the baseline and the end, by source line.

Every namespace and process is created by this script and removed by it, also on failure
(processes are stopped by PID through the test helpers; namespaces are deleted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pstats
import random
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bgp_capture import stream_stats
from bench.common import REPO, peak_rss_kib, rss_kib, save
from tests.integration.peers import (
    BgpPeer,
    BirdConfig,
    BirdDaemon,
    GobgpDaemon,
    GobgpNeighbor,
    Namespace,
    Process,
    veth,
)

SENDER_AS, DUT_AS, COLLECTOR_AS = 65001, 65002, 65003
SENDER, DUT_S = "10.99.1.1", "10.99.1.2"
DUT_C, COLLECTOR = "10.99.2.2", "10.99.2.3"
POLL_S = 0.05  # waiting for sessions
COUNT_POLL_S = 0.01  # the collector's prefix count: the resolution of t99 and t100
SETTLE_S = 2.0  # after the last prefix, before the "held" RSS reading
TIMEOUT_S = 600.0
NS_PREFIX = "bgpdfw"
DUTS = ("bgpd", "bird2", "gobgp")
PACKINGS = {"bird": 10, "dense": 35}  # packing: its default prefixes per attribute set
MED_VALUES = (0, 10, 50, 100, 200)
MED_MARKER_AS = 64999  # community (64999, i) asks the sender's export filter for MED_VALUES[i]
# Prefix lengths of a full IPv4 table, roughly (weights in percent).
LENGTHS = {16: 2, 17: 1, 18: 2, 19: 4, 20: 5, 21: 5, 22: 10, 23: 9, 24: 62}
FORBIDDEN_FIRST_OCTETS = {0, 10, 100, 127, 169, 172, 192, 198} | set(range(224, 256))


# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AttrSet:
    """The attributes the sender puts on a group of prefixes (before its own AS is prepended)."""

    path: tuple[int, ...]
    communities: tuple[tuple[int, int], ...]
    large: tuple[tuple[int, int, int], ...]
    med_index: int | None
    incomplete: bool

    def bird_statements(self) -> str:
        out = [f"bgp_path.prepend({asn});" for asn in reversed(self.path)]
        communities = list(self.communities)
        if self.med_index is not None:
            communities.append((MED_MARKER_AS, self.med_index))
        out += [f"bgp_community.add(({a},{b}));" for a, b in communities]
        out += [f"bgp_large_community.add(({a},{b},{c}));" for a, b, c in self.large]
        if self.incomplete:
            out.append("bgp_origin = ORIGIN_INCOMPLETE;")
        return " ".join(out)


def make_attr_sets(count: int, rng: random.Random) -> list[AttrSet]:
    """``count`` distinct attribute sets with Internet-like paths and communities."""
    upstreams = [
        rng.choice([rng.randrange(1000, 64000), rng.randrange(131072, 400000)]) for _ in range(30)
    ]
    pool = [rng.randrange(1000, 64000) for _ in range(3000)]
    pool += [rng.randrange(131072, 400000) for _ in range(1000)]
    sets: dict[AttrSet, None] = {}
    while len(sets) < count:
        length = rng.choices(range(6), weights=(5, 20, 35, 25, 10, 5))[0]
        path = [rng.choice(upstreams)] if length else []
        path += [rng.choice(pool) for _ in range(length - 1)]
        if path and rng.random() < 0.05:  # origin AS prepending
            path += [path[-1]] * rng.randrange(1, 3)
        tag = next((a for a in path if a < 65536), 64600)
        n_comm = rng.choices(range(5), weights=(30, 25, 20, 15, 10))[0]
        communities = tuple(sorted({(tag, rng.randrange(1000)) for _ in range(n_comm)}))
        large = (
            ((path[0] if path else 64600, 1, rng.randrange(100)),) if rng.random() < 0.25 else ()
        )
        med = rng.randrange(len(MED_VALUES)) if rng.random() < 1 / 3 else None
        attrs = AttrSet(
            path=tuple(path),
            communities=communities,
            large=large,
            med_index=med,
            incomplete=rng.random() < 1 / 7,
        )
        sets[attrs] = None
    return list(sets)


def make_prefixes(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct IPv4 prefixes with a full-table length mix, none in private space."""
    lengths, weights = list(LENGTHS), list(LENGTHS.values())
    seen: set[tuple[int, int]] = set()
    out: list[str] = []
    while len(out) < count:
        length = rng.choices(lengths, weights=weights)[0]
        first = rng.randrange(1, 224)
        if first in FORBIDDEN_FIRST_OCTETS:
            continue
        rest = rng.getrandbits(24) & ~((1 << (32 - length)) - 1) & 0xFFFFFF
        key = ((first << 24) | rest, length)
        if key in seen:
            continue
        seen.add(key)
        value = key[0]
        octets = ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))
        out.append(f"{octets}/{length}")
    return out


def make_table(count: int, per_set: int, seed: int = 1) -> list[tuple[str, AttrSet]]:
    """The sender's routes: prefixes shuffled over ``ceil(count / per_set)`` attribute sets."""
    rng = random.Random(seed)
    prefixes = make_prefixes(count, rng)
    sets = make_attr_sets(max(1, math.ceil(count / per_set)), rng)
    # Every set is used; how many prefixes each gets varies, as in a real table.
    choice = [sets[i % len(sets)] for i in range(count)]
    rng.shuffle(choice)
    return list(zip(prefixes, choice, strict=True))


def sender_config(table: list[tuple[str, AttrSet]], packing: str = "bird") -> str:
    """BIRD 2 config of the sender: every route with its attributes, one eBGP session.

    ``packing="dense"``: the static protocol starts disabled and is enabled once the session is
    up (`run_once`); BIRD then puts every route into its export buckets in one go before it
    sends, so each UPDATE carries a whole attribute set's prefixes.
    """
    med_rules = "\n".join(
        f"      if ({MED_MARKER_AS},{i}) ~ bgp_community then bgp_med = {med};"
        for i, med in enumerate(MED_VALUES)
    )
    routes = "\n".join(
        f"  route {prefix} blackhole {{ {attrs.bird_statements()} }};" for prefix, attrs in table
    )
    disabled = "\n  disabled;" if packing == "dense" else ""
    return f"""# Generated by bench/forward_bench.py: the sender.
log stderr all;
router id {SENDER};
timeformat protocol iso long ms;
protocol device {{ scan time 10; }}
protocol static feed {{{disabled}
  ipv4;
{routes}
}}
protocol bgp dut {{
  local {SENDER} as {SENDER_AS};
  neighbor {DUT_S} as {DUT_AS};
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 5;
  ipv4 {{
    import none;
    export filter {{
{med_rules}
      accept;
    }};
  }};
}}
"""


# -- BIRD's control socket, without a birdc process per poll --------------------------------


class BirdSocket:
    """One connection to a BIRD control socket; `command` returns the reply text."""

    __slots__ = ("_buf", "_sock")

    def __init__(self, path: Path) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(10.0)
        self._sock.connect(str(path))
        self._buf = b""
        self._reply()  # the "0001 BIRD x ready." banner

    def _reply(self) -> str:
        lines: list[str] = []
        while True:
            while b"\n" not in self._buf:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("BIRD closed its control socket")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\n", 1)
            line = raw.decode()
            lines.append(line[5:] if line[:4].isdigit() else line[1:])
            # A reply ends with a line "NNNN text" (code, then a space, not a dash).
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
                return "\n".join(lines)

    def command(self, text: str) -> str:
        self._sock.sendall(text.encode() + b"\n")
        return self._reply()

    def close(self) -> None:
        self._sock.close()


_ESTABLISHED = re.compile(r"^dut\s+BGP\s+\S+\s+up\s+(\S+ \S+)\s+Established", re.M)
_IMPORTED = re.compile(r"Routes:\s+(\d+) imported")


def established_at(sender: BirdSocket) -> float | None:
    """Wall time at which the sender's session came up, or None while it is not up."""
    m = _ESTABLISHED.search(sender.command("show protocols dut"))
    if m is None:
        return None
    return datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def imported(collector: BirdSocket) -> int:
    m = _IMPORTED.search(collector.command("show protocols all dut"))
    return int(m[1]) if m else 0


# -- the DUTs ------------------------------------------------------------------------------


class Dut(Protocol):
    @property
    def pid(self) -> int: ...

    def close(self) -> None: ...


# bgpd under cProfile or tracemalloc (argv: "cprofile"|"tracemalloc", output path, config).
# Each SIGUSR1 writes the data: cProfile stops and writes OUT (start-up and ingest, not the
# shutdown); tracemalloc collects garbage and writes snapshot OUT.1, OUT.2, ...
_INSTRUMENTED_BGPD = """
import os, runpy, signal, sys
kind, out, config = sys.argv[1:4]
written = 0
if kind == "cprofile":
    import cProfile
    profiler = cProfile.Profile()
    def write(path):
        profiler.disable()
        profiler.dump_stats(path)
else:
    import gc, tracemalloc
    tracemalloc.start(1)
    def write(path):
        gc.collect()
        tracemalloc.take_snapshot().dump(path)
def dump(signum, frame):
    global written
    written += 1
    path = out if kind == "cprofile" else f"{out}.{written}"
    write(path + ".tmp")
    os.rename(path + ".tmp", path)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["bgpd", "run", "-c", config]
if kind == "cprofile":
    profiler.enable()
runpy.run_module("bgpd", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """Run bgpd under ``kind`` and write its data to ``path`` (snapshots: ``path.1``, ``.2``)."""

    kind: Literal["cprofile", "tracemalloc"]
    path: Path

    @property
    def outputs(self) -> tuple[Path, ...]:
        if self.kind == "cprofile":
            return (self.path,)
        return tuple(self.path.with_name(f"{self.path.name}.{i}") for i in (1, 2))


class BgpdDut:
    """bgpd (``python -m bgpd run``), optionally under cProfile, in the DUT namespace."""

    __slots__ = ("_marks", "instrument", "process")

    def __init__(self, ns: Namespace, work: Path, instrument: Instrument | None) -> None:
        config = work / "bgpd.toml"
        config.write_text(
            f"""[bgp]
asn = {DUT_AS}
router_id = "{DUT_S}"
listen = ["{DUT_S}", "{DUT_C}"]
log_level = "warning"
families = ["ipv4-unicast"]
connect_retry_time = 1
error_wait_min = 1

[control]
socket = "{work / "bgpd.ctl"}"

[[peer]]
name = "sender"
address = "{SENDER}"
asn = {SENDER_AS}
local_address = "{DUT_S}"

[[peer]]
name = "collector"
address = "{COLLECTOR}"
asn = {COLLECTOR_AS}
local_address = "{DUT_C}"
"""
        )
        if instrument is None:
            argv = [sys.executable, "-m", "bgpd", "run", "-c", str(config)]
        else:
            for path in instrument.outputs:
                path.unlink(missing_ok=True)
            argv = [
                sys.executable,
                "-c",
                _INSTRUMENTED_BGPD,
                instrument.kind,
                str(instrument.path),
                str(config),
            ]
        self.process: Process = ns.spawn(argv, name="bgpd", log_dir=work, cwd=REPO)
        self.instrument = instrument
        self._marks = 0

    def mark(self, final: bool) -> None:
        """Have an instrumented bgpd write its data now (a snapshot, or the whole profile)."""
        if self.instrument is None or (self.instrument.kind == "cprofile" and not final):
            return
        path = self.instrument.outputs[self._marks]
        self._marks += 1
        self.process.send_signal(signal.SIGUSR1)
        wait(path.exists, 120, f"{path} from bgpd")

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        self.process.stop(timeout=30.0)


def start_dut(kind: str, ns: Namespace, work: Path, instrument: Instrument | None) -> Dut:
    if kind == "bgpd":
        return BgpdDut(ns, work, instrument)
    if kind == "bird2":
        peers = (
            BgpPeer(
                name="sender",
                local_as=DUT_AS,
                neighbor_address=SENDER,
                neighbor_as=SENDER_AS,
                local_address=DUT_S,
            ),
            BgpPeer(
                name="collector",
                local_as=DUT_AS,
                neighbor_address=COLLECTOR,
                neighbor_as=COLLECTOR_AS,
                local_address=DUT_C,
            ),
        )
        config = BirdConfig(router_id=DUT_S, peers=peers)
        return BirdDaemon(config, version="2", netns=ns, workdir=work / "dut-bird2").start()
    if kind == "gobgp":
        return GobgpDaemon(
            asn=DUT_AS,
            router_id=DUT_S,
            neighbors=[
                GobgpNeighbor(address=SENDER, peer_as=SENDER_AS, local_address=DUT_S),
                GobgpNeighbor(address=COLLECTOR, peer_as=COLLECTOR_AS, local_address=DUT_C),
            ],
            netns=ns,
            workdir=work / "dut-gobgp",
        ).start()
    raise ValueError(f"unknown DUT {kind!r}")


# -- one run -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def topology() -> Iterator[tuple[Namespace, Namespace, Namespace]]:
    """Sender, DUT and collector namespaces joined by two veth pairs; deleted on exit."""
    with contextlib.ExitStack() as stack:
        s = stack.enter_context(Namespace(NS_PREFIX))
        d = stack.enter_context(Namespace(NS_PREFIX))
        c = stack.enter_context(Namespace(NS_PREFIX))
        veth(
            s,
            d,
            a_ifname="eth0",
            b_ifname="s0",
            a_addresses=[f"{SENDER}/24"],
            b_addresses=[f"{DUT_S}/24"],
        )
        veth(
            d,
            c,
            a_ifname="c0",
            b_ifname="eth0",
            a_addresses=[f"{DUT_C}/24"],
            b_addresses=[f"{COLLECTOR}/24"],
        )
        yield s, d, c


def wait(check: Any, timeout: float, what: str, describe: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{describe()}" if describe is not None else ""
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(POLL_S)


def run_once(
    kind: str,
    n: int,
    sender_text: str,
    work: Path,
    instrument: Instrument | None = None,
    *,
    packing: str = "bird",
    keep_capture: Path | None = None,
) -> dict[str, Any]:
    """One measurement: ``kind`` forwards the sender's ``n`` prefixes to the collector.

    The sender's UPDATEs are captured in its namespace (`bgp_capture`) to count the prefixes
    per UPDATE it really sent; ``keep_capture`` keeps the stream there (for
    ``forward_inproc.py --feed``). t0 is the sender's session coming up (``packing="bird"``)
    or the first UPDATE it sent (``"dense"``: the feed is enabled after the session is up, and
    the time BIRD takes to load the table into its export buckets is not the DUT's).
    """
    work.mkdir(parents=True, exist_ok=True)
    with topology() as (s_ns, d_ns, c_ns), contextlib.ExitStack() as stack:
        collector = BirdDaemon(
            BirdConfig(
                router_id=COLLECTOR,
                peers=(
                    BgpPeer(
                        name="dut",
                        local_as=COLLECTOR_AS,
                        neighbor_address=DUT_C,
                        neighbor_as=DUT_AS,
                        local_address=COLLECTOR,
                        export_filter="none",
                    ),
                ),
            ),
            version="2",
            netns=c_ns,
            workdir=work / "collector",
            name="collector",
        )
        stack.callback(collector.close)
        collector.start()
        dut = start_dut(kind, d_ns, work, instrument)
        stack.callback(dut.close)
        stream = keep_capture if keep_capture is not None else work / "sender.stream"
        cap = s_ns.spawn(
            [
                sys.executable,
                str(Path(__file__).with_name("bgp_capture.py")),
                SENDER,
                DUT_S,
                str(stream),
            ],
            name="capture",
            log_dir=work,
            cwd=REPO,
        )
        stack.callback(cap.stop)
        col = BirdSocket(collector.socket_path)
        stack.callback(col.close)

        def describe() -> str:
            return col.command("show protocols all dut")

        wait(
            lambda: "Established" in col.command("show protocols dut"),
            60,
            "DUT-collector session",
            describe,
        )
        if isinstance(dut, BgpdDut):
            dut.mark(final=False)  # tracemalloc: the snapshot before any route
        base_rss = rss_kib(dut.pid)
        base_cpu = cpu_seconds(dut.pid)
        sender = BirdDaemon(
            sender_text, version="2", netns=s_ns, workdir=work / "sender", name="sender"
        )
        stack.callback(sender.close)
        sender.start(timeout=120.0)
        snd = BirdSocket(sender.socket_path)
        stack.callback(snd.close)
        stack.callback(dut.close)  # stop the DUT first: the sender's withdrawals are not timed
        t0 = wait(
            lambda: established_at(snd),
            300,
            "sender-DUT session",
            lambda: snd.command("show protocols all dut"),
        )
        if packing == "dense":
            t0 = time.time()
            snd.command("enable feed")
        t99: float | None = None
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            now = time.time()
            count = imported(col)
            # Any control-socket command wakes the sender's main loop. Without it BIRD 2.0.12
            # sometimes holds its last UPDATE back until its 3 s poll timeout (seen with the
            # BIRD and GoBGP DUTs at 10,000 prefixes): the load generator must not pace.
            snd.command("show status")
            if t99 is None and count >= 0.99 * n:
                t99 = now
            if count >= n:
                t100 = now
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"collector holds {count} of {n} prefixes\n{describe()}")
            time.sleep(COUNT_POLL_S)
        assert t99 is not None
        cpu = cpu_seconds(dut.pid) - base_cpu
        # The table as held at rest, not mid-burst: every DUT gets the same settling time
        # (bgpd gives transient buffers back to the system a second after its input stops).
        time.sleep(SETTLE_S)
        rss = rss_kib(dut.pid)
        peak = peak_rss_kib(dut.pid)
        if isinstance(dut, BgpdDut):
            dut.mark(final=True)
        cap.send_signal(signal.SIGTERM)
        wait(lambda: stream.with_name(stream.name + ".json").exists(), 120, "the capture")
    sent = stream_stats(stream)
    first = sent.pop("first_update_time")
    if packing == "dense" and first is not None:
        t0 = first
    return {
        **sent,
        "seconds": round(t100 - t0, 3),
        "seconds_99": round(t99 - t0, 3),
        "dut_cpu_seconds": round(cpu, 2),
        "rss_kib_before": base_rss,
        "rss_kib": rss,
        "peak_rss_kib": peak,
        "bytes_per_route": round((rss - base_rss) * 1024 / n),
    }


# -- the whole benchmark -------------------------------------------------------------------


def summarise(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Median per size and DUT, and the ratios of the medians to BIRD's and GoBGP's."""
    out: dict[str, Any] = {}
    for size, per_dut in runs.items():
        med = {
            dut: {
                key: statistics.median(r[key] for r in reps)
                for key in (
                    "seconds",
                    "seconds_99",
                    "dut_cpu_seconds",
                    "peak_rss_kib",
                    "bytes_per_route",
                    "sender_prefixes_per_update",
                )
            }
            for dut, reps in per_dut.items()
        }
        for values in med.values():
            for ref, name in (("bird2", "vs_bird2"), ("gobgp", "vs_gobgp")):
                if ref in med:
                    values[name] = round(values["seconds"] / med[ref]["seconds"], 2)
                    values[name + "_99"] = round(values["seconds_99"] / med[ref]["seconds_99"], 2)
        out[size] = med
    return out


def print_profile(path: Path, top: int = 30) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def print_memory(base: Path, end: Path, n: int, top: int = 20) -> None:
    """Growth of live Python memory between the two snapshots, by source line."""
    before = tracemalloc.Snapshot.load(str(base))
    after = tracemalloc.Snapshot.load(str(end))
    diff = after.compare_to(before, "lineno")
    grown = sum(d.size_diff for d in diff)
    print(f"live Python memory grew by {grown:,} bytes: {grown / n:.0f} bytes per route")
    for d in diff[:top]:
        print(f"{d.size_diff:>12,} B {d.count_diff:>8,} blocks  {d.traceback[0]}")


def diagnose(args: argparse.Namespace, work: Path) -> None:
    """One bgpd run under cProfile and/or one under tracemalloc, with their reports."""
    n = args.prefixes[0]
    text = sender_config(make_table(n, args.per_set, args.seed), args.packing)
    if args.profile is not None:
        inst = Instrument(kind="cprofile", path=args.profile.resolve())
        r = run_once("bgpd", n, text, work / "profile", inst, packing=args.packing)
        print(json.dumps(r, indent=2))
        print_profile(inst.path)
    if args.tracemalloc is not None:
        inst = Instrument(kind="tracemalloc", path=args.tracemalloc.resolve())
        r = run_once("bgpd", n, text, work / "tracemalloc", inst, packing=args.packing)
        print(json.dumps(r, indent=2))
        print_memory(inst.outputs[0], inst.outputs[1], n)


def measure(args: argparse.Namespace, work: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every DUT at every size, ``repeat`` times; the results per size and DUT."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    duts: list[str] = args.dut
    for n in args.prefixes:
        text = sender_config(make_table(n, args.per_set, args.seed), args.packing)
        per_dut = runs.setdefault(str(n), {d: [] for d in duts})
        for rep in range(args.repeat):
            # Alternate the order so that a slow phase of the machine does not hit one DUT.
            order = duts if rep % 2 == 0 else list(reversed(duts))
            for kind in order:
                keep = None
                if args.capture is not None and rep == 0:
                    args.capture.mkdir(parents=True, exist_ok=True)
                    keep = args.capture.resolve() / f"{args.packing}-{n}-{kind}.stream"
                r = run_once(
                    kind,
                    n,
                    text,
                    work / f"{n}-{kind}-{rep}",
                    packing=args.packing,
                    keep_capture=keep,
                )
                print(f"{n:>7} {kind:<6} rep {rep}: {json.dumps(r)}", flush=True)
                per_dut[kind].append(r)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prefixes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--dut", nargs="+", choices=DUTS, default=list(DUTS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--packing",
        choices=PACKINGS,
        default="bird",
        help="bird: the table loaded before the session, BIRD packs ~2-4 prefixes per UPDATE; "
        "dense: loaded after, a whole attribute set per UPDATE",
    )
    parser.add_argument(
        "--per-set",
        type=int,
        help="prefixes per attribute set (default: 10 with --packing bird, 35 with dense)",
    )
    parser.add_argument(
        "--capture", type=Path, help="keep the sender's UPDATE streams here (first repetition)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="run bgpd under cProfile, write here")
    parser.add_argument(
        "--tracemalloc", type=Path, help="run bgpd under tracemalloc, snapshots to FILE.1/.2"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs)")
    args = parser.parse_args()
    if args.per_set is None:
        args.per_set = PACKINGS[args.packing]
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    work = Path(tempfile.mkdtemp(prefix="bench-forward-"))
    try:
        if args.profile is not None or args.tracemalloc is not None:
            diagnose(args, work)
            return 0
        runs = measure(args, work)
    finally:
        if args.keep:
            print(f"logs and configs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "packing": args.packing,
        "per_set": args.per_set,
        "seed": args.seed,
        "poll_seconds": COUNT_POLL_S,
        "runs": runs,
        "median": summarise(runs),
    }
    print(json.dumps(result["median"], indent=2))
    name = "forward_bench" if args.packing == "bird" else f"forward_bench_{args.packing}"
    print(f"saved {save(name, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

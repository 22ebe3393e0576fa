"""Reflect: C route-reflector clients each announce P prefixes; time until all hold all C x P.

Topology (two network namespaces joined by one veth pair, no traffic outside them):

    reflector (AS 65000)  172.31.0.1/16 --- 172.31.1.1 ... 172.31.x.y/16  clients (AS 65000)

The clients are simulated by ``bench/rr_clients.py`` (asyncio; one process per
``--clients-per-worker`` clients, default 100), each client from its own address in the
clients' namespace. Client ``i`` announces P /26 prefixes (Calico blocks) over 4 attribute
sets, NEXT_HOP = its own address, and counts what the reflector sends it (see that module).
All sessions are iBGP; every client is a route-reflector client of the reflector, whose
sessions are passive (the clients connect, as Calico nodes do after a reflector restart).

The reflector (DUT) is, in turn within one run of this script:

- ``bgpd``: ``python -m bgpd run`` with ``cluster_id`` and ``rr_client = true`` peers, no
  kernel programming (no ``[calico]``);
- ``bird2``: BIRD 2.0.12, ``rr client`` and ``rr cluster id`` per protocol, ``direct`` (iBGP
  sessions are multihop by default in BIRD; these clients are on the shared subnet);
- ``gobgp``: GoBGP 3.10, ``route-reflector-client`` and ``route-reflector-cluster-id`` per
  neighbour, ``--pprof-disable``;
- ``frr``: FRR 8.4's ``bgpd`` alone (``-Z``: no zebra, no kernel), one peer-group of
  ``route-reflector-client``s, ``advertisement-interval 0`` and ``coalesce-time 0`` (its
  default coalesce timer delays updates to new peers by 1 s plus 50 ms per peer). Its log
  level is ``critical``: without zebra it logs an error for every next hop it fails to
  register for tracking (one line per route), which would cost it time; next hops are then
  taken as valid, which is what a reflector without an IGP wants.
  Install it with ``make bench-deps`` (``scripts/install-bench-deps.sh``).

Two modes (``--mode``, both by default; each has its own results in the JSON):

- ``cold`` (the issue's definition): t0 is the moment every client connects, at once (as after
  a reflector restart): session set-up, initial table dumps and updates overlap;
- ``warm``: the clients connect and every session comes up without routes; t0 is the moment
  every client announces, at once: the fan-out alone.

One run: start the reflector and wait until it listens on port 179 in its namespace; read its
RSS and CPU time; start the client workers and wait until each has built its table; tell them
to go (they connect at once, or over ``--spread`` seconds); t0 as the mode says. The kernel's
``ListenDrops`` counter of the reflector's namespace is recorded (``listen_drops``: connection
attempts dropped because the reflector's accept queue was full). Each client records when it
holds 99 % and 100 % of the (C-1) x P prefixes of the others; the run's time is the last
client's (``seconds``, ``seconds_99``). While the clients work, BIRD's control socket is poked every
10 ms (``show status``): BIRD 2.0.12 otherwise sometimes holds its last UPDATE back until its
3 s poll timeout (see the forward benchmark); ``--no-poke`` turns it off. Once every client is
done (sessions still up, so no withdrawal is processed yet), the reflector's VmRSS, VmHWM (peak
RSS) and CPU time are read from /proc (CPU from t0, as the clients' own), and the clients are
told to quit. A run that does not
finish within ``--timeout`` seconds is recorded with ``status: "timeout"`` and how many clients
finished, and the script moves on.

Checked in every run: every client's first reflected UPDATE carried ORIGINATOR_ID and
CLUSTER_LIST and a NEXT_HOP that is not the reflector's (``reflected``); no prefix outside the
table arrived (``unexpected``); how many of its own prefixes a client got back (``echoed``);
sessions that were reset (``resets``).

The grid (``--grid``, default ``full``): the issue's two points, C=50 x P=200 and C=200 x P=500,
plus growth with C at P=200 (C = 25, 50, 100, 200) and with P at C=50 (P = 100, 200, 500,
1000). Each point runs ``--repeat`` times (default 3), points of at least ``--big`` routes
(default 100,000) ``--repeat-big`` times (default 1); reflectors alternate order every
repetition. Two rules keep a slow reflector from eating the machine's day: a reflector whose
first run at a point took more than ``--max-repeat-seconds`` (default 60) runs there once, and
one that timed out (``--timeout``, default 600 s per run) is not run at points at least as big
in both C and P (recorded as ``status: "skipped"``). ``--points 50x200 100x200`` runs only
those points; ``--grid quick`` is a small smoke grid (saved as ``reflect_quick.json``).

Run as root: ``.venv/bin/python bench/reflect_bench.py [--grid full|quick] [--points CxP ..]
[--dut bgpd bird2 gobgp frr bgp-reflector] [--repeat N] [--merge]`` (``make bench-reflect``
runs the full grid and then the plot script); results go to ``bench/results/reflect_bench.json``
(``--merge`` replaces only the points and reflectors run and keeps the rest), then
``bench/plot_reflect.py`` draws the plots and prints the table. ``bgp-reflector`` is the
standalone reflector (``python -m reflector run``) on the same config; not run by default.
``--profile FILE`` runs bgpd alone under cProfile (CPU time) at ``--profile-point`` (default
100x200), from its start until every client is done, and prints the top functions.

Real BIRD 2 clients (``--clients bird``, ``bench/bird_clients.py``; cold mode only, default
point 200x50, results in ``bench/results/reflect_bird.json``): C ``bird`` processes in the
clients' namespace, each announcing P /26 blocks, their sessions enabled over their control
sockets at once. Per run: the last session up from the clients' view (BIRD's ``show protocols``
to the ms) and from the reflector's (bgpd's ``peer state changed ... to=Established`` info
lines, so bgpd logs at info in this mode; BIRD's ``show protocols``; none for FRR), the last
client holding every route (polled over the control sockets), the gap between them
(``gap_after_last_session_clients``/``_reflector``), each client's times (``trace``) and the
reflector's CPU from the connect. ``--bgpd-bgp LINE..`` adds ``[bgp]`` lines to bgpd's config
(``"graceful_restart = false"``: no graceful restart at all, see docs/performance.md).

bgpd's ``[bgp] restart_state_file`` is in the work dir and removed before each run, so bgpd
starts cold (no peer can hold its routes); ``--bgpd-start restart`` writes a record of sessions
up a moment ago first, as after a crash, so it starts as a restarting speaker (R bit, nothing
exported until every client's End-of-RIB, then the whole table at once).

Every namespace and process is created by this script and removed by it, also on failure
(processes are stopped by PID; namespaces are deleted).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bird_clients import TIMEFORMAT, BirdClients, established_times
from bench.common import REPO, RESULTS, peak_rss_kib, rss_kib, save
from bench.forward_bench import BirdSocket, cpu_seconds, print_profile
from bench.rr_clients import client_address
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

ASN = 65000
REFLECTOR = "172.31.0.1"
CLUSTER_ID = "244.0.0.1"  # the cluster id Calico's docs use for reflectors
SUBNET_LEN = 16
NS_PREFIX = "bgpdrr"
DUTS = ("bgpd", "bird2", "gobgp", "frr", "bgp-reflector")
DEFAULT_DUTS = ("bgpd", "bird2", "gobgp", "frr")
MODES = ("cold", "warm")
FRR_BGPD = Path("/usr/lib/frr/bgpd")
POKE_S = 0.01
POLL_S = 0.05
START_TIMEOUT_S = 60.0
GRIDS: dict[str, list[tuple[int, int]]] = {
    # The two points, growth with C at P=200 and with P at C=50.
    "full": [
        (25, 200),
        (50, 200),
        (100, 200),
        (200, 200),
        (50, 100),
        (50, 500),
        (50, 1000),
        (200, 500),
    ],
    "quick": [(10, 100), (20, 100), (10, 300)],
    # --clients bird: the 200 real BIRD clients of 50 prefixes each.
    "bird": [(200, 50)],
}
SERIES = {"clients_at_prefixes": 200, "prefixes_at_clients": 50}
HEADLINE = ("50x200", "200x500")

# bgpd under cProfile (argv: output path, then bgpd's own arguments). The profiler counts CPU
# time (time.process_time), not wall time: on a shared machine, time spent waiting for a core
# would otherwise be charged to whatever function was running. SIGUSR1 stops it and writes OUT.
_PROFILED_BGPD = """
import cProfile, os, runpy, signal, sys, time
out = sys.argv[1]
profiler = cProfile.Profile(time.process_time)
def dump(signum, frame):
    profiler.disable()
    profiler.dump_stats(out + ".tmp")
    os.rename(out + ".tmp", out)
signal.signal(signal.SIGUSR1, dump)
sys.argv = ["bgpd", *sys.argv[2:]]
profiler.enable()
runpy.run_module("bgpd", run_name="__main__", alter_sys=True)
"""


# -- the reflectors ------------------------------------------------------------------------


class Reflector(Protocol):
    @property
    def pid(self) -> int: ...

    def poke(self) -> None: ...

    def close(self) -> None: ...


def listening(ns: Namespace) -> bool:
    """True once something listens on TCP port 179 in ``ns``."""
    out = ns.run(["ss", "-Hltn", "sport", "= :179"], check=False).stdout
    return bool(out.strip())


class BgpdReflector:
    """bgpd (``python -m bgpd run``, optionally under cProfile) as the reflector."""

    __slots__ = ("process", "profile")

    def __init__(
        self,
        ns: Namespace,
        work: Path,
        clients: int,
        profile: Path | None,
        *,
        module: str = "bgpd",
        log_level: str = "warning",
        bgp_extra: Sequence[str] = (),
        start: str = "cold",
    ) -> None:
        config = work / "bgpd.toml"
        # The restart state file (docs/config.md, restart_state_file), in the run's work dir:
        # none, so a cold start (nobody holds the reflector's routes), or a record of sessions
        # up a moment ago, as after a crash: a restarting speaker (RFC 4724 §4.1 deferral).
        state = work / "restart-state.json"
        state.unlink(missing_ok=True)
        if start == "restart":
            record = {"version": 1, "sessions_up_at": time.time(), "held_for": 390}
            state.write_text(json.dumps(record | {"clean_stop": False}))
        peers = "".join(
            f"""
[[peer]]
name = "c{i}"
address = "{client_address(i)}"
asn = {ASN}
rr_client = true
passive = true
"""
            for i in range(clients)
        )
        config.write_text(
            f"""[bgp]
asn = {ASN}
router_id = "{REFLECTOR}"
listen = ["{REFLECTOR}"]
cluster_id = "{CLUSTER_ID}"
log_level = "{log_level}"
restart_state_file = "{state}"
families = ["ipv4-unicast"]
{"".join(line + chr(10) for line in bgp_extra)}
[control]
socket = "{work / "bgpd.ctl"}"
{peers}"""
        )
        if profile is None:
            argv = [sys.executable, "-m", module, "run", "-c", str(config)]
        else:
            profile.unlink(missing_ok=True)
            argv = [sys.executable, "-c", _PROFILED_BGPD, str(profile), "run", "-c", str(config)]
        self.profile = profile
        self.process: Process = ns.spawn(argv, name=module, log_dir=work, cwd=REPO)

    @property
    def pid(self) -> int:
        return self.process.pid

    def poke(self) -> None:
        pass

    def dump_profile(self) -> None:
        """Have bgpd under cProfile write its profile now (start-up to every client done)."""
        if self.profile is None:
            return
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while not self.profile.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no profile at {self.profile}")
            time.sleep(POLL_S)

    def close(self) -> None:
        self.process.stop(timeout=30.0)


class BirdReflector:
    """BIRD 2 as the reflector; `poke` keeps it from pacing its last UPDATE."""

    __slots__ = ("_sock", "daemon", "poking")

    def __init__(self, ns: Namespace, work: Path, clients: int, poking: bool) -> None:
        peers = tuple(
            BgpPeer(
                name=f"c{i}",
                local_as=ASN,
                neighbor_address=client_address(i),
                neighbor_as=ASN,
                local_address=REFLECTOR,
                passive=True,
                rr_client=True,
                rr_cluster_id=CLUSTER_ID,
                extra="direct;",  # iBGP is multihop by default; the clients are on-link
            )
            for i in range(clients)
        )
        self.daemon = BirdDaemon(
            # Session-up times to the ms in `show protocols` (--clients bird reads them).
            BirdConfig(router_id=REFLECTOR, peers=peers, extra=TIMEFORMAT),
            version="2",
            netns=ns,
            workdir=work / "bird2",
            name="bird2",
        )
        self._sock: BirdSocket | None = None
        self.poking = poking
        try:
            self.daemon.start(timeout=START_TIMEOUT_S)
            self._sock = BirdSocket(self.daemon.socket_path)
        except BaseException:
            self.daemon.close()
            raise

    @property
    def pid(self) -> int:
        return self.daemon.pid

    def poke(self) -> None:
        if self.poking and self._sock is not None:
            self._sock.command("show status")

    def close(self) -> None:
        try:
            if self._sock is not None:
                self._sock.close()
        finally:
            self.daemon.close()


class GobgpReflector:
    __slots__ = ("daemon",)

    def __init__(self, ns: Namespace, work: Path, clients: int) -> None:
        self.daemon = GobgpDaemon(
            asn=ASN,
            router_id=REFLECTOR,
            listen_addresses=[REFLECTOR],
            neighbors=[
                GobgpNeighbor(
                    address=client_address(i),
                    peer_as=ASN,
                    local_address=REFLECTOR,
                    passive=True,
                    route_reflector_client=True,
                    route_reflector_cluster_id=CLUSTER_ID,
                )
                for i in range(clients)
            ],
            netns=ns,
            workdir=work / "gobgp",
        )
        try:
            self.daemon.start(timeout=START_TIMEOUT_S)
        except BaseException:
            self.daemon.close()
            raise

    @property
    def pid(self) -> int:
        return self.daemon.pid

    def poke(self) -> None:
        pass

    def close(self) -> None:
        self.daemon.close()


def frr_config(clients: int) -> str:
    """FRR 8.4 bgpd.conf: one peer-group of passive route-reflector clients, timers tuned."""
    members = "\n".join(f" neighbor {client_address(i)} peer-group clients" for i in range(clients))
    return f"""! Generated by bench/reflect_bench.py: FRR as the route reflector.
frr defaults traditional
hostname reflector
log stdout critical
!
router bgp {ASN}
 bgp router-id {REFLECTOR}
 bgp cluster-id {CLUSTER_ID}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 coalesce-time 0
 neighbor clients peer-group
 neighbor clients remote-as {ASN}
 neighbor clients passive
 neighbor clients advertisement-interval 0
{members}
 !
 address-family ipv4 unicast
  neighbor clients activate
  neighbor clients route-reflector-client
 exit-address-family
!
"""


class FrrReflector:
    """FRR's bgpd alone (no zebra, no watchfrr), in the reflector namespace."""

    __slots__ = ("process",)

    def __init__(self, ns: Namespace, work: Path, clients: int) -> None:
        if not os.access(FRR_BGPD, os.X_OK):
            raise FileNotFoundError(f"{FRR_BGPD} missing: run `make bench-deps`")
        d = work / "frr"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "bgpd.conf"
        conf.write_text(frr_config(clients))
        argv = [
            str(FRR_BGPD),
            "-f",
            str(conf),
            "-i",
            str(d / "bgpd.pid"),
            "--vty_socket",
            str(d),
            "-P",
            "0",  # no vty TCP port
            "-Z",  # no zebra: nothing to resolve next hops with, nothing to install
            "-n",
            "-S",  # stay root: no frr user switching inside the namespace
            "-l",
            REFLECTOR,
        ]
        self.process: Process = ns.spawn(argv, name="frr-bgpd", log_dir=d)

    @property
    def pid(self) -> int:
        return self.process.pid

    def poke(self) -> None:
        pass

    def close(self) -> None:
        self.process.stop(timeout=10.0)


def start_reflector(
    kind: str, ns: Namespace, work: Path, clients: int, args: argparse.Namespace
) -> Reflector:
    # With BIRD clients the reflector's own session-up times come from its info lines.
    level = "info" if args.clients == "bird" else "warning"
    if kind == "bgpd":
        return BgpdReflector(
            ns, work, clients, None, log_level=level, bgp_extra=args.bgpd_bgp, start=args.bgpd_start
        )
    if kind == "bgp-reflector":
        # The standalone reflector (reflector/): the same config, its profile's defaults on
        # top (metrics endpoint on, in the namespace's loopback).
        return BgpdReflector(
            ns, work, clients, None, module="reflector", log_level=level, start=args.bgpd_start
        )
    if kind == "bird2":
        return BirdReflector(ns, work, clients, poking=not args.no_poke)
    if kind == "gobgp":
        return GobgpReflector(ns, work, clients)
    if kind == "frr":
        return FrrReflector(ns, work, clients)
    raise ValueError(f"unknown reflector {kind!r}")


# -- the client workers --------------------------------------------------------------------


class Worker:
    """One ``bench/rr_clients.py`` process in the clients' namespace, driven over its pipes."""

    __slots__ = ("_lines", "_proc", "_thread", "count", "first", "stderr_path")

    def __init__(
        self,
        ns: Namespace,
        work: Path,
        *,
        first: int,
        count: int,
        point: tuple[int, int],
        timeout: float,
        spread: float,
        warm: bool,
    ) -> None:
        c, p = point
        self.first, self.count = first, count
        self.stderr_path = work / f"clients-{first}.stderr"
        argv = [
            "ip",
            "netns",
            "exec",
            ns.name,
            sys.executable,
            str(REPO / "bench" / "rr_clients.py"),
            "--reflector",
            REFLECTOR,
            "--clients",
            str(c),
            "--prefixes",
            str(p),
            "--first",
            str(first),
            "--count",
            str(count),
            "--timeout",
            str(timeout),
            "--spread",
            str(spread),
            *(["--warm"] if warm else []),
        ]
        with self.stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=REPO,
                text=True,
                start_new_session=True,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def line(self, timeout: float) -> str | None:
        """The next line of output, None at EOF; raises TimeoutError after ``timeout`` s."""
        try:
            return self._lines.get(timeout=max(0.0, timeout))
        except queue.Empty:
            raise TimeoutError(f"clients {self.first}+{self.count}: no output") from None

    def send(self, text: str) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(text + "\n")
            self._proc.stdin.flush()

    def errors(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Ask it to quit (closing its sessions), then SIGTERM/SIGKILL by PID if it lingers."""
        if self._proc.poll() is None:
            self.send("quit")
            with contextlib.suppress(OSError):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.terminate()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()


# -- one run -------------------------------------------------------------------------------


@contextlib.contextmanager
def topology(clients: int) -> Iterator[tuple[Namespace, Namespace]]:
    """The reflector's and the clients' namespaces, one veth; every client address added."""
    with contextlib.ExitStack() as stack:
        rr = stack.enter_context(Namespace(NS_PREFIX))
        cl = stack.enter_context(Namespace(NS_PREFIX))
        veth(
            rr,
            cl,
            a_ifname="eth0",
            b_ifname="eth0",
            a_addresses=[f"{REFLECTOR}/{SUBNET_LEN}"],
            b_addresses=[f"{client_address(0)}/{SUBNET_LEN}"],
        )
        cl.ip_batch(
            [f"addr add {client_address(i)}/{SUBNET_LEN} dev eth0" for i in range(1, clients)]
        )
        yield rr, cl


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_S)


def listen_drops(ns: Namespace) -> int:
    """TcpExt ListenDrops of ``ns``: connection attempts its listeners dropped (queue full)."""
    lines = ns.run(["cat", "/proc/net/netstat"]).stdout.splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenDrops", 0))
    return 0


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def split(clients: int, per_worker: int) -> list[tuple[int, int]]:
    """(first, count) of each worker: as even as possible, at most ``per_worker`` each."""
    n = max(1, math.ceil(clients / per_worker))
    base, extra = divmod(clients, n)
    out, first = [], 0
    for w in range(n):
        count = base + (w < extra)
        out.append((first, count))
        first += count
    return out


def run_once(
    kind: str,
    point: tuple[int, int],
    args: argparse.Namespace,
    work: Path,
    mode: str,
    *,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One measurement of reflector ``kind`` at ``point`` = (C, P) in ``mode`` (cold/warm)."""
    c, p = point
    work.mkdir(parents=True, exist_ok=True)
    with topology(c) as (rr_ns, cl_ns), contextlib.ExitStack() as stack:
        reflector: Reflector
        if profile is not None:
            reflector = BgpdReflector(rr_ns, work, c, profile)
        else:
            reflector = start_reflector(kind, rr_ns, work, c, args)
        stack.callback(reflector.close)
        wait(lambda: listening(rr_ns), START_TIMEOUT_S, f"{kind} listening on port 179")
        base_rss = rss_kib(reflector.pid)
        base_cpu = cpu_seconds(reflector.pid)
        workers = []
        for first, count in split(c, args.clients_per_worker):
            w = Worker(
                cl_ns,
                work,
                first=first,
                count=count,
                point=point,
                timeout=args.timeout,
                spread=args.spread,
                warm=mode == "warm",
            )
            stack.callback(w.stop)  # runs before reflector.close: clients leave first
            workers.append(w)
        for w in workers:
            line = w.line(START_TIMEOUT_S)
            if line is None or line.strip() != "ready":
                raise RuntimeError(f"clients {w.first}: {line!r}\n{w.errors()}")
        # Clients' CPU from here on only (not their start-up: imports, building the table).
        base_clients_cpu = sum(cpu_seconds(w.pid) for w in workers)
        t0 = t_go = time.time()
        for w in workers:
            w.send("go")
        if mode == "warm":
            # Every session up, no route yet: t0 is now, when every client announces.
            for w in workers:
                line = w.line(START_TIMEOUT_S + args.spread)
                if line is None or line.split() != ["established", str(w.count)]:
                    raise RuntimeError(f"clients {w.first}: {line!r}\n{w.errors()}")
            base_cpu = cpu_seconds(reflector.pid)
            base_clients_cpu = sum(cpu_seconds(w.pid) for w in workers)
            t0 = time.time()
            for w in workers:
                w.send("announce")
        deadline = time.monotonic() + args.timeout + 30
        results: dict[int, dict[str, Any]] = {}
        while len(results) < len(workers):
            reflector.poke()
            for i, w in enumerate(workers):
                if i in results:
                    continue
                with contextlib.suppress(TimeoutError):
                    line = w.line(0 if kind == "bird2" else POKE_S)
                    if line is None:
                        raise RuntimeError(f"clients {w.first} exited\n{w.errors()}")
                    results[i] = json.loads(line)
            if time.monotonic() > deadline:
                raise TimeoutError(f"clients did not report within {args.timeout + 30} s")
            if not alive(reflector.pid):
                raise RuntimeError(f"{kind} exited during the run (logs in {work})")
            time.sleep(POKE_S if kind == "bird2" else 0)
        cpu = cpu_seconds(reflector.pid) - base_cpu
        rss = rss_kib(reflector.pid)
        peak = peak_rss_kib(reflector.pid)
        clients_cpu = sum(cpu_seconds(w.pid) for w in workers) - base_clients_cpu
        drops = listen_drops(rr_ns)
        if isinstance(reflector, BgpdReflector):
            reflector.dump_profile()
    return summarise_run(results, t0, t_go, c, p) | {
        "reflector_cpu_seconds": round(cpu, 2),
        "clients_cpu_seconds": round(clients_cpu, 2),
        "rss_kib_before": base_rss,
        "rss_kib": rss,
        "peak_rss_kib": peak,
        "listen_drops": drops,
    }


_BGPD_UP = re.compile(
    r"^(\S+) INFO \S+ peer state changed peer=(\S+) .*?from=\S+ to=Established", re.M
)


def reflector_established(reflector: Reflector) -> dict[str, float]:
    """Peer name -> when the reflector saw its session come up (Unix time), where it says:
    bgpd's and bgp-reflector's info lines, BIRD's ``show protocols``; {} for the others."""
    if isinstance(reflector, BgpdReflector):
        text = reflector.process.stderr_path.read_text(errors="replace")
        return {
            m[2]: datetime.datetime.fromisoformat(m[1]).timestamp() for m in _BGPD_UP.finditer(text)
        }
    if isinstance(reflector, BirdReflector) and reflector._sock is not None:
        return established_times(reflector._sock.command("show protocols"))
    return {}


def run_once_bird(
    kind: str, point: tuple[int, int], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """One measurement with C real BIRD 2 clients (``--clients bird``; cold mode only): every
    client connects at once; when each session came up (the reflector's and the clients'
    view), when each client holds every route, the gap between the last of each, and the
    reflector's CPU from the moment the clients connect until the last one is done."""
    c, p = point
    work.mkdir(parents=True, exist_ok=True)
    with topology(c) as (rr_ns, cl_ns), contextlib.ExitStack() as stack:
        reflector = start_reflector(kind, rr_ns, work, c, args)
        stack.callback(reflector.close)
        wait(lambda: listening(rr_ns), START_TIMEOUT_S, f"{kind} listening on port 179")
        clients = BirdClients(cl_ns, work, c, p, REFLECTOR)
        stack.callback(clients.close)  # runs before reflector.close: clients leave first
        clients.wait_ready(START_TIMEOUT_S)
        base_rss = rss_kib(reflector.pid)
        base_cpu = cpu_seconds(reflector.pid)
        base_clients_cpu = sum(cpu_seconds(pid) for pid in clients.pids)
        t0, t_enabled = clients.go()
        polled = clients.wait_done(args.timeout, poke=reflector.poke)
        cpu = cpu_seconds(reflector.pid) - base_cpu
        clients_cpu = sum(cpu_seconds(pid) for pid in clients.pids) - base_clients_cpu
        rss, peak = rss_kib(reflector.pid), peak_rss_kib(reflector.pid)
        drops = listen_drops(rr_ns)
        client_up = clients.established()
        rr_up = reflector_established(reflector)
    done: dict[int, float] = polled["done"]
    complete = len(done) == c
    last_client_up = max(client_up.values()) - t0 if len(client_up) == c else None
    rr_times = [rr_up[f"c{i}"] for i in range(c) if f"c{i}" in rr_up]
    last_rr_up = max(rr_times) - t0 if len(rr_times) == c else None
    last_done = max(done.values()) - t0 if complete else None

    def gap(up: float | None) -> float | None:
        return round(last_done - up, 3) if last_done is not None and up is not None else None

    # Each client's own wait: from its session up to its holding every route.
    waits = [done[i] - client_up[i] for i in done if i in client_up]
    return {
        "status": "ok" if complete else "timeout",
        "seconds": round(last_done, 3) if last_done is not None else None,
        "enable_spread": round(t_enabled - t0, 3),
        "last_session_up_clients": round(last_client_up, 3) if last_client_up else None,
        "last_session_up_reflector": round(last_rr_up, 3) if last_rr_up else None,
        "gap_after_last_session_clients": gap(last_client_up),
        "gap_after_last_session_reflector": gap(last_rr_up),
        "client_wait_median": round(statistics.median(waits), 3) if waits else None,
        "client_wait_max": round(max(waits), 3) if waits else None,
        "first_client_done": round(min(done.values()) - t0, 3) if done else None,
        "clients_done": len(done),
        "min_imported": min(polled["imported"]),
        "goal": polled["goal"],
        "poll_rounds": polled["poll_rounds"],
        "poll_round_ms": polled["poll_round_ms"],
        "reflector_cpu_seconds": round(cpu, 2),
        "clients_cpu_seconds": round(clients_cpu, 2),
        "rss_kib_before": base_rss,
        "rss_kib": rss,
        "peak_rss_kib": peak,
        "listen_drops": drops,
        # Per client, relative to t0: [session up (reflector), (client), holds every route].
        "trace": [
            [
                None if f"c{i}" not in rr_up else round(rr_up[f"c{i}"] - t0, 3),
                None if i not in client_up else round(client_up[i] - t0, 3),
                None if i not in done else round(done[i] - t0, 3),
            ]
            for i in range(c)
        ],
    }


def summarise_run(
    results: dict[int, dict[str, Any]], t0: float, t_go: float, c: int, p: int
) -> dict[str, Any]:
    """The run's figures from every worker's per-client report.

    Times are relative to t0 (connect in cold mode, announce in warm mode), except
    ``all_established``, which is relative to the clients' connect (``t_go``) in both modes.
    """
    clients: list[dict[str, Any]] = []
    for r in results.values():
        shift = r["go_at"] - t0
        for cl in r["clients"]:
            for key in ("t99", "done"):
                if cl[key] is not None:
                    cl[key] += shift
            if cl["established"] is not None:
                cl["established"] += r["go_at"] - t_go
            clients.append(cl)
    done = [cl["done"] for cl in clients if cl["done"] is not None]
    t99 = [cl["t99"] for cl in clients if cl["t99"] is not None]
    est = [cl["established"] for cl in clients if cl["established"] is not None]
    complete = len(done) == c
    errors = sorted({cl["error"] for cl in clients if cl["error"]})
    # The simulator's count checked by a full decode on some clients (bird_clients: none).
    failures = sorted({cl["check_failure"] for cl in clients if cl.get("check_failure")})
    return {
        "status": "check-failed" if failures else "ok" if complete else "timeout",
        "seconds": round(max(done), 3) if complete and not failures else None,
        "seconds_99": round(max(t99), 3) if len(t99) == c else None,
        "first_client_done": round(min(done), 3) if done else None,
        "all_established": round(max(est), 3) if len(est) == c else None,
        "clients_done": len(done),
        "min_distinct": min(cl["distinct"] for cl in clients),
        "goal": (c - 1) * p,
        "updates_received": sum(cl["updates"] for cl in clients),
        "prefixes_received": sum(cl["received"] for cl in clients),
        "unexpected": sum(cl["unexpected"] for cl in clients),
        "echoed": sum(cl["echoed"] for cl in clients),
        "reflected": all(cl["reflected"] for cl in clients),
        "resets": sum(cl["resets"] for cl in clients),
        "errors": errors[:5],
        "checked": sum(bool(cl.get("checked")) for cl in clients),
        "check_failures": failures[:5],
    }


def failed_run(exc: BaseException) -> dict[str, Any]:
    return {"status": "error", "seconds": None, "error": f"{type(exc).__name__}: {exc}"[:2000]}


# -- the whole benchmark -------------------------------------------------------------------


def point_key(point: tuple[int, int]) -> str:
    return f"{point[0]}x{point[1]}"


def parse_point(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not CxP (e.g. 50x200)")
    return int(m[1]), int(m[2])


def median_of(runs: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get("status") == "ok" and r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def summarise(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Medians per point and reflector (ok runs only), and ratios to BIRD, GoBGP and FRR."""
    out: dict[str, Any] = {}
    keys = (
        "seconds",
        "seconds_99",
        "last_session_up_clients",
        "last_session_up_reflector",
        "gap_after_last_session_clients",
        "gap_after_last_session_reflector",
        "all_established",
        "reflector_cpu_seconds",
        "clients_cpu_seconds",
        "peak_rss_kib",
    )
    for point, per_dut in runs.items():
        med: dict[str, dict[str, Any]] = {}
        for dut, reps in per_dut.items():
            values: dict[str, Any] = {k: median_of(reps, k) for k in keys}
            values["runs"] = len(reps)
            values["ok_runs"] = sum(r.get("status") == "ok" for r in reps)
            values["statuses"] = sorted({r.get("status", "?") for r in reps})
            med[dut] = values
        for values in med.values():
            for ref in ("bird2", "gobgp", "frr"):
                mine, theirs = values["seconds"], med.get(ref, {}).get("seconds")
                values[f"vs_{ref}"] = (
                    round(mine / theirs, 2) if mine is not None and theirs else None
                )
        out[point] = med
    return out


def dominates(point: tuple[int, int], other: tuple[int, int]) -> bool:
    """True when ``point`` is at least as big as ``other`` in both C and P."""
    return point[0] >= other[0] and point[1] >= other[1]


def measure(
    args: argparse.Namespace,
    work: Path,
    mode: str,
    points: list[tuple[int, int]],
    existing: dict[str, Any],
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every reflector at every point; a reflector that timed out skips bigger points."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = existing
    duts: list[str] = args.dut
    stuck: dict[str, tuple[int, int]] = {}  # reflector -> the point where it timed out
    for point in points:
        key = point_key(point)
        per_dut = runs.setdefault(key, {})  # with --merge, other reflectors' runs stay
        per_dut.update({d: [] for d in duts})
        repeat = args.repeat_big if point[0] * point[1] >= args.big else args.repeat
        for rep in range(repeat):
            # Alternate the order so that a slow phase of the machine does not hit one DUT.
            order = duts if rep % 2 == 0 else list(reversed(duts))
            for kind in order:
                reps = per_dut[kind]
                if kind in stuck and dominates(point, stuck[kind]):
                    if not reps:
                        at = point_key(stuck[kind])
                        reps.append({"status": "skipped", "seconds": None, "after_timeout": at})
                    continue
                if reps and (reps[0].get("seconds") or 0) > args.max_repeat_seconds:
                    continue  # one long run is precise enough; spend the time elsewhere
                try:
                    where = work / f"{mode}-{key}-{kind}-{rep}"
                    if args.clients == "bird":
                        r = run_once_bird(kind, point, args, where)
                    else:
                        r = run_once(kind, point, args, where, mode)
                except Exception as exc:
                    r = failed_run(exc)
                print(f"{mode} {key:>8} {kind:<6} rep {rep}: {json.dumps(r)}", flush=True)
                reps.append(r)
                if r["status"] == "timeout":
                    stuck[kind] = point
                if not args.keep:
                    shutil.rmtree(work / f"{mode}-{key}-{kind}-{rep}", ignore_errors=True)
    return runs


def profile(args: argparse.Namespace, work: Path) -> None:
    """One bgpd run under cProfile at ``--profile-point``, with the report."""
    path = args.profile.resolve()
    r = run_once("bgpd", args.profile_point, args, work / "profile", args.mode[0], profile=path)
    print(json.dumps(r, indent=2))
    print_profile(path, top=args.profile_top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--points", type=parse_point, nargs="+", help="CxP points instead")
    parser.add_argument("--dut", nargs="+", choices=DUTS, default=list(DEFAULT_DUTS))
    parser.add_argument("--mode", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeat-big", type=int, default=1)
    parser.add_argument("--big", type=int, default=100_000, help="C*P from which a point is big")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument(
        "--max-repeat-seconds",
        type=float,
        default=60.0,
        help="run a reflector only once at a point where its first run took longer",
    )
    parser.add_argument(
        "--clients",
        choices=("sim", "bird"),
        default="sim",
        help="simulated clients (bench/rr_clients.py) or real BIRD 2 (bench/bird_clients.py)",
    )
    parser.add_argument(
        "--bgpd-bgp",
        nargs="+",
        default=[],
        metavar="LINE",
        help='extra [bgp] lines for bgpd, e.g. "graceful_restart = false"',
    )
    parser.add_argument(
        "--bgpd-start",
        choices=("cold", "restart"),
        default="cold",
        help="bgpd's restart state file: none (a cold start) or sessions up a moment ago "
        "(a restarting speaker: R bit, exports deferred until every End-of-RIB)",
    )
    parser.add_argument("--clients-per-worker", type=int, default=100)
    parser.add_argument("--no-poke", action="store_true", help="do not poke BIRD's socket")
    parser.add_argument(
        "--spread", type=float, default=0.0, help="clients connect over this many seconds"
    )
    parser.add_argument("--merge", action="store_true", help="keep other points in the JSON")
    parser.add_argument(
        "--out", help="result name in bench/results (reflect_bench; reflect_quick for --grid quick)"
    )
    parser.add_argument("--profile", type=Path, help="run bgpd under cProfile, write here")
    parser.add_argument("--profile-point", type=parse_point, default=(100, 200))
    parser.add_argument("--profile-top", type=int, default=35)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    if args.clients == "bird" and not args.points:
        args.grid = "bird"
    points = args.points or GRIDS[args.grid]
    if args.clients == "bird":
        args.mode = ["cold"]  # BIRD clients announce as their sessions come up
        if args.out is None:
            args.out = "reflect_bird"
    if args.out is None:
        # A smoke run must not replace the measured grid.
        args.out = "reflect_quick" if args.grid == "quick" and not args.points else "reflect_bench"
    work = Path(tempfile.mkdtemp(prefix="bench-reflect-"))
    path = RESULTS / f"{args.out}.json"
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    modes: dict[str, Any] = previous.get("modes", {}) if args.merge else {}
    try:
        if args.profile is not None:
            profile(args, work)
            return 0
        for mode in args.mode:
            existing = modes.get(mode, {}).get("runs", {})
            runs = measure(args, work, mode, points, existing)
            modes[mode] = {"runs": runs, "median": summarise(runs)}
    finally:
        if args.keep:
            print(f"logs and configs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "sets_per_client": 4,
        "prefix_length": 26,
        "timeout_seconds": args.timeout,
        "spread_seconds": args.spread,
        "bird_poked": not args.no_poke,
        "bgpd_start": args.bgpd_start,
        "series": SERIES,
        "headline": list(HEADLINE),
        "modes": modes,
    }
    for mode, v in modes.items():
        for point, per_dut in v["median"].items():
            for dut, m in per_dut.items():
                gap = m.get("gap_after_last_session_clients")
                extra = "" if gap is None else f"  gap after last session up {gap} s"
                seconds, statuses = m["seconds"], m["statuses"]
                print(f"median {mode} {point:>8} {dut:<13} {seconds} s{extra}  {statuses}")
    print(f"saved {save(args.out, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

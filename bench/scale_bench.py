"""A reflector for a big cluster: one bgpd reflector, C simulated Calico nodes (issue 18.3).

Topology (two network namespaces, one veth pair, routed so that neither side has more than one
ARP neighbour; no traffic outside them):

    reflector (AS 65000) 172.30.0.1/30 --- 172.30.0.2/30  nodes' namespace
    route 172.31.0.0/16 via 172.30.0.2            172.31.1.1 ... 172.31.x.y/32 on lo

The nodes are simulated by ``bench/scale_clients.py`` (``bench/rr_clients.py``'s client; one
process per ``--clients-per-worker`` nodes). Node ``i`` connects from its own address and
announces its 4 /26 blocks and 20 borrowed /32s in one UPDATE (NEXT_HOP = the node, iBGP,
empty AS_PATH, as calico-node's BIRD sends them), then counts what the reflector sends it; a
node is done when it holds the 24 x (C-1) routes of every other node.

The reflector is ``python -m bgpd run`` (this tree), configured as an operator would for a big
cluster (``--config``):

- ``dynamic`` (default): one ``[[dynamic_neighbors]]`` range for the nodes' subnet,
  ``max_peers`` above C, route-reflector clients; no per-node config;
- ``static``: one ``[[peer]]`` per node (passive, ``rr_client``).

Phases of one run, each timed by the nodes' own clocks (the last node's time is the phase's):

1. ``join``: t0 = every node connects at once; until every node holds every route. Also the
   moment the last session came up (``all_established``).
2. ``storm``: every node drops its session at once, waits ``--return-after`` seconds (1 s) and
   connects again from an empty table; until every node holds every route again. Reported from
   the drop and from the return.
3. ``rejoin``: one node (the middle one) drops and returns after ``--return-after`` seconds;
   until it holds the table again and every other node has its routes again (from the drop
   and from the return). ``prefixes_withdrawn`` (like the other counts, summed over the
   phases so far) shows the other nodes saw its routes withdrawn in between.

Per phase the reflector's CPU time (user + system, from /proc), and its VmHWM (peak RSS) and
VmRSS at the end; after the join also VmRSS 2 s later (``held``: bgpd gives transient buffers
back once its input is quiet for a second). ``listen_drops`` is the kernel's ListenDrops counter
of the reflector's namespace (connections dropped because the accept queue was full). The
nodes' CPU time is given too (``nodes_system_seconds`` its kernel part: TCP receive), and
``checked``: the nodes whose count was compared with bgpd's own decoder (one per worker and
the re-joining node, ``--check``); a difference makes the phase ``check-failed`` and the
script exit 1. ``--record DIR`` keeps node 0's and the re-joining node's reads for
``bench/sim_receive_bench.py``.

Limits of the machine that a few thousand sessions meet, taken care of here: file descriptors
(RLIMIT_NOFILE raised for this process and what it starts), the listen backlog (bgpd listens
with SOMAXCONN, the namespace's ``net.core.somaxconn`` and ``tcp_max_syn_backlog`` are raised),
the neighbour table (``gc_thresh3``, 1,024 by default and global: the routed topology keeps one
neighbour per side instead), ephemeral ports (each node binds its own address: one port each).
No conntrack rules exist in the namespaces.

Run as root: ``.venv/bin/python bench/scale_bench.py [--clients 500 1000 2000 5000]
[--config dynamic static] [--repeat N]``; results in ``bench/results/scale_bench.json``, then
``.venv/bin/python bench/plot_scale.py --table`` draws ``docs/img/scale_*.svg`` and prints
the tables. ``--profile FILE`` runs bgpd under cProfile (CPU time) and prints the top
functions of the whole run. Every namespace and process is created by this script and removed
by it, also on failure (processes by PID).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, peak_rss_kib, rss_kib, save
from bench.forward_bench import cpu_seconds, print_profile
from bench.reflect_bench import (
    _PROFILED_BGPD,
    Worker,
    alive,
    listen_drops,
    listening,
    split,
    wait,
)
from bench.rr_clients import client_address
from tests.integration.peers import Namespace, Process, veth

ASN = 65000
REFLECTOR = "172.30.0.1"
NODES_SIDE = "172.30.0.2"
NODES_NET = "172.31.0.0/16"
CLUSTER_ID = "244.0.0.1"
NS_PREFIX = "bgpdscale"
BLOCKS, BORROWED = 4, 20
DEFAULT_CLIENTS = (500, 1000, 2000, 5000)
CONFIGS = ("dynamic", "static")
START_TIMEOUT_S = 120.0
PHASES = ("join", "storm", "rejoin")


# -- the reflector -------------------------------------------------------------------------


def bgpd_config(work: Path, clients: int, kind: str) -> str:
    """bgpd.toml as an operator would write it for ``clients`` nodes (``kind``: see --config)."""
    head = f"""[bgp]
asn = {ASN}
router_id = "{REFLECTOR}"
listen = ["{REFLECTOR}"]
cluster_id = "{CLUSTER_ID}"
log_level = "warning"
families = ["ipv4-unicast"]

[control]
socket = "{work / "bgpd.ctl"}"
"""
    if kind == "dynamic":
        return (
            head
            + f"""
[[dynamic_neighbors]]
prefix = "{NODES_NET}"
asn = {ASN}
rr_client = true
max_peers = {max(100, 2 * clients)}
"""
        )
    return head + "".join(
        f"""
[[peer]]
name = "node{i}"
address = "{client_address(i)}"
asn = {ASN}
rr_client = true
passive = true
"""
        for i in range(clients)
    )


def start_bgpd(ns: Namespace, work: Path, clients: int, kind: str, profile: Path | None) -> Process:
    config = work / "bgpd.toml"
    config.write_text(bgpd_config(work, clients, kind))
    if profile is None:
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(config)]
    else:
        profile.unlink(missing_ok=True)
        argv = [sys.executable, "-c", _PROFILED_BGPD, str(profile), "run", "-c", str(config)]
    return ns.spawn(argv, name="bgpd", log_dir=work, cwd=REPO)


# -- the nodes -----------------------------------------------------------------------------


class NodesWorker(Worker):
    """One ``bench/scale_clients.py`` process (reflect_bench's `Worker`, another program)."""

    __slots__ = ()

    def __init__(
        self,
        ns: Namespace,
        work: Path,
        *,
        first: int,
        count: int,
        clients: int,
        timeout: float,
        return_after: float,
        check: int = 1,
        record: Path | None = None,
        recorded: tuple[int, ...] = (),
    ) -> None:
        self.first, self.count = first, count
        self.stderr_path = work / f"nodes-{first}.stderr"
        argv = [
            *("ip", "netns", "exec", ns.name, sys.executable),
            str(REPO / "bench" / "scale_clients.py"),
            *("--reflector", REFLECTOR, "--clients", str(clients)),
            *("--prefixes", str(BLOCKS), "--borrowed", str(BORROWED)),
            *("--first", str(first), "--count", str(count)),
            *("--timeout", str(timeout), "--return-after", str(return_after)),
            *("--check", str(check)),
            *(["--record", str(record), "--record-nodes", *map(str, recorded)] if record else []),
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
        self._lines = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def expect(self, word: str, timeout: float) -> None:
        line = self.line(timeout)
        if line is None or line.strip() != word:
            raise RuntimeError(f"nodes {self.first}: {line!r} instead of {word}\n{self.errors()}")

    def result(self, deadline: float, reflector: int) -> dict[str, Any]:
        """The worker's JSON line of the phase, waiting until ``deadline`` (monotonic)."""
        while True:
            with contextlib.suppress(TimeoutError):
                line = self.line(0.2)
                if line is None:
                    raise RuntimeError(f"nodes {self.first} exited\n{self.errors()}")
                data: dict[str, Any] = json.loads(line)
                return data
            if time.monotonic() > deadline:
                raise TimeoutError(f"nodes {self.first}: no result")
            if not alive(reflector):
                raise RuntimeError("bgpd exited during the run")


@contextlib.contextmanager
def topology(clients: int) -> Iterator[tuple[Namespace, Namespace]]:
    """The reflector's and the nodes' namespaces; the nodes' addresses routed, not on-link."""
    with contextlib.ExitStack() as stack:
        rr = stack.enter_context(Namespace(NS_PREFIX))
        nodes = stack.enter_context(Namespace(NS_PREFIX))
        for ns in (rr, nodes):
            ns.sysctl({"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535"})
        veth(
            rr,
            nodes,
            a_addresses=[f"{REFLECTOR}/30"],
            b_addresses=[f"{NODES_SIDE}/30"],
        )
        rr.ip("route", "add", NODES_NET, "via", NODES_SIDE)
        nodes.ip_batch([f"addr add {client_address(i)}/32 dev lo" for i in range(clients)])
        yield rr, nodes


# -- one run -------------------------------------------------------------------------------


def phase_figures(
    results: list[dict[str, Any]], t0: float, returned_at: float | None
) -> dict[str, Any]:
    """The last node's times of one phase, relative to ``t0`` (and to the return)."""
    nodes = [cl | {"shift": r["go_at"] - t0} for r in results for cl in r["clients"]]
    done = [cl["done"] + cl["shift"] for cl in nodes if cl["done"] is not None]
    est = [cl["established"] + cl["shift"] for cl in nodes if cl["established"] is not None]
    complete = len(done) == len(nodes)
    failures = sorted({cl["check_failure"] for cl in nodes if cl["check_failure"]})
    out: dict[str, Any] = {
        # A count the full decode contradicts is no result: the run fails, saying why.
        "status": "check-failed" if failures else "ok" if complete else "timeout",
        "seconds": round(max(done), 3) if complete and not failures else None,
        "nodes_done": len(done),
        "nodes": len(nodes),
        "last_established": round(max(est), 3) if est else None,
        "updates_received": sum(cl["updates"] for cl in nodes),
        "prefixes_received": sum(cl["received"] for cl in nodes),
        "prefixes_withdrawn": sum(cl["withdrawn"] for cl in nodes),
        "unexpected": sum(cl["unexpected"] for cl in nodes),
        "echoed": sum(cl["echoed"] for cl in nodes),
        "reflected": all(cl["reflected"] is not False for cl in nodes),
        "resets": sum(cl["resets"] for cl in nodes),
        "errors": sorted({cl["error"] for cl in nodes if cl["error"]})[:5],
        "checked": sum(cl["checked"] for cl in nodes),
        "check_failures": failures[:5],
    }
    if returned_at is not None and complete and not failures:
        out["seconds_from_return"] = round(max(done) - (returned_at - t0), 3)
    return out


def system_seconds(pid: int) -> float:
    """The system (kernel) part of ``pid``'s CPU time so far: the nodes' TCP receive."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def reflector_figures(pid: int, cpu0: float) -> dict[str, Any]:
    return {
        "reflector_cpu_seconds": round(cpu_seconds(pid) - cpu0, 2),
        "rss_kib": rss_kib(pid),
        "peak_rss_kib": peak_rss_kib(pid),
    }


def run_once(
    clients: int, kind: str, args: argparse.Namespace, work: Path, profile: Path | None = None
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"clients": clients, "config": kind}
    with topology(clients) as (rr_ns, nodes_ns), contextlib.ExitStack() as stack:
        bgpd = start_bgpd(rr_ns, work, clients, kind, profile)
        stack.callback(bgpd.stop, timeout=60.0)
        wait(lambda: listening(rr_ns), START_TIMEOUT_S, "bgpd listening on port 179")
        out["rss_kib_before"] = rss_kib(bgpd.pid)
        out["startup_cpu_seconds"] = round(cpu_seconds(bgpd.pid), 2)
        per_worker = args.clients_per_worker or math.ceil(clients / args.workers)
        workers = []
        for first, count in split(clients, per_worker):
            w = NodesWorker(
                nodes_ns,
                work,
                first=first,
                count=count,
                clients=clients,
                timeout=args.timeout,
                return_after=args.return_after,
                check=args.check,
                record=args.record,
                recorded=(0, clients // 2),
            )
            stack.callback(w.stop)  # before bgpd stops: nodes leave first
            workers.append(w)
        for w in workers:
            w.expect("ready", START_TIMEOUT_S)

        def nodes_cpu() -> float:
            return sum(cpu_seconds(w.pid) for w in workers)

        def nodes_system() -> float:
            return sum(system_seconds(w.pid) for w in workers)

        def collect(t0: float, returned_at: float | None, cpu0: float) -> dict[str, Any]:
            deadline = time.monotonic() + args.timeout + 30
            results = [w.result(deadline, bgpd.pid) for w in workers]
            figures = phase_figures(results, t0, returned_at) | reflector_figures(bgpd.pid, cpu0)
            figures["nodes_cpu_seconds"] = round(nodes_cpu() - nodes_cpu0, 2)
            figures["nodes_system_seconds"] = round(nodes_system() - nodes_sys0, 2)
            return figures

        # 1. join: every node connects at once.
        nodes_cpu0, nodes_sys0 = nodes_cpu(), nodes_system()
        cpu0, t0 = cpu_seconds(bgpd.pid), time.time()
        for w in workers:
            w.send("go")
        join = collect(t0, None, cpu0)
        time.sleep(2.0)  # bgpd trims its heap after a quiet second: the table at rest
        join["held_rss_kib"] = rss_kib(bgpd.pid)
        out["join"] = join
        print(f"  join {json.dumps(join)}", flush=True)
        if join["status"] == "ok" and "storm" in args.phases:
            # 2. storm: every node drops and returns at once.
            nodes_cpu0, nodes_sys0 = nodes_cpu(), nodes_system()
            cpu0, t0 = cpu_seconds(bgpd.pid), time.time()
            for w in workers:
                w.send("storm")
            storm = collect(t0, t0 + args.return_after, cpu0)
            out["storm"] = storm
            print(f"  storm {json.dumps(storm)}", flush=True)
        if join["status"] == "ok" and "rejoin" in args.phases:
            # 3. rejoin: one node drops and returns.
            node = clients // 2
            for w in workers:
                w.send("rearm")
            for w in workers:
                w.expect("rearmed", 30)
            nodes_cpu0, nodes_sys0 = nodes_cpu(), nodes_system()
            cpu0, t0 = cpu_seconds(bgpd.pid), time.time()
            for w in workers:
                w.send(f"bounce {node}" if w.first <= node < w.first + w.count else "wait")
            rejoin = collect(t0, t0 + args.return_after, cpu0)
            rejoin["node"] = node
            out["rejoin"] = rejoin
            print(f"  rejoin {json.dumps(rejoin)}", flush=True)
        out["listen_drops"] = listen_drops(rr_ns)
        if profile is not None:
            bgpd.send_signal(signal.SIGUSR1)
            wait(profile.exists, 120, "the profile")
    return out


def failed_run(clients: int, kind: str, exc: BaseException) -> dict[str, Any]:
    return {"clients": clients, "config": kind, "status": "error", "error": f"{exc}"[:2000]}


def median(runs: list[dict[str, Any]], phase: str, key: str) -> float | None:
    values = [
        r[phase][key]
        for r in runs
        if phase in r and r[phase].get("status") == "ok" and r[phase].get(key) is not None
    ]
    return round(statistics.median(values), 3) if values else None


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    keys = (
        "seconds",
        "seconds_from_return",
        "last_established",
        "reflector_cpu_seconds",
        "nodes_cpu_seconds",
    )
    out: dict[str, Any] = {}
    for key, reps in runs.items():
        med: dict[str, Any] = {"runs": len(reps)}
        for phase in PHASES:
            med[phase] = {k: median(reps, phase, k) for k in keys}
        med["join"]["peak_rss_kib"] = median(reps, "join", "peak_rss_kib")
        med["join"]["held_rss_kib"] = median(reps, "join", "held_rss_kib")
        med["storm"]["peak_rss_kib"] = median(reps, "storm", "peak_rss_kib")
        out[key] = med
    return out


def raise_nofile() -> None:
    """Enough descriptors for bgpd's sessions and the nodes' (inherited by what we start)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 17
    if hard < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, nargs="+", default=list(DEFAULT_CLIENTS))
    parser.add_argument("--config", nargs="+", choices=CONFIGS, default=["dynamic"])
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase")
    parser.add_argument("--return-after", type=float, default=1.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="node processes (default: one per CPU; more only take CPU from bgpd)",
    )
    parser.add_argument("--clients-per-worker", type=int, help="instead of --workers")
    parser.add_argument("--merge", action="store_true", help="keep other points in the JSON")
    parser.add_argument("--out", default="scale_bench")
    parser.add_argument("--profile", type=Path, help="bgpd under cProfile at the first C")
    parser.add_argument("--profile-top", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs)")
    parser.add_argument(
        "--check", type=int, default=1, help="nodes per worker checked by bgpd's decoder"
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="directory: write node 0's and the re-joining node's reads there (node-I-of-C.reads)",
    )
    args = parser.parse_args()
    if args.record is not None:
        args.record = args.record.resolve()
        args.record.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    path = REPO / "bench" / "results" / f"{args.out}.json"
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    runs: dict[str, list[dict[str, Any]]] = previous.get("runs", {}) if args.merge else {}
    try:
        if args.profile is not None:
            prof = args.profile.resolve()
            r = run_once(args.clients[0], args.config[0], args, work / "profile", prof)
            print(json.dumps(r, indent=2))
            print_profile(prof, top=args.profile_top)
            return 0
        for kind in args.config:
            for c in args.clients:
                key = f"{kind}-{c}"
                runs[key] = []
                for rep in range(args.repeat):
                    print(f"{kind} C={c} rep {rep}", flush=True)
                    try:
                        r = run_once(c, kind, args, work / f"{key}-{rep}")
                    except Exception as exc:
                        r = failed_run(c, kind, exc)
                        print(f"  failed: {r['error']}", flush=True)
                    runs[key].append(r)
                    if not args.keep:
                        shutil.rmtree(work / f"{key}-{rep}", ignore_errors=True)
    finally:
        if args.keep:
            print(f"logs and configs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "blocks_per_node": BLOCKS,
        "borrowed_per_node": BORROWED,
        "return_after_seconds": args.return_after,
        "timeout_seconds": args.timeout,
        "runs": runs,
        "median": summarise(runs),
    }
    print(f"saved {save(args.out, result)}")
    failed = [
        f"{key} {phase}: {r[phase]['check_failures']}"
        for key, reps in runs.items()
        for r in reps
        for phase in PHASES
        if r.get(phase, {}).get("status") == "check-failed"
    ]
    for line in failed:
        print(f"COUNT CHECK FAILED (the nodes' counts are not to be trusted): {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

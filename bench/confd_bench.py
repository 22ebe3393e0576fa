"""confd at cluster scale: first render of a 1,000-node cluster from etcd, and reload latency.

The cluster (`cluster_keys`) is written into a real etcd (Debian's ``/usr/bin/etcd``, started
on loopback with a temp data dir through `tests.integration.etcd_server.EtcdServer`) exactly as
calicoctl stores it: v3 Node resources (address, labels, orchRefs; three of them are route
reflectors with a ``route-reflector`` label and a cluster id), the ``default``
BGPConfiguration (node-to-node mesh off, bindMode NodeIP, a free listen port), two BGPPeers
(workers -> reflectors, reflectors <-> reflectors, by label selectors), two IPPools and two
confirmed IPAM block affinities per node under ``/calico/ipam/v2/host/...``. Node addresses are
127.101.x.y, so a speaker for any node listens on loopback only.

First render (``--nodes``, for one worker and one reflector node):
- **end to end**: ``bgpd confd --onetime --dest-root TMP`` as a subprocess, from spawn to exit
  (interpreter start and imports included), peak RSS from ``wait4`` (``ru_maxrss``, the
  child's VmHWM); best and median of ``--repeat`` runs after one warm-up run that fills a
  private bytecode cache (``PYTHONPYCACHEPREFIX`` in the temp dir: an installed bgpd ships
  .pyc files, while this environment sets ``PYTHONDONTWRITEBYTECODE``);
- **by phase**: the same pieces `bgpd confd` builds (`build_watcher`'s parts), run in a fresh
  child process of this script and timed one by one: imports, read (the etcd source's first
  complete snapshot), derive (the model: v3 resources -> ``/calico/bgp/v1`` view), render (the
  jinja2 templates), check (``bgpd.config.parse_config``, the check before install) and install
  (stage, fsync, the same check again, rename); VmHWM at the end;
- **profile**: the phase child once more under cProfile; the top functions by own time.

Reload latency (``--writes`` writes, each waited for before the next): a speaker for the worker
node, its control socket in a temp dir, kernel sync off, listening on 127.101.x.y at the free
port. Each write flips the AS number of a BGPPeer that names this node (``node: <worker>``),
so every write changes the running config (one peer replaced). The latency is from the return
of the etcd Put to the speaker's ``reload done`` log line, timestamped by this script as it
arrives on the speaker's stderr pipe (a reader thread; monotonic clock). Two modes:
- **in-process**: ``bgpd run --confd-backend etcd`` (the watcher in the speaker's loop);
- **sighup**: ``bgpd confd --pidfile-to-signal PIDFILE`` as its own process beside
  ``bgpd run -c FILE --pidfile PIDFILE`` (as calico-node runs confd beside BIRD).
The watcher's debounce is its default (0.1 s of quiet before a render) unless ``--debounce``.
After the writes, ``bgpctl show config`` must show the last write's AS.

Run: ``.venv/bin/python bench/confd_bench.py [--nodes 1000] [--writes 200] [--repeat 3]``;
results go to ``bench/results/confd_bench.json`` (``--out NAME`` for another name;
``--skip-render`` measures the latency only; ``--debounce S`` overrides the watcher's).
Every process is started by this script and stopped by PID, and every temp dir removed, also
on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import pstats
import queue
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from bgpd.confd.arguments import DEFAULT_CONFDIR

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, save
from tests.integration.etcd_server import EtcdServer
from tests.integration.peers.ports import free_tcp_port
from tests.unit.confd.model.calico_data import (
    bgp_configuration,
    bgp_peer,
    ip_pool,
    node,
)

REFLECTORS = 3
RR_LABEL = "route-reflector"
RR_CLUSTER_ID = "244.0.0.1"
BENCH_PEER = "bench-peer"
BENCH_PEER_IP = "127.0.0.9"
AFFINITIES_PER_NODE = 2
POOL_V4 = "10.64.0.0/14"  # 4,096 /26 blocks: two per node up to 2,048 nodes
RELOAD_DONE = re.compile(r"reload done changes=(\d+)")
INSTALLED = re.compile(r"confd installed ")
WRITE_TIMEOUT_S = 60.0


# ------------------------------------------------------------------------------ the cluster


def node_name(i: int) -> str:
    return f"node-{i:04d}"


def worker_name(nodes: int) -> str:
    """The worker measured: the one in the middle of the node list."""
    return node_name(max(REFLECTORS, nodes // 2))


def node_ip(i: int) -> str:
    return f"127.101.{i // 250}.{i % 250 + 1}"


def reflector_names() -> list[str]:
    return [node_name(i) for i in range(REFLECTORS)]


def affinity_key(name: str, cidr: str) -> tuple[str, str]:
    key = f"/calico/ipam/v2/host/{name}/ipv4/block/{cidr.replace('/', '-')}"
    return key, json.dumps({"state": "confirmed", "deleted": False})


def block_cidr(n: int) -> str:
    """The n-th /26 of POOL_V4."""
    base = (10 << 24) | (64 << 16)
    addr = base + n * 64
    return f"{addr >> 24}.{(addr >> 16) & 255}.{(addr >> 8) & 255}.{addr & 255}/26"


def bench_peer(name: str, asn: int) -> tuple[str, str]:
    return bgp_peer(BENCH_PEER, node=name, peerIP=BENCH_PEER_IP, asNumber=asn)


def cluster_keys(nodes: int, listen_port: int) -> dict[str, str]:
    """A calicoctl-shaped cluster of `nodes` nodes with REFLECTORS route reflectors."""
    if nodes * AFFINITIES_PER_NODE > 4096 or nodes > 250 * 250:
        raise ValueError("too many nodes for the address plan")
    items = [
        bgp_configuration(
            "default",
            logSeverityScreen="Info",
            nodeToNodeMeshEnabled=False,
            asNumber=64512,
            listenPort=listen_port,
            bindMode="NodeIP",
            serviceClusterIPs=[{"cidr": "10.96.0.0/12"}],
        ),
        bgp_peer(
            "peer-with-route-reflectors",
            nodeSelector=f"!has({RR_LABEL})",
            peerSelector=f"has({RR_LABEL})",
        ),
        bgp_peer(
            "route-reflector-mesh",
            nodeSelector=f"has({RR_LABEL})",
            peerSelector=f"has({RR_LABEL})",
        ),
        ip_pool("default-ipv4-ippool", POOL_V4, ipipMode="Never", vxlanMode="Never"),
        ip_pool("external-ipv4-ippool", "192.168.240.0/20", ipipMode="CrossSubnet"),
    ]
    for i in range(nodes):
        name = node_name(i)
        labels = {"topology.kubernetes.io/zone": f"zone-{i % 3}"}
        if i < REFLECTORS:
            labels[RR_LABEL] = "true"
            items.append(node(name, f"{node_ip(i)}/16", rr_cluster_id=RR_CLUSTER_ID, labels=labels))
        else:
            items.append(node(name, f"{node_ip(i)}/16", labels=labels))
        for b in range(AFFINITIES_PER_NODE):
            items.append(affinity_key(name, block_cidr(i * AFFINITIES_PER_NODE + b)))
    return dict(items)


# ------------------------------------------------------------------------------ helpers


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def node_vars(tmp: Path, name: str) -> list[str]:
    out: list[str] = []
    for var, value in (
        ("control_socket", tmp / f"{name}.ctl"),
        ("bird_socket", tmp / f"{name}-bird.ctl"),
        ("bird6_socket", tmp / f"{name}-bird6.ctl"),
        ("kernel", "false"),
    ):
        out += ["--var", f"{var}={value}"]
    return out


def child_env(etcd: EtcdServer, name: str) -> dict[str, str]:
    return {**os.environ, "NODENAME": name, **etcd.env()}


def run_measured(argv: list[str], env: Mapping[str, str], log: Path) -> tuple[float, int, int]:
    """Run argv to completion; returns (wall seconds, exit status, peak RSS KiB of the child)."""
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=dict(env), cwd=REPO, stdout=out, stderr=out)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 already
    return elapsed, proc.returncode, int(usage.ru_maxrss)


class Speaker:
    """A bgpd process whose stderr lines are timestamped on arrival by a reader thread."""

    __slots__ = ("_lines", "_log", "_reader", "name", "proc")

    def __init__(self, argv: list[str], env: Mapping[str, str], log: Path, name: str) -> None:
        self.name = name
        self._log: IO[str] = log.open("w")
        self._lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put((time.monotonic(), line))
            self._log.write(line)
        self._log.flush()

    def drain(self) -> list[str]:
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self._lines.get_nowait()[1])
        return out

    def wait_line(self, pattern: re.Pattern[str], timeout: float) -> tuple[float, re.Match[str]]:
        """The arrival time and match of the next stderr line matching `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no line matching {pattern.pattern!r}")
            try:
                at, line = self._lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode})") from None
                continue
            m = pattern.search(line)
            if m is not None:
                return at, m

    def cpu_s(self) -> float:
        """User + system CPU seconds the process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self._log.close()


def wait_path(path: Path, timeout: float, procs: list[Speaker]) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited ({p.proc.returncode}) before {path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.02)


def ctl(sock: Path, command: str) -> Any:
    from bgpd.control.bgpctl import call
    from bgpd.control.protocol import Request

    reply = call(str(sock), Request(command=command), timeout=5)
    if not reply.get("ok"):
        raise RuntimeError(f"{command}: {reply.get('error')}")
    return reply["data"]


def wait_answering(sock: Path, timeout: float, procs: list[Speaker]) -> None:
    from bgpd.control.bgpctl import UnreachableError

    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited ({p.proc.returncode}) before answering")
        with contextlib.suppress(UnreachableError, FileNotFoundError, ConnectionError):
            ctl(sock, "show peers")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sock} did not answer")
        time.sleep(0.05)


# ------------------------------------------------------------------------------ first render


class PhaseClock:
    """Wall and CPU (process_time: every thread of the process) seconds, summed by phase."""

    __slots__ = ("cpu", "wall")

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c


def phases_child(name: str, dest_root: Path, profile: Path | None) -> dict[str, Any]:
    """One first render split into phases, in this (fresh) process; see the module docstring."""
    import asyncio

    clock = PhaseClock()
    with clock.phase("imports"):
        from bgpd.confd.command import LocalNode, derive_view, nodename_from_env
        from bgpd.confd.model import derive_bgp_keys  # noqa: F401 - timed as an import
        from bgpd.confd.render_pass import Renderer, load_resources
        from bgpd.confd.sources.etcd import EtcdSettings, EtcdSource
        from bgpd.confd.template_inputs import TemplateContext
        from bgpd.config import parse_config

    environ = dict(os.environ)
    assert nodename_from_env(environ) == name
    confdir = DEFAULT_CONFDIR

    async def first_render() -> dict[str, Any]:
        with clock.phase("setup"):
            resources = load_resources(confdir, name, dest_root)
            ctx = TemplateContext(nodename=name, environ=environ)
            renderer = Renderer(confdir, resources, ctx)
            local = LocalNode.from_env(name, environ)
            source = EtcdSource(EtcdSettings.from_env(environ))
        try:
            with clock.phase("read"):
                snapshot = await anext(aiter(source.snapshots()))
        finally:
            await source.close()
        with clock.phase("derive"):
            view = derive_view(snapshot.values, local)
        out: dict[str, Any] = {"raw_keys": len(snapshot.values), "view_keys": len(view)}
        for res in resources:
            with clock.phase("render"):
                text = renderer.render_text(res, view)
            with clock.phase("check"):
                config = parse_config(text, source=str(res.dest))
            with clock.phase("install"):  # stage + fsync + the same check again + rename
                result = renderer.install(res, text)
            out[res.name] = {
                "outcome": result.outcome.value,
                "bytes": len(text.encode()),
                "peers": len(config.all_peers),
                "cluster_nodes": len(getattr(config, "cluster_nodes", ()) or ()),
            }
        return out

    profiler = cProfile.Profile() if profile is not None else None
    with clock.phase("first_render_total"):
        if profiler is not None:
            profiler.enable()
        info = asyncio.run(first_render())
        if profiler is not None:
            profiler.disable()
    if profiler is not None:
        profiler.dump_stats(str(profile))
    status = Path("/proc/self/status").read_text()
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return {"times_s": clock.wall, "cpu_s": clock.cpu, "peak_rss_kib": hwm, **info}


def run_phases(etcd: EtcdServer, name: str, tmp: Path, profile: Path | None) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--phases-child", name, "--dest-root", str(tmp / name)]
    if profile is not None:
        argv += ["--profile-out", str(profile)]
    done = subprocess.run(
        argv, env=child_env(etcd, name), cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"phase child for {name} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def top_functions(profile: Path, count: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(str(profile), stream=io.StringIO())
    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = file.replace(str(REPO) + "/", "")
        short = re.sub(r".*/site-packages/", "", short)
        short = re.sub(r".*/lib/python3\.\d+/", "", short)
        rows.append(
            {
                "function": f"{short}:{line}({func})",
                "calls": ncalls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
            }
        )
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:count]


def first_render(etcd: EtcdServer, tmp: Path, nodes: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for role, name in (("worker", worker_name(nodes)), ("reflector", node_name(0))):
        runs = []
        cold: dict[str, Any] = {}
        # run -1 is a warm-up that fills the bytecode cache (PYTHONPYCACHEPREFIX, see main)
        for r in range(-1, repeat):
            root = tmp / f"onetime-{name}-{r}"
            argv = [sys.executable, "-m", "bgpd", "confd", "--onetime", "--dest-root", str(root)]
            elapsed, code, maxrss = run_measured(
                argv, child_env(etcd, name), tmp / f"onetime-{name}-{r}.log"
            )
            if code != 0 or not (root / "etc/bgpd/bgpd.toml").exists():
                log = (tmp / f"onetime-{name}-{r}.log").read_text()[-4000:]
                raise RuntimeError(f"bgpd confd --onetime for {name} failed ({code}):\n{log}")
            shutil.rmtree(root, ignore_errors=True)
            if r < 0:
                cold = {"wall_s": round(elapsed, 4), "peak_rss_kib": maxrss}
                continue
            runs.append({"wall_s": round(elapsed, 4), "peak_rss_kib": maxrss})
        phase_runs = [run_phases(etcd, name, tmp / f"phases-{r}", None) for r in range(repeat)]
        best = min(phase_runs, key=lambda p: p["times_s"]["first_render_total"])
        profile = tmp / f"{name}.prof"
        run_phases(etcd, name, tmp / "profiled", profile)
        out[role] = {
            "node": name,
            "onetime_cold_run": cold,
            "onetime_runs": runs,
            "onetime_wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 4),
            "onetime_wall_s_best": min(r["wall_s"] for r in runs),
            "onetime_peak_rss_kib_max": max(r["peak_rss_kib"] for r in runs),
            "phases_best": {
                **best,
                "times_s": {k: round(v, 4) for k, v in best["times_s"].items()},
                "cpu_s": {k: round(v, 4) for k, v in best["cpu_s"].items()},
            },
            "phases_all_totals_s": [
                round(p["times_s"]["first_render_total"], 4) for p in phase_runs
            ],
            "profile_top_tottime": top_functions(profile, 20),
        }
        print(
            f"first render {role} {name}: onetime median {out[role]['onetime_wall_s_median']} s, "
            f"peak {out[role]['onetime_peak_rss_kib_max']} KiB; phases "
            f"{out[role]['phases_best']['times_s']}",
            flush=True,
        )
    return out


# ------------------------------------------------------------------------------ reload latency


@contextlib.contextmanager
def speaker_in_process(
    etcd: EtcdServer, tmp: Path, name: str, debounce: float | None
) -> Iterator[tuple[Speaker, Speaker, Path]]:
    """Yields (the process logging "confd installed", the speaker, its control socket)."""
    sock = tmp / f"{name}.ctl"
    argv = [sys.executable, "-m", "bgpd", "run", "-c", str(tmp / f"{name}.toml")]
    argv += ["--confd-backend", "etcd", *node_vars(tmp, name)]
    if debounce is not None:
        argv += ["--debounce", str(debounce)]
    sp = Speaker(
        argv, child_env(etcd, name), tmp / "inprocess-speaker.log", "bgpd run (in-process)"
    )
    try:
        wait_answering(sock, 120, [sp])
        yield sp, sp, sock
    finally:
        sp.stop()


@contextlib.contextmanager
def speaker_sighup(
    etcd: EtcdServer, tmp: Path, name: str, debounce: float | None
) -> Iterator[tuple[Speaker, Speaker, Path]]:
    sock = tmp / f"{name}.ctl"
    root = tmp / "root"
    dest = root / "etc/bgpd/bgpd.toml"
    pidfile = tmp / "bgpd.pid"
    argv = [sys.executable, "-m", "bgpd", "confd", "--dest-root", str(root)]
    argv += [*node_vars(tmp, name), "--pidfile-to-signal", str(pidfile)]
    if debounce is not None:
        argv += ["--debounce", str(debounce)]
    procs: list[Speaker] = []
    try:
        procs.append(Speaker(argv, child_env(etcd, name), tmp / "confd.log", "bgpd confd"))
        wait_path(dest, 120, procs)
        run = [sys.executable, "-m", "bgpd", "run", "-c", str(dest), "--pidfile", str(pidfile)]
        procs.append(Speaker(run, child_env(etcd, name), tmp / "sighup-speaker.log", "bgpd run"))
        wait_answering(sock, 120, procs)
        wait_path(pidfile, 30, procs)
        yield procs[0], procs[1], sock
    finally:
        for p in reversed(procs):
            p.stop()


def reload_latency(
    etcd: EtcdServer, tmp: Path, mode: str, *, nodes: int, writes: int, debounce: float | None
) -> dict[str, Any]:
    name = worker_name(nodes)
    start = speaker_in_process if mode == "in-process" else speaker_sighup
    workdir = tmp / mode
    workdir.mkdir()
    key, _ = bench_peer(name, 65001)
    etcd.put(key, bench_peer(name, 65001)[1])
    latencies: list[float] = []
    to_install: list[float] = []  # write -> "confd installed" (watch, debounce, render pass)
    changes: list[int] = []
    with start(etcd, workdir, name, debounce) as (watcher, sp, sock):
        deadline = time.monotonic() + 60
        while "asn = 65001" not in ctl(sock, "show config"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{mode}: the bench peer never appeared in the running config")
            time.sleep(0.05)
        time.sleep(1.0)  # let any render from the start-up burst finish before measuring
        asn = 65001
        procs = {id(watcher): watcher, id(sp): sp}.values()
        cpu_before = sum(p.cpu_s() for p in procs)
        wall_before = time.monotonic()
        for i in range(writes):
            asn = 65002 if asn == 65001 else 65001
            watcher.drain()
            sp.drain()
            etcd.put(key, bench_peer(name, asn)[1])
            t_write = time.monotonic()
            t_installed, _ = watcher.wait_line(INSTALLED, WRITE_TIMEOUT_S)
            t_done, m = sp.wait_line(RELOAD_DONE, WRITE_TIMEOUT_S)
            latencies.append(t_done - t_write)
            to_install.append(t_installed - t_write)
            changes.append(int(m.group(1)))
            time.sleep(0.02 + 0.03 * (i % 3))  # vary the phase against the watcher's timers
        cpu_used = sum(p.cpu_s() for p in procs) - cpu_before
        wall_used = time.monotonic() - wall_before
        config = ctl(sock, "show config")
        if f"asn = {asn}" not in config:
            raise RuntimeError(f"{mode}: the running config lacks the last write's AS {asn}")
    result = {
        "mode": mode,
        "node": name,
        "writes": writes,
        "debounce_s": debounce if debounce is not None else "default (0.1)",
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "min_ms": round(min(latencies) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "to_installed_median_ms": round(statistics.median(to_install) * 1000, 1),
        "to_installed_p99_ms": round(percentile(to_install, 99) * 1000, 1),
        "installed_to_reload_done_median_ms": round(
            statistics.median(d - i for d, i in zip(latencies, to_install, strict=True)) * 1000, 1
        ),
        "cpu_ms_per_write": round(cpu_used / writes * 1000, 1),  # watcher + speaker processes
        "cpu_share_of_wall": round(cpu_used / wall_used, 3),
        "reloads_with_no_change": sum(1 for c in changes if c == 0),
        "latencies_ms": [round(v * 1000, 2) for v in latencies],
    }
    print(
        f"reload latency {mode}: median {result['median_ms']} ms, p99 {result['p99_ms']} ms "
        f"over {writes} writes (to installed: median {result['to_installed_median_ms']} ms)",
        flush=True,
    )
    return result


# ------------------------------------------------------------------------------ main


def environment() -> dict[str, Any]:
    import jinja2

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    etcd = subprocess.run(
        ["/usr/bin/etcd", "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "etcd": etcd[0] if etcd else "?",
        "jinja2": jinja2.__version__,
        "rlimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "loadavg_at_start": os.getloadavg(),
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--writes", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3, help="first-render runs per node")
    p.add_argument("--debounce", type=float, help="the watcher's debounce (default: its own)")
    p.add_argument("--modes", nargs="+", default=["in-process", "sighup"])
    p.add_argument("--skip-render", action="store_true", help="latency only")
    p.add_argument("--out", default="confd_bench", help="results file name in bench/results/")
    p.add_argument("--phases-child", help=argparse.SUPPRESS)
    p.add_argument("--dest-root", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phases_child:
        print(json.dumps(phases_child(args.phases_child, args.dest_root, args.profile_out)))
        return 0

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every process and remove tmp.
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="bgpd-confd-bench-"))
    # Children compile bgpd once into a private bytecode cache, as an installed package ships
    # .pyc files; without it (PYTHONDONTWRITEBYTECODE=1) every start compiles every module.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    etcd: EtcdServer | None = None
    try:
        etcd = EtcdServer(workdir=tmp / "etcd")
        etcd.start()
        keys = cluster_keys(args.nodes, free_tcp_port())
        t = time.perf_counter()
        etcd.put_many(keys)
        load_s = time.perf_counter() - t
        size = sum(len(k) + len(v) for k, v in keys.items())
        print(f"{len(keys)} keys ({size} bytes) written in {load_s:.2f} s", flush=True)
        result: dict[str, Any] = {
            "environment": environment(),
            "cluster": {
                "nodes": args.nodes,
                "reflectors": REFLECTORS,
                "keys": len(keys),
                "bytes": size,
                "load_s": round(load_s, 2),
            },
        }
        if not args.skip_render:
            result["first_render"] = first_render(etcd, tmp, args.nodes, args.repeat)
        result["reload_latency"] = [
            reload_latency(
                etcd, tmp, mode, nodes=args.nodes, writes=args.writes, debounce=args.debounce
            )
            for mode in args.modes
        ]
        result["loadavg_at_end"] = os.getloadavg()
        path = save(args.out, result)
        print(f"results in {path}")
        return 0
    finally:
        if etcd is not None:
            etcd.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

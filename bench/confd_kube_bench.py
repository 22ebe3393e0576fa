"""confd with the Kubernetes datastore at scale, side by side with the same data in etcd.

The cluster (`bench.kube_cluster`: 1,000 Nodes, 3 reflectors, BGPPeers by selector, 2,000
BlockAffinities, an IPPool, the ``default`` BGPConfiguration, 5,000 Services with one
EndpointSlice each) is created in a real kube-apiserver (`tests.integration.kube_apiserver`,
the binaries of ``make deps``) by parallel POSTs. For the etcd side, the Calico part of the
same data is written into a second, plain etcd as the keys the Kubernetes source makes of it
(its own converters), and ``bgpd confd --backend etcd`` reads the Services from the API server
through the composite source, as calico-node in etcd mode does.

Per datastore, one ``bgpd confd --pidfile-to-signal`` (as the ``kube-system/bgpd``
ServiceAccount of deploy/rbac) beside ``bgpd run`` for the worker node, one at a time:
- **first render**: from spawning ``bgpd confd`` to its ``confd installed`` line; its RSS then
  and its peak (VmHWM) at the end;
- **change -> speaker running it**: ``--changes`` changes, each waited for, cycling through
  three kinds: a BGPPeer naming the worker flips its AS; the ``route-reflector`` label (which
  the BGPPeers' selectors use) toggles on node-0010; the endpoint of a Local Service moves onto
  and off the worker. From the write's return to the speaker's ``reload done`` line (stderr,
  timestamped on arrival); median and p99; CPU of the watcher per change (/proc stat);
- **irrelevant Node updates**: every Node's status patched (a kubelet heartbeat: condition
  times) and a non-Calico annotation changed, ``--heartbeats`` rounds over all nodes with
  ``--patchers`` parallel clients; the watcher's CPU delta per update, and the renders it did
  (none expected: ``confd installed`` lines and the metrics' render counter are checked).

``--profile-pass`` measures in this process with no servers: derive without the cache, then
per change kind (the three above) the watcher's CPU for one change (the source's part, derive
with the cache, render, check), and the cProfile top of those passes.

Run: ``.venv/bin/python bench/confd_kube_bench.py`` (``--nodes``, ``--services``,
``--changes``, ``--datastores kubernetes etcd``); results in
``bench/results/confd_kube_bench.json``. Every process is started here and stopped by PID,
every temp dir removed, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.client
import io
import json
import os
import pstats
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bgpd.confd.arguments import DEFAULT_CONFDIR

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import kube_cluster as kc
from bench.common import save
from bench.confd_bench import (
    INSTALLED,
    RELOAD_DONE,
    WRITE_TIMEOUT_S,
    Speaker,
    ctl,
    node_vars,
    percentile,
    top_functions,
    wait_answering,
    wait_path,
)

LOCAL_SERVICE = 0  # svc-00000: LoadBalancer, Local policy (every tenth is)
TOGGLED_NODE = 10
BENCH_PEER = "bench-peer"


# ------------------------------------------------------------------------------ API writes


class Api:
    """Admin HTTPS requests to the fixture's API server, one kept-alive connection a thread."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1",
                self._server.port,
                context=self._server._admin_context(),
                timeout=60,
            )
            self._local.conn = conn
        return conn

    def call(self, method: str, path: str, body: Any, ctype: str = "application/json") -> Any:
        for attempt in range(5):
            conn = self._conn()
            try:
                conn.request(method, path, json.dumps(body), {"Content-Type": ctype})
                reply = conn.getresponse()
                data = reply.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 4:
                    raise
                continue
            if reply.status == 429 or reply.status >= 500:
                time.sleep(0.2 * (attempt + 1))
                continue
            if reply.status >= 300:
                raise RuntimeError(f"{method} {path}: {reply.status} {data[:300]!r}")
            return json.loads(data)
        raise RuntimeError(f"{method} {path}: gave up")


def collection(obj: dict[str, Any]) -> str:
    kind, meta = obj["kind"], obj["metadata"]
    if kind == "Node":
        return "/api/v1/nodes"
    if kind == "Namespace":
        return "/api/v1/namespaces"
    if kind == "Service":
        return f"/api/v1/namespaces/{meta['namespace']}/services"
    if kind == "EndpointSlice":
        return f"/apis/discovery.k8s.io/v1/namespaces/{meta['namespace']}/endpointslices"
    plural = {"BlockAffinity": "blockaffinities"}.get(kind, f"{kind.lower()}s")
    return f"/apis/crd.projectcalico.org/v1/{plural}"


def create_all(api: Api, objs: list[dict[str, Any]], workers: int) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda o: api.call("POST", collection(o), o), objs))


def load_cluster(api: Api, nodes: int, services: int, namespaces: int, port: int) -> dict:
    """Create everything; returns counts and the Services as the API server holds them."""
    t = time.perf_counter()
    create_all(api, [{"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": kc.namespace_of(n, namespaces)}}
                     for n in range(namespaces)], 4)  # fmt: skip
    node_objs = [kc.k8s_node(i) for i in range(nodes)]
    create_all(api, node_objs, 8)
    calico = kc.calico_objects(nodes, port)
    create_all(api, calico, 8)
    created = create_all(api, [kc.service(s, namespaces) for s in range(services)], 8)
    # The load balancer's part: the ingress IP of every LoadBalancer Service, in its status.
    lbs = [s for s in range(services) if created[s]["spec"]["type"] == "LoadBalancer"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda s: set_lb_status(api, s, namespaces), lbs))
    create_all(api, [kc.endpoint_slice(s, namespaces, nodes) for s in range(services)], 8)
    return {
        "objects": namespaces + len(node_objs) + len(calico) + 2 * services,
        "load_s": round(time.perf_counter() - t, 1),
        "cluster_ips": [c["spec"]["clusterIP"] for c in created],
    }


def set_lb_status(api: Api, s: int, namespaces: int) -> None:
    path = f"/api/v1/namespaces/{kc.namespace_of(s, namespaces)}/services/svc-{s:05d}/status"
    body = {"status": {"loadBalancer": {"ingress": [{"ip": kc.lb_ip(s)}]}}}
    api.call("PATCH", path, body, "application/merge-patch+json")


# ------------------------------------------------------------------------------ one datastore


class Changes:
    """The relevant changes, written to the datastore under test (etcd or the API server)."""

    def __init__(self, api: Api, etcd: Any | None, nodes: int, namespaces: int) -> None:
        self.api, self.etcd, self.nodes, self.namespaces = api, etcd, nodes, namespaces
        self.worker = kc.worker_name(nodes)
        self.asn = 65001
        self.rr = False
        self.on_worker = False

    def peer(self) -> str:
        self.asn = 65002 if self.asn == 65001 else 65001
        obj = kc.calico("BGPPeer", BENCH_PEER, node=self.worker, peerIP="127.0.0.9",
                        asNumber=self.asn)  # fmt: skip
        if self.etcd is not None:
            self.etcd.put_many(kc.as_keys([], [obj], [], []))
        else:
            path = f"/apis/crd.projectcalico.org/v1/bgppeers/{BENCH_PEER}"
            patch = {"spec": {"asNumber": self.asn}}
            try:
                self.api.call("PATCH", path, patch, "application/merge-patch+json")
            except RuntimeError:
                self.api.call("POST", "/apis/crd.projectcalico.org/v1/bgppeers", obj)
        return "bgppeer"

    def label(self) -> str:
        self.rr = not self.rr
        extra = {kc.RR_LABEL: "true"} if self.rr else {}
        if self.etcd is not None:
            node = kc.k8s_node(TOGGLED_NODE, extra_labels=extra)
            self.etcd.put_many(kc.as_keys([node], [], [], []))
        else:
            value = "true" if self.rr else None
            patch = {"metadata": {"labels": {kc.RR_LABEL: value}}}
            path = f"/api/v1/nodes/{kc.node_name(TOGGLED_NODE)}"
            self.api.call("PATCH", path, patch, "application/merge-patch+json")
        return "node label"

    def endpoint(self) -> str:
        self.on_worker = not self.on_worker
        s = LOCAL_SERVICE
        eps = kc.endpoint_slice(s, self.namespaces, self.nodes)
        eps["endpoints"][0]["nodeName"] = self.worker if self.on_worker else kc.node_name(1)
        ns = kc.namespace_of(s, self.namespaces)
        path = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{eps['metadata']['name']}"
        patch = {"endpoints": eps["endpoints"]}
        self.api.call("PATCH", path, patch, "application/merge-patch+json")
        return "endpoint"


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid: int, field: str) -> int:
    m = re.search(rf"{field}:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert m is not None
    return int(m.group(1))


@contextlib.contextmanager
def confd_and_speaker(
    tmp: Path, env: dict[str, str], backend: str, worker: str
) -> Iterator[tuple[Speaker, Speaker, Path, float]]:
    """(confd, speaker, control socket, seconds from spawn to the first `confd installed`)."""
    sock = tmp / f"{worker}.ctl"
    root = tmp / "root"
    dest = root / "etc/bgpd/bgpd.toml"
    pidfile = tmp / "bgpd.pid"
    argv = [sys.executable, "-m", "bgpd", "confd", "--backend", backend]
    argv += ["--dest-root", str(root), *node_vars(tmp, worker), "--pidfile-to-signal", str(pidfile)]
    procs: list[Speaker] = []
    try:
        t0 = time.monotonic()
        procs.append(Speaker(argv, env, tmp / "confd.log", f"bgpd confd ({backend})"))
        t_installed, _ = procs[0].wait_line(INSTALLED, 300)
        wait_path(dest, 30, procs)
        run = [sys.executable, "-m", "bgpd", "run", "-c", str(dest), "--pidfile", str(pidfile)]
        procs.append(Speaker(run, env, tmp / "speaker.log", "bgpd run"))
        wait_answering(sock, 120, procs)
        wait_path(pidfile, 30, procs)
        yield procs[0], procs[1], sock, t_installed - t0
    finally:
        for p in reversed(procs):
            p.stop()


def settle(pid: int, quiet_s: float = 1.5, timeout: float = 120) -> None:
    """Wait until the process used no CPU for `quiet_s` (the burst it was handling is over)."""
    deadline = time.monotonic() + timeout
    last, since = proc_cpu(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = proc_cpu(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return


def heartbeats(api: Api, nodes: int, rounds: int, patchers: int) -> int:
    """Every Node's status (condition heartbeat times) and an unrelated annotation, patched."""

    def one(i: int, r: int) -> None:
        name = kc.node_name(i)
        stamp = f"2026-12-07T11:{r // 60 % 60:02d}:{r % 60:02d}Z"
        api.call("PATCH", f"/api/v1/nodes/{name}/status",
                 {"status": kc.node_status(i, stamp)}, "application/merge-patch+json")  # fmt: skip
        api.call("PATCH", f"/api/v1/nodes/{name}",
                 {"metadata": {"annotations": {"bench.example/heartbeat": str(r + 1)}}},
                 "application/merge-patch+json")  # fmt: skip

    with ThreadPoolExecutor(patchers) as pool:
        for r in range(rounds):
            list(pool.map(lambda i, r=r: one(i, r), range(nodes)))
    return 2 * nodes * rounds


def measure(
    name: str,
    *,
    tmp: Path,
    env: dict[str, str],
    backend: str,
    changes: Changes,
    args: argparse.Namespace,
) -> dict[str, Any]:
    worker = changes.worker
    tmp.mkdir()
    with confd_and_speaker(tmp, env, backend, worker) as (confd, sp, sock, first_s):
        pid = confd.proc.pid
        rss_first = proc_kib(pid, "VmRSS")
        print(f"{name}: first render {first_s:.2f} s, confd RSS {rss_first} KiB", flush=True)
        # The bench peer exists before the series, so each peer change flips its AS.
        changes.peer()
        sp.wait_line(RELOAD_DONE, WRITE_TIMEOUT_S)
        settle(pid)
        kinds = (changes.peer, changes.label, changes.endpoint)
        latencies: dict[str, list[float]] = {}
        to_installed: list[float] = []
        cpu0 = proc_cpu(pid)
        sp_cpu0 = proc_cpu(sp.proc.pid)
        for i in range(args.changes):
            confd.drain()
            sp.drain()
            kind = kinds[i % len(kinds)]()
            t_write = time.monotonic()
            t_inst, _ = confd.wait_line(INSTALLED, WRITE_TIMEOUT_S)
            t_done, _ = sp.wait_line(RELOAD_DONE, WRITE_TIMEOUT_S)
            latencies.setdefault(kind, []).append(t_done - t_write)
            to_installed.append(t_inst - t_write)
            time.sleep(0.05 + 0.05 * (i % 3))
        cpu_changes = proc_cpu(pid) - cpu0
        sp_cpu = proc_cpu(sp.proc.pid) - sp_cpu0
        settle(pid)
        # Irrelevant updates: kubelet-style Node heartbeats.
        confd.drain()
        cpu0 = proc_cpu(pid)
        t = time.monotonic()
        updates = heartbeats(changes.api, changes.nodes, args.heartbeats, args.patchers)
        patch_s = time.monotonic() - t
        settle(pid)
        cpu_idle_updates = proc_cpu(pid) - cpu0
        renders_after = [ln for ln in confd.drain() if INSTALLED.search(ln)]
        # Idle: nothing happens, nothing should be spent.
        cpu0 = proc_cpu(pid)
        time.sleep(args.idle)
        idle_cpu = proc_cpu(pid) - cpu0
        rss_end, hwm = proc_kib(pid, "VmRSS"), proc_kib(pid, "VmHWM")
        config = ctl(sock, "show config")
        assert f"asn = {changes.asn}" in config, "the running config lacks the last peer AS"
    every = [v for vs in latencies.values() for v in vs]
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    result = {
        "datastore": name,
        "first_render_s": round(first_s, 2),
        "confd_rss_kib_after_first_render": rss_first,
        "confd_rss_kib_end": rss_end,
        "confd_peak_rss_kib": hwm,
        "changes": len(every),
        "latency_median_ms": ms(statistics.median(every)),
        "latency_p99_ms": ms(percentile(every, 99)),
        "latency_max_ms": ms(max(every)),
        "by_kind_median_ms": {k: ms(statistics.median(v)) for k, v in latencies.items()},
        "to_installed_median_ms": ms(statistics.median(to_installed)),
        "confd_cpu_ms_per_change": ms(cpu_changes / len(every)),
        "speaker_cpu_ms_per_change": ms(sp_cpu / len(every)),
        "irrelevant_updates": updates,
        "irrelevant_patch_s": round(patch_s, 1),
        "confd_cpu_us_per_irrelevant_update": round(cpu_idle_updates / updates * 1e6, 1),
        "renders_installed_by_irrelevant_updates": len(renders_after),
        "idle_s": args.idle,
        "idle_cpu_ms": ms(idle_cpu),
        "latencies_ms": {k: [ms(v) for v in vs] for k, vs in latencies.items()},
    }
    print(json.dumps({k: v for k, v in result.items() if k != "latencies_ms"}), flush=True)
    return result


# ------------------------------------------------------------------------------ in-process pass


def change_pairs(nodes: int, namespaces: int = 20) -> dict[str, tuple[dict[str, str], ...]]:
    """The full run's three relevant changes as (keys before, keys after) pairs of key sets:
    the BGPPeer naming the worker flips its AS, node-0010's route-reflector label toggles, the
    Local Service's endpoint moves onto the worker."""
    worker = kc.worker_name(nodes)

    def peer(asn: int) -> dict[str, str]:
        obj = kc.calico("BGPPeer", BENCH_PEER, node=worker, peerIP="127.0.0.9", asNumber=asn)
        return kc.as_keys([], [obj], [], [])

    def node(rr: bool) -> dict[str, str]:
        extra = {kc.RR_LABEL: "true"} if rr else {}
        return kc.as_keys([kc.k8s_node(TOGGLED_NODE, extra_labels=extra)], [], [], [])

    def endpoint(on_worker: bool) -> dict[str, str]:
        eps = kc.endpoint_slice(LOCAL_SERVICE, namespaces, nodes)
        eps["endpoints"][0]["nodeName"] = worker if on_worker else kc.node_name(1)
        return kc.as_keys([], [], [], [eps])

    return {
        "bgppeer": (peer(65001), peer(65002)),
        "node label": (node(False), node(True)),
        "endpoint": (endpoint(False), endpoint(True)),
    }


def profile_pass(nodes: int, services: int) -> dict[str, Any]:
    """One render pass of the worker, by phase, CPU seconds (best of 5); no servers.

    Per change kind (`change_pairs`), the watcher's work for one relevant change: the
    Kubernetes source's part (the Secret names it follows, the snapshot copy), derive with
    the watcher's cache, render and check; each the best of 6 alternating changes."""
    from bgpd.confd.command import LocalNode, derive_view
    from bgpd.confd.model import new_derive_cache
    from bgpd.confd.render_pass import Renderer, load_resources
    from bgpd.confd.sources.base import freeze_values
    from bgpd.confd.sources.kube_objects import secret_names_in
    from bgpd.confd.template_inputs import TemplateContext
    from bgpd.config import parse_config

    pairs = change_pairs(nodes)
    keys = kc.offline_keys(nodes, services)
    keys.update(pairs["bgppeer"][0])
    worker = kc.worker_name(nodes)
    local = LocalNode(nodename=worker)
    confdir = DEFAULT_CONFDIR
    tmp = Path(tempfile.mkdtemp(prefix="bgpd-kube-pass-"))
    try:
        resources = load_resources(confdir, worker, tmp)
        renderer = Renderer(confdir, resources, TemplateContext(nodename=worker, environ={}))
        res = next(r for r in resources if r.dest.name == "bgpd.toml")
        cache = new_derive_cache()
        derive_view(keys, local, cache)

        def best(fn: Callable[[int], object], n: int = 5) -> float:
            times = []
            for i in range(n):
                c = time.process_time()
                fn(i)
                times.append(time.process_time() - c)
            return min(times)

        view = derive_view(keys, local)
        text = renderer.render_text(res, view)
        out: dict[str, Any] = {
            "keys": len(keys),
            "view_keys": len(view),
            "rendered_bytes": len(text.encode()),
            "derive_uncached_ms": best(lambda i: derive_view(keys, local)) * 1000,
        }
        per_kind: dict[str, dict[str, float]] = {}
        flips: list[dict[str, str]] = []
        for kind, (before, after) in pairs.items():
            flip = [{**keys, **after}, {**keys, **before}]
            flips += flip
            # The source's part, as the Kubernetes source does it per change (_changed and
            # _current_snapshot): the Secret names in the view, a frozen copy of the view.
            source_s = best(lambda i, f=flip: (secret_names_in(f[i % 2]), freeze_values(f[i % 2])))
            derive_s = best(lambda i, f=flip: derive_view(f[i % 2], local, cache), 6)
            views = [derive_view(f, local, cache) for f in flip]
            if views[0] == views[1]:
                raise RuntimeError(f"the {kind} change does not change the view")
            render_s = best(lambda i, v=views: renderer.render_text(res, v[i % 2]), 6)
            texts = [renderer.render_text(res, v) for v in views]
            check_s = best(lambda i, t=texts: parse_config(t[i % 2], source="bench"), 6)
            row = {
                "source_ms": source_s * 1000,
                "derive_ms": derive_s * 1000,
                "render_ms": render_s * 1000,
                "check_ms": check_s * 1000,
            }
            row["total_ms"] = sum(row.values())
            per_kind[kind] = {k: round(v, 1) for k, v in row.items()}
            derive_view(keys, local, cache)
        out["per_change"] = per_kind
        out = {k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}
        prof = tmp / "pass.prof"
        profiler = cProfile.Profile()
        profiler.enable()
        for f in flips:
            v = derive_view(f, local, cache)
            parse_config(renderer.render_text(res, v), source="bench")
        profiler.disable()
        profiler.dump_stats(str(prof))
        out["profile_cached_pass_top_tottime"] = top_functions(prof, 15)
        stats = pstats.Stats(str(prof), stream=io.StringIO())
        out["profile_cached_pass_total_s"] = round(stats.total_tt / len(flips), 4)  # type: ignore[attr-defined]
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ main


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--services", type=int, default=5000)
    p.add_argument("--namespaces", type=int, default=20)
    p.add_argument("--changes", type=int, default=36)
    p.add_argument("--heartbeats", type=int, default=1, help="rounds of every Node's heartbeat")
    p.add_argument("--patchers", type=int, default=4)
    p.add_argument("--idle", type=float, default=10.0, help="idle seconds measured")
    p.add_argument("--datastores", nargs="+", default=["kubernetes", "etcd"])
    p.add_argument("--profile-pass", action="store_true", help="the in-process pass only")
    p.add_argument("--out", default="confd_kube_bench")
    args = p.parse_args()
    if args.profile_pass:
        result = profile_pass(args.nodes, args.services)
        print(json.dumps(result, indent=1))
        save(args.out + "_pass", result)
        return 0

    from tests.integration.etcd_server import EtcdServer
    from tests.integration.kube_apiserver import KubeApiServer
    from tests.integration.peers.ports import free_tcp_port

    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="bgpd-kube-bench-"))
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    server: Any = None
    etcd: Any = None
    try:
        server = KubeApiServer(workdir=tmp / "kube")
        server.start()
        api = Api(server)
        port = free_tcp_port()
        loaded = load_cluster(api, args.nodes, args.services, args.namespaces, port)
        print(f"{loaded['objects']} objects created in {loaded['load_s']} s", flush=True)
        kubeconfig = str(server.kubeconfig_for("bgpd", duration=24 * 3600))
        base_env = {**os.environ, "NODENAME": kc.worker_name(args.nodes)}
        result: dict[str, Any] = {
            "cluster": {
                "nodes": args.nodes,
                "services": args.services,
                "endpoint_slices": args.services,
                "objects": loaded["objects"],
                "load_s": loaded["load_s"],
                "apiserver": server.binaries.version,
            },
            "loadavg_at_start": os.getloadavg(),
            "runs": [],
        }
        for ds in args.datastores:
            if ds == "kubernetes":
                env = {**base_env, "KUBECONFIG": kubeconfig, "DATASTORE_TYPE": "kubernetes"}
                changes = Changes(api, None, args.nodes, args.namespaces)
                result["runs"].append(
                    measure(
                        ds, tmp=tmp / ds, env=env, backend="kubernetes", changes=changes, args=args
                    )
                )
            else:
                etcd = EtcdServer(workdir=tmp / "etcd-server")
                etcd.start()
                nodes = [kc.k8s_node(i) for i in range(args.nodes)]
                etcd.put_many(kc.as_keys(nodes, kc.calico_objects(args.nodes, port), [], []))
                env = {**base_env, **etcd.env(), "KUBECONFIG": kubeconfig}
                changes = Changes(api, etcd, args.nodes, args.namespaces)
                result["runs"].append(
                    measure(ds, tmp=tmp / ds, env=env, backend="etcd", changes=changes, args=args)
                )
        result["loadavg_at_end"] = os.getloadavg()
        print(f"results in {save(args.out, result)}")
        return 0
    finally:
        if etcd is not None:
            etcd.close()
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

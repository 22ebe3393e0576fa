"""Kernel route install benchmark: bgpd's batched netlink path against `ip -batch`, same run.

In a fresh network namespace (created and deleted here; the host table is never touched) with
one veth ``eth0`` (10.0.0.1/16), installs N routes ``10.x.y.z/32 via 10.0.0.2 proto 12``:

- ``ip-batch``: ``ip -n <ns> -batch <file>`` (one process; its start-up is included, a few ms);
- ``netlink``: `bgpd.kernel.netlink.Netlink.apply` with N ``add`` operations, timed inside a
  child process already running in the namespace (interpreter start-up and imports excluded);
- ``sync``: the whole service, `KernelSync.set_desired` of N routes until `wait_idle()`
  (planning, batched writes, state updates, with the monitor running);
- ``pyroute2`` (reference, fewer routes): `AsyncIPRoute.route("add", ...)` one by one.

Between runs the table is flushed. Methods alternate within each round and the best of
``--rounds`` is kept (the VM's speed drifts). Wall-clock rates: the kernel's own work is most
of the cost, and it happens in the writer's system calls.

Run as root: .venv/bin/python bench/kernel_bench.py [--routes 10000] [--rounds 5]
Results: bench/results/kernel_bench.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import save  # noqa: E402


def prefixes(count: int) -> list[str]:
    return [f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}/32" for i in range(count)]


# -- child side (runs inside the namespace) -------------------------------------------------


async def child_netlink(count: int, batch: int) -> dict[str, float]:
    from bgpd.kernel import KernelRoute, NextHop, Op
    from bgpd.kernel.netlink import Netlink
    from bgpd.net import IPV4_UNICAST

    nl = Netlink(batch=batch)
    nl.open()
    try:
        await nl.dump_links()
        hop = (NextHop(gateway="10.0.0.2"),)
        ops = [
            Op(kind="add", route=KernelRoute(family=IPV4_UNICAST, prefix=p, nexthops=hop))
            for p in prefixes(count)
        ]
        start = time.perf_counter()
        errors = await nl.apply(ops)
        elapsed = time.perf_counter() - start
        if errors:
            raise SystemExit(f"{len(errors)} operations failed, first: {errors[0]}")
        start = time.perf_counter()
        dumped = await nl.dump_routes(IPV4_UNICAST)
        dump_seconds = time.perf_counter() - start
    finally:
        nl.close()
    if len(dumped) < count:
        raise SystemExit(f"dump returned {len(dumped)} routes")
    return {"seconds": elapsed, "dump_seconds": dump_seconds, "dumped": len(dumped)}


async def child_pyroute2_dump() -> dict[str, float]:
    from pyroute2 import AsyncIPRoute

    async with AsyncIPRoute() as ipr:
        start = time.perf_counter()
        dumped = [msg async for msg in await ipr.route("dump", family=socket.AF_INET)]
        return {"seconds": time.perf_counter() - start, "dumped": len(dumped)}


async def child_sync(count: int, batch: int) -> dict[str, float]:
    from bgpd.kernel import KernelRoute, KernelSync, NextHop
    from bgpd.net import IPV4_UNICAST

    sync = KernelSync(on_learned=lambda added, removed: None, batch=batch)
    await sync.start()
    hop = (NextHop(gateway="10.0.0.2"),)
    changes = [
        (IPV4_UNICAST, p, KernelRoute(family=IPV4_UNICAST, prefix=p, nexthops=hop))
        for p in prefixes(count)
    ]
    start = time.perf_counter()
    sync.set_desired(changes)
    await sync.wait_idle()
    elapsed = time.perf_counter() - start
    stats = sync.stats()
    await sync.close(persist=True)
    if stats.installed != count or stats.errors_total:
        raise SystemExit(f"sync ended with {stats}")
    return {"seconds": elapsed, "overflows": stats.overflows_total}


async def child_pyroute2(count: int) -> dict[str, float]:
    from pyroute2 import AsyncIPRoute

    async with AsyncIPRoute() as ipr:
        start = time.perf_counter()
        for p in prefixes(count):
            await ipr.route("add", dst=p, gateway="10.0.0.2", proto=12)
        return {"seconds": time.perf_counter() - start}


def child_main(mode: str, count: int, batch: int) -> None:
    if mode == "netlink":
        result = asyncio.run(child_netlink(count, batch))
    elif mode == "sync":
        result = asyncio.run(child_sync(count, batch))
    elif mode == "pyroute2-dump":
        result = asyncio.run(child_pyroute2_dump())
    else:
        result = asyncio.run(child_pyroute2(count))
    print(json.dumps(result))


# -- parent side ----------------------------------------------------------------------------


def ip(*args: str, stdin: str | None = None) -> None:
    subprocess.run(["ip", *args], check=True, input=stdin, text=True, capture_output=True)


class Bench:
    def __init__(self, count: int, batch: int) -> None:
        self.count = count
        self.batch = batch
        self.ns = f"bgpdb-{os.getpid()}-{secrets.token_hex(3)}"
        ip("netns", "add", self.ns)
        try:
            ip(
                "-n",
                self.ns,
                "-batch",
                "-",
                stdin="\n".join(
                    [
                        "link set lo up",
                        "link add eth0 type veth peer name eth0p",
                        "link set eth0 up",
                        "link set eth0p up",
                        "addr add 10.0.0.1/16 dev eth0",
                    ]
                )
                + "\n",
            )
        except BaseException:
            self.close()
            raise
        self.batch_file = Path(tempfile.mkstemp(prefix="kernel-bench-", suffix=".batch")[1])
        self.batch_file.write_text(
            "".join(f"route add {p} via 10.0.0.2 proto 12\n" for p in prefixes(count))
        )

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], check=False, capture_output=True)
        batch_file = getattr(self, "batch_file", None)
        if batch_file is not None:
            batch_file.unlink(missing_ok=True)

    def flush(self) -> None:
        ip("-n", self.ns, "route", "flush", "proto", "12")

    def installed(self) -> int:
        out = subprocess.run(
            ["ip", "-n", self.ns, "route", "show", "proto", "12"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return len(out.splitlines())

    def ip_batch(self) -> float:
        start = time.perf_counter()
        ip("-n", self.ns, "-batch", str(self.batch_file))
        return time.perf_counter() - start

    def child(self, mode: str, count: int) -> dict[str, float]:
        argv = ["ip", "netns", "exec", self.ns, sys.executable, __file__, "--child", mode]
        argv += ["--routes", str(count), "--batch", str(self.batch)]
        out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=REPO)
        return {k: float(v) for k, v in json.loads(out.stdout).items()}

    def measure(self, method: str, pyroute2_count: int) -> tuple[int, float, dict[str, float]]:
        self.flush()
        extra: dict[str, float] = {}
        if method == "ip-batch":
            count, seconds = self.count, self.ip_batch()
        elif method == "pyroute2":
            count = pyroute2_count
            seconds = self.child("pyroute2", pyroute2_count)["seconds"]
        else:
            count = self.count
            extra = self.child(method, self.count)
            seconds = extra.pop("seconds")
            if method == "netlink":
                # The same table dumped by pyroute2, for the parsing comparison.
                extra["pyroute2_dump_seconds"] = self.child("pyroute2-dump", 0)["seconds"]
        if self.installed() != count:
            raise RuntimeError(f"{method}: {self.installed()} routes installed, expected {count}")
        return count, seconds, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=512, help="route messages per send")
    parser.add_argument("--pyroute2-routes", type=int, default=2_000)
    parser.add_argument(
        "--child", choices=["netlink", "sync", "pyroute2", "pyroute2-dump"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.routes, args.batch)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates a network namespace")
    methods = ["ip-batch", "netlink", "sync"] + (["pyroute2"] if args.pyroute2_routes else [])
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    dumps: dict[str, float] = {}
    overflows = 0
    bench = Bench(args.routes, args.batch)
    try:
        for round_no in range(args.rounds):
            for method in methods if round_no % 2 == 0 else reversed(methods):
                count, seconds, extra = bench.measure(method, args.pyroute2_routes)
                rate = count / seconds
                counts[method] = count
                best[method] = max(best.get(method, 0.0), rate)
                line = f"round {round_no + 1} {method:9s} {count:6d} routes {seconds:7.3f}s"
                print(f"{line} {rate:10,.0f} routes/s")
                if "dump_seconds" in extra:
                    for name, key in (
                        ("ours", "dump_seconds"),
                        ("pyroute2", "pyroute2_dump_seconds"),
                    ):
                        dumps[name] = max(dumps.get(name, 0.0), extra["dumped"] / extra[key])
                overflows += int(extra.get("overflows", 0))
    finally:
        bench.close()
    base = best["ip-batch"]
    print(f"\nbest of {args.rounds} rounds, {args.routes} routes, batch {args.batch}:")
    for method in methods:
        ratio = best[method] / base
        print(f"  {method:9s} {best[method]:10,.0f} routes/s  {ratio:5.2f}x ip -batch")
    print(
        f"  dump (parse) rate: ours {dumps['ours']:,.0f} routes/s, "
        f"pyroute2 {dumps['pyroute2']:,.0f} routes/s"
    )
    print(f"  monitor overflows during KernelSync installs: {overflows}")
    path = save(
        "kernel_bench",
        {
            "routes": args.routes,
            "rounds": args.rounds,
            "batch": args.batch,
            "routes_per_method": counts,
            "best_routes_per_second": {m: round(best[m]) for m in methods},
            "ratio_to_ip_batch": {m: round(best[m] / base, 3) for m in methods},
            "best_dump_routes_per_second": {k: round(v) for k, v in dumps.items()},
            "sync_monitor_overflows": overflows,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()

"""Calico-shaped ingest in one process: the node's own cost from UPDATEs to netlink bytes.

The same table as `bench/calico_ingest_bench.py` (N nodes' 4 blocks and 20 borrowed /32s, from
two reflectors) is fed to a sans-IO `Speaker` configured as that benchmark's node (kernel on,
route priorities on), in reads of ``--chunk`` bytes alternating between the two reflectors'
sessions. After each read the forwarding changes go to the real `KernelWiring` and its
`KernelSync` as the daemon hands them over, and the event loop runs the kernel worker; the
worker's netlink writes go through the real `Netlink` encoding into a socket stand-in that
acknowledges every batch (no kernel: what is measured is bgpd's side). Reported: CPU for the
feed until the worker is idle, the reads after which the first netlink batch went out, the
live Python memory held afterwards per prefix (tracemalloc, ``--memory`` by line), and with
``--profile FILE`` a cProfile of the feed.

    .venv/bin/python bench/calico_inproc.py [--nodes 5000] [--chunk 262144] [--memory]
        [--profile F] [--stop]

``--stop`` also times the daemon's exit path for the kernel (the speaker's shutdown, then
`KernelSync.close(persist=True)`) and counts the netlink writes it makes (there should be none).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import struct
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.calico_ingest_bench import CLUSTER_IDS, NODE, REFLECTORS, bgpd_config, reflected_updates
from bgpd.config import parse_config
from bgpd.kernel import KernelRoute
from bgpd.kernel.netlink import Netlink
from bgpd.kernel.rtnl import NLMSG_ERROR, LinkInfo, iter_messages
from bgpd.net import Family
from bgpd.runtime.kernel_wiring import KernelWiring
from bgpd.runtime.memory import MemoryTrimmer
from tests.unit.speaker.harness import Net

_HDR = struct.Struct("=IHHII")


class AckingSocket:
    """Takes netlink datagrams; answers each with an ack of its last message."""

    def __init__(self) -> None:
        self.sends = 0
        self.messages = 0
        self.bytes = 0
        self._answer = b""

    def send(self, data: bytes) -> int:
        self.sends += 1
        self.bytes += len(data)
        last = 0
        for _type, _flags, seq, _pid, _start, _end in iter_messages(data):
            self.messages += 1
            last = seq
        self._answer = _HDR.pack(36, NLMSG_ERROR, 0, last, 0) + struct.pack("=i", 0) + bytes(16)
        return len(data)

    def recv_into(self, buffer: bytearray) -> int:
        size = len(self._answer)
        buffer[:size] = self._answer
        return size


class InProcessNetlink(Netlink):
    """The real encoder and batching, an `AckingSocket` instead of the kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.sock = AckingSocket()
        self._index = {"eth0": 2}
        self._links = {2: "eth0"}

    def open(self) -> None:
        self._request = self.sock  # type: ignore[assignment]

    def close(self) -> None:
        self._request = None

    async def dump_links(self) -> list[LinkInfo]:
        return [LinkInfo(index=2, name="eth0", up=True)]

    async def dump_routes(self, family: Family) -> list[KernelRoute]:
        return []

    async def events(self) -> list[Any]:
        await asyncio.Event().wait()
        return []


def setup(nodes: int) -> tuple[Net, dict[str, int]]:
    net = Net()
    node_text = bgpd_config(Path("/tmp/unused-calico-inproc"))
    node_text = node_text.replace("passive = true\n", "")
    net.add("node", NODE, node_text)
    for name, address in zip(("rr1", "rr2"), REFLECTORS, strict=True):
        text = (
            f'[bgp]\nasn = 64512\nrouter_id = "{address}"\nlisten = ["{address}"]\n'
            f'cluster_id = "{address}"\n[control]\nsocket = "/tmp/unused-{address}.ctl"\n'
            f'[kernel]\nenabled = false\n[[peer]]\nname = "node"\naddress = "{NODE}"\n'
            f'asn = 64512\nrr_client = true\nlocal_address = "{address}"\n'
        )
        net.add(name, address, text)
    net.start()
    net.advance(10)
    conns = {peer: conn for conn, (node, peer, _) in net.ends.items() if node == "node"}
    return net, conns


async def run(
    nodes: int, chunk: int, profile: cProfile.Profile | None, stop: bool
) -> dict[str, Any]:
    tables = [reflected_updates(nodes, c) for c in CLUSTER_IDS]
    net, conns = setup(nodes)
    speaker = net.nodes["node"].speaker
    speaker.take_fib_updates()
    wiring = KernelWiring(parse_config(bgpd_config(Path("/tmp/unused"))), lambda a, r: None)
    nl = InProcessNetlink()
    wiring.sync._nl = nl
    await wiring.start(speaker.fib_snapshot())
    peers = [p for p in conns if p.startswith("Node_")]
    MemoryTrimmer.freeze_startup_objects()
    start = time.process_time()
    if profile is not None:
        profile.enable()
    reads = first_write = 0
    first_cpu = 0.0
    offsets = [0, 0]
    while any(o < len(t) for o, t in zip(offsets, tables, strict=True)):
        for i, peer in enumerate(peers):
            data = tables[i][offsets[i] : offsets[i] + chunk]
            if not data:
                continue
            offsets[i] += len(data)
            speaker.receive_data(peer, conns[peer], data, net.now)
            speaker.take_outputs()
            wiring.apply(speaker.take_fib_updates())
            reads += 1
            await asyncio.sleep(0)  # the loop's turn: the kernel worker runs here
            if not first_write and nl.sock.sends:
                first_write, first_cpu = reads, time.process_time() - start
    await wiring.sync.wait_idle()
    if profile is not None:
        profile.disable()
    cpu = time.process_time() - start
    result: dict[str, Any] = {
        "cpu_seconds": round(cpu, 3),
        "reads": reads,
        "first_write_after_read": first_write,
        "first_write_cpu_s": round(first_cpu, 3),
        "netlink_messages": nl.sock.messages,
        "netlink_sends": nl.sock.sends,
        "installed": len(wiring.sync.installed),
    }
    if stop:
        before = nl.sock.messages
        start = time.process_time()
        speaker.shutdown(net.now)
        wiring.apply(speaker.take_fib_updates())
        await wiring.sync.close(persist=True)
        result["stop_cpu_seconds"] = round(time.process_time() - start, 3)
        result["stop_netlink_messages"] = nl.sock.messages - before
    result["_keep"] = (net, wiring)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument(
        "--chunk", type=int, default=262144, help="bytes per read (asyncio reads 256 KiB)"
    )
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--memory", action="store_true", help="tracemalloc by line")
    parser.add_argument("--stop", action="store_true", help="time the exit path too")
    args = parser.parse_args()
    prefixes = args.nodes * 24
    prof = cProfile.Profile() if args.profile is not None else None
    if args.memory:
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
    result = asyncio.run(run(args.nodes, args.chunk, prof, args.stop))
    keep = result.pop("_keep")
    print(result)
    if args.memory:
        gc.collect()
        after = tracemalloc.take_snapshot()
        diff = after.compare_to(before, "lineno")
        grown = sum(d.size_diff for d in diff)
        print(f"live Python memory grew by {grown:,} B: {grown / prefixes:.0f} B/prefix")
        for d in diff[:30]:
            print(f"{d.size_diff:>12,} B {d.count_diff:>8,} blocks  {d.traceback[0]}")
    del keep
    if prof is not None and args.profile is not None:
        prof.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

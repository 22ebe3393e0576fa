"""The simulated nodes' receive path alone: a recorded byte stream replayed into many clients.

Role: measures what ``bench/rr_clients.py``'s `Client` costs per UPDATE received, without a
reflector, sockets or namespaces (no root needed), so that a change to the counting can be
decided by CPU time on a loaded machine. The input is a recording of the reads one simulated
node got from a real reflector: ``bench/scale_bench.py --record DIR`` writes
``DIR/node-I-of-C.reads`` (node I of C; every read as it arrived, split per session). Each
recording is replayed, read by read and session by session, into ``--nodes`` clients playing
node I in one process (they share one `Universe`, as the nodes of one worker do; each gets its
own copy of every read, as from its own socket), and the CPU time (``time.process_time``) is
divided by the UPDATEs delivered.

After every session each client's count is compared with a full decode of the same stream by
bgpd's own `UpdateDecoder` (the prefixes the stream leaves announced, minus node I's own): a
difference fails the run.

Run: ``.venv/bin/python bench/sim_receive_bench.py /tmp/rec/node-0-of-1000.reads [--nodes 200]``;
the figures land in ``bench/results/sim_receive_bench.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import save
from bench.rr_clients import Client, make_universe, prefix_entry
from bench.scale_clients import read_recording
from bgpd.net import IPV4_UNICAST
from bgpd.wire.framing import MessageReader
from bgpd.wire.negotiated import Negotiated
from bgpd.wire.update import UpdateDecoder

BLOCKS, BORROWED = 4, 20
_NAME = re.compile(r"node-(\d+)-of-(\d+)\.reads$")


class _Transport(asyncio.Transport):
    """Enough of an asyncio transport for a `Client` that is fed by hand."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def held_by_decoder(reads: list[bytes]) -> tuple[set[bytes], int]:
    """The prefixes a session's stream leaves announced (bgpd's decoder), and its UPDATEs."""
    negotiated = Negotiated(
        local_asn=65000,
        peer_asn=65000,
        peer_router_id=1,
        hold_time=90,
        as4=True,
        families=frozenset({IPV4_UNICAST}),
    )
    decoder = UpdateDecoder(negotiated)
    reader = MessageReader()
    held: set[bytes] = set()
    updates = 0
    for data in reads:
        for msg_type, body in reader.feed(data):
            if msg_type != 2:
                continue
            updates += 1
            update = decoder.decode(body)
            for batch in update.withdrawn:
                held.difference_update(batch.prefixes)
            for batch in update.announced:
                held.update(batch.prefixes)
    return held, updates


async def replay(path: Path, nodes: int, repeat: int) -> dict[str, Any]:
    match = _NAME.search(path.name)
    if match is None:
        raise SystemExit(f"{path}: not a node-I-of-C.reads recording")
    index, clients = int(match[1]), int(match[2])
    per_node = BLOCKS + BORROWED
    sessions = [s for s in read_recording(path) if s]
    universe = make_universe(clients, BLOCKS, BORROWED)
    mine = range(index * per_node, (index + 1) * per_node)
    own = {prefix_entry(g, BLOCKS, BORROWED) for g in mine}
    expected = []
    for reads in sessions:
        held, updates = held_by_decoder(reads)
        expected.append((len(held - own), updates))
    best: float | None = None
    total_updates = sum(u for _, u in expected) * nodes
    for _ in range(repeat):
        fleet = [Client(index, universe, per_node, b"", "172.30.0.1") for _ in range(nodes)]
        cpu = 0.0
        for reads, (goal, _) in zip(sessions, expected, strict=True):
            for c in fleet:
                c.reset_counters()
                c.connection_made(_Transport())
            # Every client its own copy of every read, as from its own socket (the shared
            # read would stay in the CPU's caches from one client to the next).
            copies = [[bytes(bytearray(data)) for _ in fleet] for data in reads]
            t = time.process_time()
            for datas in copies:
                for c, data in zip(fleet, datas, strict=True):
                    c.data_received(data)
            cpu += time.process_time() - t
            del copies
            for c in fleet:
                if c.tally.distinct() != goal:
                    raise SystemExit(
                        f"{path.name}: client holds {c.tally.distinct()}, decoder {goal}"
                    )
                c.connection_lost(None)
        best = cpu if best is None else min(best, cpu)
    assert best is not None
    return {
        "recording": path.name,
        "sessions": len(sessions),
        "updates_per_node": total_updates // nodes,
        "nodes": nodes,
        "cpu_seconds": round(best, 4),
        "us_per_update": round(1e6 * best / total_updates, 3),
    }


async def amain(args: argparse.Namespace) -> None:
    rows = []
    for path in args.recordings:
        row = await replay(path, args.nodes, args.repeat)
        print(row, flush=True)
        rows.append(row)
    print(f"saved {save(args.out, {'replays': rows})}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("recordings", type=Path, nargs="+", help="node-I-of-C.reads files")
    parser.add_argument("--nodes", type=int, default=200, help="clients replaying each")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many")
    parser.add_argument("--out", default="sim_receive_bench", help="result name in bench/results")
    asyncio.run(amain(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

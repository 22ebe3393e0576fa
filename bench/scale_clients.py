"""Simulated Calico nodes for ``bench/scale_bench.py``: rr_clients' clients, three phases.

Role: the load generator and the measuring instrument of the big-cluster benchmark. One process
plays nodes ``first .. first+count-1`` of ``clients``, with the client of
``bench/rr_clients.py`` (its session, counting and reflection check): node ``i`` announces its
``prefixes`` /26 blocks and its ``borrowed`` /32s in one attribute set (NEXT_HOP = its own
address, empty AS_PATH, iBGP), and counts what the reflector sends it.

Protocol with the parent (line-based, one JSON line per phase with every node's result):

- the worker prints ``ready`` once its table is built;
- ``go``: every node connects at once; JSON once all hold every other node's routes
  (``join``);
- ``storm``: every node closes its session at once (``dropped_at``), waits ``--return-after``
  seconds and connects again, from an empty table; JSON once all hold everything again;
- ``rearm``: every node forgets that it is done (keeping its table) and the worker prints
  ``rearmed``; then ``bounce I`` (sent to the worker playing node I only) closes node I's
  session and connects it again after ``--return-after`` seconds. Every rearmed worker prints
  its JSON once each of its nodes holds every route again: node I its whole table, the others
  node I's routes, withdrawn when its session went and announced again when it came back;
- ``quit`` or the end of stdin closes every session and exits.

Times are wall-clock (``time.time``) so the parent can compare them across workers. The
process never waits without a deadline (``--timeout`` per phase).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rr_clients import MAX_PREFIXES, Client, _stdin_line, encode_updates, make_universe
from bench.rx_count import sample


class RecordingClient(Client):
    """A node that also writes every read it gets to ``record`` (see `read_recording`)."""

    __slots__ = ("record",)

    def __init__(self, *args: Any, record: IO[bytes], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record = record

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.record.write(bytes(4))  # an empty read: a new session starts here
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.record.write(len(data).to_bytes(4, "big") + data)
        super().data_received(data)


def read_recording(path: Path) -> list[list[bytes]]:
    """The reads of a `RecordingClient`'s file, one list per session, in arrival order."""
    raw = path.read_bytes()
    sessions: list[list[bytes]] = []
    pos = 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos : pos + 4], "big")
        pos += 4
        if not n:
            sessions.append([])
            continue
        sessions[-1].append(raw[pos : pos + n])
        pos += n
    return sessions


def restart(client: Client) -> None:
    """A node coming back: a new session from an empty table, counting from scratch."""
    client.reset_counters()
    client.done_at = None
    client.done_event.clear()


async def wait_done(clients: list[Client], timeout: float) -> None:
    """Until every client is done or ``timeout`` passes: one future, counted down by the
    clients (a waiting task per client costs more than its count at 5,000 clients)."""
    all_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = sum(c.done_at is None for c in clients)

    def one_done() -> None:
        nonlocal left
        left -= 1
        if not left and not all_done.done():
            all_done.set_result(None)

    for c in clients:
        c.on_done = one_done if c.done_at is None else None
    if left:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_done, timeout)
    for c in clients:
        c.on_done = None


async def drop(clients: list[Client]) -> float:
    """Closes the sessions of ``clients`` and waits until the transports are gone."""
    dropped_at = time.time()
    for c in clients:
        c.close()
    await asyncio.wait([c.closed for c in clients], timeout=30)
    return dropped_at


def report(phase: str, clients: list[Client], go_at: float, **extra: Any) -> None:
    result = {
        "phase": phase,
        "go_at": go_at,
        **extra,
        "clients": [c.result(go_at) for c in clients],
    }
    print(json.dumps(result), flush=True)


async def amain(args: argparse.Namespace) -> int:
    per_node = args.prefixes + args.borrowed
    if args.clients * args.prefixes > MAX_PREFIXES:
        raise SystemExit("the blocks do not fit in 10.0.0.0/8 as /26s")
    universe = make_universe(args.clients, args.prefixes, args.borrowed)
    indexes = range(args.first, args.first + args.count)
    # The exact check: a few nodes, and the one that re-joins (its whole table again).
    checked = sample(indexes, args.check)
    if args.check and args.clients // 2 in indexes:
        checked.add(args.clients // 2)
    recorded = set(args.record_nodes) & set(indexes) if args.record else set()
    files = {i: (args.record / f"node-{i}-of-{args.clients}.reads").open("wb") for i in recorded}
    clients = [
        (RecordingClient if i in files else Client)(
            i,
            universe,
            per_node,
            encode_updates(i, args.prefixes, 1, args.borrowed),
            args.reflector,
            check=i in checked,
            **({"record": files[i]} if i in files else {}),
        )
        for i in indexes
    ]
    by_index = {c.index: c for c in clients}
    print("ready", flush=True)
    runs: list[asyncio.Future[Any]] = []
    while True:
        words = (await _stdin_line()).split()
        if not words or words[0] == "quit":
            break
        command = words[0]
        if command == "go":
            go_at = time.time()
            deadline = time.monotonic() + args.timeout
            runs = [asyncio.ensure_future(c.run(deadline)) for c in clients]
            await wait_done(clients, args.timeout)
            report("join", clients, go_at)
        elif command == "storm":
            dropped_at = await drop(clients)
            for c in clients:
                restart(c)
            deadline = time.monotonic() + args.timeout
            runs = [asyncio.ensure_future(c.run(deadline, args.return_after)) for c in clients]
            await wait_done(clients, args.timeout)
            report("storm", clients, dropped_at, dropped_at=dropped_at)
        elif command == "rearm":
            for c in clients:
                c.rearm()
            rearmed_at = time.time()
            print("rearmed", flush=True)
            # The bounce (this worker's or another's) follows; report once all hold all again.
            bounce = (await _stdin_line()).split()
            dropped_at = None
            if bounce and bounce[0] == "bounce":
                node = by_index[int(bounce[1])]
                dropped_at = await drop([node])
                restart(node)
                deadline = time.monotonic() + args.timeout
                runs.append(asyncio.ensure_future(node.run(deadline, args.return_after)))
            await wait_done(clients, args.timeout)
            report("rejoin", clients, rearmed_at, dropped_at=dropped_at)
    for c in clients:
        c.close()
    for r in runs:
        r.cancel()
    await asyncio.sleep(0)
    for f in files.values():
        f.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reflector", required=True, help="the reflector's address")
    parser.add_argument("--clients", type=int, required=True, help="C: the whole population")
    parser.add_argument("--prefixes", type=int, default=4, help="/26 blocks per node")
    parser.add_argument("--borrowed", type=int, default=20, help="borrowed /32s per node")
    parser.add_argument("--first", type=int, default=0, help="first node index played here")
    parser.add_argument("--count", type=int, help="nodes played here (default: all)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per phase")
    parser.add_argument(
        "--return-after", type=float, default=1.0, help="seconds from a drop to the reconnect"
    )
    parser.add_argument(
        "--check",
        type=int,
        default=1,
        help="nodes here that also decode in full (spread evenly; 0: none, else also the "
        "re-joining node)",
    )
    parser.add_argument("--record", type=Path, help="write the reads of --record-nodes here")
    parser.add_argument("--record-nodes", type=int, nargs="*", default=[], help="node indexes")
    args = parser.parse_args()
    if args.count is None:
        args.count = args.clients - args.first
    # One socket per node: the default soft limit (1,024) is too few for a thousand nodes.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(4096, 2 * args.count + 64)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

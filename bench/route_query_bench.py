"""`bgpctl show routes` queries at a million routes: how long the speaker takes to answer.

A Loc-RIB is filled with N IPv4 /24 prefixes from two eBGP peers (one path each, as a full
feed shares its candidates per UPDATE; 1 in 1,000 prefixes has a second path, 1 in 100 a
community), then each query is answered the way the control socket does
as the control socket does: `RouteQuery.from_args`, then a list of routes streamed
(`route_answers.answer_chunks` run by `control_dispatch.listing_stream`, each chunk's rows
encoded as the socket writes them, `protocol.reply_pieces`), other answers by `answer_steps` and
`answer_json`. `ms` is the CPU time of one thread, best of `--repeat` runs; `max hold` the
longest the event loop was held meanwhile: the largest gap between two turns of a ticker task
sharing the loop, wall clock, best of the runs. `gc_full` counts the collector's full passes
during the slowest run (each walks the whole table: seconds at 1M routes).
The BIRD socket's commands (`bird: ...`) are run as `BirdSocket` runs them
(`BirdControl.execute_stream` driven by `run_stream`, each chunk of lines encoded as it comes),
over hooks made as `ControlDispatch` makes them, reading the same table.

    .venv/bin/python bench/route_query_bench.py [--prefixes 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bgpd.config import parse_config
from bgpd.control.bird_protocol import ReplyEncoder, parse_command
from bgpd.control.bird_server import BirdControl, BirdHooks, TableRow
from bgpd.control.protocol import reply_pieces
from bgpd.control.steps_loop import run_stream
from bgpd.net import IPV4_UNICAST, format_prefix
from bgpd.rib import Candidate, LocRib, PathInfo, Source, SourceKind
from bgpd.runtime.control_dispatch import answer_json, listing_stream, run_steps
from bgpd.runtime.memory import GC_YOUNG_THRESHOLD
from bgpd.speaker.route_answers import (
    SentRows,
    answer,
    answer_chunks,
    answer_steps,
    route_chunks,
)
from bgpd.speaker.route_json import PathViews, SentViews
from bgpd.speaker.route_query import RouteQuery
from bgpd.speaker.steps import Steps, Stream, chunks, finish
from bgpd.views import PeerView, ReceivedView
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.constants import Origin, SegmentType

QUERIES: dict[str, dict[str, Any]] = {
    "count": {"count": True},
    "count --peer p2 (walks p2's index)": {"count": True, "peer": "p2"},
    "for ADDRESS (longest match)": {"for": "10.77.12.9"},
    "for ADDRESS (no match)": {"for": "192.0.2.1"},
    "PREFIX (exact)": {"prefix": "10.77.12.0/24"},
    "PREFIX --shorter": {"prefix": "10.77.12.0/24", "shorter": True},
    "PREFIX/16 --longer (walks the table)": {"prefix": "10.77.0.0/16", "longer": True},
    "--community (walks the table)": {"communities": ["65001:100"]},
    "--large-community (walks the table)": {"large_communities": ["65001:1:2"]},
    "--as-path REGEX (walks the table)": {"as_path": "^65002 "},
    "--peer p1 (not indexed: walks the table)": {"peer": "p1"},
    "--peer p2 (walks p2's index)": {"peer": "p2"},
    "whole table, sorted": {},
    "--peer c1 --advertised (full feed to a client)": {"peer": "c1", "advertised": True},
    "--peer c1 --advertised --count": {"peer": "c1", "advertised": True, "count": True},
    "--peer p1 --received (10,000 refused)": {"peer": "p1", "received": True},
}
BIRD_COMMANDS = (
    "show route count",
    "show route protocol p2",
    "show route",
    "show protocols all",
    "show route export c1",
    "show route 10.77.12.0/24 export c1",
)

BIRD_CONFIG = """\
[bgp]
asn = 64512
router_id = "127.0.0.1"
listen = ["127.0.0.1"]

[[peer]]
name = "p1"
address = "127.0.0.2"
asn = 65001

[[peer]]
name = "p2"
address = "127.0.0.3"
asn = 65002
"""


def candidate(name: str, asn: int, communities: tuple[int, ...] = ()) -> Candidate:
    attrs = PathAttributes(
        origin=Origin.IGP,
        as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(asn, 64999)),),
        communities=communities,
    )
    src = Source(
        name=name, kind=SourceKind.EBGP, peer_asn=asn, router_id=asn, address=b"\x7f\0\0\1"
    )
    return Candidate(source=src, info=PathInfo(attributes=attrs, next_hop=b"\x7f\0\0\1"))


def fill(n: int) -> LocRib:
    rib = LocRib()
    p1, p2 = candidate("p1", 65001), candidate("p2", 65002)
    tagged = candidate("p1", 65001, (65001 << 16 | 100,))
    first: list[bytes] = []
    second: list[bytes] = []
    marked: list[bytes] = []
    for i in range(n):
        nlri = bytes((24, 10 + (i >> 16), (i >> 8) & 0xFF, i & 0xFF))
        (marked if i % 100 == 0 else first).append(nlri)
        if i % 1000 == 0:
            second.append(nlri)
    rib.announce_many(IPV4_UNICAST, first, p1)
    rib.announce_many(IPV4_UNICAST, marked, tagged)
    rib.announce_many(IPV4_UNICAST, second, p2)
    rib.take_change_groups()
    return rib


def no_peer(_name: str) -> None:
    return None


def adj_out(rib: LocRib) -> Any:
    """The member `c1` of an update group (a reflector client) whose Adj-RIB-Out holds every
    best path of the table, as exported (`origin` the peer it came from)."""
    sent: dict[bytes, PathInfo] = {}
    exported: dict[int, PathInfo] = {}
    for nlri in rib.prefixes(IPV4_UNICAST):
        best = rib.best(IPV4_UNICAST, nlri)
        assert best is not None
        info = exported.get(id(best.info))
        if info is None:
            info = exported[id(best.info)] = replace(best.info, origin=best.source.name)
        sent[nlri] = info
    group = SimpleNamespace(
        families=(IPV4_UNICAST,),
        add_path=lambda _family: False,
        adj_out=SimpleNamespace(table=lambda _family: sent),
    )
    member = SimpleNamespace(group=group)
    return lambda name: member if name == "c1" else None


async def held(work: Callable[[], Awaitable[object]]) -> float:
    """The longest gap between two turns of a ticker while `work` runs, in s."""
    done = False
    gap = 0.0

    async def ticker() -> None:
        nonlocal gap
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gap, last = max(gap, now - last), now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await work()
    done = True
    await task
    return gap


def bird_control(rib: LocRib, peers: Any, member: Any) -> BirdControl:
    """The BIRD socket's commands over `rib`, its hooks as `ControlDispatch` makes them."""
    config = parse_config(BIRD_CONFIG)

    def query(q: RouteQuery) -> Steps[Any]:
        return answer_steps(q, rib, peers, member)

    def advertised(
        name: str, _version: int, network: str | None, longest: bool
    ) -> Stream[TableRow] | None:
        q = RouteQuery(peer=name, advertised=True, prefix=network, shorter=longest)
        listing = answer_chunks(q, rib, peers, member)
        assert isinstance(listing, SentRows)
        return sent_table(listing)

    def sent_table(listing: SentRows) -> Stream[TableRow]:
        views = SentViews()
        for rows in listing.rows:
            yield [(format_prefix(row[1], IPV4_UNICAST.afi), views(row)) for row in rows]

    def table(_version: int, source: str | None, best: bool) -> Stream[TableRow]:
        views = PathViews()
        for rows in route_chunks(RouteQuery(family=IPV4_UNICAST, peer=source, best=best), rib):
            yield [(format_prefix(row[1], IPV4_UNICAST.afi), views(row)) for row in rows]

    def table_counts(_version: int) -> tuple[int, int]:
        return rib.count(IPV4_UNICAST)

    def source_counts(name: str, _version: int) -> Steps[tuple[int, int]]:
        (count,) = yield from query(RouteQuery(peer=name, family=IPV4_UNICAST, count=True))
        return count.paths, count.best

    views = [
        PeerView.from_json({"name": p, "address": a, "asn": n, "state": "Established"})
        for p, a, n in (
            ("p1", "127.0.0.2", 65001),
            ("p2", "127.0.0.3", 65002),
            ("c1", "127.0.0.4", 64512),
        )
    ]
    hooks = BirdHooks(
        config=lambda: config,
        config_path=lambda: None,
        peers=lambda: views,
        peer=lambda name: next((v for v in views if v.name == name), None),
        routes=lambda prefix: finish(query(RouteQuery.from_args({"prefix": prefix}))),
        table=table,
        table_counts=table_counts,
        source_counts=source_counts,
        kernel_routes=list,
        reload=lambda: None,
        check=lambda: None,
        graceful_restart=lambda: None,
        advertised=advertised,
    )
    return BirdControl(hooks)


async def bird_reply(control: BirdControl, line: str) -> int:
    """A BIRD command answered and encoded as the socket does it: the reply's size."""
    encoder, size = ReplyEncoder(), 0
    async for lines in run_stream(control.execute_stream(parse_command(line, 4), 4, False)):
        for batch in chunks(lines):
            size += len(encoder.encode(batch))
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start = time.process_time()
    rib = fill(args.prefixes)
    # the collector as the daemon runs it (bgpd.runtime.memory), the table in its oldest
    # generation already: a full pass comes when the table grows, not inside a query
    gc.collect()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    print(
        f"filled {rib.count(IPV4_UNICAST)} (prefixes, paths) in {time.process_time() - start:.1f} s"
    )
    refused = {(IPV4_UNICAST, bytes((24, 200, i >> 8, i & 0xFF))) for i in range(10_000)}
    peers = {
        "p1": SimpleNamespace(rejected=refused),
        "p2": SimpleNamespace(rejected=set()),
        "c1": SimpleNamespace(rejected=set()),
    }
    member = adj_out(rib)
    gc.collect()
    results: dict[str, dict[str, float | int]] = {}
    for label, query_args in QUERIES.items():
        query = RouteQuery.from_args(query_args)
        found = answer(query, rib, peers, member)  # type: ignore[arg-type]
        rows = (
            len(found.accepted) + len(found.rejected)
            if isinstance(found, ReceivedView)
            else len(found)
        )
        del found

        async def ask(query: RouteQuery = query) -> object:
            listing = answer_chunks(query, rib, peers, member)  # type: ignore[arg-type]
            if listing is None:
                steps = answer_steps(query, rib, peers, member)  # type: ignore[arg-type]
                return await answer_json(await run_steps(steps))
            size = 0
            async for piece in reply_pieces(listing_stream(listing)):
                size += len(piece)
            return size

        best = hold = float("inf")
        full = 0
        for _ in range(args.repeat):
            before = gc.get_stats()[2]["collections"]
            t0 = time.process_time()
            hold = min(hold, asyncio.run(held(ask)))
            best = min(best, time.process_time() - t0)
            full = max(full, gc.get_stats()[2]["collections"] - before)
        results[label] = {
            "ms": round(best * 1000, 3),
            "rows": rows,
            "max_hold_ms": hold * 1000,
            "gc_full": full,
        }
        print(
            f"{label:42} {best * 1000:10.3f} ms  {rows} rows  max hold {hold * 1000:8.3f} ms"
            f"  full GC {full}"
        )
    control = bird_control(rib, peers, member)
    for line in BIRD_COMMANDS:
        sizes: list[int] = []

        async def reply(line: str = line, sizes: list[int] = sizes) -> object:
            sizes.append(await bird_reply(control, line))
            return None

        best = hold = float("inf")
        full = 0
        for _ in range(args.repeat):
            before = gc.get_stats()[2]["collections"]
            t0 = time.process_time()
            hold = min(hold, asyncio.run(held(reply)))
            best = min(best, time.process_time() - t0)
            full = max(full, gc.get_stats()[2]["collections"] - before)
        label = f"bird: {line}"
        results[label] = {
            "ms": round(best * 1000, 3),
            "bytes": sizes[-1],
            "max_hold_ms": hold * 1000,
            "gc_full": full,
        }
        print(
            f"{label:42} {best * 1000:10.3f} ms  {sizes[-1]} bytes  max hold {hold * 1000:8.3f} ms"
            f"  full GC {full}"
        )
    out = Path(__file__).resolve().parent / "results" / "route_query.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"prefixes": args.prefixes, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

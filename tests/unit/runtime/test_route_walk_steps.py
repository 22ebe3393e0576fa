"""A whole-table route query does not hold the event loop: the core answers it in steps
(`bgpd.speaker.steps`) and the control socket's dispatcher lets the loop run between them, so
another control request and a timer callback are served before the walk ends; the table may
change meanwhile (a prefix withdrawn before its chunk is read is left out, one added after the
walk began is not in it). Order of events only, no timing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bgpd.config import parse_config
from bgpd.control.protocol import Request, RowStream
from bgpd.net import IPV4_UNICAST
from bgpd.rib import LocRib, loc_rib
from bgpd.runtime.control_dispatch import ControlDispatch
from bgpd.speaker import route_answers, steps
from bgpd.speaker.route_answers import answer_steps
from bgpd.speaker.route_query import RouteQuery
from tests.unit.rib.helpers import attrs, cand, source
from tests.unit.speaker.harness import Net, config

CHUNK = 10  # keys per step here, so that a table of 60 routes takes several steps


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", CHUNK)


def dispatcher() -> ControlDispatch:
    statics = "".join(f'\n[[static]]\nprefix = "10.7.{i}.0/24"\n' for i in range(60))
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [], statics))
    net.start()
    return ControlDispatch(
        net.nodes["a"].speaker,
        now=lambda: net.now,
        reload=list,
        flush=lambda: None,
        kernel=lambda: None,
        config_path=None,
        load=parse_config,
    )


def test_a_control_request_and_a_timer_are_served_during_a_walk() -> None:
    dispatch = dispatcher()
    events: list[str] = []

    async def request(label: str, command: str, **args: object) -> object:
        reply = await dispatch.handle(Request(command=command, args=dict(args)))
        if isinstance(reply, RowStream):  # a list of routes comes chunk by chunk
            reply = [row async for rows in reply.chunks for row in rows]
        events.append(label)
        return reply

    async def main() -> object:
        loop = asyncio.get_running_loop()
        walk = asyncio.create_task(
            request("walk done", "show routes", prefix="10.0.0.0/8", longer=True)
        )
        ping = asyncio.create_task(request("ping answered", "ping"))
        loop.call_soon(events.append, "timer fired")
        found, _ = await asyncio.gather(walk, ping)
        return found

    found = asyncio.run(main())
    assert isinstance(found, list) and len(found) == 60  # the walk's answer is whole
    assert events.index("ping answered") < events.index("walk done")
    assert events.index("timer fired") < events.index("walk done")


def test_a_walk_reads_a_snapshot_of_keys_and_skips_what_vanished() -> None:
    rib = LocRib()
    peer = source("p1")
    prefixes = [bytes((24, 10, 8, i)) for i in range(50)]
    rib.announce_many(IPV4_UNICAST, prefixes, cand(peer))
    walk = answer_steps(RouteQuery(), rib, {}, lambda _n: None)
    next(walk)  # the first chunk is read
    rib.withdraw(IPV4_UNICAST, prefixes[-1], "p1")  # not read yet: left out
    rib.announce(IPV4_UNICAST, bytes((24, 10, 9, 0)), cand(peer))  # after the start: not in it
    found = steps.finish(walk)
    assert isinstance(found, list)
    assert [view.prefix for view in found] == [f"10.8.{i}.0/24" for i in range(49)]


def walk_steps(walk: steps.Steps[object]) -> tuple[int, object]:
    taken = 0
    while True:
        try:
            next(walk)
        except StopIteration as done:
            return taken, done.value
        taken += 1


def test_a_whole_table_is_answered_in_address_order_without_one_big_sort() -> None:
    rib = LocRib()
    prefixes = [bytes((24, 10, 8, i)) for i in reversed(range(50))]  # the table's order
    rib.announce_many(IPV4_UNICAST, prefixes, cand(source("p1"), attrs(path=(1, 2, 3))))
    rib.announce_many(IPV4_UNICAST, prefixes[::7], cand(source("p2"), attrs(path=(1,))))
    taken, found = walk_steps(answer_steps(RouteQuery(), rib, {}, lambda _n: None))
    assert isinstance(found, list)
    expected = []
    for i in range(50):
        if bytes((24, 10, 8, i)) in prefixes[::7]:
            expected.append((f"10.8.{i}.0/24", "p2", True))
            expected.append((f"10.8.{i}.0/24", "p1", False))
        else:
            expected.append((f"10.8.{i}.0/24", "p1", True))
    assert [(v.prefix, v.peer, v.best) for v in found] == expected
    # 5 chunks walked and sorted apiece, then the views of the merged prefixes CHUNK at a time
    assert taken >= 5 + 50 // CHUNK


def test_a_chunk_full_of_matches_builds_its_views_over_several_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", 1_000)  # the whole table is one chunk of keys
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", 5)
    rib = LocRib()
    rib.announce_many(IPV4_UNICAST, [bytes((24, 10, 8, i)) for i in range(50)], cand(source("p1")))
    taken, found = walk_steps(answer_steps(RouteQuery(), rib, {}, lambda _n: None))
    assert isinstance(found, list) and len(found) == 50
    assert taken >= 50 // 5


def test_a_peer_query_walks_its_index_or_the_table_in_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loc_rib, "INDEX_LIMIT", 20)  # p1's 50 routes are not indexed
    rib = LocRib()
    for start in (0, 25):
        nlris = [bytes((24, 10, 8, i)) for i in range(start, start + 25)]
        rib.announce_many(IPV4_UNICAST, nlris, cand(source("p1")))
    rib.announce_many(IPV4_UNICAST, [bytes((24, 10, 9, i)) for i in range(15)], cand(source("p2")))
    assert rib.source_prefixes("p1", IPV4_UNICAST) is None
    peers = {"p1": SimpleNamespace(rejected=set()), "p2": SimpleNamespace(rejected=set())}
    for peer, routes in (("p1", 50), ("p2", 15)):
        query = RouteQuery(peer=peer)
        taken, found = walk_steps(answer_steps(query, rib, peers, lambda _n: None))  # type: ignore[arg-type]
        assert isinstance(found, list) and len(found) == routes
        assert {v.peer for v in found} == {peer}
        assert taken >= routes // CHUNK

"""A whole-table route query does not hold the event loop: the core answers it in steps
(`bgpd.speaker.steps`) and the control socket's dispatcher lets the loop run between them, so
another control request and a timer callback are served before the walk ends; the table may
change meanwhile (a prefix withdrawn before its chunk is read is left out, one added after the
walk began is not in it). Order of events only, no timing."""

from __future__ import annotations

import asyncio

import pytest

from bgpd.config import parse_config
from bgpd.control.protocol import Request
from bgpd.net import IPV4_UNICAST
from bgpd.rib import LocRib
from bgpd.runtime.control_dispatch import ControlDispatch
from bgpd.speaker import steps
from bgpd.speaker.route_answers import answer_steps
from bgpd.speaker.route_query import RouteQuery
from tests.unit.rib.helpers import cand, source
from tests.unit.speaker.harness import Net, config

CHUNK = 10  # keys per step here, so that a table of 60 routes takes several steps


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)


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

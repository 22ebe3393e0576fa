"""A BIRD socket's whole-table `show route` does not hold the event loop: `BirdControl`
answers as a stream (`execute_stream`, over the speaker's walks in `bgpd.speaker.steps`) and
the socket runs it letting the loop turn, so a bgpctl request and a timer started once the
walk has begun are served before it ends, and the client reads the first lines of the reply
before the walk ends. Order of events only, no timing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bgpd.control.bird_protocol import parse_command
from bgpd.control.bird_server import BirdControl, TableRow
from bgpd.control.bird_socket import BirdSocket
from bgpd.control.protocol import Request
from bgpd.speaker import route_answers, steps
from bgpd.speaker.steps import Stream

from .test_route_walk_steps import CHUNK, dispatcher


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", CHUNK)


def test_a_control_request_and_a_timer_are_served_during_a_bird_show_route(
    tmp_path: Path,
) -> None:
    dispatch = dispatcher()
    hooks = dispatch.bird_hooks()
    events: list[str] = []
    asking: list[asyncio.Task[None]] = []

    def table(version: int, source: str | None, best: bool) -> Stream[TableRow]:
        walk = hooks.table(version, source, best)
        yield next(walk)  # the walk has begun: now a client asks, and a timer is due
        loop = asyncio.get_running_loop()
        asking.append(loop.create_task(ping()))
        loop.call_soon(events.append, "timer fired")
        yield from walk
        events.append("walk done")

    async def ping() -> None:
        assert await dispatch.handle(Request(command="ping", args={})) == "pong"
        events.append("ping answered")

    async def main() -> list[str]:
        bird = BirdSocket(str(tmp_path / "bird.ctl"), BirdControl(replace(hooks, table=table)), 4)
        await bird.start()
        try:
            reader, writer = await asyncio.open_unix_connection(bird.path)
            await reader.readline()  # the greeting
            writer.write(b"show route\n")
            lines = []
            while not (line := (await reader.readline()).decode()).startswith("0000"):
                if not lines:
                    events.append("first line read")
                lines.append(line)
            writer.close()
            await writer.wait_closed()
            await asyncio.gather(*asking)
            return lines
        finally:
            await bird.close()

    lines = asyncio.run(asyncio.wait_for(main(), 30))
    assert len(lines) == 60  # the whole table, all steps read
    assert events.index("ping answered") < events.index("walk done")
    assert events.index("timer fired") < events.index("walk done")
    # the reply is written as it is made: the client has its first line before the walk ends
    assert events.index("first line read") < events.index("walk done")


def step_count(control: BirdControl, line: str) -> tuple[int, list[str]]:
    """(steps taken, reply lines) of a command answered as the socket does."""
    taken, lines = 0, []
    for chunk in control.execute_stream(parse_command(line, 4), 4, False):
        taken += 1
        lines.extend(f"{r.code} {r.text}" for r in chunk)
    return taken, lines


def test_a_whole_table_is_rendered_and_handed_on_a_chunk_at_a_time() -> None:
    control = BirdControl(dispatcher().bird_hooks())
    chunks = [
        [f"{r.code} {r.text}" for r in chunk]
        for chunk in control.execute_stream(parse_command("show route", 4), 4, False)
    ]
    assert sum(len(c) for c in chunks) == 61  # 60 routes and the end
    # the routes come CHUNK at a time, none of them held back to the end
    assert max(len(c) for c in chunks) == CHUNK
    assert chunks[-1] == ["0 "]


def test_counting_routes_takes_steps() -> None:
    control = BirdControl(dispatcher().bird_hooks())
    counted, lines = step_count(control, "show protocols all static1")
    assert counted >= 60 // CHUNK  # the static source's routes, walked in steps
    assert "1006   Routes:         60 imported, 0 exported, 60 preferred" in lines
    counted, lines = step_count(control, "show route protocol static1 count")
    assert counted >= 60 // CHUNK
    assert lines == ["14 60 of 60 routes for 60 networks"]

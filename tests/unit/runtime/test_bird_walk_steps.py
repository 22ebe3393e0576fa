"""A BIRD socket's whole-table `show route` does not hold the event loop: `BirdControl`
answers in steps (`execute_steps`, over the speaker's walks in `bgpd.speaker.steps`) and the
socket runs them letting the loop turn, so a bgpctl request and a timer started once the walk
has begun are served before it ends. Order of events only, no timing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from bgpd.control.bird_protocol import parse_command
from bgpd.control.bird_server import BirdControl, _BirdSocket
from bgpd.control.protocol import Request
from bgpd.speaker import steps
from bgpd.speaker.steps import Steps
from bgpd.views import RouteView

from .test_route_walk_steps import CHUNK, dispatcher


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)


def test_a_control_request_and_a_timer_are_served_during_a_bird_show_route(
    tmp_path: Path,
) -> None:
    dispatch = dispatcher()
    hooks = dispatch.bird_hooks()
    events: list[str] = []
    asking: list[asyncio.Task[None]] = []

    def table(version: int) -> Steps[list[RouteView]]:
        walk = hooks.table(4 if version == 4 else 6)
        next(walk)  # the walk has begun: now a client asks, and a timer is due
        loop = asyncio.get_running_loop()
        asking.append(loop.create_task(ping()))
        loop.call_soon(events.append, "timer fired")
        found = yield from walk
        events.append("walk done")
        return found

    async def ping() -> None:
        assert await dispatch.handle(Request(command="ping", args={})) == "pong"
        events.append("ping answered")

    async def main() -> list[str]:
        bird = _BirdSocket(str(tmp_path / "bird.ctl"), BirdControl(replace(hooks, table=table)), 4)
        await bird.start()
        try:
            reader, writer = await asyncio.open_unix_connection(bird.path)
            await reader.readline()  # the greeting
            writer.write(b"show route\n")
            lines = []
            while not (line := (await reader.readline()).decode()).startswith("0000"):
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


def step_count(control: BirdControl, line: str) -> tuple[int, list[str]]:
    walk = control.execute_steps(parse_command(line, 4), 4, False)
    taken = 0
    while True:
        try:
            next(walk)
        except StopIteration as done:
            return taken, [f"{r.code} {r.text}" for r in done.value]
        taken += 1


def test_rendering_a_whole_table_and_counting_routes_take_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    control = BirdControl(dispatcher().bird_hooks())
    at_once, _ = step_count(control, "show route")  # 60 routes rendered in one step
    monkeypatch.setattr("bgpd.control.bird_replies.VIEW_CHUNK", CHUNK)
    monkeypatch.setattr("bgpd.control.bird_server.VIEW_CHUNK", CHUNK)
    rendered, lines = step_count(control, "show route")
    assert len(lines) == 61
    # 60 routes made BIRD routes, then rendered, CHUNK at a time
    assert rendered - at_once >= 2 * (60 // CHUNK - 1)
    counted, lines = step_count(control, "show protocols all static1")
    assert counted >= 60 // CHUNK  # the static source's routes, walked in steps
    assert "1006   Routes:         60 imported, 0 exported, 60 preferred" in lines

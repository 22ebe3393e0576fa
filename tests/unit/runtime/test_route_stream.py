"""A list of routes (a whole table, a full feed's routes) is streamed to the control client:
the daemon writes each chunk of rows as the walk makes it, on the one reply line bgpctl reads
(`bgpd.control.protocol.RowStream`), so the client has its first rows before the walk ends
and the answer never exists whole in the daemon. A refusal found before any row is still an
error reply; a failure after rows went out cuts the line, and bgpctl says so. Order of
events only, no timing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from bgpd.config import parse_config
from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request, RowStream, encode_reply
from bgpd.control.server import ControlServer, Handler
from bgpd.runtime.control_dispatch import ControlDispatch
from bgpd.speaker import Speaker, route_answers, steps
from bgpd.speaker.route_query import RouteQuery
from bgpd.views import Json
from tests.unit.speaker.harness import Net, config

CHUNK = 10  # keys and views per step here: a table of 60 routes takes several chunks


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", CHUNK)


def dispatcher() -> tuple[ControlDispatch, Speaker]:
    statics = "".join(f'\n[[static]]\nprefix = "10.7.{i}.0/24"\n' for i in reversed(range(60)))
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [], statics))
    net.start()
    speaker = net.nodes["a"].speaker
    dispatch = ControlDispatch(
        speaker,
        now=lambda: net.now,
        reload=list,
        flush=lambda: None,
        kernel=lambda: None,
        config_path=None,
        load=parse_config,
    )
    return dispatch, speaker


def traced(dispatch: ControlDispatch, events: list[str]) -> Handler:
    """`dispatch`'s handler with its streamed replies' chunks and end noted in `events`."""
    handle = dispatch.handle

    async def noted(stream: AsyncGenerator[list[str], None]) -> AsyncGenerator[list[str], None]:
        async for rows in stream:
            events.append("chunk made")
            yield rows
        events.append("walk done")

    async def traced_handle(request: Request) -> Json | RowStream:
        reply = await handle(request)
        return RowStream(noted(reply.chunks)) if isinstance(reply, RowStream) else reply

    return traced_handle


def test_the_client_reads_the_first_rows_before_the_walk_ends(tmp_path: Path) -> None:
    dispatch, speaker = dispatcher()
    whole = speaker.route_query(RouteQuery())
    events: list[str] = []

    async def scenario() -> bytes:
        server = ControlServer(str(tmp_path / "ctl"), traced(dispatch, events))
        await server.start()
        try:
            reader, writer = await asyncio.open_unix_connection(server.path)
            writer.write(b'{"command": "show routes", "args": {}}\n')
            line = await reader.read(1)
            events.append("client has rows")
            line += await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line
        finally:
            await server.close()

    line = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert events.count("chunk made") == 60 // CHUNK
    assert events.index("client has rows") < events.index("walk done")
    assert isinstance(whole, list) and len(whole) == 60
    # the same line as the whole answer sent at once, in address order
    assert line == encode_reply([view.to_json() for view in whole])
    assert [row["prefix"] for row in json.loads(line)["data"]] == [
        f"10.7.{i}.0/24" for i in range(60)
    ]


def test_bgpctl_reads_a_streamed_reply_and_an_error_before_any_row(tmp_path: Path) -> None:
    dispatch, _ = dispatcher()

    async def scenario() -> tuple[object, object, object]:
        server = ControlServer(str(tmp_path / "ctl"), dispatch.handle)
        await server.start()
        try:
            table = await asyncio.to_thread(call, server.path, Request(command="show routes"))
            nobody = Request(command="show routes", args={"peer": "nobody"})
            refused = await asyncio.to_thread(call, server.path, nobody)
            count = Request(command="show routes", args={"count": True})
            counted = await asyncio.to_thread(call, server.path, count)
            return table, refused, counted
        finally:
            await server.close()

    table, refused, counted = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert isinstance(table, dict) and table["ok"] and len(table["data"]) == 60
    assert refused == {"ok": False, "error": "no peer named 'nobody'"}
    assert isinstance(counted, dict) and counted["data"][0]["prefixes"] == 60


def test_a_failure_after_rows_went_out_cuts_the_reply_and_bgpctl_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def rows() -> AsyncGenerator[list[str], None]:
        yield ['{"prefix":"10.0.0.0/8"}']
        raise RuntimeError("view failed")

    async def handler(request: Request) -> Json | RowStream:
        return RowStream(rows()) if request.command == "show routes" else "pong"

    async def scenario() -> tuple[str, object]:
        server = ControlServer(str(tmp_path / "ctl"), handler)
        await server.start()
        try:
            try:
                await asyncio.to_thread(call, server.path, Request(command="show routes"))
            except UnreachableError as exc:
                cut = str(exc)
            ping = await asyncio.to_thread(call, server.path, Request(command="ping"))
            return cut, ping
        finally:
            await server.close()

    cut, ping = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert "cut its reply short" in cut
    assert ping == {"ok": True, "data": "pong"}  # the server is still up
    assert "control reply cut" in caplog.text and "view failed" in caplog.text

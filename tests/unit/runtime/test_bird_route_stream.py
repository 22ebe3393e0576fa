"""BIRD's `show route` of a whole table, streamed (`BirdControl.execute_stream`), says byte for
byte what the unstreamed rendering (`bird_replies.render_routes` over the BIRD routes of every
path, the way a lookup of one network still makes them) says of the same table, for every
option that changes what is shown or counted; and `count` reads no route at all."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bgpd.config import parse_config
from bgpd.control.bird_protocol import ReplyEncoder, ShowRoute, parse_command
from bgpd.control.bird_replies import render_routes
from bgpd.control.bird_server import BirdControl, TableRow
from bgpd.runtime.control_dispatch import ControlDispatch
from bgpd.speaker import route_answers, steps
from bgpd.speaker.steps import Stream, finish
from tests.unit.speaker.harness import Net, config

CHUNK = 7  # keys and rows per step here: the table's networks span several chunks
WALL = 1_800_000_000.0

COMMANDS = [
    "show route",
    "show route all",
    "show route primary",
    "show route protocol to_b",
    "show route protocol to_b all",
    "show route protocol static1",
    "show route protocol to_b primary",
    "show route protocol device1",
    "show route stats",
    "show route primary stats",
    "show route protocol to_b stats",
    "show route protocol static1 primary stats",
    "show route count",
    "show route primary count",
    "show route protocol to_b count",
    "show route protocol static1 count",
    "show route protocol to_b primary count",
    "show route protocol device1 count",
]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", CHUNK)


def statics(numbers: range) -> str:
    return "".join(
        f'\n[[static]]\nprefix = "10.7.{i}.0/24"\nnext_hop = "127.0.0.9"\n' for i in numbers
    )


def control() -> tuple[BirdControl, list[str]]:
    """Node a's BIRD view: its own static routes 10.7.20-39 and b's 10.7.0-29 learned over
    BGP (one path shared by 30 networks; 10.7.20-29 have both paths)."""
    net = Net()
    peers_a = [("to_b", "127.0.0.2", 64513)]
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", peers_a, statics(range(20, 40))))
    net.add(
        "b",
        "127.0.0.2",
        config(64513, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], statics(range(30))),
    )
    net.start()
    net.settle()
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
    networks = sorted({v.prefix for v in speaker.route_views()}, key=lambda p: int(p.split(".")[2]))
    assert len(networks) == 40 and len(speaker.route_views()) == 50
    return BirdControl(dispatch.bird_hooks(), wall=lambda: WALL), networks


def unstreamed(control: BirdControl, networks: list[str], line: str) -> bytes:
    """The reply as rendered before streaming: every path's BIRD route (as a lookup of its
    network makes them), rendered at once."""
    command = parse_command(line, 4)
    assert isinstance(command, ShowRoute)
    routes = [
        route
        for network in networks
        for route in finish(control.routes(4, parse_command(f"show route {network} all", 4)))  # type: ignore[arg-type]
    ]
    timeformat = control._timeformat("route")
    return ReplyEncoder().encode(render_routes(routes, command, WALL, timeformat))


@pytest.mark.parametrize("line", COMMANDS)
def test_the_streamed_reply_is_the_unstreamed_one(line: str) -> None:
    bird, networks = control()
    streamed = ReplyEncoder().encode(
        line for chunk in bird.execute_stream(parse_command(line, 4), 4, False) for line in chunk
    )
    assert streamed == unstreamed(bird, networks, line)


def test_a_count_reads_no_route() -> None:
    bird, _ = control()

    def no_walk(_version: int, _source: str | None, _best: bool) -> Stream[TableRow]:
        raise AssertionError("a count walked the table")

    counting = BirdControl(replace(bird._hooks, table=no_walk), wall=lambda: WALL)
    for line, count in [
        ("show route count", "50 of 50 routes for 40 networks"),
        ("show route primary count", "40 of 40 routes for 40 networks"),
        ("show route protocol to_b count", "30 of 50 routes for 40 networks"),
        ("show route protocol static1 primary count", "20 of 40 routes for 40 networks"),
    ]:
        (reply,) = counting.execute(parse_command(line, 4), 4, False)
        assert reply.text == count

"""`--advertised` (bgpctl) and `show route export P` (the BIRD socket) stream the one reader of
the Adj-RIB-Out (`route_answers.sent_chunks`): bgpctl's line and BIRD's reply are byte for
byte the unstreamed answers, the rows come in chunks in address order, and a network of
`show route NETWORK export P` is looked up, not walked for. Order of events only, no timing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import pytest

from bgpd.config import parse_config
from bgpd.control.bird_protocol import ReplyEncoder, ShowRoute, parse_command
from bgpd.control.bird_replies import render_routes
from bgpd.control.bird_server import BirdControl
from bgpd.control.protocol import Request, RowStream, encode_reply, reply_pieces
from bgpd.runtime.control_dispatch import ControlDispatch
from bgpd.speaker import Speaker, route_answers, steps
from bgpd.speaker.route_query import RouteQuery
from bgpd.speaker.steps import finish
from tests.unit.speaker.harness import Net

CHUNK = 7  # keys and rows per step here: the Adj-RIB-Out spans several chunks
WALL = 1_800_000_000.0


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", CHUNK)


def statics(numbers: range, second: int) -> str:
    return "".join(f'\n[[static]]\nprefix = "10.{second}.{i}.0/24"\n' for i in numbers)


def node(me: str, peers: list[tuple[str, str]], extra: str = "", rr: bool = False) -> str:
    text = f'[bgp]\nasn = 64512\nrouter_id = "{me}"\nlisten = ["{me}"]\n'
    if rr:
        text += 'cluster_id = "10.255.0.1"\n'
    text += f'[control]\nsocket = "/tmp/unused-{me}.ctl"\n{extra}\n'
    for name, address in peers:
        text += (
            f'[[peer]]\nname = "{name}"\naddress = "{address}"\nasn = 64512\n'
            f'local_address = "{me}"\n' + ("rr_client = true\n" if rr else "")
        )
    return text


def front_ends() -> tuple[Speaker, ControlDispatch, BirdControl]:
    """A reflector with 12 static routes and c1's 30 (listed in reverse), reflected to c2."""
    net = Net()
    rr_statics = statics(range(11, -1, -1), 50)
    net.add(
        "rr",
        "127.0.0.1",
        node("127.0.0.1", [("c1", "127.0.0.2"), ("c2", "127.0.0.3")], rr_statics, rr=True),
    )
    net.add(
        "c1", "127.0.0.2", node("127.0.0.2", [("rr", "127.0.0.1")], statics(range(29, -1, -1), 60))
    )
    net.add("c2", "127.0.0.3", node("127.0.0.3", [("rr", "127.0.0.1")]))
    net.start()
    net.settle()
    speaker = net.nodes["rr"].speaker
    dispatch = ControlDispatch(
        speaker,
        now=lambda: net.now,
        reload=list,
        flush=lambda: None,
        kernel=lambda: None,
        config_path=None,
        load=parse_config,
    )
    return speaker, dispatch, BirdControl(dispatch.bird_hooks(), wall=lambda: WALL)


def test_bgpctl_advertised_is_streamed_as_the_whole_answer_says_it() -> None:
    speaker, dispatch, _ = front_ends()
    whole = speaker.route_query(RouteQuery(peer="c2", advertised=True))
    assert isinstance(whole, list) and len(whole) == 42
    chunks: list[list[str]] = []

    async def read() -> bytes:
        reply = await dispatch.handle(
            Request(command="show routes", args={"peer": "c2", "advertised": True})
        )
        assert isinstance(reply, RowStream)

        async def noted() -> AsyncGenerator[list[str] | bytes, None]:
            async for chunk in reply.chunks:
                assert isinstance(chunk, list)
                chunks.append(chunk)
                yield chunk

        traced = RowStream(noted(), head=reply.head, tail=reply.tail)
        return b"".join([piece async for piece in reply_pieces(traced)])

    line = asyncio.run(read())
    assert line == encode_reply([view.to_json() for view in whole])
    assert len(chunks) == 6 and max(len(c) for c in chunks) <= CHUNK  # 42 rows, 7 a step
    prefixes = [row["prefix"] for row in json.loads(line)["data"]]
    assert prefixes == [f"10.50.{i}.0/24" for i in range(12)] + [
        f"10.60.{i}.0/24" for i in range(30)
    ]
    count = speaker.route_query(RouteQuery(peer="c2", advertised=True, count=True))
    assert [c.to_json() for c in count] == [  # type: ignore[union-attr]
        {"family": "ipv4-unicast", "prefixes": 42, "paths": 42, "best": 42}
    ]


COMMANDS = [
    "show route export c2",
    "show route all export c2",
    "show route primary export c2",
    "show route export c2 protocol c1",
    "show route protocol static1 all export c2",
    "show route export c2 stats",
    "show route protocol c1 export c2 stats",
    "show route export c2 count",
    "show route protocol static1 export c2 count",
    "show route primary export c2 count",
]


def unstreamed(control: BirdControl, line: str) -> bytes:
    """The reply as rendered before streaming: each network's BIRD routes (as `show route
    NETWORK export c2` looks them up), rendered at once."""
    command = parse_command(line, 4)
    assert isinstance(command, ShowRoute)
    networks = [f"10.50.{i}.0/24" for i in range(12)] + [f"10.60.{i}.0/24" for i in range(30)]
    routes = [
        route
        for network in networks
        for route in finish(
            control.routes(4, parse_command(f"show route {network} all export c2", 4))
        )  # type: ignore[arg-type]
    ]
    return ReplyEncoder().encode(render_routes(routes, command, WALL, control._timeformat("route")))


@pytest.mark.parametrize("line", COMMANDS)
def test_bird_export_is_streamed_as_the_unstreamed_reply_says_it(line: str) -> None:
    _, _, bird = front_ends()
    chunks = list(bird.execute_stream(parse_command(line, 4), 4, False))
    streamed = ReplyEncoder().encode(reply for chunk in chunks for reply in chunk)
    assert streamed == unstreamed(bird, line)
    assert len(chunks) > 42 // CHUNK  # rendered as walked, a chunk a step


def test_a_network_of_the_adj_rib_out_is_looked_up_not_walked_for() -> None:
    speaker, _, bird = front_ends()
    query = RouteQuery(peer="c2", advertised=True, prefix="10.60.3.0/24")
    listing = speaker.route_query_chunks(query)
    assert isinstance(listing, route_answers.SentRows)
    walked = list(listing.rows)
    assert len(walked) == 2  # the lookup, then its row (a walk: a step per 7 of 42 keys, 6)
    assert walked[0] == [] and [row[1] for row in walked[1]] == [bytes((24, 10, 60, 3))]
    found = bird.execute(parse_command("show route for 10.60.3.9 export c2", 4), 4, False)
    assert found[0].text.startswith("10.60.3.0/24")

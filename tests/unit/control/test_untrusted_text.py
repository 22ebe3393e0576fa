"""Text from peers and datastores on every control output: escaped, never a forged line.

Issue 11: a peer's RFC 8203 shutdown text went raw into the BIRD-compatible sockets' replies
and bgpctl's tables. The bytes below forge a `show protocols` row that calicoctl's parser and
calico-node's -bird-ready believe and end the reply early; `ESC [2J` clears the operator's
terminal. Each renderer is checked with them, through Calico's parsers where Calico reads.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bgpd.config import parse_config
from bgpd.control import bgpctl
from bgpd.control.bird_protocol import (
    ParseError,
    ReplyEncoder,
    ReplyLine,
    ShowProtocols,
    ShowRoute,
    parse_command,
    welcome,
)
from bgpd.control.bird_replies import render_protocols, render_routes
from bgpd.control.bird_server import BirdControl, BirdHooks, TableRow
from bgpd.control.bird_socket import BirdSocket
from bgpd.control.bird_views import PeerFacts, bgp_protocol, bird_route, local_protocol
from bgpd.control.protocol import ControlCommandError, Request, decode_request
from bgpd.control.server import ControlServer
from bgpd.control.tables import render_fields, render_kernel, render_peer, render_peers
from bgpd.control.tables import render_routes as table
from bgpd.speaker.steps import Steps, Stream
from bgpd.views import KernelRouteRow, PeerView, RouteView
from tests.unit.config.helpers import MINIMAL

from .test_bird_calico import bird_ready, scan_bird_peers

T = TypeVar("T")

FORGING = "maintenance\n1002-Mesh_10_0_0_9 BGP master up 12:00:00 Established\n0000 "
CLEAR = "\x1b[2J\x1b[H"
SHUTDOWN = f"Received: Cease/Administrative Shutdown: {FORGING}{CLEAR}"
NOW = 1_800_000_000.0

DOWN_PEER: dict[str, Any] = {
    "name": "Mesh_127_0_0_52",
    "address": "127.0.0.52",
    "asn": 64512,
    "state": "Active",
    "uptime_s": None,
    "prefixes_received": 0,
    "prefixes_accepted": 0,
    "prefixes_sent": 0,
    "last_error": SHUTDOWN,
}


def peer(view: dict[str, Any]) -> PeerView:
    """A peer view as bgpctl reads it from the daemon's JSON."""
    return PeerView.from_json(view)


def route(view: dict[str, Any]) -> RouteView:
    return RouteView.from_json(view)


def wire(*replies: list[ReplyLine]) -> list[str]:
    encoder = ReplyEncoder()
    return b"".join(encoder.encode(r) for r in replies).decode().split("\n")[:-1]


def assert_one_reply(lines: list[str]) -> None:
    """Every line is a reply line (code and '-', or a continuation) and only the last ends it,
    with no terminal control anywhere."""
    for line in lines[:-1]:
        assert line.startswith(" ") or (line[:4].isdigit() and line[4] == "-"), line
    assert lines[-1][:4].isdigit() and lines[-1][4] == " "
    assert all(c.isprintable() or c == "\t" for line in lines for c in line), lines


# ----------------------------------------------------------------------------- BIRD sockets


def test_a_shutdown_text_forges_no_row_for_calicoctl_or_bird_ready() -> None:
    protocols = [
        local_protocol("device1", "Device", 240, since=NOW, imported=0, preferred=0),
        bgp_protocol(peer(DOWN_PEER), PeerFacts(local_asn=64512), since=NOW, preferred=0),
    ]
    lines = wire(welcome("v1+bgpd"), render_protocols(protocols, ShowProtocols(), NOW))
    assert_one_reply(lines[1:])
    peers = scan_bird_peers(lines)
    # Only the real peer, down: no Established Mesh_10_0_0_9 from the text.
    assert [(p.peer_ip, p.state, p.bgp_state) for p in peers] == [("127.0.0.52", "start", "Active")]
    assert peers[0].info.endswith("Established\\n0000 \\x1b[2J\\x1b[H")
    # -bird-ready past its threshold: not ready, since the only peer is down.
    assert bird_ready(peers, within_threshold=False, gr=False) == (
        "BGP not established with 127.0.0.52"
    )


def test_protocol_details_escape_the_error_the_description_and_the_name() -> None:
    named = {**DOWN_PEER, "name": "Mesh_127_0_0_52\x1b]0;owned\x07"}
    facts = PeerFacts(local_asn=64512, description=f"rack 1\n0000 {CLEAR}")
    view = bgp_protocol(peer(named), facts, since=NOW, preferred=0)
    lines = wire(render_protocols([view], ShowProtocols(verbose=True), NOW))
    assert_one_reply(lines)
    assert "1006-  Description:    rack 1\\n0000 \\x1b[2J\\x1b[H" in lines
    assert any(line.startswith("     Last error:       Received: Cease") for line in lines)
    assert lines[1].startswith("1002-Mesh_127_0_0_52\\x1b]0;owned\\x07 BGP")


def test_route_lines_keep_birds_leading_tab_and_escape_the_rest() -> None:
    learned = {
        "prefix": "10.52.0.0/24",
        "next_hop": "127.0.0.52",
        "peer": "Mesh\t127\n0000 ",
        "source": "ibgp",
        "as_path": [],
        "origin": "IGP",
        "best": True,
    }
    view = bird_route(route(learned), since=NOW, device="eth0\x1b[2J", peer_address=None)
    lines = wire(render_routes([view], ShowRoute(verbose=True), NOW))
    assert_one_reply(lines)
    assert "on eth0\\x1b[2J [Mesh\\t127\\n0000  " in lines[0]
    assert lines[1] == "1008-\tType: BGP unicast univ"


def test_a_clients_word_echoed_back_is_escaped() -> None:
    config = parse_config(MINIMAL)
    hooks = BirdHooks(
        config=lambda: config,
        config_path=lambda: None,
        peers=list,
        peer=lambda _name: None,
        routes=lambda _prefix: [],
        table=lambda _version, _source, _best: iter([]),
        table_counts=lambda _version: (0, 0),
        source_counts=lambda _name, _version: iter_steps((0, 0)),
        kernel_routes=list,
        reload=lambda: None,
        check=lambda: None,
        graceful_restart=lambda: None,
    )
    control = BirdControl(hooks)
    command = parse_command("show route protocol x\x1b[2J\x07", 4)
    lines = wire(control.execute(command, 4, False))
    assert lines == ["9001 x\\x1b[2J\\x07 is not a protocol"]


# ------------------------------------------------------------------------------ bgpctl tables


def test_bgpctl_peer_table_shows_the_text_escaped_on_one_row() -> None:
    out = render_peers([peer(DOWN_PEER)])
    assert len(out.split("\n")) == 2  # the heading and the one peer
    assert "\x1b" not in out and "\r" not in out
    assert out.split("\n")[1].endswith(
        "Shutdown: maintenance\\n1002-Mesh_10_0_0_9 BGP master up 12:00:00 Established"
        "\\n0000 \\x1b[2J\\x1b[H"
    )


def test_bgpctl_peer_detail_escapes_nested_values_and_keys() -> None:
    negotiated = {"peer_asn": 1, "peer_router_id": "x\u2028y", "hold_time": 90}
    out = render_peer(peer({**DOWN_PEER, "established_for_s": None, "negotiated": negotiated}))
    assert all(c.isprintable() for line in out.split("\n") for c in line)
    assert ["peer_router_id:", "x\\u2028y"] in [line.split() for line in out.split("\n")]
    # keys too (the rendering is generic over the JSON object)
    out = render_fields({**DOWN_PEER, "k\x1b": ["a\nb"]})
    assert all(c.isprintable() for line in out.split("\n") for c in line)
    assert "k\\x1b:" in out and "a\\nb" in out


def test_bgpctl_route_and_kernel_tables_escape_names() -> None:
    node: dict[str, Any] = {
        "prefix": "10.0.0.0/24",
        "next_hop": None,
        "peer": f"Node{CLEAR}",
        "as_path": [],
        "best": True,
    }
    kernel = {"status": "installed", "prefix": "10.0.0.0/24", "kind": "unicast"}
    row = kernel | {"next_hops": [f"via 10.0.0.1 dev eth0{CLEAR}"], "protocol": 12}
    for out in (table([route(node)]), render_kernel([KernelRouteRow.from_json(row)])):
        assert "\x1b" not in out and len(out.split("\n")) == 2


def test_bgpctl_errors_and_text_replies_are_escaped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = iter(
        [
            {"ok": False, "error": f"config rejected:\nline 3: bad {CLEAR}"},
            {"ok": True, "data": f'[[peer]]\ndescription = "{CLEAR}"\n'},
        ]
    )
    monkeypatch.setattr(bgpctl, "call", lambda _path, _request: next(replies))
    assert bgpctl.main(["reload"]) == 1
    assert capsys.readouterr().err == "bgpctl: config rejected:\nline 3: bad \\x1b[2J\\x1b[H\n"
    assert bgpctl.main(["show", "config"]) == 0
    assert capsys.readouterr().out == '[[peer]]\ndescription = "\\x1b[2J\\x1b[H"\n\n'


# --------------------------------------------------------------------- AS_SET in text and JSON

SET_PATH: dict[str, Any] = {
    "as_path": [64512, 64513, 64514],
    "as_path_segments": [
        {"type": "AS_SEQUENCE", "asns": [64512]},
        {"type": "AS_SET", "asns": [64513, 64514]},
    ],
}


def test_bgpctl_shows_as_sets_in_braces() -> None:
    plain = {"prefix": "10.0.0.0/24", "next_hop": "10.0.0.1", "peer": "p", "best": True}
    assert table([route(plain | SET_PATH)]).endswith(" 64512 {64513 64514}")
    confed = [
        {"type": "AS_CONFED_SEQUENCE", "asns": [65001, 65002]},
        {"type": "AS_CONFED_SET", "asns": [65003]},
        {"type": "AS_SEQUENCE", "asns": [64512]},
    ]
    confederated = route(plain | {"as_path_segments": confed})
    assert table([confederated]).endswith(" (65001 65002) [65003] 64512")
    # A view from a daemon without segments: the flat path.
    assert table([route(plain | {"as_path": [64512, 64513]})]).endswith(" 64512 64513")


def test_the_bird_socket_shows_as_sets_as_bird_does() -> None:
    learned = {
        "prefix": "10.0.0.0/24",
        "next_hop": "10.0.0.1",
        "peer": "Global_10_0_0_1",
        "source": "ebgp",
        "origin": "IGP",
        "best": True,
    }
    aggregated = bird_route(route(learned | SET_PATH), since=NOW, device="eth0", peer_address=None)
    # BIRD 1.6's as_path_format, and no origin AS when the path ends with a set.
    assert "BGP.as_path: 64512 { 64513 64514 }" in aggregated.attributes
    assert aggregated.info == " (100/0) [i]"
    ending = [*SET_PATH["as_path_segments"], {"type": "AS_SEQUENCE", "asns": [65000]}]
    plain = bird_route(
        route(learned | {"as_path_segments": ending}), since=NOW, device="eth0", peer_address=None
    )
    assert "BGP.as_path: 64512 { 64513 64514 } 65000" in plain.attributes
    assert plain.info == " (100/0) [AS65000i]"


# ----------------------------------------------------------------- malformed input: an error


@pytest.mark.parametrize(
    "line", ["show route 10.0.0.0/²", "show route 10.0.0.0/٣", "show route for 10.0.0.0/²"]
)
def test_non_ascii_digits_are_a_parse_error(line: str) -> None:
    # "²" passes str.isdigit() and fails int(); "٣" is an int() of 3 nobody typed.
    assert parse_command(line, 4) == ParseError(message="Invalid prefix length")


def test_deeply_nested_json_is_a_refused_request() -> None:
    with pytest.raises(ControlCommandError, match="nested too deeply"):
        decode_request(b"[" * 100_000 + b"\n")
    with pytest.raises(ControlCommandError, match="nested too deeply"):
        decode_request(b'{"command": "show peers", "args": ' + b"[" * 100_000 + b"\n")


def _exchange(path: str, lines: list[bytes], *, greeting: bool = False) -> list[str]:
    """Sends each line on one connection and reads the one-line reply to each."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        file = sock.makefile("rb")
        if greeting:
            file.readline()
        replies: list[str] = []
        for line in lines:
            sock.sendall(line)
            replies.append(file.readline().decode())
        return replies


def test_the_control_socket_answers_every_request_and_stays_up(tmp_path: Path) -> None:
    async def handler(request: Request) -> Any:
        if request.command == "boom":
            raise KeyError("no such thing")
        return {"args": request.args}

    async def scenario() -> list[str]:
        server = ControlServer(str(tmp_path / "ctl"), handler)
        await server.start()
        try:
            return await asyncio.to_thread(
                _exchange,
                server.path,
                [
                    b"[" * 60_000 + b"\n",  # within the 64 KiB request limit
                    b'{"command": "boom"}\n',
                    b'{"command": "ok", "args": {"a": 1}}\n',
                ],
            )
        finally:
            await server.close()

    nested, boom, ok = (json.loads(r) for r in asyncio.run(asyncio.wait_for(scenario(), 30)))
    assert nested == {"ok": False, "error": "request is nested too deeply"}
    assert boom == {"ok": False, "error": "internal error: KeyError: 'no such thing'"}
    assert ok == {"ok": True, "data": {"args": {"a": 1}}}


def test_the_bird_socket_answers_a_failing_command_and_goes_on(tmp_path: Path) -> None:
    config = parse_config(MINIMAL)

    def broken_routes(_prefix: str) -> list[RouteView]:
        raise RuntimeError("view failed")

    def broken_table(_version: int, _source: str | None, _best: bool) -> Stream[TableRow]:
        yield []  # fails after a step: the loop has run in between
        raise RuntimeError("view failed")

    hooks = BirdHooks(
        config=lambda: config,
        config_path=lambda: None,
        peers=list,
        peer=lambda _name: None,
        routes=broken_routes,
        table=broken_table,
        table_counts=lambda _version: (0, 0),
        source_counts=lambda _name, _version: iter_steps((0, 0)),
        kernel_routes=list,
        reload=lambda: None,
        check=lambda: None,
        graceful_restart=lambda: None,
    )

    async def scenario() -> list[str]:
        bird = BirdSocket(str(tmp_path / "bird.ctl"), BirdControl(hooks), 4)
        await bird.start()
        try:
            return await asyncio.to_thread(
                _exchange,
                bird.path,
                [b"show route 10.0.0.0/\xc2\xb2\n", b"show route\n", b"show status\n"],
                greeting=True,
            )
        finally:
            await bird.close()

    prefix, table, status = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert prefix == "9001 Invalid prefix length\n"
    assert table == "8008 Internal error: RuntimeError('view failed')\n"
    assert status.startswith("1000-BIRD v")  # the same session goes on


def iter_steps(answer: T) -> Steps[T]:
    """A walk of one step that answers `answer`."""
    yield
    return answer

"""BIRD's `disable`/`enable`/`restart`/`reload` on the BIRD-compatible socket, over a real
speaker (the daemon's wiring: ControlDispatch's hooks), with BIRD's reply codes; BIRD commands
bgpd does not do are refused with the reason, not `syntax error`."""

from __future__ import annotations

import pytest

from bgpd.config import parse_config
from bgpd.control.bird_protocol import ReplyEncoder, parse_command
from bgpd.control.bird_server import BirdControl
from bgpd.runtime.control_dispatch import ControlDispatch
from tests.unit.speaker.harness import Net, config

ROUTE = '[[static]]\nprefix = "10.20.0.0/24"\nnext_hop = "127.0.0.1"\n'


def world() -> tuple[Net, BirdControl]:
    net = Net()
    peers = [("Mesh_127_0_0_2", "127.0.0.2", 64512), ("Mesh_127_0_0_3", "127.0.0.3", 64512)]
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", peers, ROUTE))
    for n in (2, 3):
        address = f"127.0.0.{n}"
        net.add(address, address, config(64512, address, [("to_a", "127.0.0.1", 64512)]))
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
    return net, BirdControl(dispatch.bird_hooks(), wall=lambda: 1.7e9)


def run(net: Net, control: BirdControl, line: str, restricted: bool = False) -> list[str]:
    lines = control.execute(parse_command(line, 4), 4, restricted)
    net.settle()
    return ReplyEncoder().encode(lines).decode().splitlines()


def state(net: Net, node: str, peer: str) -> str:
    view = net.nodes[node].speaker.peer_view(peer, net.now)
    assert view is not None
    return view.state


def test_disable_with_a_message_then_enable() -> None:
    net, control = world()
    assert run(net, control, 'disable Mesh_127_0_0_2 "maintenance"') == [
        "0009-Mesh_127_0_0_2: disabled",
        "0000 ",
    ]
    assert state(net, "a", "Mesh_127_0_0_2") == "Idle"
    assert state(net, "a", "Mesh_127_0_0_3") == "Established"
    seen = net.nodes["127.0.0.2"].speaker.peer_view("to_a", net.now)
    assert seen is not None
    assert seen.last_error == "Received: Cease/Administrative Shutdown: maintenance"
    assert run(net, control, "disable Mesh_127_0_0_2") == [
        "0008-Mesh_127_0_0_2: already disabled",
        "0000 ",
    ]
    assert run(net, control, "restart Mesh_127_0_0_2")[0] == "0008-Mesh_127_0_0_2: already disabled"
    net.advance(60, step=5.0)
    assert state(net, "a", "Mesh_127_0_0_2") == "Idle"
    assert run(net, control, "enable Mesh_127_0_0_2") == ["0011-Mesh_127_0_0_2: enabled", "0000 "]
    assert run(net, control, "enable Mesh_127_0_0_2")[0] == "0010-Mesh_127_0_0_2: already enabled"
    net.advance(30)
    assert state(net, "a", "Mesh_127_0_0_2") == "Established"


def test_a_pattern_or_all_acts_on_every_bgp_protocol_matching() -> None:
    net, control = world()
    assert run(net, control, 'disable "Mesh_*"') == [
        "0009-Mesh_127_0_0_2: disabled",
        " Mesh_127_0_0_3: disabled",
        "0000 ",
    ]
    assert run(net, control, "enable all") == [
        "0011-Mesh_127_0_0_2: enabled",
        " Mesh_127_0_0_3: enabled",
        "0000 ",
    ]
    assert run(net, control, 'disable "Global_*"') == ["8003 No protocols match"]


def test_restart_is_a_hard_reset_and_reload_a_soft_one() -> None:
    net, control = world()
    peer = net.nodes["127.0.0.2"].speaker
    assert run(net, control, "restart Mesh_127_0_0_2") == [
        "0012-Mesh_127_0_0_2: restarted",
        "0000 ",
    ]
    after = peer.peer_view("to_a", net.now)
    assert after is not None and "Administrative Reset" in after.last_error
    net.advance(30)
    assert state(net, "a", "Mesh_127_0_0_2") == "Established"
    session = peer.peer_session("to_a")
    assert session is not None
    asked = session.counters.messages_in.get(5, 0)
    assert run(net, control, "reload in Mesh_127_0_0_2") == [
        "0015-Mesh_127_0_0_2: reloading",
        "0000 ",
    ]
    assert session.counters.messages_in.get(5, 0) > asked  # the peer was asked (RFC 2918)
    assert state(net, "a", "Mesh_127_0_0_2") == "Established"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("disable Mesh_9", "9002 Mesh_9 is not a protocol"),
        (
            "disable static1",
            "9001 'disable static1' is not supported by bgpd: only BGP protocols are",
        ),
        ("disable", "9001 syntax error"),
        (f'disable Mesh_127_0_0_2 "{"x" * 256}"', "9001 Shutdown message too long"),
        ("show interfaces", "9001 'show interfaces' is not supported by bgpd"),
        ("dump resources", "9001 'dump' is not supported by bgpd"),
        ("down", "9001 'down' is not supported by bgpd"),
    ],
)
def test_refusals_change_nothing(line: str, reply: str) -> None:
    net, control = world()
    assert run(net, control, line) == [reply]
    assert state(net, "a", "Mesh_127_0_0_2") == "Established"


def test_a_restricted_session_may_not_disable() -> None:
    net, control = world()
    assert run(net, control, "disable all", restricted=True) == ["8007 Access denied"]
    assert state(net, "a", "Mesh_127_0_0_2") == "Established"


def test_a_disabled_protocol_shows_as_bird_shows_one() -> None:
    # BIRD 2 (proto/bgp/bgp.c): `disable` stores a BE_MAN_DOWN error, whose class and text
    # are empty, so the info column is empty and `show protocols all` has no "Last error"
    # line; the shutdown message is its "Message:" line (nest/proto.c proto_cmd_show).
    net, control = world()
    run(net, control, 'disable Mesh_127_0_0_2 "maintenance"')
    row = run(net, control, "show protocols Mesh_127_0_0_2")[1]
    assert row.split()[1:4] == ["BGP", "master", "down"]
    assert row.endswith("  ")  # since, two spaces, an empty info column
    details = [text(d) for d in run(net, control, "show protocols all Mesh_127_0_0_2")]
    assert "  Message:        maintenance" in details
    assert "  BGP state:          Down" in details
    assert not [line for line in details if "Error" in line or "Last error" in line]
    # bgpctl's view keeps saying why
    view = net.nodes["a"].speaker.peer_view("Mesh_127_0_0_2", net.now)
    assert view is not None and view.down_reason == "disabled by operator: maintenance"
    run(net, control, "enable Mesh_127_0_0_2")
    run(net, control, "disable Mesh_127_0_0_2")
    details = run(net, control, "show protocols all Mesh_127_0_0_2")
    assert not [line for line in details if "Message:" in line or "Error" in line]
    assert "  BGP state:          Down" in [text(d) for d in details]


def text(line: str) -> str:
    """A reply line's text: after "NNNN-" (or "NNNN "), or the space of a continuation."""
    return line[5:] if line[:4].isdigit() else line[1:]

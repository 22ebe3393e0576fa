"""`bgpctl peer NAME disable|enable|reset` from the command line to the speaker: the request
bgpctl sends, the daemon's checks (unknown peer, bad direction, a message too long) and its
replies."""

from __future__ import annotations

import pytest

from bgpd.control import bgpctl
from bgpd.control.protocol import ControlCommandError, Request
from bgpd.runtime.peer_commands import peer_command
from tests.unit.speaker.harness import Net, config


def request(*argv: str) -> Request:
    return bgpctl._request(bgpctl._parser().parse_args(list(argv)))


def test_bgpctl_builds_the_peer_requests() -> None:
    assert request("peer", "p", "disable", "--message", "maintenance") == Request(
        command="peer disable", args={"name": "p", "message": "maintenance"}
    )
    assert request("peer", "p", "enable") == Request(command="peer enable", args={"name": "p"})
    assert request("peer", "p", "reset").args == {"name": "p", "soft": False}
    assert request("peer", "p", "reset", "--soft").args == {"name": "p", "soft": "both"}
    assert request("peer", "p", "reset", "--soft", "in").args == {"name": "p", "soft": "in"}


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["peer", "p", "enable", "--soft"], "--soft is for `peer NAME reset`, not enable"),
        (["peer", "p", "reset", "--message", "x"], "--message is for `peer NAME disable`"),
    ],
)
def test_an_option_the_action_does_not_take_is_an_error(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        bgpctl.main(["-s", "/nonexistent", *argv])
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


ROUTE = '[[static]]\nprefix = "10.20.0.0/24"\nnext_hop = "127.0.0.1"\n'


def pair() -> Net:
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64513)], ROUTE))
    net.add("b", "127.0.0.2", config(64513, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    return net


def test_disable_and_enable_reply_what_they_did() -> None:
    net = pair()
    a = net.nodes["a"].speaker
    args = {"name": "to_b", "message": "maintenance"}
    assert peer_command(a, "peer disable", args, net.now) == {
        "peer": "to_b",
        "disabled": True,
        "changed": True,
    }
    net.settle()
    assert a.disabled_message("to_b") == "maintenance"
    again = peer_command(a, "peer disable", args, net.now)
    assert again == {"peer": "to_b", "disabled": True, "changed": False}
    enabled = peer_command(a, "peer enable", {"name": "to_b"}, net.now)
    assert enabled == {"peer": "to_b", "disabled": False, "changed": True}


def test_soft_reset_directions() -> None:
    net = pair()
    a = net.nodes["a"].speaker
    net.record = {}
    reply = peer_command(a, "peer reset", {"name": "to_b", "soft": "in"}, net.now)
    assert reply == {"peer": "to_b", "reset": "soft in"}
    net.settle()
    assert kinds(net) == {"request"}  # asked (RFC 2918), nothing of ours resent
    net.record = {}
    reply = peer_command(a, "peer reset", {"name": "to_b", "soft": "out"}, net.now)
    assert reply == {"peer": "to_b", "reset": "soft out"}
    net.settle()
    assert "update" in kinds(net) and "request" not in kinds(net)  # resent, nothing asked


def kinds(net: Net) -> set[str]:
    """What a sent: "update", "request" (a route refresh request) or "marker" (BoRR/EoRR)."""
    out = set()
    for send in (net.record or {}).get("a", []):
        data = send.data
        while data:  # one Send may carry several messages
            length, msg_type = int.from_bytes(data[16:18], "big"), data[18]
            if msg_type == 2:
                out.add("update")
            elif msg_type == 5:
                out.add("request" if data[21] == 0 else "marker")
            data = data[length:]
    return out


@pytest.mark.parametrize(
    ("command", "args", "error"),
    [
        ("peer disable", {"name": "nope"}, "no peer named 'nope'"),
        ("peer reset", {"name": "to_b", "soft": "sideways"}, "bad soft reset direction"),
        ("peer disable", {"name": "to_b", "message": "x" * 256}, "at most 255 fit"),
    ],
)
def test_bad_commands_are_refused_and_change_nothing(
    command: str, args: dict[str, str], error: str
) -> None:
    net = pair()
    a = net.nodes["a"].speaker
    with pytest.raises(ControlCommandError, match=error):
        peer_command(a, command, dict(args), net.now)
    net.settle()
    view = a.peer_view("to_b", net.now)
    assert view is not None and view.state == "Established"

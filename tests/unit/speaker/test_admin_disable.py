"""The operator's administrative shutdown of one peer: Cease/Administrative Shutdown with the
RFC 8203/9003 message, the peer's routes gone, the session down through the peer's retries and
through reloads (also one that re-creates the session) until it is enabled again."""

from __future__ import annotations

import logging

import pytest

from bgpd.speaker.admin_down import ShutdownMessageError
from bgpd.views import PeerView

from .harness import Net, config

ROUTE = '[[static]]\nprefix = "10.20.0.0/24"\nnext_hop = "127.0.0.2"\n'


def a_config(hold_time: int = 90) -> str:
    text = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64513)])
    return text.replace(
        'local_address = "127.0.0.1"\n',
        f'local_address = "127.0.0.1"\nhold_time = {hold_time}\n',
        1,
    )


def pair() -> Net:
    net = Net()
    net.add("a", "127.0.0.1", a_config())
    net.add("b", "127.0.0.2", config(64513, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], ROUTE))
    net.start()
    assert view(net, "a", "to_b").state == "Established"
    return net


def view(net: Net, node: str, peer: str) -> PeerView:
    v = net.nodes[node].speaker.peer_view(peer, net.now)
    assert v is not None
    return v


def has_route(net: Net) -> bool:
    return bool(net.nodes["a"].speaker.route_views("10.20.0.0/24"))


def test_disable_sends_the_message_withdraws_and_stays_down_until_enabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net = pair()
    a = net.nodes["a"].speaker
    assert has_route(net)
    with caplog.at_level(logging.INFO, logger="bgpd.speaker.admin_down"):
        assert a.disable_peer("to_b", net.now, "maintenance").changed
    net.settle()
    assert "peer disabled peer=to_b address=127.0.0.2 message='maintenance'" in caplog.text
    # b got Cease/Administrative Shutdown with the Shutdown Communication (RFC 8203)
    assert view(net, "b", "to_a").last_error == (
        "Received: Cease/Administrative Shutdown: maintenance"
    )
    down = view(net, "a", "to_b")
    assert down.state == "Idle" and down.disabled
    assert down.down_reason == "disabled by operator: maintenance"
    assert down.last_error == "disabled by operator: maintenance"
    assert not has_route(net)
    assert a.disable_peer("to_b", net.now, "again").changed is False  # already disabled
    net.advance(300, step=5.0)  # b keeps dialling; a refuses
    assert view(net, "a", "to_b").state == "Idle" and not has_route(net)
    assert a.enable_peer("to_b", net.now).changed
    assert a.enable_peer("to_b", net.now).changed is False
    net.advance(30)
    up = view(net, "a", "to_b")
    assert up.state == "Established" and not up.disabled and up.down_reason is None
    assert has_route(net)


def test_a_disabled_peer_stays_down_over_reloads_also_one_that_restarts_its_session() -> None:
    net = pair()
    a = net.nodes["a"].speaker
    a.disable_peer("to_b", net.now, "")
    net.settle()
    assert "Cease/Administrative Shutdown" in view(net, "b", "to_a").last_error
    assert net.reload("a", a_config()) == []  # nothing changed: still down
    # one that re-creates the session (hold_time is a session field)
    actions = net.reload("a", a_config(hold_time=30))
    assert actions == ["peer to_b restarted (session parameters changed)"]
    net.advance(120, step=5.0)
    down = view(net, "a", "to_b")
    assert down.state == "Idle" and down.disabled and down.down_reason == "disabled by operator"
    a.enable_peer("to_b", net.now)
    net.advance(30)
    assert view(net, "a", "to_b").state == "Established"


def test_a_peer_removed_by_a_reload_forgets_it_was_disabled() -> None:
    net = pair()
    a = net.nodes["a"].speaker
    a.disable_peer("to_b", net.now, "gone soon")
    net.settle()
    net.reload("a", config(64512, "127.0.0.1", []))
    assert a.disabled_message("to_b") is None
    net.reload("a", a_config())
    net.advance(30)
    assert view(net, "a", "to_b").state == "Established"


def test_a_message_over_255_octets_is_refused_and_changes_nothing() -> None:
    net = pair()
    a = net.nodes["a"].speaker
    with pytest.raises(ShutdownMessageError, match="256 octets of UTF-8, at most 255"):
        a.disable_peer("to_b", net.now, "é" * 128)
    net.settle()
    assert view(net, "a", "to_b").state == "Established"
    assert a.disabled_message("to_b") is None


def test_a_disabled_peer_does_not_hold_up_convergence() -> None:
    net = pair()
    a = net.nodes["a"].speaker
    a.disable_peer("to_b", net.now)
    net.settle()
    assert a.converged()

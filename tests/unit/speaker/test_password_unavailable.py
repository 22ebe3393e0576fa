"""A peer whose password could not be had is held down: never dialled, never up, and says why.

The views (bgpctl, the BIRD-compatible socket) and the metric carry the reason; a reload that
supplies the password brings up that peer alone.
"""

from __future__ import annotations

import logging
import random

import pytest

from bgpd.config import parse_config
from bgpd.control.bird_views import PeerFacts, bgp_info, bgp_protocol
from bgpd.metrics import SnapshotSource, new_registry, render
from bgpd.speaker import Dial, Speaker
from bgpd.views import PeerView

from .harness import Net, config

REASON = "secret kube-system/bgp-secrets has no key peer-a"
HELD = f'password_unavailable = "{REASON}"'


def three_nodes(extra_a_to_b: str = HELD) -> Net:
    """a peers with b (held down on a's side when `extra_a_to_b` says so) and with c."""
    net = Net()
    a = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)])
    # the first [[peer]] (to_b) gets the extra line
    a = a.replace(
        'local_address = "127.0.0.1"\n', f'local_address = "127.0.0.1"\n{extra_a_to_b}\n', 1
    )
    net.add("a", "127.0.0.1", a)
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.add("c", "127.0.0.3", config(64512, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    return net


def state(net: Net, node: str, peer: str) -> PeerView:
    view = net.nodes[node].speaker.peer_view(peer, net.now)
    assert view is not None
    return view


def test_a_held_peer_never_dials_and_refuses_the_other_side() -> None:
    net = three_nodes()
    net.advance(120)  # b keeps dialling a; a refuses every time
    assert state(net, "a", "to_c").state == "Established"
    held = state(net, "a", "to_b")
    assert held.state == "Idle"
    assert held.detail.session.established_transitions == 0
    assert held.down_reason == f"password unavailable: {REASON}"
    assert held.last_error == f"password unavailable: {REASON}"
    assert state(net, "b", "to_a").state != "Established"
    # b's attempts were refused with Cease/Connection Rejected, by a
    assert "Connection Rejected" in str(state(net, "b", "to_a").last_error)


def test_a_held_peer_is_never_dialled() -> None:
    cfg = parse_config(config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], extra_peer=HELD))
    speaker = Speaker(cfg, random.Random(1))
    speaker.start(0.0)
    for t in range(0, 600, 5):
        speaker.handle_timer(float(t))
    assert not [o for o in speaker.take_outputs() if isinstance(o, Dial)]
    assert speaker.converged()  # nothing to wait for from a peer that cannot come up


def test_the_reason_is_logged_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bgpd.speaker.core")
    three_nodes()
    (line,) = [r.getMessage() for r in caplog.records if "held down" in r.getMessage()]
    assert line == (
        f"peer held down peer=to_b address=127.0.0.2 reason=password unavailable: {REASON}"
    )


def test_the_bird_socket_shows_the_protocol_down_with_the_reason() -> None:
    net = three_nodes()
    view = state(net, "a", "to_b")
    facts = PeerFacts(local_asn=64512)
    assert bgp_info(view, facts) == f"Error: password unavailable: {REASON}"
    proto = bgp_protocol(view, facts, since=0.0, preferred=0)
    assert proto.state == "down"
    assert "  BGP state:          Down" in proto.details
    assert f"    Last error:       Error: password unavailable: {REASON}" in proto.details


def test_the_metric_says_which_peer_is_held() -> None:
    net = three_nodes()
    source = SnapshotSource(net.nodes["a"].speaker, clock=lambda: net.now, wall=lambda: 0.0)
    text = render(new_registry(source.snapshot, process=False))[0].decode()
    assert 'bgpd_peer_password_unavailable{address="127.0.0.2",peer="to_b"} 1.0' in text
    assert 'bgpd_peer_password_unavailable{address="127.0.0.3",peer="to_c"} 0.0' in text


def test_the_password_appearing_brings_up_that_peer_alone() -> None:
    pw = 'password = "s3cret"'
    net = three_nodes()
    net.advance(10)
    up_c = state(net, "a", "to_c").detail.session.established_transitions
    a = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)])
    a = a.replace('local_address = "127.0.0.1"\n', f'local_address = "127.0.0.1"\n{pw}\n', 1)
    actions = net.reload("a", a)
    assert actions == ["peer to_b restarted (session parameters changed)"]
    net.advance(30)
    assert state(net, "a", "to_b").state == "Established"
    assert state(net, "a", "to_b").down_reason is None
    assert state(net, "a", "to_c").detail.session.established_transitions == up_c  # untouched


def test_the_password_reference_removed_brings_up_the_peer_without_one() -> None:
    # Only password_unavailable changes (the BGPPeer no longer names a Secret): that too must
    # restart the peer, or it would stay held down with no reason left to show.
    net = three_nodes()
    a = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)])
    assert net.reload("a", a) == ["peer to_b restarted (session parameters changed)"]
    net.advance(30)
    assert state(net, "a", "to_b").state == "Established"

"""`Speaker.apply_peer_change`: one peer added or removed (a dynamic neighbour) without a diff,
with the effects of the full reload for that peer and none on the others."""

from __future__ import annotations

import dataclasses
import ipaddress

from bgpd.config import PeerConfig

from .harness import Net, config
from .test_routing import STATIC, routes


def test_a_peer_added_then_removed_alone() -> None:
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [], statics=STATIC))
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    a = net.nodes["a"].speaker
    assert a.peer_for_address("127.0.0.2") is None  # b's dial is refused: no peer yet
    b_peer = PeerConfig(name="to_b", address=ipaddress.ip_address("127.0.0.2"), asn=64512)
    a.apply_peer_change(dataclasses.replace(a.config, peers=(b_peer,)), net.now, added=b_peer)
    assert a.peer_names() == ["to_b"]
    assert a.peer_for_address("127.0.0.2") == "to_b"
    net.advance(130)  # b dials again (its connect retry) and the session comes up
    assert len(routes(net, "b", "10.1.0.0/24")) == 1
    a.apply_peer_change(dataclasses.replace(a.config, peers=()), net.now, removed="to_b")
    net.settle()
    assert a.peer_names() == []
    assert a.peer_for_address("127.0.0.2") is None
    assert ("a", "to_b") in net.closed  # the session went with its peer (a Cease)
    assert routes(net, "b", "10.1.0.0/24") == []

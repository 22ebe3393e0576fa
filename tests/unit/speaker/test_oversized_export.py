"""Issue 11.1: an export that does not fit the receiving peer's maximum message size never
breaks a session. The path is withheld from that peer only (withdrawn when it held an older
one), its counter counts it, a warning names it; the sender and everyone else stay up.

The UPDATEs are crafted bytes of exactly the sizes in the issue: 4,096 octets with 1,011
communities from a peer without extended messages (our AS prepend makes it 4,100 toward another
eBGP peer; LOCAL_PREF makes it 4,103 toward iBGP), and 4,456 octets from a peer with them.
"""

from __future__ import annotations

import json
import logging

import pytest

from bgpd.net import pack_prefix
from bgpd.session import SessionState
from bgpd.views import PeerView

from .raw_peers import RawNet, update_bytes

BIG = "10.9.9.9/32"


def full_mesh() -> RawNet:
    net = RawNet()
    for name in ("tor", "mesh", "ibgp", "ext"):
        net.connect(name)
    return net


def all_established(net: RawNet) -> None:
    for name, peer in net.peers.items():
        assert net.state(name) is SessionState.ESTABLISHED, name
        assert not peer.closed and not peer.notifications, (name, peer.notifications)


def test_a_4096_octet_update_grown_by_our_prepend_is_withheld_from_non_extended_peers_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net = full_mesh()
    tor = net.peers["tor"]
    data = update_bytes(tor, [pack_prefix(BIG)], communities=1011)
    assert len(data) == 4096
    with caplog.at_level(logging.WARNING):
        net.send("tor", data)
    all_established(net)
    # The extended-message peer gets it; peers without extended messages do not.
    assert BIG in net.peers["ext"].announced()
    for name in ("mesh", "ibgp"):
        assert BIG not in net.peers[name].announced(), name
        assert net.counters(name) == 1, name
    assert net.counters("tor") == 0  # its own route: never due to it
    assert net.counters("ext") == 0
    warnings = [r.getMessage() for r in caplog.records if "update withheld" in r.getMessage()]
    # One line per update group (eBGP and iBGP without extended messages), naming its peers.
    assert sorted(warnings) == [
        "update withheld too big peers=ibgp prefixes=1 octets=4103 max=4096 earlier=0",
        "update withheld too big peers=mesh prefixes=1 octets=4100 max=4096 earlier=0",
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_older_path_the_peer_held_is_withdrawn_when_the_new_one_does_not_fit() -> None:
    net = full_mesh()
    tor = net.peers["tor"]
    net.send("tor", update_bytes(tor, [pack_prefix(BIG)], communities=10))
    assert BIG in net.peers["mesh"].announced()
    net.send("tor", update_bytes(tor, [pack_prefix(BIG)], communities=1011))
    all_established(net)
    assert BIG not in net.peers["mesh"].announced()  # withdrawn, not left stale
    assert BIG in net.peers["ext"].announced()
    view = net.speaker.peer_view("mesh", net.now)
    assert view is not None
    assert view.prefixes_sent == 0
    assert view.detail.prefixes_withheld_too_big == 1
    # A smaller path again: it is announced again.
    net.send("tor", update_bytes(tor, [pack_prefix(BIG)], communities=5))
    assert BIG in net.peers["mesh"].announced()
    assert net.speaker.peer_view("mesh", net.now).prefixes_sent == 1


def test_a_4456_octet_update_from_an_extended_message_peer() -> None:
    net = full_mesh()
    ext = net.peers["ext"]
    small = "10.8.0.0/24"
    data = update_bytes(ext, [pack_prefix(BIG), pack_prefix(small)], communities=1100)
    assert len(data) == 4456
    net.send("ext", data)
    all_established(net)
    for name in ("tor", "mesh", "ibgp"):
        assert net.peers[name].announced() == set(), name
        assert net.counters(name) == 2, name


def test_peers_without_extended_messages_come_up_while_such_a_route_is_held() -> None:
    net = RawNet()
    net.connect("ext")
    net.connect("tor")  # its own group
    ext = net.peers["ext"]
    net.send("ext", update_bytes(ext, [pack_prefix(BIG)], communities=1100))
    net.send("ext", update_bytes(ext, [pack_prefix("10.7.0.0/16")]))
    # A fresh update group (iBGP) and a member joining an existing one (eBGP like tor).
    for name in ("ibgp", "mesh"):
        peer = net.connect(name)
        all_established(net)
        assert peer.announced() == {"10.7.0.0/16"}, name
        assert any(u.end_of_rib is not None for u in peer.updates), name  # table complete
        assert net.counters(name) == 1, name
    assert net.counters("tor") == 1


def test_the_withheld_warning_is_rate_limited_but_every_one_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net = full_mesh()
    tor = net.peers["tor"]
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            net.send("tor", update_bytes(tor, [pack_prefix(f"10.9.{i}.0/24")], communities=1011))
        net.advance(61)
        net.send("tor", update_bytes(tor, [pack_prefix("10.9.9.0/24")], communities=1011))
    warnings = [r.getMessage() for r in caplog.records if "withheld" in r.getMessage()]
    assert len(warnings) == 4  # mesh and ibgp (two groups), twice
    assert "earlier=4" in warnings[2]  # the 4 batches since its first line
    assert net.counters("mesh") == 6
    all_established(net)


def test_the_counter_is_in_bgpctl_show_peer_and_in_metrics() -> None:
    from bgpd.control.tables import render_peer
    from bgpd.metrics import SnapshotSource, new_registry, render

    net = full_mesh()
    tor = net.peers["tor"]
    net.send("tor", update_bytes(tor, [pack_prefix(BIG)], communities=1011))
    view = net.speaker.peer_view("mesh", net.now)
    assert view is not None
    text = render_peer(
        PeerView.from_json(json.loads(json.dumps(view.to_json())))
    )  # as bgpctl gets it over the socket
    assert [line.split() for line in text.splitlines() if "withheld" in line] == [
        ["prefixes_withheld_too_big:", "1"]
    ]
    source = SnapshotSource(net.speaker, clock=lambda: net.now, wall=lambda: net.now)
    body, _ = render(new_registry(source.snapshot, process=False), "")
    lines = body.decode().splitlines()
    wanted = 'bgpd_peer_prefixes_withheld_too_big_total{address="10.0.0.3",peer="mesh"} 1.0'
    assert wanted in lines
    assert 'bgpd_peer_prefixes_withheld_too_big_total{address="10.0.0.5",peer="ext"} 0.0' in lines

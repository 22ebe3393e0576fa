"""Issue 11.1 over real sockets: raw-socket BGP peers against a real `bgpd run` on loopback.

A top-of-rack peer without extended messages sends a legal 4,096-octet UPDATE with 1,011
communities; our AS prepend makes it too big for a second peer without extended messages.
Before the fix the packer's ValueError left the sender's `data_received`: its connection
closed without a NOTIFICATION and redialled, thousands of tracebacks, and a peer without
extended messages could never come up while the route was held. Now the route is withheld from
that peer only, the sender stays Established, the log has a warning and no traceback.

The peers are this file's own minimal speakers (the codec encodes their OPENs and UPDATEs and
decodes what bgpd sends them); bgpd's peers are passive, so each connects from its own
127.0.0.x address.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from bgpd.net import pack_prefix
from bgpd.wire.codec import encode_keepalive, encode_open
from tests.unit.speaker.raw_peers import PeerSpec, RawPeer, update_bytes

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import free_tcp_ports, wait_until

BGPD = "127.0.0.31"
TOR = PeerSpec(name="tor", address="127.0.0.32", asn=65001, extended_message=False)
MESH = PeerSpec(name="mesh", address="127.0.0.33", asn=65002, extended_message=False)
EXT = PeerSpec(name="ext", address="127.0.0.34", asn=65003, extended_message=True)
LATE = PeerSpec(name="late", address="127.0.0.35", asn=64512, extended_message=False)
BIG = "10.9.9.9/32"


class SocketPeer:
    """A raw BGP peer on a real TCP connection to bgpd."""

    def __init__(self, spec: PeerSpec, port: int) -> None:
        self.raw = RawPeer(spec=spec, conn_id=0)
        self.sock = socket.socket()
        self.sock.bind((spec.address, 0))
        self.sock.settimeout(5)
        self.sock.connect((BGPD, port))
        self.sock.setblocking(False)
        self.eof = False
        self.sock.sendall(encode_open(self.raw.open_message()))
        wait_until(lambda: self.poll() or self.raw.negotiated, message=f"{spec.name} OPEN")
        self.sock.sendall(encode_keepalive())

    def poll(self) -> bool:
        """Reads what bgpd sent so far; False (so a wait goes on) unless something went wrong."""
        while select.select([self.sock], [], [], 0)[0]:
            data = self.sock.recv(1 << 16)
            if not data:
                self.eof = True
                break
            self.raw.take(data)
        return False

    def holds(self, prefix: str) -> bool:
        self.poll()
        return prefix in self.raw.announced()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


def config(port: int, peers: tuple[PeerSpec, ...]) -> str:
    text = f"""
[bgp]
asn = 64512
router_id = "{BGPD}"
listen = ["{BGPD}"]
port = {port}

[control]
socket = "@SOCKET@"
"""
    for spec in peers:
        text += f"""
[[peer]]
name = "{spec.name}"
address = "{spec.address}"
asn = {spec.asn}
passive = true
"""
    return text


@pytest.fixture
def peers() -> Iterator[list[SocketPeer]]:
    made: list[SocketPeer] = []
    yield made
    for peer in made:
        peer.close()


def connect(bgpd: BgpdProcess, port: int, spec: PeerSpec, made: list[SocketPeer]) -> SocketPeer:
    peer = SocketPeer(spec, port)
    made.append(peer)
    bgpd.wait_established(spec.name)
    return peer


def steady(bgpd: BgpdProcess, peers: list[SocketPeer]) -> None:
    """Every session is still the first one: Established, never dropped, no NOTIFICATION."""
    views = bgpd.peers()
    for peer in peers:
        peer.poll()
        name = peer.raw.spec.name
        assert views[name]["state"] == "Established", views[name]
        assert not peer.eof and not peer.raw.notifications, (name, peer.raw.notifications)
        assert bgpd.ctl("show peer", name=name)["established_transitions"] == 1


def test_an_oversized_export_never_breaks_a_session(
    bgpd_factory: BgpdFactory, peers: list[SocketPeer]
) -> None:
    (port,) = free_tcp_ports(1, BGPD)
    bgpd = bgpd_factory(None, config(port, (TOR, MESH, EXT, LATE)))
    tor, mesh, ext = (connect(bgpd, port, spec, peers) for spec in (TOR, MESH, EXT))

    # 1. The UPDATE: 4,096 octets from a peer without extended messages.
    data = update_bytes(tor.raw, [pack_prefix(BIG)], communities=1011)
    assert len(data) == 4096
    tor.send(data)
    tor.send(update_bytes(tor.raw, [pack_prefix("10.1.0.0/16")]))  # processed after it
    wait_until(lambda: ext.holds(BIG) and ext.holds("10.1.0.0/16"), message="ext gets both")
    wait_until(lambda: mesh.holds("10.1.0.0/16"), message="mesh gets the small one")
    assert not mesh.holds(BIG)
    assert bgpd.ctl("show peer", name="mesh")["prefixes_withheld_too_big"] == 1
    steady(bgpd, [tor, mesh, ext])

    # 2. 4,456 octets from the peer with extended messages, while peers without them are up.
    data = update_bytes(ext.raw, [pack_prefix("10.8.8.8/32")], communities=1101)
    assert len(data) == 4456
    ext.send(data)
    ext.send(update_bytes(ext.raw, [pack_prefix("10.2.0.0/16")]))
    wait_until(lambda: mesh.holds("10.2.0.0/16") and tor.holds("10.2.0.0/16"), message="small")
    assert not mesh.holds("10.8.8.8/32") and not tor.holds("10.8.8.8/32")
    assert bgpd.ctl("show peer", name="tor")["prefixes_withheld_too_big"] == 1

    # 3. A peer without extended messages comes up while both routes are held (iBGP: a new
    # update group, its table built at Established).
    late = connect(bgpd, port, LATE, peers)
    wait_until(lambda: late.holds("10.2.0.0/16"), message="late gets its table")
    late.poll()
    assert any(u.end_of_rib is not None for u in late.raw.updates)
    assert not late.holds(BIG) and not late.holds("10.8.8.8/32")
    assert bgpd.ctl("show peer", name="late")["prefixes_withheld_too_big"] == 2
    steady(bgpd, [tor, mesh, ext, late])

    log = bgpd.output()
    assert "Traceback" not in log and " ERROR " not in log, log
    assert "update withheld too big peers=mesh" in log

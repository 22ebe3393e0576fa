"""RFC 4271 §6.3 next hop sanity and RFC 7606 visibility with real daemons and the kernel.

Three hosts on one LAN, each in its namespace: host 0 is a raw BGP speaker written in this test
with bgpd's own codec (eBGP, AS 65002), host 1 runs the bgpd under test with kernel sync, host 2
another bgpd, its iBGP peer (the third party a bad route would be passed on to). The raw peer
announces one route with a usable next hop (itself), one with the receiver's own address and
one with 127.0.0.1; then a route with a malformed attribute. Issue 11 points 4 and 7: the
receiver used to install `via` itself and `via 127.0.0.1`, and pass them on, silently.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.request
from collections.abc import Callable

from bgpd.net import IPV4_UNICAST, parse_router_id
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol
from bgpd.wire.codec import encode_keepalive, encode_open
from bgpd.wire.constants import MARKER, MessageType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import OpenMessage

from .bgpd_proc import BgpdFactory
from .calico_node import ours, wait_installed
from .peers import Lan

GOOD, OWN, LOOPBACK, MALFORMED = "10.55.1.0/24", "10.55.2.0/24", "10.55.3.0/24", "10.55.4.0/24"
METRICS_PORT = 9188


def receiver_config(lan: Lan) -> str:
    me, raw, other = lan[1], lan[0], lan[2]
    return f"""
[bgp]
asn = 64512
log_level = "info"

[control]
socket = "@SOCKET@"

[metrics]
listen = "{me.ipv4}:{METRICS_PORT}"

[node]
name = "node1"
ipv4 = "{me.ipv4_cidr}"

[kernel]
enabled = true

[[peer]]
name = "raw"
address = "{raw.ipv4}"
asn = 65002
passive = true

[[peer]]
name = "node2"
address = "{other.ipv4}"
asn = 64512
"""


def third_config(lan: Lan) -> str:
    me, receiver = lan[2], lan[1]
    return f"""
[bgp]
asn = 64512

[control]
socket = "@SOCKET@"

[node]
name = "node2"
ipv4 = "{me.ipv4_cidr}"

[kernel]
enabled = true

[[peer]]
name = "node1"
address = "{receiver.ipv4}"
asn = 64512
passive = true
"""


def message(msg_type: int, body: bytes) -> bytes:
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body


def update(prefix: str, next_hop: str, extra: bytes = b"") -> bytes:
    """An IPv4 UPDATE: ORIGIN IGP, AS_PATH 65002, NEXT_HOP, `extra` attributes, one prefix."""
    net = ipaddress.IPv4Network(prefix)
    nlri = bytes((net.prefixlen,)) + net.network_address.packed[: (net.prefixlen + 7) // 8]
    attrs = (
        bytes.fromhex("40010100" + "400206020100" + "00fdea" + "400304")
        + ipaddress.IPv4Address(next_hop).packed
        + extra
    )
    body = b"\0\0" + len(attrs).to_bytes(2, "big") + attrs + nlri
    return message(MessageType.UPDATE, body)


class RawSpeaker:
    """A BGP speaker of a few lines over a real TCP socket inside a namespace."""

    def __init__(self, lan: Lan, host: int, peer: str) -> None:
        with lan[host].ns.entered():
            self.sock = socket.create_connection((peer, 179), timeout=10)
        self.reader = MessageReader()
        caps = (Multiprotocol(family=IPV4_UNICAST), FourOctetAs(asn=65002))
        opening = OpenMessage(
            asn=65002,
            hold_time=240,
            router_id=parse_router_id(str(lan[host].ipv4)),
            capabilities=caps,
        )
        self.sock.sendall(encode_open(opening))
        seen = set()
        while not {MessageType.OPEN, MessageType.KEEPALIVE} <= seen:
            data = self.sock.recv(4096)
            assert data, "the speaker closed the connection"
            seen.update(t for t, _ in self.reader.feed(data))
        self.sock.sendall(encode_keepalive())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


def scrape(lan: Lan) -> str:
    with lan[1].ns.entered():
        url = f"http://{lan[1].ipv4}:{METRICS_PORT}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())


def test_unusable_next_hops_are_neither_installed_nor_passed_on(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory
) -> None:
    lan = lan_factory(3)
    receiver = bgpd_factory(lan, receiver_config(lan), host=1)
    third = bgpd_factory(lan, third_config(lan), host=2)
    receiver.wait_established("node2")
    raw = RawSpeaker(lan, 0, str(lan[1].ipv4))
    try:
        receiver.wait_established("raw")
        own = str(lan[1].ipv4)
        raw.send(update(OWN, own))
        raw.send(update(LOOPBACK, "127.0.0.1"))
        raw.send(update(MALFORMED, str(lan[0].ipv4), bytes.fromhex("40060100")))  # discard
        raw.send(update(GOOD, str(lan[0].ipv4)))  # sent last: once it is through, all are
        raw.send(message(MessageType.UPDATE, b"\0\0\0\0"))  # End-of-RIB (RFC 4724 §2)
        # The usable route goes everywhere: the receiver's kernel, the third peer's kernel.
        wait_installed(lan[1].ns, GOOD, str(lan[0].ipv4))
        third.wait_route(GOOD)
        wait_installed(lan[2].ns, GOOD, str(lan[0].ipv4))
        third.wait_route(MALFORMED)  # a discarded attribute keeps the route
        for prefix in (OWN, LOOPBACK):
            assert receiver.learned(prefix) is None, receiver.routes(prefix)
            assert third.learned(prefix) is None, third.routes(prefix)
            assert prefix not in ours(lan[1].ns)
            assert prefix not in ours(lan[2].ns)
        assert "127.0.0.1" not in lan[1].ns.ip("route")

        detail = receiver.ctl("show peer", name="raw")
        assert detail["next_hop_refused"] == {"loopback": 1, "own_address": 1}
        assert detail["rfc7606_actions"]["attribute-discard"] == 1
        assert detail["prefixes_received"] == 4 and detail["prefixes_accepted"] == 2
        log = receiver.output()
        who = r"peer=raw address=\S+"
        assert re.search(rf"route next hop refused {who} next_hop={own} reason=own_address", log)
        assert re.search(rf"route next hop refused {who} next_hop=127.0.0.1 reason=loopback", log)
        assert re.search(
            rf"update malformed {who} attribute=ATOMIC_AGGREGATE type=6 action=attribute-discard",
            log,
        )
        metrics = scrape(lan)
        assert (
            'bgpd_peer_next_hop_refused_prefixes_total{address="10.99.0.1",peer="raw",'
            'reason="own_address"} 1.0' in metrics
        )
        assert (
            'bgpd_peer_rfc7606_actions_total{action="attribute-discard",address="10.99.0.1",'
            'peer="raw"} 1.0' in metrics
        )

        # The peer fixes its next hop: the route is accepted and passed on.
        raw.send(update(OWN, str(lan[0].ipv4)))
        third.wait_route(OWN)
        wait_installed(lan[2].ns, OWN, str(lan[0].ipv4))
        wait_installed(lan[1].ns, OWN, str(lan[0].ipv4))
    finally:
        raw.close()

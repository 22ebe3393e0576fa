"""Peers of one `Speaker` scripted from crafted bytes: OPEN, KEEPALIVE and hand-made UPDATEs in,
what the speaker sends them decoded back out. No sockets, no sleeps, a fake clock."""

from __future__ import annotations

import random

from bgpd.config import parse_config
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, parse_router_id
from bgpd.speaker import Send, Speaker
from bgpd.views import RouteView
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol
from bgpd.wire.codec import encode_keepalive, encode_open
from bgpd.wire.constants import MessageType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import OpenMessage, UpdateMessage
from bgpd.wire.negotiated import Negotiated
from bgpd.wire.update import UpdateDecoder
from tests.unit.wire.helpers import message


class RawPeer:
    """The far end of one passive peer of `speaker`: it connects, opens, and sends bytes."""

    def __init__(self, bench: Bench, name: str, asn: int, router_id: str, conn_id: int) -> None:
        self.bench = bench
        self.name = name
        self.asn = asn
        self.router_id = router_id
        self.conn_id = conn_id
        self.reader = MessageReader(4096)
        self.updates: list[UpdateMessage] = []
        self.decoder: UpdateDecoder | None = None

    def connect(self, local_address: str) -> None:
        """Connects to the speaker (which sees `local_address` as its end) and opens."""
        b = self.bench
        b.speaker.connection_made(
            self.name, self.conn_id, b.now, outbound=False, local_address=local_address
        )
        caps = (
            Multiprotocol(family=IPV4_UNICAST),
            Multiprotocol(family=IPV6_UNICAST),
            FourOctetAs(asn=self.asn),
        )
        opening = OpenMessage(
            asn=self.asn,
            hold_time=240,
            router_id=parse_router_id(self.router_id),
            capabilities=caps,
        )
        self.send(encode_open(opening) + encode_keepalive())
        session = b.speaker.peer_session(self.name)
        assert session is not None and session.negotiated is not None
        n = session.negotiated
        self.decoder = UpdateDecoder(
            Negotiated(
                local_asn=self.asn,
                peer_asn=n.local_asn,
                peer_router_id=0,
                hold_time=n.hold_time,
                as4=n.as4,
                families=n.families,
            )
        )

    def send(self, data: bytes) -> None:
        self.bench.speaker.receive_data(self.name, self.conn_id, data, self.bench.now)
        self.bench.pump()

    def send_update(self, body: bytes) -> None:
        self.send(message(MessageType.UPDATE, body))

    def feed(self, data: bytes) -> None:
        for msg_type, body in self.reader.feed(data):
            if msg_type == MessageType.UPDATE and self.decoder is not None:
                self.updates.append(self.decoder.decode(body))

    def announced(self) -> set[bytes]:
        """Every NLRI the speaker announced to this peer so far (minus later withdrawals)."""
        held: set[bytes] = set()
        for update in self.updates:
            for batch in update.withdrawn:
                held.difference_update(batch.prefixes)
            for batch in update.announced:
                held.update(batch.prefixes)
        return held


class Bench:
    """One speaker under test and its raw peers."""

    def __init__(self, config_text: str, now: float = 1000.0) -> None:
        self.now = now
        self.speaker = Speaker(parse_config(config_text), random.Random(3))
        self.peers: dict[str, RawPeer] = {}
        self.speaker.start(now)
        self.pump()

    def peer(self, name: str, asn: int, router_id: str, local_address: str) -> RawPeer:
        raw = self.peers[name] = RawPeer(self, name, asn, router_id, len(self.peers) + 1)
        raw.connect(local_address)
        return raw

    def pump(self) -> None:
        for out in self.speaker.take_outputs():
            if isinstance(out, Send) and out.peer in self.peers:
                self.peers[out.peer].feed(out.data)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.speaker.handle_timer(self.now)
        self.pump()

    def loc_rib(self, prefix: str) -> list[RouteView]:
        return [r for r in self.speaker.route_views(prefix) if r.peer != "static"]

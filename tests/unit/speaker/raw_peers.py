"""One sans-IO Speaker and scripted peers that speak raw BGP bytes to it: crafted UPDATEs in,
every byte out decoded and checked. No sockets, a fake clock.

Each `RawPeer` is the far end of one inbound connection (the speaker's peers are passive):
it sends an OPEN with the capabilities the test chooses (extended messages or not), and reads
what the speaker sends it with the codec, so a test sees exactly what a real neighbour would.
The fuzz target of the speaker's input path (bench/fuzz_speaker.py) drives the same harness.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from bgpd.config import parse_config
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, format_prefix, parse_router_id
from bgpd.session import SessionState
from bgpd.speaker import Close, Dial, Send, Speaker
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.capabilities import (
    Capability,
    ExtendedMessage,
    FourOctetAs,
    Multiprotocol,
    RouteRefresh,
)
from bgpd.wire.codec import (
    UpdateDecoder,
    decode_notification,
    decode_open,
    decode_route_refresh,
    encode_keepalive,
    encode_open,
    encode_update,
)
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MessageType, SegmentType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import (
    NlriBatch,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
)
from bgpd.wire.negotiated import EncodeContext, Negotiated, negotiate

LOCAL_ASN = 64512
LOCAL_ID = "10.0.0.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSpec:
    name: str
    address: str
    asn: int
    extended_message: bool
    extra: str = ""  # more `[[peer]]` keys, TOML lines


# eBGP without extended messages (the sender and a receiver), iBGP without, eBGP with.
PEERS = (
    PeerSpec(name="tor", address="10.0.0.2", asn=65001, extended_message=False),
    PeerSpec(name="mesh", address="10.0.0.3", asn=65002, extended_message=False),
    PeerSpec(name="ibgp", address="10.0.0.4", asn=LOCAL_ASN, extended_message=False),
    PeerSpec(name="ext", address="10.0.0.5", asn=65003, extended_message=True),
)


def speaker_config(peers: tuple[PeerSpec, ...]) -> str:
    text = f"""
[bgp]
asn = {LOCAL_ASN}
router_id = "{LOCAL_ID}"
listen = ["{LOCAL_ID}"]

[control]
socket = "/tmp/unused-raw-peers.ctl"
"""
    for spec in peers:
        text += f"""
[[peer]]
name = "{spec.name}"
address = "{spec.address}"
asn = {spec.asn}
passive = true
local_address = "{LOCAL_ID}"
{spec.extra}
"""
    return text


@dataclass
class RawPeer:
    """The far end of one connection to the speaker."""

    spec: PeerSpec
    conn_id: int
    reader: MessageReader = field(default_factory=lambda: MessageReader(MAX_EXTENDED_MESSAGE_LEN))
    negotiated: Negotiated | None = None  # from this end's point of view
    decoder: UpdateDecoder | None = None
    updates: list[UpdateMessage] = field(default_factory=list)
    notifications: list[NotificationMessage] = field(default_factory=list)
    refresh_requests: list[RouteRefreshMessage] = field(default_factory=list)
    closed: bool = False
    local_open: OpenMessage | None = None

    def capabilities(self) -> tuple[Capability, ...]:
        caps: list[Capability] = [
            Multiprotocol(family=IPV4_UNICAST),
            Multiprotocol(family=IPV6_UNICAST),
            RouteRefresh(),
            FourOctetAs(asn=self.spec.asn),
        ]
        if self.spec.extended_message:
            caps.append(ExtendedMessage())
        return tuple(caps)

    def open_message(self) -> OpenMessage:
        return OpenMessage(
            asn=self.spec.asn if self.spec.asn <= 0xFFFF else 23456,
            hold_time=90,
            router_id=int(parse_router_id(self.spec.address)),
            capabilities=self.capabilities(),
        )

    def ctx(self) -> EncodeContext:
        """How this end encodes what it sends (its own view of the session)."""
        assert self.negotiated is not None
        return EncodeContext.from_negotiated(self.negotiated)

    def max_len(self) -> int:
        assert self.negotiated is not None
        return self.negotiated.max_message_len

    def take(self, data: bytes) -> None:
        """Bytes the speaker sent: every message must decode (raises otherwise)."""
        for msg_type, body in self.reader.feed(data):
            if self.negotiated is not None:
                assert len(body) + 19 <= self.max_len(), f"{len(body) + 19}-octet message"
            if msg_type == MessageType.OPEN:
                remote = decode_open(body)
                self.local_open = self.open_message()
                self.negotiated = negotiate(self.local_open, remote)
                self.decoder = UpdateDecoder(self.negotiated)
            elif msg_type == MessageType.UPDATE:
                assert self.decoder is not None, "UPDATE before OPEN"
                update = self.decoder.decode(body)
                assert not update.problems, update.problems
                self.updates.append(update)
            elif msg_type == MessageType.NOTIFICATION:
                self.notifications.append(decode_notification(body))
            elif msg_type == MessageType.ROUTE_REFRESH:
                self.refresh_requests.append(decode_route_refresh(body))
            else:
                assert msg_type == MessageType.KEEPALIVE and not body, msg_type

    def announced(self, family: Family = IPV4_UNICAST) -> set[str]:
        """Prefixes this end currently holds from the speaker (announce/withdraw replayed)."""
        held: set[bytes] = set()
        for update in self.updates:
            for batch in update.withdrawn:
                if batch.family == family:
                    held.difference_update(batch.prefixes)
            for batch in update.announced:
                if batch.family == family:
                    held.update(batch.prefixes)
        return {format_prefix(p, family.afi) for p in held}


class RawNet:
    """The speaker and its raw peers; `now` moves only when a test says so."""

    def __init__(self, peers: tuple[PeerSpec, ...] = PEERS, now: float = 1000.0) -> None:
        self.specs = {spec.name: spec for spec in peers}
        self.speaker = Speaker(parse_config(speaker_config(peers)), random.Random(7))
        self.now = now
        self.peers: dict[str, RawPeer] = {}
        self.next_conn = 1
        self.speaker.start(now)
        self.flush()

    def connect(self, name: str) -> RawPeer:
        """A new connection from the peer, brought to Established."""
        peer = RawPeer(spec=self.specs[name], conn_id=self.next_conn)
        self.next_conn += 1
        self.peers[name] = peer
        spec = peer.spec
        self.speaker.connection_made(
            name, peer.conn_id, self.now, outbound=False, local_address=LOCAL_ID
        )
        self.flush()
        self.send(name, encode_open(peer.open_message()) + encode_keepalive())
        assert self.state(name) is SessionState.ESTABLISHED, (spec, self.state(name))
        return peer

    def state(self, name: str) -> SessionState:
        session = self.speaker.peer_session(name)
        assert session is not None
        return session.state

    def send(self, name: str, data: bytes) -> None:
        """Bytes from the peer to the speaker; everything the speaker answers is delivered."""
        peer = self.peers[name]
        self.speaker.receive_data(name, peer.conn_id, data, self.now)
        self.flush()

    def flush(self) -> None:
        for out in self.speaker.take_outputs():
            if isinstance(out, Send):
                peer = self.peers.get(out.peer)
                if peer is not None and peer.conn_id == out.conn_id and not peer.closed:
                    peer.take(out.data)
            elif isinstance(out, Close):
                peer = self.peers.get(out.peer)
                if peer is not None and peer.conn_id == out.conn_id:
                    peer.closed = True
            else:
                assert isinstance(out, Dial), out  # passive peers: the speaker never dials

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.speaker.handle_timer(self.now)
        self.flush()

    def counters(self, name: str) -> int:
        session = self.speaker.peer_session(name)
        assert session is not None
        return session.counters.prefixes_withheld_too_big


def as_path(*asns: int) -> tuple[AsPathSegment, ...]:
    return (AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=asns),)


def update_bytes(
    peer: RawPeer,
    prefixes: list[bytes],
    *,
    communities: int = 0,
    next_hop: str | None = None,
    family: Family = IPV4_UNICAST,
    withdrawn: tuple[bytes, ...] = (),
) -> bytes:
    """One UPDATE from `peer` announcing `prefixes` with `communities` communities (and
    withdrawing `withdrawn`, of the same family)."""
    hop = ipaddress.ip_address(next_hop or peer.spec.address).packed
    attrs = PathAttributes(
        as_path=() if peer.spec.asn == LOCAL_ASN else as_path(peer.spec.asn),
        next_hop=hop if family == IPV4_UNICAST else None,
        local_pref=100 if peer.spec.asn == LOCAL_ASN else None,
        communities=tuple(range(0x10000, 0x10000 + communities)),
    )
    batch = NlriBatch(family=family, prefixes=tuple(prefixes), next_hop=hop)
    gone = (NlriBatch(family=family, prefixes=withdrawn, next_hop=b""),) if withdrawn else ()
    message = UpdateMessage(attributes=attrs, announced=(batch,), withdrawn=gone)
    return encode_update(message, peer.ctx())

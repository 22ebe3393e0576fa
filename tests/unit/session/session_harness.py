"""Test helpers for the sans-IO session layer: a fake clock, an in-memory network of Peers, and
a scripted raw end for crafting what a misbehaving or old peer would send.

Nothing here sleeps or opens a socket: time only moves when a test advances it, and it jumps
from one deadline to the next, so hours of protocol time run in milliseconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TypeVar

from bgpd.net import IPV4_UNICAST, parse_router_id
from bgpd.session import (
    CloseRequested,
    ConnectRequested,
    Event,
    Session,
    SessionSettings,
)
from bgpd.wire.capabilities import Capability
from bgpd.wire.codec import (
    decode_notification,
    decode_open,
    encode_keepalive,
    encode_notification,
    encode_open,
)
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MessageType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import NotificationMessage, OpenMessage

E = TypeVar("E")


def settings(**changes: object) -> SessionSettings:
    """Node A's view of an iBGP mesh peer, with any field changed."""
    values: dict[str, object] = {
        "local_asn": 64512,
        "router_id": parse_router_id("10.0.0.1"),
        "peer_asn": 64512,
        "peer_address": "10.0.0.2",
        "families": frozenset({IPV4_UNICAST}),
    }
    values.update(changes)
    return SessionSettings(**values)  # type: ignore[arg-type]


def mirror(s: SessionSettings, **changes: object) -> SessionSettings:
    """The other end's settings: ASes and router id swapped."""
    values: dict[str, object] = {
        "local_asn": s.peer_asn if s.peer_asn is not None else s.local_asn,
        "router_id": parse_router_id("10.0.0.2"),
        "peer_asn": s.local_asn,
        "peer_address": "10.0.0.1",
        "families": s.families,
    }
    values.update(changes)
    return settings(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sent:
    """One message seen on the simulated wire."""

    at: float
    sender: str
    link: int
    msg_type: int
    body: bytes

    def notification(self) -> NotificationMessage:
        assert self.msg_type == MessageType.NOTIFICATION
        return decode_notification(self.body)

    def open(self) -> OpenMessage:
        assert self.msg_type == MessageType.OPEN
        return decode_open(self.body)


@dataclass(slots=True, kw_only=True)
class _Link:
    """One simulated TCP connection: (peer, conn id) at both ends."""

    number: int
    dialer: Session  # or _HOLE once that end crashed
    dialer_id: int
    listener: Session
    listener_id: int
    readers: dict[str, MessageReader] = field(default_factory=dict)

    def other(self, peer: Session, conn_id: int) -> tuple[Session, int]:
        if peer is self.dialer and conn_id == self.dialer_id:
            return self.listener, self.listener_id
        return self.dialer, self.dialer_id


class Network:
    """Peers wired back-to-back in memory; a ConnectRequested by one reaches the other."""

    def __init__(self, *peers: Session, start: float = 1000.0) -> None:
        self.now = start
        self.peers = list(peers)
        self.events: dict[str, list[tuple[float, Event]]] = {p.name: [] for p in peers}
        self.dials: dict[str, list[float]] = {p.name: [] for p in peers}
        self.wire: list[Sent] = []
        self.paused: set[str] = set()  # peers that neither receive nor send (a hung process)
        # Connections closed by the far end while this end was paused: a hung process's kernel
        # still holds the FIN, and the process reads EOF as soon as it runs again.
        self._lost_while_paused: list[tuple[Session, int]] = []
        self.refuse_dials: set[str] = set()  # peers whose listening socket is gone
        self._links: list[_Link] = []
        self._next_id = 1
        self._link_no = 0

    def peer(self, name: str) -> Session:
        return next(p for p in self.peers if p.name == name)

    def add(self, peer: Session) -> None:
        self.peers.append(peer)
        self.events.setdefault(peer.name, [])
        self.dials.setdefault(peer.name, [])

    def crash(self, old: Session) -> None:
        """`old` dies without closing its sockets: its ends of links fall silent, no FIN."""
        self.peers.remove(old)
        for link in self._links:
            if link.dialer is old:
                link.dialer = _HOLE
            if link.listener is old:
                link.listener = _HOLE

    # ------------------------------------------------------------------ driving

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _target(self, peer: Session) -> Session | None:
        others = [p for p in self.peers if p is not peer and p.name != peer.name]
        return others[0] if others else None

    def _record(self, sender: Session, link: _Link, data: bytes) -> None:
        reader = link.readers.setdefault(sender.name, MessageReader(MAX_EXTENDED_MESSAGE_LEN))
        for msg_type, body in reader.feed(data):
            self.wire.append(
                Sent(
                    at=self.now, sender=sender.name, link=link.number, msg_type=msg_type, body=body
                )
            )

    def _find(self, peer: Session, conn_id: int) -> _Link | None:
        for link in self._links:
            if (link.dialer is peer and link.dialer_id == conn_id) or (
                link.listener is peer and link.listener_id == conn_id
            ):
                return link
        return None

    def pump(self) -> None:
        """Moves actions, bytes and events around until nothing changes."""
        for _ in range(10_000):
            progress = False
            for peer in list(self.peers):
                if peer.name in self.paused:
                    continue
                for action in peer.take_actions():
                    progress = True
                    self._perform(peer, action)
                for event in peer.take_events():
                    self.events[peer.name].append((self.now, event))
            for link in list(self._links):
                for peer, conn_id in (
                    (link.dialer, link.dialer_id),
                    (link.listener, link.listener_id),
                ):
                    if isinstance(peer, _Hole) or peer.name in self.paused:
                        continue
                    data = peer.data_to_send(conn_id)
                    if not data:
                        continue
                    progress = True
                    self._record(peer, link, data)
                    other, other_id = link.other(peer, conn_id)
                    if not isinstance(other, _Hole) and other.name not in self.paused:
                        other.receive_data(other_id, data, self.now)
            if not progress:
                return
        raise AssertionError("network did not settle")

    def _perform(self, peer: Session, action: ConnectRequested | CloseRequested) -> None:
        if isinstance(action, ConnectRequested):
            self.dials[peer.name].append(self.now)
            target = self._target(peer)
            dial_id = self._new_id()
            if target is None or target.name in self.refuse_dials:
                peer.connection_failed(dial_id, self.now)
                return
            listen_id = self._new_id()
            self._link_no += 1
            link = _Link(
                number=self._link_no,
                dialer=peer,
                dialer_id=dial_id,
                listener=target,
                listener_id=listen_id,
            )
            self._links.append(link)
            peer.connection_made(dial_id, self.now, outbound=True)
            target.connection_made(listen_id, self.now, outbound=False)
            return
        found = self._find(peer, action.conn_id)
        data = peer.data_to_send(action.conn_id)
        if found is None:
            return
        link = found
        self._links.remove(link)
        if data:
            self._record(peer, link, data)
        other, other_id = link.other(peer, action.conn_id)
        if isinstance(other, _Hole):
            return
        if other.name in self.paused:
            self._lost_while_paused.append((other, other_id))
            return
        if data:
            other.receive_data(other_id, data, self.now)
        other.connection_lost(other_id, self.now)

    def resume(self, name: str | None = None) -> None:
        """Un-pause one peer (or all): it reads the EOFs of connections closed meanwhile."""
        names = set(self.paused) if name is None else {name}
        self.paused -= names
        still: list[tuple[Session, int]] = []
        for peer, conn_id in self._lost_while_paused:
            if peer.name in names:
                peer.connection_lost(conn_id, self.now)
            else:
                still.append((peer, conn_id))
        self._lost_while_paused = still
        # A hung process that runs again finds its overdue timers fired at once (the runtime's
        # one timer at next_deadline() went off late): hold, keepalive and retry timers run now.
        for peer in self.peers:
            deadline = peer.next_deadline() if peer.name in names else None
            if deadline is not None and deadline <= self.now:
                peer.handle_timer(self.now)

    def drop_links(self) -> None:
        """Every TCP connection breaks (both ends see it)."""
        for link in list(self._links):
            self._links.remove(link)
            for peer, conn_id in ((link.dialer, link.dialer_id), (link.listener, link.listener_id)):
                if not isinstance(peer, _Hole):
                    peer.connection_lost(conn_id, self.now)
        self.pump()

    def reset_half_open(self) -> None:
        """TCP resets every connection only one end still holds (the other end saw it lost):
        what the first segment crossing a half-open connection causes."""
        for link in list(self._links):
            ends = ((link.dialer, link.dialer_id), (link.listener, link.listener_id))
            alive = [
                (peer, conn_id)
                for peer, conn_id in ends
                if not isinstance(peer, _Hole) and conn_id in peer.connection_states()
            ]
            if len(alive) == 1:
                self._links.remove(link)
                peer, conn_id = alive[0]
                peer.connection_lost(conn_id, self.now)
        self.pump()

    def open_links(self) -> list[tuple[int, str]]:
        """(link number, name of the dialler) of every open simulated TCP connection."""
        return [(link.number, link.dialer.name) for link in self._links]

    def advance(self, seconds: float) -> None:
        """Moves the clock forward, firing every deadline on the way in order."""
        target = self.now + seconds
        self.pump()
        while True:
            due = [
                (d, p)
                for p in self.peers
                if p.name not in self.paused and (d := p.next_deadline()) is not None
            ]
            if not due:
                break
            deadline = min(d for d, _ in due)
            if deadline > target:
                break
            self.now = max(self.now, deadline)
            for d, p in due:
                if d <= self.now:
                    p.handle_timer(self.now)
                    nd = p.next_deadline()
                    assert nd is None or nd > self.now, (p, nd, self.now)
            self.pump()
        self.now = target
        self.pump()

    # ------------------------------------------------------------------ looking

    def sent(self, sender: str, msg_type: int | None = None) -> list[Sent]:
        return [
            s
            for s in self.wire
            if s.sender == sender and (msg_type is None or s.msg_type == msg_type)
        ]

    def of_type(self, name: str, cls: type[E]) -> list[E]:
        return [e for _, e in self.events[name] if isinstance(e, cls)]


class _Hole(Session):
    """The vanished end of a connection whose process died without a FIN."""

    __slots__ = ()


_HOLE = _Hole(settings(), random.Random(0), name="<gone>")


def pair(a: SessionSettings, b: SessionSettings, seed: int = 1) -> tuple[Network, Session, Session]:
    pa = Session(a, random.Random(seed), name="A")
    pb = Session(b, random.Random(seed + 1), name="B")
    return Network(pa, pb), pa, pb


class RawEnd:
    """The far end of one connection of a single Session, scripted byte by byte by the test."""

    def __init__(self, peer: Session, conn_id: int) -> None:
        self.peer = peer
        self.conn_id = conn_id
        self.reader = MessageReader(MAX_EXTENDED_MESSAGE_LEN)

    def read(self) -> list[tuple[int, bytes]]:
        return self.reader.feed(self.peer.data_to_send(self.conn_id))

    def read_open(self) -> OpenMessage:
        messages = self.read()
        assert messages and messages[0][0] == MessageType.OPEN, messages
        return decode_open(messages[0][1])

    def send(self, data: bytes, now: float) -> None:
        self.peer.receive_data(self.conn_id, data, now)

    def send_open(self, message: OpenMessage, now: float) -> None:
        self.send(encode_open(message), now)

    def send_keepalive(self, now: float) -> None:
        self.send(encode_keepalive(), now)

    def send_notification(self, message: NotificationMessage, now: float) -> None:
        self.send(encode_notification(message), now)


def peer_open(
    *,
    asn: int = 64512,
    router_id: str = "10.0.0.2",
    hold_time: int = 240,
    caps: tuple[Capability, ...] = (),
) -> OpenMessage:
    return OpenMessage(
        asn=asn, hold_time=hold_time, router_id=parse_router_id(router_id), capabilities=caps
    )


def run_timers(peer: Session, until: float, now: float) -> float:
    """Fires `peer`'s deadlines up to `until` (a lone Session, no network); returns the new now."""
    while (deadline := peer.next_deadline()) is not None and deadline <= until:
        now = max(now, deadline)
        peer.handle_timer(now)
    return max(now, until)

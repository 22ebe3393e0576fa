"""Every BFD session of the daemon: one per BGP neighbour that asks for it, sans-IO.

Role: the runtime's UDP edge (bgpd.runtime.bfd_transport) hands it each datagram with its
source address and received TTL, and the time; the table checks the packet (RFC 5880 §6.8.6,
the GTSM rule of RFC 5881 §5), finds its session (by Your Discriminator, else by the source
address while the remote does not know ours yet) and returns the datagrams to send, the state
changes per BGP peer, and the next deadline. `configure` makes the sessions equal to the
wanted set (a reload): new ones start Down, removed ones say AdminDown once as they go
(§6.8.16), changed parameters run a Poll Sequence.

Invariants: no socket and no clock (`now` in). Every packet not taken is counted under its
reason (`drops`), never lost silently. Local discriminators are unique and nonzero, drawn from
the injected `random.Random` (§6.8.1 asks for them to be unpredictable).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.bfd.packet import BfdPacketError, decode_control
from bgpd.bfd.session import BfdSession, BfdSettings, StateChanged

__all__ = ["BfdPeer", "BfdTable", "Datagram", "PeerStateChanged"]

GTSM_TTL = 255  # RFC 5881 §5: single-hop packets are sent and must arrive with TTL 255


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdPeer:
    """One BFD session the config asks for: a BGP peer's name and address."""

    name: str
    address: str  # the neighbour's address, as the transport reports sources
    multihop: bool
    settings: BfdSettings
    local_address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Datagram:
    peer: str
    address: str
    multihop: bool
    data: bytes
    local_address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerStateChanged:
    peer: str
    change: StateChanged


class BfdTable:
    __slots__ = ("_by_address", "_by_discr", "_changes", "_out", "_peers", "_rng", "drops")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._peers: dict[str, tuple[BfdPeer, BfdSession]] = {}
        self._by_discr: dict[int, str] = {}
        self._by_address: dict[tuple[str, bool], str] = {}
        self._out: list[Datagram] = []
        self._changes: list[PeerStateChanged] = []
        self.drops: Counter[str] = Counter()

    # ---------------------------------------------------------------------------- reading

    def session(self, peer: str) -> BfdSession | None:
        entry = self._peers.get(peer)
        return None if entry is None else entry[1]

    def peers(self) -> list[BfdPeer]:
        return [peer for peer, _ in self._peers.values()]

    def next_deadline(self) -> float | None:
        deadlines = [d for _, s in self._peers.values() if (d := s.next_deadline()) is not None]
        return min(deadlines, default=None)

    def take_datagrams(self) -> list[Datagram]:
        out, self._out = self._out, []
        return out

    def take_changes(self) -> list[PeerStateChanged]:
        changes, self._changes = self._changes, []
        return changes

    # ---------------------------------------------------------------------------- inputs

    def configure(self, wanted: Iterable[BfdPeer], now: float) -> None:
        wanted_by_name = {peer.name: peer for peer in wanted}
        for name in list(self._peers):
            old = self._peers[name][0]
            new = wanted_by_name.get(name)
            if new is None or (new.address, new.multihop) != (old.address, old.multihop):
                self._remove(name, now)
        for name, peer in wanted_by_name.items():
            entry = self._peers.get(name)
            if entry is None:
                self._add(peer, now)
            else:
                self._peers[name] = (peer, entry[1])
                entry[1].set_settings(peer.settings, now)
                self._collect(name)

    def receive(
        self, data: bytes, *, source: str, ttl: int | None, multihop: bool, now: float
    ) -> None:
        """One datagram from `source` on the single-hop (3784) or multihop (4784) port."""
        if not multihop and ttl != GTSM_TTL:
            self.drops["ttl"] += 1  # RFC 5881 §5: off-link, or forged
            return
        try:
            packet = decode_control(data)
        except BfdPacketError as err:
            self.drops[err.reason] += 1
            return
        if packet.your_discr:
            name = self._by_discr.get(packet.your_discr)
        else:
            name = self._by_address.get((source, multihop))
        if name is None:
            self.drops["no_session"] += 1
            return
        peer, session = self._peers[name]
        if peer.address != source:
            self.drops["address_mismatch"] += 1  # a discriminator is not a password
            return
        session.handle_packet(packet, now)
        self._collect(name)

    def handle_timer(self, now: float) -> None:
        for name, (_, session) in self._peers.items():
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:
                session.handle_timer(now)
                self._collect(name)

    # ---------------------------------------------------------------------------- internals

    def _add(self, peer: BfdPeer, now: float) -> None:
        discr = 0
        while discr == 0 or discr in self._by_discr:
            discr = self._rng.getrandbits(32)
        session = BfdSession(local_discr=discr, settings=peer.settings, rng=self._rng, now=now)
        self._peers[peer.name] = (peer, session)
        self._by_discr[discr] = peer.name
        self._by_address[(peer.address, peer.multihop)] = peer.name
        self._collect(peer.name)

    def _remove(self, name: str, now: float) -> None:
        peer, session = self._peers[name]
        session.set_admin_down(now)
        session.handle_timer(now)  # the AdminDown packet goes out now
        self._collect(name)
        del self._peers[name]
        del self._by_discr[session.local_discr]
        self._by_address.pop((peer.address, peer.multihop), None)

    def _collect(self, name: str) -> None:
        peer, session = self._peers[name]
        for data in session.take_packets():
            self._out.append(
                Datagram(
                    peer=name,
                    address=peer.address,
                    multihop=peer.multihop,
                    data=data,
                    local_address=peer.local_address,
                )
            )
        for change in session.take_changes():
            self._changes.append(PeerStateChanged(peer=name, change=change))

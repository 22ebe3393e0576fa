"""The sans-IO speaker: every peer's session, its Adj-RIB-In, its Adj-RIB-Out and what we export.

Role: the runtime feeds it connection events, received bytes and the time; it returns outputs
(dial this peer, send these bytes on that connection, close that connection) and a deadline.
It never touches a socket or a clock, so a whole network of speakers can run in a unit test.

Invariants:
- Every output is produced by `take_outputs()`; nothing is written anywhere else.
- A peer's Adj-RIB-Out changes only in `_export`, right where the matching bytes are queued.
- A peer's routes leave with its session: `SessionDown` clears its Adj-RIB-In and Adj-RIB-Out.
- Backpressure: while a peer's socket is above its high-water mark no UPDATE is produced for
  it; when it drains, one reconcile sends the latest state. Memory is therefore bounded by the
  table, never by how much changed while the peer was slow. End-of-RIB follows the initial
  table even when that table was deferred.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bgpd.config import Config, PeerConfig, StaticRoute, diff_configs
from bgpd.net import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Afi,
    Family,
    Nlri,
    format_address,
    format_prefix,
    pack_network,
)
from bgpd.outbound.adj_out import AdjRibOut
from bgpd.rib.adj_in import AdjRibIn, PathInfo
from bgpd.session import (
    CloseRequested,
    ConnectRequested,
    Peer,
    PeerCounters,
    RouteRefreshReceived,
    SessionDown,
    SessionEstablished,
    SessionSettings,
    SessionState,
    UpdateReceived,
    add_path_modes,
)
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.codec import EncodeContext, encode_end_of_rib
from bgpd.wire.constants import CeaseSubcode, Origin, SegmentType

logger = logging.getLogger(__name__)

STATIC_PEER = "static"
DEFAULT_LOCAL_PREF = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial:
    """Open a TCP connection to the peer (its address, port and options are in its config)."""

    peer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    peer: str
    conn_id: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    peer: str
    conn_id: int


Output = Dial | Send | Close


class PeerState:
    """What the speaker keeps about one configured peer beside its session."""

    __slots__ = (
        "adj_in",
        "adj_out",
        "blocked",
        "config",
        "connections",
        "eor_pending",
        "export_pending",
        "prefixes_accepted",
        "session",
        "updates_sent",
        "withdrawals_sent",
    )

    def __init__(self, config: PeerConfig, session: Peer) -> None:
        self.config = config
        self.session = session
        self.adj_in = AdjRibIn()
        self.adj_out = AdjRibOut()
        # conn_id -> our local address on that connection (the next hop we announce).
        self.connections: dict[int, str] = {}
        self.prefixes_accepted = 0
        self.blocked = False
        self.export_pending = False
        self.eor_pending: tuple[Family, ...] = ()
        self.updates_sent = 0
        self.withdrawals_sent = 0


def session_settings(config: Config, peer: PeerConfig) -> SessionSettings:
    s = config.peer_settings(peer)
    return SessionSettings(
        local_asn=s.local_asn,
        router_id=int(s.router_id),
        peer_asn=s.asn,
        peer_address=str(s.address),
        passive=s.passive,
        hold_time=s.hold_time,
        keepalive_time=s.keepalive_time if s.keepalive_explicit else None,
        connect_retry_time=s.connect_retry_time,
        error_wait_min=s.error_wait_min,
        error_wait_max=s.error_wait_max,
        families=s.families,
        add_path=add_path_modes({f: s.add_path.wire for f in s.families if s.add_path.wire}),
        graceful_restart=s.graceful_restart,
        graceful_restart_time=s.graceful_restart_time,
    )


class Speaker:
    __slots__ = ("_config", "_outputs", "_peers", "_rng", "_statics")

    def __init__(self, config: Config, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._peers: dict[str, PeerState] = {}
        self._outputs: list[Output] = []
        self._statics = self._build_statics(config)
        for peer in config.all_peers:
            self._add_peer(peer)

    # ----------------------------------------------------------------- inputs from the runtime

    @property
    def config(self) -> Config:
        return self._config

    def start(self, now: float) -> None:
        for name in self._peers:
            self._peers[name].session.start(now)
            self._pump(name, now)

    def peer_names(self) -> list[str]:
        return list(self._peers)

    def peer_config(self, name: str) -> PeerConfig:
        return self._peers[name].config

    def peer_for_address(self, address: str) -> str | None:
        ip = ipaddress.ip_address(address)
        for name, state in self._peers.items():
            if state.config.address == ip:
                return name
        return None

    def connection_made(
        self, peer: str, conn_id: int, now: float, *, outbound: bool, local_address: str
    ) -> None:
        state = self._peers[peer]
        state.connections[conn_id] = local_address
        state.session.connection_made(conn_id, now, outbound)
        self._pump(peer, now)

    def connection_failed(self, peer: str, conn_id: int, now: float) -> None:
        state = self._peers.get(peer)
        if state is None:
            return
        state.connections.pop(conn_id, None)
        state.session.connection_failed(conn_id, now)
        self._pump(peer, now)

    def connection_lost(self, peer: str, conn_id: int, now: float) -> None:
        state = self._peers.get(peer)
        if state is None or conn_id not in state.connections:
            return
        del state.connections[conn_id]
        state.session.connection_lost(conn_id, now)
        self._pump(peer, now)

    def receive_data(self, peer: str, conn_id: int, data: bytes, now: float) -> None:
        state = self._peers.get(peer)
        if state is None or conn_id not in state.connections:
            return
        state.session.receive_data(conn_id, data, now)
        self._pump(peer, now)

    def handle_timer(self, now: float) -> None:
        for name, state in self._peers.items():
            deadline = state.session.next_deadline()
            if deadline is not None and deadline <= now:
                state.session.handle_timer(now)
                self._pump(name, now)

    def next_deadline(self) -> float | None:
        deadlines = [
            d for s in self._peers.values() if (d := s.session.next_deadline()) is not None
        ]
        return min(deadlines, default=None)

    def set_writable(self, peer: str, conn_id: int, writable: bool, now: float) -> None:
        """The runtime's write-buffer signal for one connection (high/low-water marks)."""
        state = self._peers.get(peer)
        if state is None or conn_id != state.session.established_conn_id:
            return
        state.blocked = not writable
        if writable and state.export_pending:
            state.export_pending = False
            self._export(peer, now)
            self._pump(peer, now)

    def reset_peer(self, name: str, now: float, *, soft: bool) -> None:
        state = self._peers[name]
        if soft:
            negotiated = state.session.negotiated
            if negotiated is not None:
                for family in negotiated.families:
                    state.session.send_route_refresh(family, now)
                state.adj_out.clear()
                self._export(name, now)
        else:
            state.session.reset(now, CeaseSubcode.ADMIN_RESET, "reset by operator")
        self._pump(name, now)

    def shutdown(self, now: float, text: str = "bgpd shutting down") -> None:
        """Administrative shutdown of every session (Cease/Administrative Shutdown, RFC 8203)."""
        for name, state in self._peers.items():
            state.session.stop(now, CeaseSubcode.ADMIN_SHUTDOWN, text)
            self._pump(name, now)

    def apply_config(self, new: Config, now: float) -> list[str]:
        """Moves to a new config with as little disruption as the change allows.

        Only peers whose session parameters changed are reset; removed peers get a Cease;
        timer-only changes are taken without a reset; static route and policy changes are
        re-exported over the running sessions. Returns one human line per action taken.
        """
        diff = diff_configs(self._config, new)
        new_peers = {p.name: p for p in new.all_peers}
        self._config = new
        self._statics = self._build_statics(new)
        actions: list[str] = []
        restarted: dict[str, PeerCounters] = {}
        for name in list(self._peers):
            if name not in new_peers:
                self._remove_peer(name, now, CeaseSubcode.PEER_DECONFIGURED)
                actions.append(f"peer {name} removed")
            elif diff.global_session_changed or name in diff.session_changed:
                removed = self._remove_peer(name, now, CeaseSubcode.OTHER_CONFIG_CHANGE)
                restarted[name] = removed.session.counters
                actions.append(f"peer {name} restarted (session parameters changed)")
        for name, peer in new_peers.items():
            state = self._peers.get(name)
            if state is None:
                self._add_peer(peer, restarted.get(name))
                self._peers[name].session.start(now)
                self._pump(name, now)
                if name not in restarted:
                    actions.append(f"peer {name} added")
                continue
            state.config = peer
            if name in diff.settings_changed:
                state.session.update_settings(session_settings(new, peer))
                actions.append(f"peer {name} timers updated")
            if name in diff.policy_changed or diff.statics_changed:
                self._export(name, now)
                self._pump(name, now)
                if name in diff.policy_changed:
                    actions.append(f"peer {name} policy re-applied")
        if diff.statics_changed:
            actions.append("static routes re-exported")
        return actions

    def _remove_peer(self, name: str, now: float, subcode: CeaseSubcode) -> PeerState:
        state = self._peers.pop(name)
        state.session.stop(now, subcode, "configuration changed")
        self._drain_session(name, state, now)
        return state

    # ------------------------------------------------------------------------------ outputs

    def take_outputs(self) -> list[Output]:
        outputs, self._outputs = self._outputs, []
        return outputs

    # ---------------------------------------------------------------------------- internals

    def _add_peer(self, peer: PeerConfig, counters: PeerCounters | None = None) -> None:
        settings = session_settings(self._config, peer)
        session = Peer(settings, self._rng, name=peer.name, counters=counters)
        self._peers[peer.name] = PeerState(peer, session)

    def _drain_session(self, name: str, state: PeerState, now: float) -> None:
        """Flushes what a removed peer's session still has to say (its Cease), then closes."""
        for action in state.session.take_actions():
            if isinstance(action, CloseRequested):
                self._outputs.append(Close(peer=name, conn_id=action.conn_id))
        for conn_id in list(state.connections):
            data = state.session.data_to_send(conn_id)
            if data:
                self._outputs.append(Send(peer=name, conn_id=conn_id, data=data))
            self._outputs.append(Close(peer=name, conn_id=conn_id))
        state.session.take_events()

    def _pump(self, name: str, now: float) -> None:
        """Moves a peer's session events into the RIBs and its actions and bytes into outputs."""
        state = self._peers[name]
        for event in state.session.take_events():
            if isinstance(event, UpdateReceived):
                announced, _withdrawn = state.adj_in.apply(event.update)
                state.prefixes_accepted = len(state.adj_in)
                if announced and logger.isEnabledFor(logging.DEBUG):
                    logger.debug("peer %s update announced=%d", name, announced)
            elif isinstance(event, SessionEstablished):
                state.adj_in.set_add_path(event.negotiated.add_path_receive)
                state.adj_out.clear()
                state.eor_pending = tuple(sorted(event.negotiated.families))
                self._export(name, now)
            elif isinstance(event, SessionDown):
                state.adj_in.clear()
                state.adj_out.clear()
                state.prefixes_accepted = 0
                state.blocked = state.export_pending = False
                state.eor_pending = ()
            elif isinstance(event, RouteRefreshReceived):
                state.adj_out.clear()
                self._export(name, now)
        for action in state.session.take_actions():
            if isinstance(action, ConnectRequested):
                self._outputs.append(Dial(peer=name))
            elif isinstance(action, CloseRequested):
                data = state.session.data_to_send(action.conn_id)
                if data:
                    self._outputs.append(Send(peer=name, conn_id=action.conn_id, data=data))
                self._outputs.append(Close(peer=name, conn_id=action.conn_id))
                state.connections.pop(action.conn_id, None)
        for conn_id in state.connections:
            data = state.session.data_to_send(conn_id)
            if data:
                self._outputs.append(Send(peer=name, conn_id=conn_id, data=data))

    def _export(self, name: str, now: float) -> None:
        """Brings the peer's Adj-RIB-Out to what our export policy says it should hold."""
        state = self._peers[name]
        negotiated = state.session.negotiated
        if negotiated is None or state.session.state is not SessionState.ESTABLISHED:
            return
        if state.blocked:
            state.export_pending = True
            return
        ctx = EncodeContext.from_negotiated(negotiated)
        local_address = state.connections.get(state.session.established_conn_id or -1)
        for family in sorted(negotiated.families):
            desired = dict(self._static_exports(family, negotiated.ibgp, local_address))
            for message in state.adj_out.reconcile(ctx, family, desired):
                state.session.send_update_bytes(message, now)
                state.updates_sent += 1
        for family in state.eor_pending:
            state.session.send_update_bytes(encode_end_of_rib(family), now)
        state.eor_pending = ()

    def _static_exports(
        self, family: Family, ibgp: bool, local_address: str | None
    ) -> Iterator[tuple[Nlri, PathInfo]]:
        local_hop = ipaddress.ip_address(local_address) if local_address else None
        for static, nlri in self._statics.get(family, ()):
            hop = static.next_hop or local_hop
            if hop is None or hop.version != static.prefix.version:
                logger.debug("static %s has no %s next hop for this peer", static.prefix, family)
                continue
            as_path: tuple[AsPathSegment, ...] = ()
            if not ibgp:
                as_path = (
                    AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(self._config.local_asn,)),
                )
            attributes = PathAttributes(
                origin=Origin.IGP,
                as_path=as_path,
                next_hop=hop.packed if family == IPV4_UNICAST else None,
                med=static.med,
                local_pref=(static.local_pref or DEFAULT_LOCAL_PREF) if ibgp else None,
                communities=tuple(c.value for c in static.communities),
                large_communities=tuple(
                    (c.global_admin, c.local1, c.local2) for c in static.large_communities
                ),
            )
            yield nlri, PathInfo(attributes=attributes, next_hop=hop.packed)

    @staticmethod
    def _build_statics(config: Config) -> dict[Family, list[tuple[StaticRoute, Nlri]]]:
        statics: dict[Family, list[tuple[StaticRoute, Nlri]]] = {IPV4_UNICAST: [], IPV6_UNICAST: []}
        for static in config.all_statics:
            family = IPV4_UNICAST if static.prefix.version == 4 else IPV6_UNICAST
            statics[family].append((static, pack_network(static.prefix)))
        return statics

    # ----------------------------------------------------------------------- views for control

    def peer_views(self, now: float) -> list[dict[str, Any]]:
        return [self._peer_view(name, state, now) for name, state in self._peers.items()]

    def peer_view(self, name: str, now: float) -> dict[str, Any] | None:
        state = self._peers.get(name)
        return None if state is None else self._peer_view(name, state, now, detail=True)

    def _peer_view(
        self, name: str, state: PeerState, now: float, *, detail: bool = False
    ) -> dict[str, Any]:
        session = state.session
        established_at = session.established_at
        view: dict[str, Any] = {
            "name": name,
            "address": str(state.config.address),
            "port": state.config.port,
            "asn": state.config.asn,
            "state": session.state.value,
            "uptime_s": None if established_at is None else round(now - established_at, 3),
            "prefixes_received": len(state.adj_in),
            "prefixes_accepted": state.prefixes_accepted,
            "prefixes_sent": len(state.adj_out),
            "last_error": session.counters.last_error_text(),
        }
        if detail:
            view.update(session.describe(now))
        return view

    def route_views(
        self, prefix: str | None = None, peer: str | None = None
    ) -> list[dict[str, Any]]:
        want = pack_network(ipaddress.ip_network(prefix, strict=False)) if prefix else None
        want_afi = None if prefix is None else (Afi.IPV4 if ":" not in prefix else Afi.IPV6)
        views: list[dict[str, Any]] = []
        if peer in (None, STATIC_PEER):
            for family, statics in self._statics.items():
                for static, nlri in statics:
                    if want is not None and (nlri != want or family.afi != want_afi):
                        continue
                    views.append(
                        {
                            "prefix": str(static.prefix),
                            "next_hop": str(static.next_hop) if static.next_hop else None,
                            "as_path": [],
                            "peer": STATIC_PEER,
                            "communities": [str(c) for c in static.communities],
                            "large_communities": [str(c) for c in static.large_communities],
                            "med": static.med,
                            "local_pref": static.local_pref,
                            "origin": "IGP",
                            "best": True,
                        }
                    )
        for name, state in self._peers.items():
            if peer not in (None, name):
                continue
            for family, path_id, nlri, info in state.adj_in.routes():
                if want is not None and (nlri != want or family.afi != want_afi):
                    continue
                views.append(route_view(family, nlri, path_id, info, name))
        return views


def route_view(
    family: Family, nlri: Nlri, path_id: int | None, info: PathInfo, peer: str
) -> dict[str, Any]:
    a = info.attributes
    return {
        "prefix": format_prefix(nlri, family.afi),
        "path_id": path_id,
        "next_hop": format_address(info.next_hop) if info.next_hop else None,
        "as_path": list(a.as_path_asns()),
        "peer": peer,
        "communities": [f"{c >> 16}:{c & 0xFFFF}" for c in a.communities],
        "large_communities": [f"{g}:{l1}:{l2}" for g, l1, l2 in a.large_communities],
        "med": a.med,
        "local_pref": a.local_pref,
        "origin": Origin(a.origin).name,
        "originator_id": None
        if a.originator_id is None
        else format_address(a.originator_id.to_bytes(4, "big")),
        "cluster_list": [format_address(c.to_bytes(4, "big")) for c in a.cluster_list],
        "best": False,
    }

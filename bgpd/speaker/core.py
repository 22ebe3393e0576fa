"""The sans-IO speaker: sessions, the Loc-RIB, export to every peer and the routes for the kernel.

Role: the runtime feeds it connection events, received bytes, kernel-learned routes and the
time; it returns outputs (dial this peer, send these bytes on that connection, close that
connection), the forwarding changes for the kernel, and a deadline. It never touches a socket,
the kernel or a clock, so a whole network of speakers runs in a unit test.

Data flow: an UPDATE, past the AS-path/cluster loop checks and the peer's import filters, goes
into the Loc-RIB as one shared `Candidate` per (attribute set, next hop), which the session's
`CandidateCache` keeps; the Loc-RIB holds each peer's routes, there is no Adj-RIB-In copy.
Static, block and kernel-learned routes enter the Loc-RIB the same way from their own sources.
After every input `_propagate` takes the Loc-RIB's coalesced changes once and (1) hands them to
the `Exporter` (bgpd.outbound), which stages them once per update group and writes the same
bytes to every member, and (2) records the forwarding change (the BGP multipath set) for the
kernel.

Beside this module, three mixins of `Speaker` over its slots hold one job each: `reconfigure`
(`apply_config`), `recovery` (the restarting speaker, RFC 4724 §4.1) and `route_refresh`
(operator resets, peers' requests and BoRR/EoRR, RFC 2918/7313); `views` renders the read-only
views and `peer_state` holds the values and the per-peer record.

Invariants:
- Every output is produced by `take_outputs()` / `take_fib_updates()`; nothing is written
  anywhere else.
- Backpressure: while a peer's socket is above its high-water mark nothing is encoded for it
  (it leaves its update group, whose changes it catches up on when it drains), so memory is
  bounded by the table, not by churn. End-of-RIB follows the initial table.
- Restarting speaker (RFC 4724 §4.1, `set_restarting`, bgpd.speaker.recovery): nothing is sent
  until the peers' End-of-RIB (or `[bgp] graceful_restart_wait`), then every peer gets its table.
- Graceful restart helper (RFC 4724 §4.2): a peer that negotiated GR and went down without a
  NOTIFICATION keeps its routes, marked stale, until it comes back and sends End-of-RIB or the
  restart time passes; whatever it did not re-announce is then swept.
- Route refresh (RFC 2918, RFC 7313, bgpd.speaker.route_refresh): a request resends that family
  only, between BoRR and EoRR when negotiated; a peer's BoRR marks its routes of the family
  stale and its EoRR sweeps what it did not re-announce (graceful restart's stale mark).
- Fault containment: an exception while processing one peer's input (`_for_peer`) or while
  exporting to one update group (the exporter's own boundary) ends only the sessions concerned:
  a Cease NOTIFICATION, an error line with the traceback, the error wait (`Session.abort`). Their
  SessionDown is processed after the work that failed has unwound (`_end_faulted`), never in
  the middle of another peer's propagation. Nothing escapes the per-peer inputs.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Callable, Iterable
from functools import partial

from bgpd.config import Config, NextHopMode, PeerConfig, PeerSettings, StaticRoute
from bgpd.errors import contained
from bgpd.net import Afi, Family, Nlri, pack_network
from bgpd.outbound.advertise import PeerProfile
from bgpd.outbound.exporter import Exporter
from bgpd.outbound.groups import GroupKey
from bgpd.policy import ExportPolicy
from bgpd.policy.import_filter import import_filter
from bgpd.policy.next_hop import NextHopCheck, node_addresses, packed_address
from bgpd.rib import (
    CandidateCache,
    GracefulRestartTracker,
    LocRib,
    Source,
    SourceKind,
)
from bgpd.session import (
    CloseRequested,
    ConnectRequested,
    PeerCounters,
    Session,
    SessionDown,
    SessionState,
)
from bgpd.speaker.admin_down import AdminDisabling
from bgpd.speaker.bfd_hold import BFD_DOWN_TEXT, BfdHolding, BfdStatus
from bgpd.speaker.deadlines import Deadlines
from bgpd.speaker.ingest import UpdateIngest
from bgpd.speaker.local_routes import LocalRoutes
from bgpd.speaker.long_lived import LongLivedRestart, long_lived_preserved
from bgpd.speaker.peer_counts import PeerCounts, peer_counts
from bgpd.speaker.peer_info import peer_role
from bgpd.speaker.peer_state import (
    CONNECTED_SOURCE,
    KERNEL_SOURCE,
    STATIC_SOURCE,
    Close,
    Dial,
    FibUpdate,
    KernelRouteView,
    Output,
    PeerState,
    Send,
    families_without_next_hop,
    family_of_network,
    fib_local_pref,
    fib_next_hops,
    loop_check,
    own_next_hops,
    session_settings,
)
from bgpd.speaker.reconfigure import Reconfiguration
from bgpd.speaker.recovery import Recovery
from bgpd.speaker.route_answers import Listing, RouteAnswer, answer_chunks, answer_steps
from bgpd.speaker.route_query import RouteQuery
from bgpd.speaker.route_refresh import RouteRefreshing
from bgpd.speaker.session_inputs import SessionInputs
from bgpd.speaker.steps import Steps, finish
from bgpd.speaker.views import peer_view, route_views
from bgpd.views import PeerView, RouteView
from bgpd.wire.constants import CeaseSubcode
from bgpd.wire.framing import Chunk
from bgpd.wire.negotiated import EncodeContext, Negotiated

logger = logging.getLogger(__name__)


class Speaker(
    Reconfiguration,
    Recovery,
    RouteRefreshing,
    LongLivedRestart,
    BfdHolding,
    AdminDisabling,
    SessionInputs,
    UpdateIngest,
):
    __slots__ = (
        "_batching",
        "_bfd",
        "_by_address",
        "_config",
        "_deadlines",
        "_disabled",
        "_eor_seen",
        "_exporter",
        "_faulted",
        "_fib",
        "_gr",
        "_kernel_ifnames",
        "_local",
        "_outputs",
        "_peers",
        "_policy",
        "_recovering",
        "_recovery_deadline",
        "_recovery_gone",
        "_rib",
        "_rng",
        "_statics",
        "_stopping",
        "_touched",
    )

    def __init__(self, config: Config, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._peers: dict[str, PeerState] = {}
        self._by_address: dict[object, str] = {}  # peer_for_address (addresses are unique)
        self._bfd: dict[str, BfdStatus] = {}  # the peers' BFD state (bgpd.speaker.bfd_hold)
        self._disabled: dict[str, str] = {}  # operator-disabled peers (bgpd.speaker.admin_down)
        self._outputs: list[Output] = []
        self._fib: list[FibUpdate] = []
        # (peer, family) pairs whose End-of-RIB arrived since start: convergence for the kernel.
        self._eor_seen: set[tuple[str, Family]] = set()
        self._rib = LocRib()
        self._gr = GracefulRestartTracker()
        self._deadlines = Deadlines()  # the sessions' timers (touched in _for_peer, _pump)
        self._batching = False  # in receive_batch: the Loc-RIB's changes go out at its end
        self._policy = ExportPolicy.from_config(config)
        self._kernel_ifnames: dict[tuple[Family, Nlri], str | None] = {}
        self._statics: dict[tuple[Family, Nlri], StaticRoute] = {}
        self._local = LocalRoutes(config)  # candidates of our own routes (route priorities)
        self._stopping = False
        # RFC 4724 §4.1 restarting speaker: exports deferred until our peers' End-of-RIB.
        self._recovering = False
        self._recovery_deadline: float | None = None
        self._recovery_gone: set[str] = set()
        self._exporter = Exporter(
            self._rib,
            self._policy,
            self._kernel_ifnames,
            self._deliver,
            self._export_fault,
            mark=self._mark_refresh,
        )
        # Peers whose session a fault ended, waiting for their SessionDown to be processed.
        self._faulted: set[str] = set()
        # Peers handed UPDATE bytes since their queued bytes last became outputs.
        self._touched: set[str] = set()
        self._set_statics(config)
        for peer in config.all_peers:
            self._add_peer(peer)
        self._rib.take_change_groups()  # nobody to tell yet: no session is up
        self._rib.forget_taken()

    # ----------------------------------------------------------------- inputs from the runtime

    @property
    def config(self) -> Config:
        return self._config

    @property
    def rib(self) -> LocRib:
        return self._rib

    def start(self, now: float) -> None:
        for name, state in self._peers.items():
            if self.start_allowed(name):  # a held-down peer is never started
                self._for_peer(name, now, partial(state.session.start, now))
        self._check_recovery(now)

    def peer_session(self, name: str) -> Session | None:
        """The session of a peer, read-only for views and metrics (counters, settings)."""
        state = self._peers.get(name)
        return None if state is None else state.session

    def peer_names(self) -> list[str]:
        return list(self._peers)

    def peer_config(self, name: str) -> PeerConfig:
        return self._peers[name].config

    def peer_for_address(self, address: str) -> str | None:
        return self._by_address.get(ipaddress.ip_address(address))

    def connection_made(
        self,
        peer: str,
        conn_id: int,
        now: float,
        *,
        outbound: bool,
        local_address: str,
        interface_address: str = "",
        local_port: int = 0,
    ) -> None:
        """A TCP connection to `peer` is up. `interface_address` is an address of the other IP
        version on the interface holding `local_address` (the runtime looks it up), "" if none:
        a next hop for the other family's routes when nothing configured gives one."""
        state = self._peers[peer]
        state.connections[conn_id] = (local_address, interface_address)
        state.ports[conn_id] = local_port
        self._for_peer(peer, now, partial(state.session.connection_made, conn_id, now, outbound))

    def connection_failed(self, peer: str, conn_id: int, now: float, reason: str = "") -> None:
        state = self._peers.get(peer)
        if state is None:
            return
        state.connections.pop(conn_id, None)
        state.ports.pop(conn_id, None)
        if reason:
            state.session.counters.note_socket_error(reason, now)
        if self._recovering:
            self._recovery_gone.add(peer)  # not worth waiting for its End-of-RIB
        self._for_peer(peer, now, partial(state.session.connection_failed, conn_id, now))

    def connection_lost(self, peer: str, conn_id: int, now: float) -> None:
        state = self._peers.get(peer)
        if state is None or conn_id not in state.connections:
            return
        del state.connections[conn_id]
        state.ports.pop(conn_id, None)
        self._for_peer(peer, now, partial(state.session.connection_lost, conn_id, now))

    def receive_data(self, peer: str, conn_id: int, data: bytes, now: float) -> None:
        state = self._peers.get(peer)
        if state is None or conn_id not in state.connections:
            return
        self._for_peer(peer, now, partial(state.session.receive_data, conn_id, data, now))

    def handle_timer(self, now: float) -> None:
        for name in self._deadlines.due(now, self._session_deadline):
            if (state := self._peers.get(name)) is not None:
                self._for_peer(name, now, partial(state.session.handle_timer, now))
        gr_deadline = self._gr.next_deadline()
        if gr_deadline is not None and gr_deadline <= now:
            for name, family in self._gr.handle_timer(now):
                swept = self._rib.sweep_stale(name, family)
                # The tracker logged which timer it was (restart, stale routes, a missing EoRR).
                logger.info(
                    "stale routes swept peer=%s family=%s routes=%d reason=timer",
                    name,
                    family,
                    swept,
                )
            self._mark_long_lived(self._gr.take_long_lived())
            self._propagate(now)
        self._check_recovery(now)

    def kernel_routes_changed(
        self, added: Iterable[KernelRouteView], removed: Iterable[KernelRouteView], now: float
    ) -> None:
        """Routes the kernel edge learned (Felix's workload routes, blocks) and interface
        subnets (connected) enter the Loc-RIB, each from its own source."""
        for route in removed:
            key = (route.family, route.nlri)
            if self._kernel_ifnames.pop(key, 0) != 0:
                source = CONNECTED_SOURCE if route.connected else KERNEL_SOURCE
                self._rib.withdraw(route.family, route.nlri, source.name)
        for route in added:
            key = (route.family, route.nlri)
            self._kernel_ifnames[key] = route.ifname
            self._rib.announce(route.family, route.nlri, self._local.kernel(route))
        self._propagate(now)

    def set_writable(self, peer: str, conn_id: int, writable: bool, now: float) -> None:
        """The runtime's write-buffer signal for one connection (high/low-water marks)."""
        state = self._peers.get(peer)
        if state is None or conn_id != state.session.established_conn_id:
            return
        # A blocked peer's pump is cheap (nothing is encoded for it); a drained one catches up.
        self._for_peer(peer, now, partial(self._exporter.set_blocked, peer, not writable, now))

    def shutdown(self, now: float, text: str = "bgpd shutting down") -> None:
        """Administrative shutdown of every session (Cease/Administrative Shutdown, RFC 8203).

        Nothing propagates any more: the other peers are being stopped too (no withdrawals to
        encode for them), and the kernel keeps its routes (BIRD's `persist`; the daemon
        removes them itself when configured not to persist).
        """
        self._stopping = True
        for name, state in self._peers.items():
            state.session.stop(now, CeaseSubcode.ADMIN_SHUTDOWN, text)
            self._pump(name, now)

    # ------------------------------------------------------------------------------ outputs

    def take_outputs(self) -> list[Output]:
        outputs, self._outputs = self._outputs, []
        return outputs

    def take_fib_updates(self) -> list[FibUpdate]:
        updates, self._fib = self._fib, []
        return updates

    def update_group_sizes(self) -> list[int]:
        """Member count of each update group (established peers sharing one Adj-RIB-Out)."""
        return self._exporter.group_sizes()

    def converged(self) -> bool:
        """True once every configured peer is up and has sent End-of-RIB for its families, and
        the Loc-RIB's changes went out (a batch held open holds them back)."""
        if self._batching and self._rib.changes_pending:
            return False
        for name, state in self._peers.items():
            negotiated = state.session.negotiated
            if negotiated is None:
                if not self.start_allowed(name):
                    continue  # held down until a reload: nothing to wait for
                return False
            if any((name, family) not in self._eor_seen for family in negotiated.families):
                return False
        return True

    def fib_snapshot(self) -> list[FibUpdate]:
        """The whole forwarding state: what the kernel edge must hold after a re-dump."""
        snapshot: list[FibUpdate] = []
        for family in self._rib.families():
            for change in self._rib.iter_routes(family):
                hops = fib_next_hops(change.multipath)
                if hops:
                    snapshot.append(
                        FibUpdate(
                            family=family,
                            nlris=(change.nlri,),
                            next_hops=hops,
                            local_pref=fib_local_pref(change.multipath),
                        )
                    )
        return snapshot

    # ---------------------------------------------------------------------------- internals

    def _add_peer(self, peer: PeerConfig, counters: PeerCounters | None = None) -> None:
        if peer.down_reason is not None:
            # Its connections are refused (Cease/Connection Rejected) while never started.
            logger.warning(
                "peer held down peer=%s address=%s reason=%s",
                peer.name,
                peer.address,
                peer.down_reason,
            )
        settings = session_settings(self._config, peer)
        session = Session(settings, self._rng, name=peer.name, counters=counters)
        self._peers[peer.name] = PeerState(peer, session)
        self._by_address[peer.address] = peer.name

    def _remove_peer(self, name: str, now: float, subcode: CeaseSubcode) -> PeerState:
        state = self._peers.pop(name)
        self._by_address.pop(state.config.address, None)
        state.session.stop(now, subcode, "configuration changed")
        state.session.take_events()  # its SessionDown: routes go below, unconditionally
        self._gr.forget(name)
        self._exporter.remove_peer(name)
        self._rib.withdraw_source(name)
        self._take_io(name, state, close_all=True)
        return state

    def _take_io(self, name: str, state: PeerState, *, close_all: bool = False) -> None:
        """Turns a session's actions and queued bytes into outputs (and closes every
        connection when the peer is going away)."""
        for action in state.session.take_actions():
            if isinstance(action, ConnectRequested):
                if not close_all:
                    self._outputs.append(Dial(peer=name))
            elif isinstance(action, CloseRequested):
                self._close(name, state, action.conn_id)
        for conn_id in list(state.connections):
            if close_all:
                self._close(name, state, conn_id)
            else:
                self._send_queued(name, state, conn_id)

    def _close(self, name: str, state: PeerState, conn_id: int) -> None:
        """The last bytes (a NOTIFICATION, say) go out before the connection closes."""
        self._send_queued(name, state, conn_id)
        self._outputs.append(Close(peer=name, conn_id=conn_id))
        state.connections.pop(conn_id, None)
        state.ports.pop(conn_id, None)

    def _send_queued(self, name: str, state: PeerState, conn_id: int) -> None:
        chunks = state.session.chunks_to_send(conn_id)
        if chunks:
            self._outputs.append(Send(peer=name, conn_id=conn_id, chunks=tuple(chunks)))

    def _set_statics(self, config: Config) -> None:
        """Makes the Loc-RIB's static source equal to the config's statics (and blocks)."""
        wanted: dict[tuple[Family, Nlri], StaticRoute] = {}
        for static in config.all_statics:
            wanted[(family_of_network(static.prefix), pack_network(static.prefix))] = static
        for key in self._statics.keys() - wanted.keys():
            self._rib.withdraw(key[0], key[1], STATIC_SOURCE.name)
        for key, static in wanted.items():
            if self._statics.get(key) != static:
                self._rib.announce(key[0], key[1], self._local.static(key[0], static))
        self._statics = wanted

    def _pump(self, name: str, now: float) -> None:
        """Moves a peer's session events into the RIBs and its actions and bytes into outputs."""
        state = self._peers[name]
        self._deadlines.touch(name)
        self._take_events(name, state, now)
        self._propagate(now)
        self._check_recovery(now)
        self._take_io(name, state)
        self._send_touched()

    def _on_established(
        self, name: str, state: PeerState, negotiated: Negotiated, now: float
    ) -> None:
        cfg = state.config
        kind = SourceKind.IBGP if negotiated.ibgp else SourceKind.EBGP
        state.source = Source(
            name=name,
            kind=kind,
            peer_asn=negotiated.peer_asn,
            router_id=negotiated.peer_router_id,
            address=cfg.address.packed,
            rr_client=cfg.rr_client,
        )
        settings = self._config.peer_settings(cfg)
        state.candidates = CandidateCache(
            state.source, loop_check(settings), next_hop_problem=self._next_hop_check(state)
        )
        state.negotiated = negotiated
        state.import_filters = settings.import_filters
        state.import_filter = import_filter(settings.import_filters, ibgp=not settings.is_ebgp)
        peer_gr = negotiated.peer_graceful_restart
        preserved = (
            {f.family for f in peer_gr.families if f.forwarding_preserved} if peer_gr else set()
        )
        preserved |= long_lived_preserved(negotiated)
        for family in self._gr.session_up(name, preserved, now):
            self._rib.sweep_stale(name, family)
        key = self._group_key(state)
        if key is not None:
            self._check_next_hops(name, state, key)
            self._exporter.add_peer(name, key, now)

    def _on_down(self, name: str, state: PeerState, event: SessionDown, now: float) -> None:
        negotiated_gr = state.source is not None and event.graceful
        state.rejected.clear()
        state.no_next_hop = frozenset()
        self._exporter.remove_peer(name)
        if self._recovering:
            self._recovery_gone.add(name)
        state.candidates = None
        session_families = state.session.settings.families
        if negotiated_gr and state.source is not None:
            restart_time, families = self._gr_window(state)
            long_lived = state.negotiated.long_lived_stale_times() if state.negotiated else {}
            for family in self._gr.peer_down(name, families, restart_time, now, long_lived):
                self._rib.sweep_stale(name, family)
            self._rib.withdraw_source(name, session_families - families)
            kept = self._rib.mark_stale(name, families)
            logger.info(
                "graceful restart keeping peer=%s routes=%d seconds=%d", name, kept, restart_time
            )
        else:
            self._gr.forget(name)
            self._rib.withdraw_source(name)
        state.source = None

    def _gr_window(self, state: PeerState) -> tuple[float, set[Family]]:
        """The peer's restart time and the families it promised to restart (its last OPEN)."""
        families: set[Family] = set()
        restart_time = 0.0
        negotiated = state.negotiated
        if negotiated is not None and negotiated.peer_graceful_restart is not None:
            gr = negotiated.peer_graceful_restart
            restart_time = gr.restart_time
            families = {f.family for f in gr.families} & set(negotiated.families)
            families |= negotiated.long_lived_stale_times().keys()  # RFC 9494 §4.2
        return restart_time, families

    def _next_hop_check(self, state: PeerState) -> NextHopCheck:
        """The session's next hop rules: its local address and our `[node]` addresses are
        ours, the peer's address is always fine (bgpd.policy.next_hop)."""
        local = state.connections.get(state.session.established_conn_id or -1, ("", ""))[0]
        return NextHopCheck.for_session(
            packed_address(local) if local else b"",
            state.config.address.packed,
            node_addresses(self._config.node),
        )

    @property
    def _cluster_id(self) -> int | None:
        cluster = self._config.reflector_cluster_id
        return None if cluster is None else int(cluster)

    def _profile(
        self, settings: PeerSettings, local: tuple[str, str], *, long_lived: bool = False
    ) -> PeerProfile:
        v4, v6 = own_next_hops(settings, self._config.node, *local)
        mode = settings.next_hop_mode
        return PeerProfile(
            ibgp=not settings.is_ebgp,
            local_asn=settings.local_asn,
            next_hop_v4=v4,
            next_hop_v6=v6,
            next_hop_self=mode is NextHopMode.SELF,
            next_hop_keep=mode is NextHopMode.KEEP,
            rr_client=settings.rr_client,
            cluster_id=self._cluster_id,
            long_lived=long_lived,
        )

    def _check_next_hops(self, name: str, state: PeerState, key: GroupKey) -> None:
        """A negotiated family with no next hop of ours cannot carry our own routes (or any
        route toward eBGP / with next_hop_self): said once per session up, and flagged."""
        profile = key.profile
        missing = families_without_next_hop(key.families, profile.next_hop_v4, profile.next_hop_v6)
        for family in sorted(missing - state.no_next_hop):
            logger.warning(
                "peer family without next hop peer=%s family=%s local_address=%s "
                "effect=own_routes_not_sent hint=set_next_hop_v%d",
                name,
                family,
                state.connections.get(state.session.established_conn_id or -1, ("",))[0],
                6 if family.afi == Afi.IPV6 else 4,
            )
        state.no_next_hop = missing

    def _propagate(self, now: float) -> None:
        """Carries the Loc-RIB's changes to every established peer and to the kernel."""
        if self._rib.changes_pending and not self._batching:  # else at the batch's end
            groups = self._rib.take_change_groups()
            if self._stopping:
                self._rib.forget_taken()
                return
            if self._config.kernel.enabled:
                for group in groups:
                    hops = fib_next_hops(group.multipath)
                    self._fib.append(
                        FibUpdate(
                            family=group.family,
                            nlris=tuple(group.nlris),
                            next_hops=hops,
                            local_pref=fib_local_pref(group.multipath),
                        )
                    )
            self._exporter.propagate(groups, now)
            self._rib.forget_taken()  # every group has applied or held the take
            self._send_touched()
        self._end_faulted(now)

    def _for_peer(self, name: str, now: float, step: Callable[[], None]) -> None:
        """Runs one input of a peer (`step`, then its `_pump`) inside the core's fault boundary
        (`bgpd.errors.contained`, the only catch-all besides the exporter's): what it raises
        ends that peer's session, not the caller's loop, nor any other session. Export faults
        are the exporter's to attribute (to the group it was writing for), so an exception
        here is blamed on this peer's own processing."""
        self._deadlines.touch(name)
        error = contained(partial(self._input, name, now, step))
        if error is not None:
            logger.error(
                "peer internal error peer=%s during=input action=cease", name, exc_info=error
            )
            self._abort(name, now)
        self._end_faulted(now)

    def _input(self, name: str, now: float, step: Callable[[], None]) -> None:
        step()
        self._pump(name, now)

    def _export_fault(self, peers: list[str], error: Exception, now: float) -> None:
        """The exporter's work for these peers (one update group, or one member) raised."""
        logger.error(
            "peer internal error peer=%s during=export action=cease",
            ",".join(peers) or "-",
            exc_info=error,
        )
        for name in peers:
            self._abort(name, now)

    def _abort(self, name: str, now: float) -> None:
        state = self._peers.get(name)
        if state is None:
            return
        error = contained(partial(state.session.abort, now, "internal error"))
        if error is not None:
            logger.error("peer internal error peer=%s during=abort", name, exc_info=error)
        self._faulted.add(name)

    def _end_faulted(self, now: float) -> None:
        """Processes the SessionDown of every session a fault ended (its routes leave the
        Loc-RIB, its Cease and Close become outputs); called once the failed work unwound."""
        while self._faulted:
            name = self._faulted.pop()
            if name in self._peers:
                error = contained(partial(self._pump, name, now))
                if error is not None:
                    logger.error("peer internal error peer=%s during=down", name, exc_info=error)

    def _deliver(
        self,
        peer: str,
        data: tuple[Chunk, ...],
        announced: int,
        withdrawn: int,
        count: int,
        *,
        now: float,
        withheld: int = 0,
    ) -> None:
        state = self._peers.get(peer)
        if state is not None and state.session.state is SessionState.ESTABLISHED:
            counters = state.session.counters
            counters.prefixes_withheld_too_big += withheld
            if not count:
                return
            state.session.send_update_bytes(data, now, count=count)
            counters.prefixes_announced_out += announced
            counters.prefixes_withdrawn_out += withdrawn
            self._touched.add(peer)

    def _send_touched(self) -> None:
        """Queued UPDATE bytes of every peer the exporter wrote to become outputs."""
        touched, self._touched = self._touched, set()
        for name in touched:
            state = self._peers.get(name)
            if state is not None:
                for conn_id in state.connections:
                    self._send_queued(name, state, conn_id)

    def _group_key(self, state: PeerState) -> GroupKey | None:
        """Everything that changes the bytes a peer is sent (its update group's key)."""
        negotiated = state.session.negotiated
        if negotiated is None:
            return None
        cfg = state.config
        local = state.connections.get(state.session.established_conn_id or -1, ("", ""))
        settings = self._config.peer_settings(cfg)
        return GroupKey(
            profile=self._profile(settings, local, long_lived=negotiated.long_lived),
            ctx=EncodeContext.from_negotiated(negotiated),
            families=negotiated.families,
            internal=self._policy.peer_internal(settings),
            export_filters=settings.export_filters,
        )

    def peer_views(self, now: float) -> list[PeerView]:
        return [self._peer_view(name, state, now) for name, state in self._peers.items()]

    def peer_view(self, name: str, now: float) -> PeerView | None:
        state = self._peers.get(name)
        return None if state is None else self._peer_view(name, state, now, detail=True)

    def _peer_view(
        self, name: str, state: PeerState, now: float, *, detail: bool = False
    ) -> PeerView:
        bfd = self._bfd.get(name)
        if bfd is None and state.config.bfd:
            bfd = BfdStatus(state="Down")  # configured, no state reported yet
        return peer_view(
            name,
            state,
            self._rib,
            now,
            sent=self._exporter.sent_count(name),
            detail=detail,
            stale=self._gr.stale_families(name),
            long_lived=self._gr.long_lived(name),
            bfd=None if bfd is None else bfd.state,
            bfd_held=f"{BFD_DOWN_TEXT}: {bfd.diag}" if bfd is not None and bfd.held else None,
            bfd_failures=0 if bfd is None else bfd.failures,
            disabled=self._disabled.get(name),
            role=peer_role(self._config, state.config),
        )

    def route_views(self, prefix: str | None = None, peer: str | None = None) -> list[RouteView]:
        return route_views(self._rib, prefix, peer)

    def route_query(self, query: RouteQuery) -> RouteAnswer:
        return finish(self.route_query_steps(query))

    def route_query_steps(self, query: RouteQuery) -> Steps[RouteAnswer]:
        """`bgpctl show routes`' answer in steps (`bgpd.speaker.route_answers`, `.steps`)."""
        return answer_steps(query, self._rib, self._peers, self._exporter.member)

    def route_query_chunks(self, query: RouteQuery) -> Listing | None:
        return answer_chunks(query, self._rib, self._peers, self._exporter.member)

    def peer_counts(self, name: str) -> PeerCounts | None:
        """A peer's AS numbers, type and per-family prefix counts (the metrics' labels)."""
        state = self._peers.get(name)
        return None if state is None else peer_counts(name, state, self._rib, self._exporter)

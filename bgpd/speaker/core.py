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

Invariants:
- Every output is produced by `take_outputs()` / `take_fib_updates()`; nothing is written
  anywhere else.
- Backpressure: while a peer's socket is above its high-water mark nothing is encoded for it
  (it leaves its update group, whose changes it catches up on when it drains), so memory is
  bounded by the table, not by churn. End-of-RIB follows the initial table.
- Restarting speaker (RFC 4724 §4.1, `set_restarting`): nothing is sent until the peers'
  End-of-RIB (or `[bgp] graceful_restart_wait`), then every peer gets its table at once.
- Graceful restart helper (RFC 4724 §4.2): a peer that negotiated GR and went down without a
  NOTIFICATION keeps its routes, marked stale, until it comes back and sends End-of-RIB or the
  restart time passes; whatever it did not re-announce is then swept.
- Route refresh (RFC 2918, RFC 7313): a request resends that family only, between BoRR and EoRR
  when negotiated; a peer's BoRR marks its routes of the family stale and its EoRR sweeps what
  it did not re-announce (the same stale mark and tracker as graceful restart).
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
from dataclasses import replace
from functools import partial

from bgpd.config import Config, ConfigDiff, PeerConfig, PeerSettings, StaticRoute
from bgpd.errors import contained
from bgpd.net import (
    Afi,
    Family,
    Nlri,
    pack_network,
)
from bgpd.outbound.advertise import PeerProfile
from bgpd.outbound.exporter import Exporter
from bgpd.outbound.groups import GroupKey
from bgpd.policy import ExportPolicy
from bgpd.policy.filter_eval import import_chains, split_import
from bgpd.policy.next_hop import NextHopCheck, describe_reason, node_addresses, packed_address
from bgpd.policy.reflection import LoopCheck
from bgpd.rib import (
    Candidate,
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
    RouteRefreshReceived,
    Session,
    SessionDown,
    SessionEstablished,
    SessionState,
    UpdateReceived,
)
from bgpd.session.input_problems import note_next_hop_refused
from bgpd.speaker.local_routes import LocalRoutes
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
    own_next_hops,
    session_settings,
)
from bgpd.speaker.views import peer_view, route_views
from bgpd.views import PeerView, RouteView
from bgpd.wire.constants import CeaseSubcode, RouteRefreshSubtype
from bgpd.wire.messages import NlriBatch, RouteRefreshMessage
from bgpd.wire.negotiated import EncodeContext, Negotiated

logger = logging.getLogger(__name__)


class Speaker:
    __slots__ = (
        "_config",
        "_eor_seen",
        "_exporter",
        "_faulted",
        "_fib",
        "_gr",
        "_kernel_ifnames",
        "_local",
        "_loop_check",
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
        self._outputs: list[Output] = []
        self._fib: list[FibUpdate] = []
        # (peer, family) pairs whose End-of-RIB arrived since start: convergence for the kernel.
        self._eor_seen: set[tuple[str, Family]] = set()
        self._rib = LocRib()
        self._gr = GracefulRestartTracker()
        self._policy = ExportPolicy.from_config(config)
        self._kernel_ifnames: dict[tuple[Family, Nlri], str | None] = {}
        self._statics: dict[tuple[Family, Nlri], StaticRoute] = {}
        self._local = LocalRoutes(config)  # candidates of our own routes (route priorities)
        self._stopping = False
        # RFC 4724 §4.1 restarting speaker: exports deferred until our peers' End-of-RIB.
        self._recovering = False
        self._recovery_deadline: float | None = None
        self._recovery_gone: set[str] = set()
        self._loop_check = self._new_loop_check(config)
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

    # ----------------------------------------------------------------- inputs from the runtime

    @property
    def config(self) -> Config:
        return self._config

    @property
    def rib(self) -> LocRib:
        return self._rib

    def start(self, now: float) -> None:
        for name, state in self._peers.items():
            if state.config.down_reason is None:  # a held-down peer is never started
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
        ip = ipaddress.ip_address(address)
        for name, state in self._peers.items():
            if state.config.address == ip:
                return name
        return None

    def connection_made(
        self,
        peer: str,
        conn_id: int,
        now: float,
        *,
        outbound: bool,
        local_address: str,
        interface_address: str = "",
    ) -> None:
        """A TCP connection to `peer` is up. `interface_address` is an address of the other IP
        version on the interface holding `local_address` (the runtime looks it up), "" if none:
        a next hop for the other family's routes when nothing configured gives one."""
        state = self._peers[peer]
        state.connections[conn_id] = (local_address, interface_address)
        self._for_peer(peer, now, partial(state.session.connection_made, conn_id, now, outbound))

    def connection_failed(self, peer: str, conn_id: int, now: float, reason: str = "") -> None:
        state = self._peers.get(peer)
        if state is None:
            return
        state.connections.pop(conn_id, None)
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
        self._for_peer(peer, now, partial(state.session.connection_lost, conn_id, now))

    def receive_data(self, peer: str, conn_id: int, data: bytes, now: float) -> None:
        state = self._peers.get(peer)
        if state is None or conn_id not in state.connections:
            return
        self._for_peer(peer, now, partial(state.session.receive_data, conn_id, data, now))

    def handle_timer(self, now: float) -> None:
        for name, state in self._peers.items():
            deadline = state.session.next_deadline()
            if deadline is not None and deadline <= now:
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
            self._propagate(now)
        self._check_recovery(now)

    def next_deadline(self) -> float | None:
        deadlines = [
            d for s in self._peers.values() if (d := s.session.next_deadline()) is not None
        ]
        gr_deadline = self._gr.next_deadline()
        if gr_deadline is not None:
            deadlines.append(gr_deadline)
        if self._recovery_deadline is not None:
            deadlines.append(self._recovery_deadline)
        return min(deadlines, default=None)

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

    def reset_peer(self, name: str, now: float, *, soft: bool) -> str | None:
        """A hard reset (Cease/Administrative Reset) or a soft one (route refresh both ways).
        Returns what the operator must know when a soft reset could do only part of its job."""
        state = self._peers[name]
        note = None
        if soft:
            negotiated = state.session.negotiated
            if negotiated is None:
                note = "session not established: nothing to refresh"
            elif negotiated.route_refresh:
                for family in sorted(negotiated.families):
                    state.session.send_route_refresh(family, now)
            else:
                # Asking again needs the capability (RFC 2918); our side can still be resent.
                note = "peer did not negotiate route refresh: our routes resent, theirs not asked"
                logger.warning(
                    "peer soft reset inbound skipped peer=%s reason=route_refresh_not_negotiated",
                    name,
                )
            self._exporter.refresh(name, now)
        else:
            state.session.reset(now, CeaseSubcode.ADMIN_RESET, "reset by operator")
        self._pump(name, now)
        return note

    @property
    def recovering(self) -> bool:
        """Whether we are still a restarting speaker deferring our exports (RFC 4724 §4.1)."""
        return self._recovering

    def set_restarting(self, restarting: bool, now: float | None = None) -> None:
        """RFC 4724: we restarted with our forwarding state kept. The next OPENs carry the R
        and F bits, so helpers keep our routes until our End-of-RIB instead of dropping them
        at once, and (§4.1) nothing is sent until our peers' End-of-RIB has rebuilt the
        Loc-RIB (or `[bgp] graceful_restart_wait` passed): then every peer gets the whole table
        and End-of-RIB. Without this a restarted reflector would announce an empty table and
        End-of-RIB, and its clients would drop what it had not relearned yet."""
        for state in self._peers.values():
            settings = state.session.settings
            if settings.restarting != restarting:
                state.session.update_settings(replace(settings, restarting=restarting))
        if restarting and not self._recovering:
            self._recovering = True
            self._recovery_deadline = None  # set from the clock at the next input
            self._recovery_gone.clear()
            self._exporter.deferred = True
        elif not restarting and self._recovering:
            self._finish_recovery(self._recovery_deadline if now is None else now)

    def _check_recovery(self, now: float) -> None:
        if not self._recovering:
            return
        if self._recovery_deadline is None:
            self._recovery_deadline = now + self._config.bgp.graceful_restart_wait
        if now >= self._recovery_deadline:
            logger.warning(
                "graceful restart end-of-rib wait over seconds=%d action=send_routes",
                self._config.bgp.graceful_restart_wait,
            )
            self._finish_recovery(now)
        elif self._recovery_done():
            self._finish_recovery(now)

    def _recovery_done(self) -> bool:
        """Every peer sent End-of-RIB, lacks the capability, is restarting itself (its R bit:
        it waits for ours, RFC 4724 §4.1), or could not be reached."""
        for name, state in self._peers.items():
            established = state.session.state is SessionState.ESTABLISHED
            if not established:
                if name in self._recovery_gone or state.config.down_reason is not None:
                    continue
                return False
            negotiated = state.session.negotiated
            gr = None if negotiated is None else negotiated.peer_graceful_restart
            if negotiated is None or gr is None or gr.restart_state:
                continue  # RFC 4724 §4.1: no End-of-RIB to wait for from that peer
            if any((name, family) not in self._eor_seen for family in negotiated.families):
                return False
        return True

    def _finish_recovery(self, now: float | None) -> None:
        self._recovering = False
        self._recovery_deadline = None
        for state in self._peers.values():
            settings = state.session.settings
            if settings.restarting:
                state.session.update_settings(replace(settings, restarting=False))
        if now is not None:
            logger.info("graceful restart end-of-rib from every peer action=send_routes")
            self._exporter.release(now)
            self._send_touched()
            self._end_faulted(now)

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

    def apply_config(self, new: Config, diff: ConfigDiff, now: float) -> list[str]:
        """Moves to a new config with as little disruption as the change allows.

        `diff` is `diff_configs(self.config, new)`, computed once by the caller (the runtime's
        reload plan). Only peers whose session parameters changed are reset; removed peers
        get a Cease; timer-only changes are taken without a reset; static route, policy and
        `[node]` address changes are re-exported over the running sessions. Returns one human
        line per action taken.
        """
        new_peers = {p.name: p for p in new.all_peers}
        self._config = new
        loop_check = self._new_loop_check(new)
        loop_changed = loop_check != self._loop_check  # our AS, router id or cluster id
        self._loop_check = loop_check
        for peer_state in self._peers.values():
            cache = peer_state.candidates
            if peer_state.source is None or cache is None:
                continue
            check = self._next_hop_check(peer_state)  # our [node] addresses may have changed
            if loop_changed or check != cache.next_hop_problem:  # its cached verdicts are stale
                peer_state.candidates = CandidateCache(
                    peer_state.source, loop_check, next_hop_problem=check
                )
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
        priorities = self._local.reconfigure(new)
        if priorities:  # every static is announced again with its new LOCAL_PREF
            self._statics = {}
            actions.append("route priorities changed")
        if diff.statics_changed or priorities:
            self._set_statics(new)
            actions.append("static routes re-exported")
        if diff.export_policy_changed:
            self._policy = self._exporter.policy = ExportPolicy.from_config(new)
            self._exporter.reexport_all(now)
            actions.append("export policy re-applied")
        for name, peer in new_peers.items():
            state = self._peers.get(name)
            if state is None:
                self._add_peer(peer, restarted.get(name))
                if peer.down_reason is None:
                    self._peers[name].session.start(now)
                self._pump(name, now)
                if name not in restarted:
                    actions.append(f"peer {name} added")
                continue
            state.config = peer
            if name in diff.settings_changed:
                state.session.update_settings(session_settings(new, peer))
                actions.append(f"peer {name} timers updated")
            if name in diff.policy_changed:
                key = self._group_key(state)
                if key is not None:
                    self._check_next_hops(name, state, key)
                    self._exporter.regroup(name, key, now)
                self._reimport(name, state, now)
                self._pump(name, now)
                actions.append(f"peer {name} policy re-applied")
            elif diff.node_changed:
                # Our next hops come from [node] too (an IPv6 address appearing gives IPv6
                # routes over an IPv4 session one): a new group key, no reset.
                key = self._group_key(state)
                if key is not None:
                    self._check_next_hops(name, state, key)
                    self._exporter.regroup(name, key, now)
                    self._pump(name, now)
        if diff.node_changed:
            actions.append("node addresses re-applied")
        self._propagate(now)
        self._send_touched()
        return actions

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
        """True once every configured peer is up and has sent End-of-RIB for its families."""
        for name, state in self._peers.items():
            negotiated = state.session.negotiated
            if negotiated is None:
                if state.config.down_reason is not None:
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

    def _remove_peer(self, name: str, now: float, subcode: CeaseSubcode) -> PeerState:
        state = self._peers.pop(name)
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

    def _send_queued(self, name: str, state: PeerState, conn_id: int) -> None:
        data = state.session.data_to_send(conn_id)
        if data:
            self._outputs.append(Send(peer=name, conn_id=conn_id, data=data))

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
        for event in state.session.take_events():
            if isinstance(event, UpdateReceived):
                self._on_update(name, state, event, now)
            elif isinstance(event, SessionEstablished):
                self._on_established(name, state, event.negotiated, now)
            elif isinstance(event, SessionDown):
                self._on_down(name, state, event, now)
            elif isinstance(event, RouteRefreshReceived):
                self._on_route_refresh(name, event.message, now)
        self._propagate(now)
        self._check_recovery(now)
        self._take_io(name, state)
        self._send_touched()

    def _on_update(self, name: str, state: PeerState, event: UpdateReceived, now: float) -> None:
        update = event.update
        rib = self._rib
        for batch in update.withdrawn:
            rib.withdraw_many(batch.family, batch.prefixes, name, batch.path_ids)
            if state.rejected:
                state.rejected.difference_update((batch.family, n) for n in batch.prefixes)
        attrs = update.attributes
        cache = state.candidates
        if attrs is not None and update.announced and cache is not None:
            for batch in update.announced:
                candidate = cache.candidate(attrs, batch.next_hop)
                if not isinstance(candidate, Candidate):
                    # RFC 4271 §9.1.2 / RFC 4456 §8: a path through our own AS, or one that
                    # came back to us or through our cluster, is a loop; RFC 4271 §6.3: an
                    # unusable next hop is treat-as-withdraw. What the peer had announced
                    # for these prefixes before is no longer usable either.
                    if candidate is not None:
                        note_next_hop_refused(
                            name,
                            state.session.counters,
                            next_hop=batch.next_hop,
                            reason=candidate.reason,
                            text=describe_reason(candidate.reason),
                            prefixes=len(batch.prefixes),
                            now=now,
                        )
                    rib.withdraw_many(batch.family, batch.prefixes, name, batch.path_ids)
                    state.rejected.update((batch.family, n) for n in batch.prefixes)
                    continue
                if state.rejected:
                    state.rejected.difference_update((batch.family, n) for n in batch.prefixes)
                chains = state.import_chains
                if chains is not None and chains[batch.family.afi]:
                    self._import_filtered(name, state, batch, candidate)
                    continue
                rib.announce_many(batch.family, batch.prefixes, candidate, batch.path_ids)
        for family in update.disabled_families:
            rib.withdraw_source(name, (family,))
        if update.end_of_rib is not None:
            self._eor_seen.add((name, update.end_of_rib))
        if update.end_of_rib is not None and self._gr.end_of_rib(name, update.end_of_rib):
            swept = rib.sweep_stale(name, update.end_of_rib)
            if swept:
                logger.info(
                    "graceful restart stale swept peer=%s routes=%d reason=end_of_rib", name, swept
                )

    def _on_route_refresh(self, name: str, message: RouteRefreshMessage, now: float) -> None:
        """RFC 2918 / RFC 7313 §4: a request gets that family's table (between BoRR and EoRR
        when negotiated); a BoRR marks the peer's routes of the family stale and its EoRR
        sweeps those not re-announced in between (the timing rules: `GracefulRestartTracker`)."""
        family = message.family
        if message.subtype == RouteRefreshSubtype.REQUEST:
            self._exporter.refresh(name, now, (family,))
        elif message.subtype == RouteRefreshSubtype.BORR:
            self._gr.refresh_begin(name, family, now)
            marked = self._rib.mark_stale(name, (family,))
            logger.info("route refresh begun peer=%s family=%s stale=%d", name, family, marked)
        elif self._gr.refresh_end(name, family):
            swept = self._rib.sweep_stale(name, family)
            logger.info("route refresh ended peer=%s family=%s swept=%d", name, family, swept)
        else:
            logger.info("route refresh end ignored peer=%s family=%s reason=no_begin", name, family)

    def _mark_refresh(
        self, peer: str, family: Family, subtype: RouteRefreshSubtype, *, now: float
    ) -> None:
        """The exporter's BoRR/EoRR around a table it resends, queued in order with its
        UPDATEs on the same session (RFC 7313 §4), when the peer negotiated them."""
        state = self._peers.get(peer)
        negotiated = None if state is None else state.session.negotiated
        if state is not None and negotiated is not None and negotiated.enhanced_route_refresh:
            state.session.send_route_refresh(family, now, subtype)
            self._touched.add(peer)

    def _import_filtered(
        self, name: str, state: PeerState, batch: NlriBatch, candidate: Candidate
    ) -> None:
        """A peer's [[filter]] import rules: a rejected prefix is treated as withdrawn."""
        assert state.import_chains is not None
        chain = state.import_chains[batch.family.afi]
        keep, drop = split_import(chain, batch.prefixes, batch.path_ids)
        if drop[0]:
            state.rejected.update((batch.family, n) for n in drop[0])
            self._rib.withdraw_many(batch.family, drop[0], name, drop[1])
        if keep[0]:
            self._rib.announce_many(batch.family, keep[0], candidate, keep[1])

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
        state.candidates = CandidateCache(
            state.source, self._loop_check, next_hop_problem=self._next_hop_check(state)
        )
        state.negotiated = negotiated
        state.import_filters = self._config.peer_settings(cfg).import_filters
        state.import_chains = import_chains(state.import_filters)
        peer_gr = negotiated.peer_graceful_restart
        preserved = (
            {f.family for f in peer_gr.families if f.forwarding_preserved} if peer_gr else set()
        )
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
            for family in self._gr.peer_down(name, families, restart_time, now):
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

    @staticmethod
    def _new_loop_check(config: Config) -> LoopCheck:
        cluster = config.bgp.cluster_id
        cluster_id = None if cluster is None else int(cluster)
        return LoopCheck(config.local_asn, int(config.bgp.router_id), cluster_id)

    @property
    def _cluster_id(self) -> int | None:
        cluster = self._config.bgp.cluster_id
        return None if cluster is None else int(cluster)

    def _profile(self, settings: PeerSettings, local: tuple[str, str]) -> PeerProfile:
        v4, v6 = own_next_hops(settings, self._config.node, *local)
        return PeerProfile(
            ibgp=not settings.is_ebgp,
            local_asn=self._config.local_asn,
            next_hop_v4=v4,
            next_hop_v6=v6,
            next_hop_self=settings.next_hop_self,
            rr_client=settings.rr_client,
            cluster_id=self._cluster_id,
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
        if self._rib.changes_pending:
            groups = self._rib.take_change_groups()
            if self._stopping:
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
            self._send_touched()
        self._end_faulted(now)

    def _for_peer(self, name: str, now: float, step: Callable[[], None]) -> None:
        """Runs one input of a peer (`step`, then its `_pump`) inside the core's fault boundary
        (`bgpd.errors.contained`, the only catch-all besides the exporter's): what it raises
        ends that peer's session, not the caller's loop, nor any other session. Export faults
        are the exporter's to attribute (to the group it was writing for), so an exception
        here is blamed on this peer's own processing."""
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
        data: bytes,
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

    def _reimport(self, name: str, state: PeerState, now: float) -> None:
        """Import rules changed: the peer's routes are asked for again (RFC 2918 route
        refresh; without it the session is reset, the only way to see them again)."""
        filters = self._config.peer_settings(state.config).import_filters
        if filters == state.import_filters:
            return
        state.import_filters = filters
        state.import_chains = import_chains(filters)
        negotiated = state.session.negotiated
        if negotiated is None or state.source is None:
            return
        if negotiated.route_refresh:
            for family in negotiated.families:
                state.session.send_route_refresh(family, now)
        else:
            state.session.reset(now, CeaseSubcode.OTHER_CONFIG_CHANGE, "import filters changed")

    def _group_key(self, state: PeerState) -> GroupKey | None:
        """Everything that changes the bytes a peer is sent (its update group's key)."""
        negotiated = state.session.negotiated
        if negotiated is None:
            return None
        cfg = state.config
        local = state.connections.get(state.session.established_conn_id or -1, ("", ""))
        settings = self._config.peer_settings(cfg)
        return GroupKey(
            profile=self._profile(settings, local),
            ctx=EncodeContext.from_negotiated(negotiated),
            families=negotiated.families,
            internal=self._policy.peer_internal(settings),
            export_filters=settings.export_filters,
        )

    # ----------------------------------------------------------------------- views for control

    def peer_views(self, now: float) -> list[PeerView]:
        return [self._peer_view(name, state, now) for name, state in self._peers.items()]

    def peer_view(self, name: str, now: float) -> PeerView | None:
        state = self._peers.get(name)
        return None if state is None else self._peer_view(name, state, now, detail=True)

    def _peer_view(
        self, name: str, state: PeerState, now: float, *, detail: bool = False
    ) -> PeerView:
        stale = self._gr.stale_families(name) if detail else frozenset()
        sent = self._exporter.sent_count(name)
        return peer_view(name, state, self._rib, now, sent=sent, detail=detail, stale=stale)

    def route_views(self, prefix: str | None = None, peer: str | None = None) -> list[RouteView]:
        return route_views(self._rib, prefix, peer)

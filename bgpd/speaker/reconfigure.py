"""Reconfiguration: the running speaker moved to a new config with as little disruption as the
change allows.

Role: `Reconfiguration.apply_config` is the part of `bgpd.speaker.core.Speaker` that applies a
reload's `ConfigDiff` (computed once by the runtime's reload plan, `bgpd.config.diff`): removed
peers get a Cease, peers whose session parameters changed are restarted (their counters carried
over), timer-only changes reach the running sessions, and static routes, export policy, import
filters and `[node]` addresses are re-applied over the sessions that stay up (regrouped,
re-exported, or asked again with a route refresh).

Invariants: a mixin of `Speaker` only, with no state of its own (no slots): it reads and writes
the Speaker's attributes declared below for the type checker. Only what the diff names is
touched; a peer's import filters changing never resets a session that can refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bgpd.config import Config, ConfigDiff, PeerConfig, StaticRoute
from bgpd.net import Family, Nlri
from bgpd.outbound.exporter import Exporter
from bgpd.outbound.groups import GroupKey
from bgpd.policy import ExportPolicy
from bgpd.policy.import_filter import import_filter
from bgpd.policy.next_hop import NextHopCheck
from bgpd.rib import CandidateCache
from bgpd.session import PeerCounters
from bgpd.speaker.local_routes import LocalRoutes
from bgpd.speaker.peer_state import PeerState, loop_check, session_settings
from bgpd.wire.constants import CeaseSubcode

logger = logging.getLogger(__name__)


class _ActionLog(list[str]):
    """A reload's actions, each logged as it is taken: its line comes right after the lines
    of its own effects (a peer removed: its `peer down`), in the order things happened."""

    __slots__ = ()

    def append(self, action: str) -> None:
        logger.info("reload action=%s", action)
        super().append(action)


class Reconfiguration:
    # No state of its own: the Speaker's slots hold it. The empty __slots__ keeps Speaker
    # instances without a __dict__; mypy would read it as forbidding the assignments below.
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Speaker's state and steps a reconfiguration uses (speaker.core)
        _config: Config
        _peers: dict[str, PeerState]
        _policy: ExportPolicy
        _exporter: Exporter
        _local: LocalRoutes
        _statics: dict[tuple[Family, Nlri], StaticRoute]

        def _next_hop_check(self, state: PeerState) -> NextHopCheck: ...
        def _add_peer(self, peer: PeerConfig, counters: PeerCounters | None = None) -> None: ...
        def _remove_peer(self, name: str, now: float, subcode: CeaseSubcode) -> PeerState: ...
        def _set_statics(self, config: Config) -> None: ...
        def _group_key(self, state: PeerState) -> GroupKey | None: ...
        def _check_next_hops(self, name: str, state: PeerState, key: GroupKey) -> None: ...
        def _pump(self, name: str, now: float) -> None: ...
        def _propagate(self, now: float) -> None: ...
        def start_allowed(self, peer: str) -> bool: ...
        def disabled_keep_only(self, peers: Iterable[str]) -> None: ...
        def disabled_names(self) -> list[str]: ...
        def _send_touched(self) -> None: ...

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
        # An operator's disable outlives the reload (a restarted session stays down), not
        # the peer's removal.
        self.disabled_keep_only(new_peers)
        # Peers still up whose loop check changed (its allowance of our AS): what they sent
        # before is judged again (`_reimport`).
        relooped: set[str] = set()
        for name, peer_state in self._peers.items():
            cache = peer_state.candidates
            peer = new_peers.get(name)
            if peer_state.source is None or cache is None or peer is None:
                continue
            loops = loop_check(new.peer_settings(peer))  # our AS, allowance, router/cluster id
            check = self._next_hop_check(peer_state)  # our [node] addresses may have changed
            if loops != cache.looped or check != cache.next_hop_problem:  # verdicts are stale
                if loops != cache.looped:
                    relooped.add(name)
                peer_state.candidates = CandidateCache(
                    peer_state.source, loops, next_hop_problem=check
                )
        actions = _ActionLog()
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
            self._policy = ExportPolicy.from_config(new)
            self._exporter.set_policy(self._policy, now)
            actions.append("export policy re-applied")
        for name, peer in new_peers.items():
            state = self._peers.get(name)
            if state is None:
                self._add_peer(peer, restarted.get(name))
                if self.start_allowed(name):
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
                # the strongest change names the peer; in-place settings may have come along
                state.session.update_settings(session_settings(new, peer))
                key = self._group_key(state)
                if key is not None:
                    self._check_next_hops(name, state, key)
                    self._exporter.regroup(name, key, now)
                self._reimport(name, state, now, relooped=name in relooped)
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

    def apply_peer_change(
        self,
        new: Config,
        now: float,
        *,
        added: PeerConfig | None = None,
        removed: str | None = None,
    ) -> None:
        """`apply_config` for a config that differs from the running one by one peer added
        or removed and nothing else (a dynamic neighbour coming or going), at the cost of that
        peer alone: no diff, no pass over the other peers, whose settings and verdicts cannot
        have changed. A reflector of a big cluster takes thousands of these at once."""
        self._config = new
        if removed is not None and removed in self._peers:
            self._remove_peer(removed, now, CeaseSubcode.PEER_DECONFIGURED)
            self.disabled_keep_only(n for n in self.disabled_names() if n != removed)
            logger.info("reload action=%s", f"peer {removed} removed")
        if added is not None:
            self._add_peer(added)
            if self.start_allowed(added.name):
                self._peers[added.name].session.start(now)
            self._pump(added.name, now)
            logger.info("reload action=%s", f"peer {added.name} added")
        self._propagate(now)
        self._send_touched()

    def _reimport(self, name: str, state: PeerState, now: float, *, relooped: bool) -> None:
        """Import rules or the loop check's allowance of our AS changed: the peer's routes are
        asked for again (RFC 2918 route refresh, a soft reset inbound: bgpd keeps no copy of
        what it refused); without it the session is reset, the only way to see them again."""
        settings = self._config.peer_settings(state.config)
        filters = settings.import_filters
        if filters == state.import_filters and not relooped:
            return
        state.import_filters = filters
        state.import_filter = import_filter(filters, ibgp=not settings.is_ebgp)
        negotiated = state.session.negotiated
        if negotiated is None or state.source is None:
            return
        if negotiated.route_refresh:
            for family in negotiated.families:
                state.session.send_route_refresh(family, now)
        else:
            why = "import filters changed" if not relooped else "allow_local_as changed"
            state.session.reset(now, CeaseSubcode.OTHER_CONFIG_CHANGE, why)

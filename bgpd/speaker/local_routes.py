"""The Loc-RIB candidates of the routes this speaker originates: kernel, connected, static.

Role: with Calico's route priorities on (`[calico] compat` 3.32 and later), a route bgpd
originates carries the LOCAL_PREF of its priority (`bgpd.policy.route_priority.
local_route_pref`): a learned kernel route its metric's (Felix writes 1024 for a workload, 512
for the elevated /32 of a live migration), statics and interface subnets the normal priority's.
iBGP peers receive that LOCAL_PREF, Calico's export policy reads it (the elevated /32 escapes
the block aggregation), and the decision process compares it with BGP paths: a BGP path of
normal priority still loses to a local route (the local rank breaks the LOCAL_PREF tie), an
elevated one wins (Calico's `preference = 200` override). With priorities off, local routes
carry no LOCAL_PREF, as before.

Invariants: candidates are shared values, one per (kind, LOCAL_PREF), so routes of one kind
and priority share their attribute set (UPDATE packing works by identity). Pure: no I/O.
"""

from __future__ import annotations

from bgpd.config import Config, StaticRoute
from bgpd.net import Afi, Family
from bgpd.policy.route_priority import local_route_pref
from bgpd.rib import Candidate, PathInfo, Source
from bgpd.speaker.peer_state import (
    CONNECTED_CANDIDATE,
    CONNECTED_SOURCE,
    KERNEL_CANDIDATE,
    KERNEL_SOURCE,
    LOCAL_ATTRIBUTES,
    KernelRouteView,
    static_candidate,
)

__all__ = ["LocalRoutes", "priority_settings"]

# (IPv4 normal priority, IPv6 normal priority) when priorities are on, else None.
PrioritySettings = tuple[int, int] | None


def priority_settings(config: Config) -> PrioritySettings:
    calico = config.calico
    if calico is None or not calico.route_priorities:
        return None
    return calico.normal_priority(4), calico.normal_priority(6)


class LocalRoutes:
    """Candidates for originated routes under one config's priority settings."""

    __slots__ = ("_memo", "settings")

    def __init__(self, config: Config) -> None:
        self.settings = priority_settings(config)
        self._memo: dict[tuple[Source, int], Candidate] = {}

    def reconfigure(self, config: Config) -> bool:
        """Takes `config`'s settings; True when they changed (every local route must then be
        announced again with its new LOCAL_PREF)."""
        settings = priority_settings(config)
        if settings == self.settings:
            return False
        self.settings = settings
        self._memo.clear()
        return True

    def _normal(self, family: Family) -> int | None:
        settings = self.settings
        if settings is None:
            return None
        return settings[0] if family.afi is Afi.IPV4 else settings[1]

    def kernel(self, route: KernelRouteView) -> Candidate:
        """The candidate of a learned kernel route or interface subnet."""
        normal = self._normal(route.family)
        if normal is None:
            return CONNECTED_CANDIDATE if route.connected else KERNEL_CANDIDATE
        if route.connected:
            return self._shared(CONNECTED_SOURCE, local_route_pref(0, normal))
        return self._shared(KERNEL_SOURCE, local_route_pref(route.metric, normal))

    def static(self, family: Family, static: StaticRoute) -> Candidate:
        """The candidate of a static; one with its own `local_pref` keeps it."""
        normal = self._normal(family)
        if normal is None or static.local_pref is not None:
            return static_candidate(static)
        return static_candidate(static, local_pref=local_route_pref(0, normal))

    def _shared(self, source: Source, local_pref: int) -> Candidate:
        candidate = self._memo.get((source, local_pref))
        if candidate is None:
            attributes = LOCAL_ATTRIBUTES.replace(local_pref=local_pref)
            candidate = Candidate(source=source, info=PathInfo(attributes=attributes, next_hop=b""))
            self._memo[source, local_pref] = candidate
        return candidate

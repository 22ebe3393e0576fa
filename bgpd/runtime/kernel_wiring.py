"""Wiring between the speaker's forwarding changes and the kernel sync service.

Role: turn `FibUpdate`s (BGP next hops per prefix) into kernel routes with Calico's
programming rules (IPIP through the tunnel device, CrossSubnet, no VXLAN pools, no reject
CIDRs, nothing Felix programs: programClusterRoutes, WireGuard peers), with the metric of
Calico's route priorities (`bgpd.policy.route_priority`, `[calico] compat` 3.32 on), keep the
node's IPAM-block blackholes in the desired set, and turn learned kernel routes (Felix's) into
the speaker's `KernelRouteView`s.

Invariants: a block blackhole is never removed by a forwarding change: a prefix the speaker no
longer forwards falls back to its blackhole when it is one of this node's blocks. Every
destination with BGP next hops is either installed by bgpd or, when Felix programs it, listed
as Felix's (`views`): never two owners. A static route to a peer (`[[peer]] reachable_by`) is
never replaced by a forwarding change either: it wins over BGP as BIRD's static protocol does.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator

from bgpd.config import Config
from bgpd.kernel import KernelRoute, KernelSync, LearnRules, ProgrammingRules
from bgpd.kernel.peer_routes import peer_routes
from bgpd.net import IPV4_UNICAST, Afi, Family, format_address, format_prefix, pack_prefix
from bgpd.policy.route_priority import kernel_metric
from bgpd.speaker import FibUpdate, KernelRouteView, priority_settings
from bgpd.views import KernelRouteRow

logger = logging.getLogger(__name__)

LearnedViews = Callable[[list[KernelRouteView], list[KernelRouteView]], None]
RouteKey = tuple[Family, str]


def programming_rules(config: Config) -> ProgrammingRules:
    calico = config.calico
    node = config.node
    cluster_routes = calico.cluster_routes if calico else None
    return ProgrammingRules(
        pools=calico.pools if calico else (),
        reject_cidrs=calico.reject if calico else (),
        node_network_v4=node.network_v4 if node else None,
        tunnel_device=config.kernel.tunnel_device,
        program_ipip=cluster_routes.ipip if cluster_routes else True,
        program_no_encap=cluster_routes.no_encap if cluster_routes else True,
        wireguard_peers=frozenset(calico.wireguard_peers) if calico else frozenset(),
    )


def learn_rules(config: Config) -> LearnRules:
    kernel = config.kernel
    return LearnRules(
        protocols=frozenset(kernel.learn_protocols),
        ignored_interfaces=kernel.ignored_interfaces,
    )


def view(route: KernelRoute, rules: LearnRules) -> KernelRouteView:
    return KernelRouteView(
        family=route.family,
        nlri=pack_prefix(route.prefix),
        ifname=route.ifname,
        connected=rules.is_connected(route),
        metric=route.metric,
    )


class KernelWiring:
    __slots__ = (
        "_blackholes",
        "_config",
        "_felix",
        "_learn",
        "_on_learned",
        "_peer_routes",
        "_priorities",
        "_rules",
        "sync",
    )

    def __init__(self, config: Config, on_learned: LearnedViews) -> None:
        self._config = config
        self._rules = programming_rules(config)
        self._priorities = priority_settings(config)
        self._blackholes = self._block_blackholes(config)
        self._peer_routes = self._routes_to_peers(config)
        # Destinations with BGP next hops that Felix programs: (family, prefix) -> next hops.
        self._felix: dict[RouteKey, tuple[str, ...]] = {}
        self._learn = learn_rules(config)
        self._on_learned = on_learned
        self.sync = KernelSync(
            on_learned=self._learned,
            learn_rules=self._learn,
            converge_timeout=float(config.kernel.converge_timeout),
        )

    def _learned(self, added: list[KernelRoute], removed: list[KernelRoute]) -> None:
        rules = self._learn
        self._on_learned([view(r, rules) for r in added], [view(r, rules) for r in removed])

    def _block_blackholes(self, config: Config) -> dict[RouteKey, KernelRoute]:
        blocks = config.calico.blocks if config.calico else ()
        return {r.key: r for r in self._rules.blackholes(blocks)}

    def _routes_to_peers(self, config: Config) -> dict[RouteKey, KernelRoute]:
        rules = self._rules
        return peer_routes(
            ((p.address, p.reachable_by) for p in config.peers if p.reachable_by is not None),
            protocol=rules.protocol,
            table=rules.table,
            metric=rules.metric,
        )

    def _desired(self, snapshot: Iterable[FibUpdate]) -> list[KernelRoute]:
        # Later entries win per destination: BGP over blackholes, peer routes over both.
        return [
            *self._blackholes.values(),
            *self._programmed(snapshot),
            *self._peer_routes.values(),
        ]

    async def start(self, snapshot: Iterable[FibUpdate]) -> None:
        self.sync.replace_desired(self._desired(snapshot))
        await self.sync.start()

    def apply(self, updates: Iterable[FibUpdate]) -> None:
        changes = list(self._program(updates))
        if self._peer_routes:
            pinned = self._peer_routes
            changes = [c for c in changes if (c[0], c[1]) not in pinned]
        if changes:
            self.sync.set_desired(changes)

    def _program(
        self, updates: Iterable[FibUpdate]
    ) -> Iterator[tuple[Family, str, KernelRoute | None]]:
        """Kernel routes for forwarding updates; a prefix without BGP next hops falls back to
        its blackhole when it is one of this node's blocks, else to nothing. A destination
        Felix programs is noted as Felix's."""
        rules = self._rules
        felix = self._felix
        for update in updates:
            family = update.family
            hops = tuple(format_address(h) for h in update.next_hops)
            metric = self._metric(family, update.local_pref)
            if hops:
                programmed = rules.program_many(family, update.nlris, hops, metric)
            else:
                programmed = ((format_prefix(n, family.afi), None) for n in update.nlris)
            for prefix, route in programmed:
                key = (family, prefix)
                if route is None and hops and rules.left_to_felix(family, prefix, hops):
                    felix[key] = hops
                elif felix:
                    felix.pop(key, None)
                yield family, prefix, route or self._blackholes.get(key)

    def _metric(self, family: Family, local_pref: int | None) -> int | None:
        """The kernel metric of a BGP route (Calico's route priorities), or None for the
        rules' own (0) when priorities are off."""
        priorities = self._priorities
        if priorities is None:
            return None
        normal = priorities[0] if family.afi is Afi.IPV4 else priorities[1]
        return kernel_metric(local_pref, normal)

    def reload(self, config: Config, snapshot: Iterable[FibUpdate]) -> None:
        """New rules: the desired table is planned again; the learned routes are judged again
        (`[kernel] ignored_interfaces`, `learn_protocols`), and all of them reported again
        when what the speaker derives from them changed (route priorities)."""
        old_priorities = self._priorities
        self._config = config
        self._rules = programming_rules(config)
        self._priorities = priority_settings(config)
        self._blackholes = self._block_blackholes(config)
        self._peer_routes = self._routes_to_peers(config)
        self._felix = {}
        self.sync.replace_desired(self._desired(snapshot))
        learn = learn_rules(config)
        if learn != self._learn:
            self._learn = learn
            self.sync.set_learn_rules(learn)
        if self._priorities != old_priorities and self.sync.learned:
            self._learned(list(self.sync.learned.values()), [])

    def _programmed(self, snapshot: Iterable[FibUpdate]) -> list[KernelRoute]:
        return [route for _, _, route in self._program(snapshot) if route is not None]

    def views(self) -> list[KernelRouteRow]:
        """`bgpctl show kernel`: what we installed (ours), what we learned, and the BGP
        routes we leave to Felix (his)."""
        rows = [kernel_view(r, "installed", owner="bgpd") for r in self.sync.installed.values()]
        rows += [kernel_view(r, "learned") for r in self.sync.learned.values()]
        rows += [felix_view(family, prefix, hops) for (family, prefix), hops in self._felix.items()]
        return sorted(rows, key=lambda r: (r.status, _sort_key(r.prefix)))


def _sort_key(prefix: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(prefix)
    return (net.version, int(net.network_address), net.prefixlen)


def kernel_view(route: KernelRoute, status: str, owner: str = "") -> KernelRouteRow:
    return KernelRouteRow(
        prefix=route.prefix,
        family="ipv4" if route.family == IPV4_UNICAST else "ipv6",
        status=status,
        kind=route.kind,
        protocol=route.protocol,
        next_hops=tuple(str(h) for h in route.nexthops),
        metric=route.metric,
        owner=owner,
    )


def felix_view(family: Family, prefix: str, hops: tuple[str, ...]) -> KernelRouteRow:
    """A BGP route bgpd does not install because Felix programs its destination."""
    return KernelRouteRow(
        prefix=prefix,
        family="ipv4" if family == IPV4_UNICAST else "ipv6",
        status="not-installed",
        next_hops=tuple(f"via {hop}" for hop in hops),
        owner="felix",
    )

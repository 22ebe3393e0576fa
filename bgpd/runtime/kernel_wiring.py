"""Wiring between the speaker's forwarding changes and the kernel sync service.

Role: turn `FibUpdate`s (BGP next hops per prefix) into kernel routes with Calico's
programming rules (IPIP through the tunnel device, CrossSubnet, no VXLAN pools, no reject
CIDRs), keep the node's IPAM-block blackholes in the desired set, and turn learned kernel
routes (Felix's) into the speaker's `KernelRouteView`s.

Invariants: a block blackhole is never removed by a forwarding change: a prefix the speaker no
longer forwards falls back to its blackhole when it is one of this node's blocks. A static
route to a peer (`[[peer]] reachable_by`) is never replaced by a forwarding change either: it
wins over BGP as BIRD's static protocol does.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator

from bgpd.config import Config
from bgpd.kernel import KernelRoute, KernelSync, LearnRules, ProgrammingRules
from bgpd.kernel.peer_routes import peer_routes
from bgpd.net import IPV4_UNICAST, Family, format_address, format_prefix, pack_prefix
from bgpd.speaker import FibUpdate, KernelRouteView
from bgpd.views import KernelRouteRow

logger = logging.getLogger(__name__)

LearnedViews = Callable[[list[KernelRouteView], list[KernelRouteView]], None]
RouteKey = tuple[Family, str]


def programming_rules(config: Config) -> ProgrammingRules:
    calico = config.calico
    node = config.node
    return ProgrammingRules(
        pools=calico.pools if calico else (),
        reject_cidrs=calico.reject if calico else (),
        node_network_v4=node.network_v4 if node else None,
        tunnel_device=config.kernel.tunnel_device,
    )


def view(route: KernelRoute, rules: LearnRules) -> KernelRouteView:
    return KernelRouteView(
        family=route.family,
        nlri=pack_prefix(route.prefix),
        ifname=route.ifname,
        connected=rules.is_connected(route),
    )


class KernelWiring:
    __slots__ = ("_blackholes", "_config", "_peer_routes", "_rules", "sync")

    def __init__(self, config: Config, on_learned: LearnedViews) -> None:
        self._config = config
        self._rules = programming_rules(config)
        self._blackholes = self._block_blackholes(config)
        self._peer_routes = self._routes_to_peers(config)

        rules = LearnRules(protocols=frozenset(config.kernel.learn_protocols))

        def learned(added: list[KernelRoute], removed: list[KernelRoute]) -> None:
            on_learned([view(r, rules) for r in added], [view(r, rules) for r in removed])

        self.sync = KernelSync(
            on_learned=learned,
            learn_rules=rules,
            converge_timeout=float(config.kernel.converge_timeout),
        )

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
        its blackhole when it is one of this node's blocks, else to nothing."""
        for update in updates:
            hops = tuple(format_address(h) for h in update.next_hops)
            for nlri in update.nlris:
                prefix = format_prefix(nlri, update.family.afi)
                route = self._rules.program(update.family, prefix, hops) if hops else None
                yield update.family, prefix, route or self._blackholes.get((update.family, prefix))

    def reload(self, config: Config, snapshot: Iterable[FibUpdate]) -> None:
        self._config = config
        self._rules = programming_rules(config)
        self._blackholes = self._block_blackholes(config)
        self._peer_routes = self._routes_to_peers(config)
        self.sync.replace_desired(self._desired(snapshot))

    def _programmed(self, snapshot: Iterable[FibUpdate]) -> list[KernelRoute]:
        return [route for _, _, route in self._program(snapshot) if route is not None]

    def views(self) -> list[KernelRouteRow]:
        """`bgpctl show kernel`: what we installed and what we learned."""
        rows = [kernel_view(r, "installed") for r in self.sync.installed.values()]
        rows += [kernel_view(r, "learned") for r in self.sync.learned.values()]
        return sorted(rows, key=lambda r: (r.status, _sort_key(r.prefix)))


def _sort_key(prefix: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(prefix)
    return (net.version, int(net.network_address), net.prefixlen)


def kernel_view(route: KernelRoute, status: str) -> KernelRouteRow:
    return KernelRouteRow(
        prefix=route.prefix,
        family="ipv4" if route.family == IPV4_UNICAST else "ipv6",
        status=status,
        kind=route.kind,
        protocol=route.protocol,
        next_hops=tuple(str(h) for h in route.nexthops),
        metric=route.metric,
    )

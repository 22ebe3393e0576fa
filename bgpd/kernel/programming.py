"""Calico's `calico_kernel_programming`: how a BGP-learned best route becomes a kernel route.

Role: a pure function from (prefix, BGP next hops) to the `KernelRoute` bgpd installs, or to
nothing; and the blackhole routes for this node's own IPAM blocks. This mirrors the filter in
Calico's ``bird_ipam.cfg.template`` plus the Calico BIRD fork's ``krt_tunnel`` extension
(calico-bgp.md §2.5, §2.7, §4.2), checked in this order:

1. Inside a reject CIDR (``/calico/rejectcidrs``: advertised service ranges) -> not installed.
2. Next hops that are WireGuard peers (``wireguard_peers``: nodes Felix reaches over its
   WireGuard device, processWireguardPeerFilter) are dropped; a route left with none is Felix's.
3. Inside a VXLAN pool, or a pool whose class (IPIP, unencapsulated) Felix programs
   (``program_ipip``/``program_no_encap``, BGPConfiguration programClusterRoutes) -> not
   installed: Felix programs those routes itself (`left_to_felix` tells these apart).
4. Inside an IPIP pool bgpd programs (IPv4 only, and only when this node's IPv4 subnet is
   known, as the template generates the pool section only then):
   - ``always``: ``via <next hop> dev tunl0 onlink``;
   - ``cross-subnet``: a plain ``via`` when the next hop is inside this node's subnet,
     otherwise through the tunnel as for ``always`` (decided per next hop for ECMP).
5. Anything else (no-encap pools bgpd programs, routes outside every pool): a plain
   ``via <next hop>``, the kernel picks the device.

The metric is ``metric`` unless the caller gives one per route (Calico's route priorities,
`bgpd.policy.route_priority.kernel_metric`).

Several next hops make one multipath route (BIRD ``merge paths on``). Pools are matched in
the order given, first match wins (Calico refuses overlapping pools). A pool's ``disabled``
flag only stops new IPAM allocations: existing blocks keep being routed, so it is ignored
here, as the template ignores it.

Deviation from the template, on purpose: VXLAN pools, and the pools Felix programs, are
rejected even when this node's subnet is unknown (the template would then install them as plain
routes and fight Felix). The WireGuard rule drops next hops one by one, as BIRD's kernel
protocol with ``merge paths`` filters each route of a multipath set.

Invariants: every route returned carries ``protocol`` (12 by default) and ``table``; a
prefix of the wrong family or a next hop that does not parse raises ValueError (a caller
bug); next hops of the other address family are dropped, and a route left with none is not
installed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bgpd.kernel.kernel_route import RT_TABLE_MAIN, RTPROT_BIRD, KernelRoute, NextHop
from bgpd.kernel.rtnl import format_ip
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Afi, Family, IPNetwork, format_prefix

__all__ = ["PoolLike", "ProgrammingRules"]

_IPIP_ALWAYS = "always"
_IPIP_CROSS_SUBNET = "crosssubnet"


class PoolLike(Protocol):
    """What the rules read from a Calico IP pool (`bgpd.config.Pool` is one).

    ``ipip`` and ``vxlan`` are Calico's modes: ``never`` (or empty), ``always``,
    ``cross-subnet`` (``CrossSubnet`` is accepted too).
    """

    @property
    def cidr(self) -> IPNetwork: ...

    @property
    def ipip(self) -> str: ...

    @property
    def vxlan(self) -> str: ...

    @property
    def disabled(self) -> bool: ...


def _mode(value: str) -> str:
    """Normalises Calico's spellings: ``cross-subnet``/``CrossSubnet`` -> ``crosssubnet``."""
    mode = str(value).strip().lower().replace("-", "").replace("_", "")
    return "" if mode == "never" else mode


def _int_range(net: IPNetwork) -> tuple[int, int]:
    """(network address as an integer, prefix length) of a network."""
    return int(net.network_address), net.prefixlen


def _inside(net: IPNetwork, outer: IPNetwork) -> bool:
    """BIRD's ``net ~ outer``: ``net`` equals ``outer`` or lies inside it."""
    return net.version == outer.version and net.subnet_of(outer)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgrammingRules:
    """The kernel-programming rule set of one node (see the module docstring)."""

    pools: tuple[PoolLike, ...] = ()
    reject_cidrs: tuple[IPNetwork, ...] = ()
    node_network_v4: ipaddress.IPv4Network | None = None
    tunnel_device: str = "tunl0"
    protocol: int = RTPROT_BIRD
    table: int = RT_TABLE_MAIN
    metric: int = 0
    # BGPConfiguration programClusterRoutes: whether bgpd programs the routes of IPIP pools
    # and of unencapsulated pools (Felix programs the others, and always VXLAN pools').
    program_ipip: bool = True
    program_no_encap: bool = True
    # Next hops Felix reaches over WireGuard: routes through them are never installed.
    wireguard_peers: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] = frozenset()

    def program(
        self,
        family: Family,
        prefix: str,
        nexthops: tuple[str, ...],
        metric: int | None = None,
    ) -> KernelRoute | None:
        """The kernel route for a best route to ``prefix`` via ``nexthops``, or None.

        ``nexthops`` are addresses as text; an IPv6 link-local next hop needs its interface
        as a scope (``fe80::1%eth0``) or the kernel cannot use it. ``metric`` overrides the
        rule set's.
        """
        net = self._network(family, prefix)
        if self._rejected(net):
            return None
        pool = self._pool(net)
        programs, tunnel_mode = self._pool_verdict(pool, family)
        if not programs:
            return None  # Felix's: VXLAN, or a pool class programClusterRoutes gives Felix
        return self._route(family, str(net), self._hops(net.version, nexthops, tunnel_mode), metric)

    def program_many(
        self,
        family: Family,
        nlris: Iterable[bytes],
        nexthops: tuple[str, ...],
        metric: int | None = None,
    ) -> Iterator[tuple[str, KernelRoute | None]]:
        """(prefix as text, `program`'s route) for each packed prefix of one best path.

        ``nlris`` are in `bgpd.net`'s packed form (length octet, then the significant
        octets). The same rules as `program`, but the next hops are parsed once per tunnel
        mode and prefixes (IPv4 and IPv6) are matched against the pools and reject CIDRs as
        integers: a node receiving a cluster's routes programs 100,000 prefixes in one go, and
        `ipaddress` objects per prefix cost most of that (about 40 us each). Prefixes with
        host bits set (which `program` refuses) take `program` itself.
        """
        afi = family.afi
        version, width = (4, 32) if afi is Afi.IPV4 else (6, 128)
        octets, host = width // 8, (1 << width) - 1
        rejects = [_int_range(c) for c in self.reject_cidrs if c.version == version]
        pools = [(*_int_range(p.cidr), p) for p in self.pools if p.cidr.version == version]
        verdicts: dict[int, tuple[bool, str]] = {}
        hops_by_mode: dict[str, tuple[NextHop, ...]] = {}
        for nlri in nlris:
            length = nlri[0]
            packed = nlri[1 : octets + 1].ljust(octets, b"\0")
            address = int.from_bytes(packed, "big")
            if length > width or address & (host >> length):
                prefix = format_prefix(nlri, afi)  # raises as `program` would
                yield prefix, self.program(family, prefix, nexthops, metric)
                continue
            if version == 4:
                prefix = f"{socket.inet_ntoa(packed)}/{length}"
            else:
                prefix = f"{format_ip(socket.AF_INET6, packed)}/{length}"
            if any(n <= length and (address ^ a) >> (width - n) == 0 for a, n in rejects):
                yield prefix, None
                continue
            pool: PoolLike | None = None
            for a, n, candidate in pools:
                if n <= length and (address ^ a) >> (width - n) == 0:
                    pool = candidate
                    break
            key = id(pool)
            verdict = verdicts.get(key)
            if verdict is None:
                verdict = verdicts[key] = self._pool_verdict(pool, family)
            programs, tunnel_mode = verdict
            if not programs:
                yield prefix, None
                continue
            hops = hops_by_mode.get(tunnel_mode)
            if hops is None:
                hops = hops_by_mode[tunnel_mode] = self._hops(version, nexthops, tunnel_mode)
            yield prefix, self._route(family, prefix, hops, metric)

    def _pool_verdict(self, pool: PoolLike | None, family: Family) -> tuple[bool, str]:
        """(whether bgpd programs routes inside ``pool``, the IPIP mode of their next hops)."""
        if pool is not None and not self._programs(pool):
            return False, ""
        if pool is not None and family == IPV4_UNICAST and self.node_network_v4 is not None:
            return True, _mode(pool.ipip)
        return True, ""

    def _hops(
        self, version: int, nexthops: tuple[str, ...], tunnel_mode: str
    ) -> tuple[NextHop, ...]:
        hops: list[NextHop] = []
        for text in nexthops:
            hop = self._next_hop(version, text, tunnel_mode)
            if hop is not None and hop not in hops:
                hops.append(hop)
        return tuple(hops)

    def _route(
        self, family: Family, prefix: str, hops: tuple[NextHop, ...], metric: int | None
    ) -> KernelRoute | None:
        if not hops:
            return None
        return KernelRoute(
            family=family,
            prefix=prefix,
            kind="unicast",
            nexthops=hops,
            protocol=self.protocol,
            table=self.table,
            metric=self.metric if metric is None else metric,
        )

    def left_to_felix(self, family: Family, prefix: str, nexthops: tuple[str, ...]) -> bool:
        """True when `program` installs nothing because Felix programs this destination: a
        VXLAN pool, a pool class Felix owns, or every next hop a WireGuard peer."""
        net = self._network(family, prefix)
        if self._rejected(net):
            return False
        pool = self._pool(net)
        if pool is not None and not self._programs(pool):
            return True
        addresses = [ipaddress.ip_address(text) for text in nexthops]
        usable = [a for a in addresses if a.version == net.version and not a.is_unspecified]
        return bool(usable) and all(self._wireguard(a) for a in usable)

    def _network(self, family: Family, prefix: str) -> IPNetwork:
        net = ipaddress.ip_network(prefix, strict=True)
        if (net.version == 4) != (family.afi is Afi.IPV4):
            raise ValueError(f"prefix {prefix} is not {family}")
        return net

    def _rejected(self, net: IPNetwork) -> bool:
        return any(_inside(net, cidr) for cidr in self.reject_cidrs)

    def _pool(self, net: IPNetwork) -> PoolLike | None:
        """The pool ``net`` is inside, or None (pools never overlap: the first match)."""
        for pool in self.pools:
            if _inside(net, pool.cidr):
                return pool
        return None

    def _programs(self, pool: PoolLike) -> bool:
        """Calico's clusterRoutePolicy.programsPool: whether bgpd owns this pool's routes."""
        if _mode(pool.vxlan):
            return False
        if _mode(pool.ipip):
            return self.program_ipip
        return self.program_no_encap

    def _wireguard(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if not self.wireguard_peers:
            return False
        bare = ipaddress.ip_address(str(address).partition("%")[0])
        return bare in self.wireguard_peers

    def _next_hop(self, version: int, text: str, tunnel_mode: str) -> NextHop | None:
        address = ipaddress.ip_address(text)
        if address.version != version:
            return None
        if address.is_unspecified or self._wireguard(address):
            return None
        scope = address.scope_id if isinstance(address, ipaddress.IPv6Address) else None
        gateway = str(address).partition("%")[0]
        if tunnel_mode == _IPIP_ALWAYS or (
            tunnel_mode == _IPIP_CROSS_SUBNET
            and self.node_network_v4 is not None
            and address not in self.node_network_v4
        ):
            return NextHop(gateway=gateway, ifname=self.tunnel_device, onlink=True)
        return NextHop(gateway=gateway, ifname=scope or None)

    def blackholes(self, blocks: Iterable[IPNetwork | str]) -> list[KernelRoute]:
        """Blackhole routes for this node's IPAM blocks (bird_aggr.cfg, calico-bgp.md §2.5).

        /32 and /128 blocks get none; blocks the kernel filter rejects (inside a reject CIDR,
        a VXLAN pool or a pool Felix programs, where Felix installs its own blackhole) get none
        either.
        """
        routes: list[KernelRoute] = []
        for block in blocks:
            net = ipaddress.ip_network(block, strict=True) if isinstance(block, str) else block
            if net.prefixlen == net.max_prefixlen:
                continue
            if self._rejected(net):
                continue
            pool = self._pool(net)
            if pool is not None and not self._programs(pool):
                continue
            family = IPV4_UNICAST if net.version == 4 else IPV6_UNICAST
            routes.append(
                KernelRoute(
                    family=family,
                    prefix=str(net),
                    kind="blackhole",
                    protocol=self.protocol,
                    table=self.table,
                    metric=self.metric,
                )
            )
        return routes

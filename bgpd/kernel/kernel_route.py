"""Kernel routes as values: what the kernel table holds and what bgpd wants it to hold.

Role: the vocabulary shared by the pure kernel modules (learning, programming, reconciling) and
the netlink edge. Nothing here talks to the kernel.

Invariants:
- `KernelRoute.prefix` is canonical text (``10.0.0.0/24``, ``2001:db8::/32``: host bits zero,
  the form `ipaddress` prints) and its address family matches `family`. The rest of bgpd names a
  destination by `RouteKey` = (family, prefix).
- Inside one table the kernel identifies a route by (family, prefix, metric) (tos and source
  routes are never used by Calico and are ignored): that is `RouteId`. For IPv6 the kernel
  stores metric 0 as 1024 (``IP6_RT_PRIO_USER``), so `KernelRoute` normalises it the same way
  and a route built here compares equal to the one a dump returns.
- Only unicast routes carry next hops; blackhole, unreachable, prohibit and throw routes carry
  none. A multipath (ECMP) route is one route with several next hops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bgpd.net import IPV6_UNICAST, Afi, Family

__all__ = [
    "FELIX_PROTOCOL",
    "IPV6_DEFAULT_METRIC",
    "RTPROT_BIRD",
    "RTPROT_BOOT",
    "RTPROT_KERNEL",
    "RT_TABLE_MAIN",
    "KernelRoute",
    "NextHop",
    "RouteId",
    "RouteKey",
    "RouteKind",
]

# Route protocol numbers (linux/rtnetlink.h, rt_protos). RTPROT_BIRD is the one Felix
# recognises as "the BGP daemon's" and leaves alone; bgpd uses it for everything it installs.
RTPROT_KERNEL = 2  # routes the kernel derives from addresses: never learned
RTPROT_BOOT = 3  # `ip route add` default; Felix's workload routes (deviceRouteProtocol)
RTPROT_BIRD = 12
FELIX_PROTOCOL = 80  # Felix's VXLAN / no-encap / IPAM-block blackhole routes

RT_TABLE_MAIN = 254
IPV6_DEFAULT_METRIC = 1024  # IP6_RT_PRIO_USER: what the kernel stores for an IPv6 metric of 0

RouteKind = Literal["unicast", "blackhole", "unreachable", "prohibit", "throw"]
_KINDS: frozenset[str] = frozenset(("unicast", "blackhole", "unreachable", "prohibit", "throw"))

# (family, canonical prefix): how bgpd names a destination.
RouteKey = tuple[Family, str]
# (family, canonical prefix, metric): how the kernel names a route inside one table.
RouteId = tuple[Family, str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class NextHop:
    """One next hop: a gateway, an outgoing interface, or both.

    ``onlink`` (RTNH_F_ONLINK) tells the kernel to use the gateway on ``ifname`` even when no
    subnet there contains it: that is how IPIP routes go through ``tunl0``. A ``None`` ifname
    in a *desired* route means "let the kernel pick the device", so it matches any device.
    """

    gateway: str | None = None
    ifname: str | None = None
    onlink: bool = False

    def __post_init__(self) -> None:
        if self.gateway is None and self.ifname is None:
            raise ValueError("a next hop needs a gateway, an interface or both")
        if self.onlink and (self.gateway is None or self.ifname is None):
            raise ValueError("an onlink next hop needs both a gateway and an interface")

    def __str__(self) -> str:
        parts = []
        if self.gateway is not None:
            parts.append(f"via {self.gateway}")
        if self.ifname is not None:
            parts.append(f"dev {self.ifname}")
        if self.onlink:
            parts.append("onlink")
        return " ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelRoute:
    """One route of one kernel table (see the module docstring for the invariants)."""

    family: Family
    prefix: str
    kind: RouteKind = "unicast"
    nexthops: tuple[NextHop, ...] = ()
    protocol: int = RTPROT_BIRD
    table: int = RT_TABLE_MAIN
    metric: int = 0
    # (family, prefix), made once: the kernel sync's views are keyed by it, and sharing one
    # tuple per destination between them (instead of one per view and lookup) saves 56 bytes
    # a destination for each.
    key: RouteKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Cheap checks only: dumps build thousands of these. Canonical prefixes come from the
        # codec (kernel bytes) or from `ipaddress` in the programming rules.
        if self.kind not in _KINDS:
            raise ValueError(f"unknown route kind {self.kind!r}")
        if self.kind != "unicast" and self.nexthops:
            raise ValueError(f"a {self.kind} route has no next hops")
        if "/" not in self.prefix or (":" in self.prefix) != (self.family.afi is Afi.IPV6):
            raise ValueError(f"prefix {self.prefix!r} is not a {self.family} prefix")
        if not 0 <= self.protocol <= 255:
            raise ValueError(f"route protocol {self.protocol} out of range 0..255")
        if not 0 < self.table < 2**32 or not 0 <= self.metric < 2**32:
            raise ValueError("table must be 1..2^32-1 and metric 0..2^32-1")
        if self.metric == 0 and self.family == IPV6_UNICAST:
            object.__setattr__(self, "metric", IPV6_DEFAULT_METRIC)
        object.__setattr__(self, "key", (self.family, self.prefix))

    @property
    def id(self) -> RouteId:
        return (self.family, self.prefix, self.metric)

    @property
    def ifname(self) -> str | None:
        """The outgoing interface of a single-path route (None for multipath and others)."""
        if len(self.nexthops) == 1:
            return self.nexthops[0].ifname
        return None

    @property
    def prefix_length(self) -> int:
        return int(self.prefix.rpartition("/")[2])

    def __str__(self) -> str:
        """The route as `ip route` would print it (roughly), for logs and bgpctl."""
        head = self.prefix if self.kind == "unicast" else f"{self.kind} {self.prefix}"
        if len(self.nexthops) == 1:
            head += f" {self.nexthops[0]}"
        else:
            head += "".join(f" nexthop {nh}" for nh in self.nexthops)
        head += f" proto {self.protocol}"
        if self.metric:
            head += f" metric {self.metric}"
        if self.table != RT_TABLE_MAIN:
            head += f" table {self.table}"
        return head

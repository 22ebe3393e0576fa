"""Kernel route synchronisation: learn alien routes, install BGP routes (Calico semantics).

The only bgpd package that talks to the kernel routing table. Pure modules: `routes`
(values), `learn` (which alien routes enter the RIB), `programming` (Calico's
calico_kernel_programming: BGP best route -> kernel route), `reconcile` (desired x observed ->
operations), `rtnl` (the rtnetlink message codec). Edge modules: `netlink` (sockets) and
`sync` (`KernelSync`, the asyncio service the daemon runs).
"""

from bgpd.kernel.kernel_route import (
    FELIX_PROTOCOL,
    RT_TABLE_MAIN,
    RTPROT_BIRD,
    RTPROT_BOOT,
    RTPROT_KERNEL,
    KernelRoute,
    NextHop,
    RouteId,
    RouteKey,
)
from bgpd.kernel.learn import LearnRules
from bgpd.kernel.netlink import Netlink, OpError
from bgpd.kernel.programming import PoolLike, ProgrammingRules
from bgpd.kernel.reconcile import Op, matches, plan
from bgpd.kernel.sync import KernelStats, KernelSync, LearnedCallback

__all__ = [
    "FELIX_PROTOCOL",
    "RTPROT_BIRD",
    "RTPROT_BOOT",
    "RTPROT_KERNEL",
    "RT_TABLE_MAIN",
    "KernelRoute",
    "KernelStats",
    "KernelSync",
    "LearnRules",
    "LearnedCallback",
    "Netlink",
    "NextHop",
    "Op",
    "OpError",
    "PoolLike",
    "ProgrammingRules",
    "RouteId",
    "RouteKey",
    "matches",
    "plan",
]

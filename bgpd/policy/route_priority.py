"""Calico's route priority: a kernel metric carried between nodes as LOCAL_PREF.

Role: the one home of the mapping newer Calico releases use (confd `bgp_processor.go`,
`template_funcs.go`, BirdIntMaxValue): a route's priority is its kernel metric (Felix writes
1024 for normal workload routes and a lower number, 512, for the elevated /32s of a live
migration); toward iBGP peers it travels as LOCAL_PREF = 2147483647 - priority, and a route
learned with a LOCAL_PREF goes into the kernel with metric 2147483647 - LOCAL_PREF. BGPFilter's
`priority` condition and `setPriority` operation read and write the same LOCAL_PREF.

Where each rule of Calico's BIRD filters lands in bgpd (route priorities on, `[calico] compat`
3.32 and later, `bgpd.config.calico_release`):

- `kernel_metric`: the kernel programming filter's `krt_metric` for a BGP route (normal
  priority without a LOCAL_PREF, i.e. from an eBGP peer; else 2147483647 - LOCAL_PREF);
- `local_route_pref`: the export filter's `bgp_local_pref = 2147483647 - krt_metric` for a
  route bgpd originates: a kernel route's metric (0 is BIRD's undefined `krt_metric`: the
  normal priority), the normal priority for statics and interface subnets. bgpd gives its local
  routes this LOCAL_PREF in the Loc-RIB, so iBGP peers receive it and the decision process
  compares it;
- `is_elevated`: a priority below the normal one (calico_aggr's `krt_metric < normal`: such a
  /32 escapes the block aggregation; the import filter's `preference = 200`: such a BGP route
  wins over a local workload route, which in bgpd falls out of the LOCAL_PREF comparison).

Invariants: pure integer functions; a priority is 0..2147483647 and maps to a LOCAL_PREF in the
same range and back unchanged.
"""

from __future__ import annotations

from bgpd.config.calico_release import DEFAULT_NORMAL_PRIORITY
from bgpd.rib.decision import DEFAULT_LOCAL_PREF

__all__ = [
    "DEFAULT_NORMAL_PRIORITY",
    "MAX_PRIORITY",
    "is_elevated",
    "kernel_metric",
    "local_pref_of_priority",
    "local_route_pref",
    "priority_of_local_pref",
    "route_priority",
]

# BIRD's largest int (BirdIntMaxValue in Calico's confd): the sum of a priority and its LOCAL_PREF.
MAX_PRIORITY = 2_147_483_647


def local_pref_of_priority(priority: int) -> int:
    """The LOCAL_PREF that carries `priority` (a lower priority number wins, a higher
    LOCAL_PREF wins: the mapping keeps the order)."""
    return MAX_PRIORITY - priority


def priority_of_local_pref(local_pref: int) -> int:
    """The route priority (kernel metric) a LOCAL_PREF stands for, clamped to 0 for a
    LOCAL_PREF above MAX_PRIORITY (a 32-bit attribute can hold one)."""
    return max(0, MAX_PRIORITY - local_pref)


def route_priority(
    local_pref: int | None, *, from_bgp: bool, normal: int = DEFAULT_NORMAL_PRIORITY
) -> int:
    """A route's priority as Calico's BIRD filters read it (BGPFilter's `priority`): from its
    LOCAL_PREF when it has one. A route learned over BGP without one (over eBGP) has BIRD's
    default LOCAL_PREF there, 100 (Calico's BIRD 1.6 gives it one when it decodes the UPDATE,
    as bgpd's decision process assumes), so priority 2147483547. A local route gets the one
    Calico's export filter derives from its kernel metric (bgp_processor.go buildExportFilter),
    `normal` when the kernel gave none.

    The one place a route's priority is read: the kernel metric of local routes belongs here.
    """
    if local_pref is None:
        if not from_bgp:
            return normal
        local_pref = DEFAULT_LOCAL_PREF
    return priority_of_local_pref(local_pref)


def kernel_metric(local_pref: int | None, normal: int) -> int:
    """The kernel metric of a BGP route (SetMetricForBGPRoutes): the normal priority when the
    route has no LOCAL_PREF (learned over eBGP), else the priority its LOCAL_PREF carries."""
    return normal if local_pref is None else priority_of_local_pref(local_pref)


def local_route_pref(metric: int, normal: int) -> int:
    """The LOCAL_PREF of a route bgpd originates: its kernel metric's (0, BIRD's undefined
    `krt_metric`, and routes with no metric take the normal priority)."""
    return max(0, local_pref_of_priority(metric or normal))


def is_elevated(local_pref: int | None, normal: int) -> bool:
    """True when `local_pref` carries a priority below (better than) the normal one."""
    return local_pref is not None and local_pref > local_pref_of_priority(normal)

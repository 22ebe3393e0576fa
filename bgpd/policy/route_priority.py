"""Calico's route priority: a kernel metric carried between nodes as LOCAL_PREF.

Role: the one home of the mapping newer Calico releases use (confd `bgp_processor.go`,
`template_funcs.go`, BirdIntMaxValue): a route's priority is its kernel metric (Felix writes
1024 for normal workload routes and a lower number, 512, for the elevated /32s of a live
migration); toward iBGP peers it travels as LOCAL_PREF = 2147483647 - priority, and a route
learned with a LOCAL_PREF goes into the kernel with metric 2147483647 - LOCAL_PREF. BGPFilter's
`priority` condition and `setPriority` operation read and write the same LOCAL_PREF.

Invariants: pure integer functions; a priority is 0..2147483647 and maps to a LOCAL_PREF in the
same range and back unchanged.
"""

from __future__ import annotations

from bgpd.rib.decision import DEFAULT_LOCAL_PREF

__all__ = [
    "DEFAULT_NORMAL_PRIORITY",
    "MAX_PRIORITY",
    "local_pref_of_priority",
    "priority_of_local_pref",
    "route_priority",
]

# BIRD's largest int (BirdIntMaxValue in Calico's confd): the sum of a priority and its LOCAL_PREF.
MAX_PRIORITY = 2_147_483_647
# BGPConfiguration ipv4/ipv6NormalRoutePriority when unset (getNormalRoutePriority).
DEFAULT_NORMAL_PRIORITY = 1024


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

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

__all__ = [
    "DEFAULT_NORMAL_PRIORITY",
    "MAX_PRIORITY",
    "local_pref_of_priority",
    "priority_of_local_pref",
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

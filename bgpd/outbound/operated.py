"""Paths changed by an export rule's operations (`[[filter]]`, Calico's BGPFilter operations).

Role: when a peer's export rule accepts a route with operations (add a community, prepend the
AS path, set the priority: bgpd.policy.filter_ops), its update group sends the exported path
(`advertise.export_path`: our AS prepended toward eBGP, next hop, LOCAL_PREF toward iBGP) with
the operations applied on top, the order of Calico's BIRD (1.6.8), whose export filter runs
after the protocol's export preparation: toward eBGP a prepend goes in front of our AS, and
set_priority has no effect (BIRD never sends LOCAL_PREF over eBGP).

Invariants: one result per (exported path, operations) pair, kept (bounded): every prefix of a
change group, and every later change with the same path, gets the very same object, so the
Adj-RIB-Out packs them into shared UPDATEs and encodes them once. The exported path's identity
fixes the group's profile, the selected path and the IP version (`ExportCache` builds one per
key), so the pair is a complete key; entries hold both objects, so their ids are not reused
while they are compared.
"""

from __future__ import annotations

from bgpd.policy.filter_ops import RouteOperations
from bgpd.rib import PathInfo

__all__ = ["OPERATED_CACHE_SIZE", "OperatedPaths"]

OPERATED_CACHE_SIZE = 100_000


class OperatedPaths:
    __slots__ = ("_cache", "_max_size")

    def __init__(self, max_size: int = OPERATED_CACHE_SIZE) -> None:
        self._max_size = max_size
        self._cache: dict[tuple[int, int], tuple[PathInfo, RouteOperations, PathInfo]] = {}

    def get(self, exported: PathInfo, operations: RouteOperations, *, ibgp: bool) -> PathInfo:
        """`exported` (what the group of an iBGP or eBGP peer sends for a path) with
        `operations` applied."""
        key = (id(exported), id(operations))
        hit = self._cache.get(key)
        if hit is not None and hit[0] is exported and hit[1] is operations:
            return hit[2]
        if len(self._cache) >= self._max_size:
            self._cache.clear()
        result = PathInfo(
            attributes=operations.apply(exported.attributes, local_pref=ibgp),
            next_hop=exported.next_hop,
            origin=exported.origin,
        )
        self._cache[key] = (exported, operations, result)
        return result

"""Reconciliation: desired routes x observed kernel table -> the operations that close the gap.

Role: the pure heart of kernel sync. `plan` compares what bgpd wants installed (one route per
destination) with what the kernel table holds and returns add / replace / delete operations.

Invariants:
- Only routes of OUR protocol (12) are ever replaced or deleted. A route of another protocol
  occupying the slot we want (same prefix and metric: the kernel allows one) is left alone:
  Felix's routes win, bgpd does not fight them, and the destination stays uninstalled until
  the alien route goes away.
- A route already equal to the desired one is not rewritten ("equal" per `matches`: a desired
  next hop without an interface matches whatever device the kernel resolved). Adopting the
  routes a previous run left behind therefore costs no kernel operation at all.
- Routes of ours that are not desired are deleted, except those listed in ``keep`` (the routes
  adopted at start-up, kept until the peers have converged).
- Operations come out make-before-break: adds and replaces first, then deletes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bgpd.kernel.kernel_route import RTPROT_BIRD, KernelRoute, NextHop, RouteId, RouteKey

__all__ = ["ObservedEntry", "Op", "OpKind", "matches", "plan", "routes_of"]

OpKind = Literal["add", "replace", "delete"]

# What the kernel holds at one destination: the route itself when it is alone there (nearly
# always: a 1-tuple per destination would cost 48 bytes), else every route (any protocol,
# any metric).
ObservedEntry = KernelRoute | tuple[KernelRoute, ...]


def routes_of(entry: ObservedEntry | Sequence[KernelRoute] | None) -> Sequence[KernelRoute]:
    """The routes of an observed entry (none for None)."""
    if entry is None:
        return ()
    if isinstance(entry, KernelRoute):
        return (entry,)
    return entry


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One kernel operation. ``add`` fails if the slot is taken (NLM_F_EXCL); ``replace``
    overwrites our own route in place; ``delete`` removes only a route of ``route.protocol``."""

    kind: OpKind
    route: KernelRoute

    def __str__(self) -> str:
        return f"{self.kind} {self.route}"


def _hop_matches(want: NextHop, have: NextHop) -> bool:
    return (
        want.gateway == have.gateway
        and want.onlink == have.onlink
        and (want.ifname is None or want.ifname == have.ifname)
    )


def matches(desired: KernelRoute, observed: KernelRoute) -> bool:
    """True when ``observed`` (as the kernel reports it) already is ``desired``.

    Next hops compare as a set (the kernel may keep its own order). A desired next hop without
    an interface matches any interface, since the kernel fills in the device it resolved.
    """
    if (
        desired.kind != observed.kind
        or desired.protocol != observed.protocol
        or desired.table != observed.table
        or desired.metric != observed.metric
        or len(desired.nexthops) != len(observed.nexthops)
    ):
        return False
    if desired.nexthops == observed.nexthops:
        return True
    left = list(observed.nexthops)
    # Specific next hops first, so a wildcard cannot take the only hop a specific one fits.
    for want in sorted(desired.nexthops, key=lambda h: h.ifname is None):
        for i, have in enumerate(left):
            if _hop_matches(want, have):
                del left[i]
                break
        else:
            return False
    return True


def plan(
    desired: Mapping[RouteKey, KernelRoute],
    observed: Mapping[RouteKey, ObservedEntry] | Mapping[RouteKey, Sequence[KernelRoute]],
    *,
    protocol: int = RTPROT_BIRD,
    keys: Iterable[RouteKey] | None = None,
    keep: Collection[RouteId] = frozenset(),
) -> list[Op]:
    """The operations that make the kernel hold ``desired`` (see the module invariants).

    ``observed`` maps each destination to every route the kernel table holds for it (any
    protocol, any metric; a lone route may stand for itself, see `ObservedEntry`). ``keys``
    limits the work to those destinations (incremental updates); without it every desired
    destination and every route of ours is examined.
    """
    if keys is None:
        # The desired destinations in their own order (the order they changed: a best path's
        # prefixes together), then ours that are not desired. Not a set's order: the kernel
        # finds a route's shared next-hop entry (fib_info) by walking a hash chain that does
        # not hash the gateway, newest first, so a write whose gateway was just used is found
        # at once, and one whose gateway was used thousands of routes ago walks thousands.
        scope: Iterable[RouteKey] = [
            *desired,
            *(
                key
                for key, entry in observed.items()
                if key not in desired and any(r.protocol == protocol for r in routes_of(entry))
            ),
        ]
    else:
        scope = keys
    writes: list[Op] = []
    deletes: list[Op] = []
    desired_get, observed_get = desired.get, observed.get
    for key in scope:
        want = desired_get(key)
        entry = observed_get(key)
        # The two cases of a bulk change, without the general walk below: a new destination,
        # and one whose route is the very object we wrote (a change back and forth).
        if entry is None:
            if want is not None:
                writes.append(Op(kind="add", route=want))
            continue
        if entry is want:
            continue
        here = routes_of(entry)
        if want is not None:
            slot = next((r for r in here if r.metric == want.metric), None)
            if slot is None:
                writes.append(Op(kind="add", route=want))
            elif slot is not want and slot.protocol == protocol and not matches(want, slot):
                writes.append(Op(kind="replace", route=want))
        for route in here:
            if (
                route.protocol == protocol
                and (want is None or route.metric != want.metric)
                and route.id not in keep
            ):
                deletes.append(Op(kind="delete", route=route))
    return writes + deletes

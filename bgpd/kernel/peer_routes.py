"""Static routes to BGP peers that are not on a connected network (Calico's `reachableBy`).

Role: Calico's bird_aggr.cfg adds `route <peer>/32 via <gateway>;` to BIRD's static protocol
for every peer whose BGPPeer sets `reachableBy` (the route-server case: the peer sits behind a
router, and without a route to it the session could never come up). BIRD exports that route
to the kernel through `calico_kernel_programming`, which accepts it (it lies in no pool).
`peer_routes` builds the same kernel routes from the configured (peer, gateway) pairs.

Invariants: pure. One host route per peer address (/32 or /128) through its gateway, with
the caller's protocol, table and metric; the kernel picks the device, as it does for BIRD's
`via`. These routes win over a BGP-learned route to the same host: BIRD's static protocol
has preference 200 and BGP 100, so the static route is the one BIRD exported.
"""

from __future__ import annotations

from collections.abc import Iterable

from bgpd.kernel.kernel_route import RT_TABLE_MAIN, RTPROT_BIRD, KernelRoute, NextHop, RouteKey
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, IPAddress

__all__ = ["peer_routes"]


def peer_routes(
    pairs: Iterable[tuple[IPAddress, IPAddress]],
    *,
    protocol: int = RTPROT_BIRD,
    table: int = RT_TABLE_MAIN,
    metric: int = 0,
) -> dict[RouteKey, KernelRoute]:
    """The host route to each peer address through its gateway, by destination.

    `pairs` are (peer address, gateway) of one IP version each (the config checks it); a
    peer address given twice keeps its first gateway (the config has one peer per address).
    """
    out: dict[RouteKey, KernelRoute] = {}
    for address, gateway in pairs:
        family = IPV4_UNICAST if address.version == 4 else IPV6_UNICAST
        prefix = f"{address}/{address.max_prefixlen}"
        if (family, prefix) in out:
            continue
        route = KernelRoute(
            family=family,
            prefix=prefix,
            nexthops=(NextHop(gateway=str(gateway)),),
            protocol=protocol,
            table=table,
            metric=metric,
        )
        out[route.key] = route
    return out

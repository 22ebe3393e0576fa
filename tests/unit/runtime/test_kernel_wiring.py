"""The kernel wiring's part of Calico's rules: the metric of each installed BGP route (route
priorities), the destinations left to Felix as `bgpctl show kernel` rows, and a reload that
re-judges learned routes and re-reports them when their priorities' meaning changed. No kernel:
the desired table and the rows are read before any socket is opened."""

from __future__ import annotations

import ipaddress

from bgpd.config import parse_config
from bgpd.kernel import KernelRoute, NextHop
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.runtime.kernel_wiring import KernelWiring
from bgpd.speaker import FibUpdate, KernelRouteView

BASE = """
[bgp]
asn = 64512
router_id = "10.0.0.1"

[node]
name = "n1"
ipv4 = "10.0.0.1/24"

[calico]
{calico}

[[calico.pool]]
cidr = "192.168.0.0/16"
ipip = "always"

[[calico.pool]]
cidr = "10.50.0.0/16"

[[calico.pool]]
cidr = "fd00:50::/48"
"""


def wiring(calico: str = "") -> tuple[KernelWiring, list[list[KernelRouteView]]]:
    seen: list[list[KernelRouteView]] = []
    w = KernelWiring(parse_config(BASE.format(calico=calico)), lambda a, r: seen.append(a))
    return w, seen


def update(prefix: str, hop: str, local_pref: int | None) -> FibUpdate:
    family = IPV6_UNICAST if ":" in prefix else IPV4_UNICAST
    return FibUpdate(
        family=family,
        nlris=(pack_prefix(prefix),),
        next_hops=(ipaddress.ip_address(hop).packed,),
        local_pref=local_pref,
    )


def metric(w: KernelWiring, prefix: str) -> int:
    family = IPV6_UNICAST if ":" in prefix else IPV4_UNICAST
    return w.sync.desired[(family, prefix)].metric


def test_route_priorities_set_the_kernel_metric() -> None:
    w, _ = wiring('ipv6_normal_route_priority = 2000\nprogram_cluster_routes = "Enabled"')
    w.apply(
        [
            update("10.50.1.0/26", "10.0.0.2", 2_147_483_647 - 1024),  # iBGP, normal
            update("10.50.2.5/32", "10.0.0.3", 2_147_483_647 - 512),  # iBGP, elevated
            update("10.50.3.0/26", "10.0.0.4", None),  # eBGP: the normal priority
            update("10.50.4.0/26", "10.0.0.5", 100),  # an older node's LOCAL_PREF
            update("fd00:50::/122", "fd00::2", None),
        ]
    )
    assert metric(w, "10.50.1.0/26") == 1024
    assert metric(w, "10.50.2.5/32") == 512
    assert metric(w, "10.50.3.0/26") == 1024
    assert metric(w, "10.50.4.0/26") == 2_147_483_547  # as Calico's krt_metric would be
    assert metric(w, "fd00:50::/122") == 2000


def test_before_3_32_bgp_routes_go_in_with_metric_0() -> None:
    w, _ = wiring('compat = "3.31"')
    w.apply([update("10.50.1.0/26", "10.0.0.2", 2_147_483_647 - 512)])
    assert metric(w, "10.50.1.0/26") == 0


def test_felix_destinations_are_rows_of_their_own_never_installed() -> None:
    w, _ = wiring()  # compat 3.33: Felix programs the IPIP pool
    w.apply([update("192.168.1.0/26", "10.0.0.2", None), update("10.50.1.0/26", "10.0.0.2", None)])
    assert (IPV4_UNICAST, "192.168.1.0/26") not in w.sync.desired
    rows = {r.prefix: r for r in w.views()}
    felix = rows["192.168.1.0/26"]
    assert (felix.status, felix.owner) == ("not-installed", "felix")
    assert felix.next_hops == ("via 10.0.0.2",)
    assert "10.50.1.0/26" not in rows  # desired, not yet installed: no row before the kernel has it
    # withdrawn: the row goes with the route
    w.apply([FibUpdate(family=IPV4_UNICAST, nlris=(pack_prefix("192.168.1.0/26"),), next_hops=())])
    assert all(r.prefix != "192.168.1.0/26" for r in w.views())


def test_a_reload_moves_ownership_and_rejudges_learned_routes() -> None:
    w, seen = wiring()
    snapshot = [update("192.168.1.0/26", "10.0.0.2", None)]
    w.apply(snapshot)
    assert (IPV4_UNICAST, "192.168.1.0/26") not in w.sync.desired
    cfg = parse_config(BASE.format(calico='program_cluster_routes = "Enabled"'))
    w.reload(cfg, snapshot)
    route = w.sync.desired[(IPV4_UNICAST, "192.168.1.0/26")]
    assert route.nexthops == (NextHop(gateway="10.0.0.2", ifname="tunl0", onlink=True),)
    assert all(r.owner != "felix" for r in w.views())
    # A learned route is reported again when the priorities' meaning changes (its LOCAL_PREF
    # in the speaker follows), and not for an unrelated change.
    workload = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.50.1.5/32",
        nexthops=(NextHop(ifname="cali0123456789a"),),
        protocol=3,
        metric=512,
    )
    w.sync._learned[workload.key] = workload  # as the monitor would have learned it
    before = len(seen)
    w.reload(parse_config(BASE.format(calico='program_cluster_routes = "Disabled"')), snapshot)
    assert len(seen) == before
    w.reload(parse_config(BASE.format(calico='compat = "3.31"')), snapshot)
    assert [(v.nlri, v.metric) for v in seen[-1]] == [(pack_prefix("10.50.1.5/32"), 512)]

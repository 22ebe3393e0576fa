"""Which Calico release's kernel and priority rules bgpd follows (`[calico] compat`), and who
programs the cluster routes (`[calico] program_cluster_routes`).

Role: the one home of what changed between Calico releases in the parts bgpd replaces, read
from Calico's source (confd `bgp_processor.go`, `design/cluster-route-programming/DESIGN.md`):

- up to 3.31 ("3.30", "3.31"): no route priorities: BGP routes go into the kernel with metric
  0, routes are sent to iBGP peers with LOCAL_PREF 100, and BIRD programs the cluster routes
  of every pool but VXLAN ones (`programClusterRoutes` does not exist);
- 3.32: route priorities (`ipv4/ipv6NormalRoutePriority`, default 1024; LOCAL_PREF =
  2147483647 - priority, `bgpd.policy.route_priority`); `programClusterRoutes` is Enabled or
  Disabled, unset meaning Enabled;
- 3.33 (Calico's main branch, the default): `programClusterRoutes` takes four values and unset
  means EnabledNoEncapOnly: Felix programs the routes of IPIP pools, bgpd those of
  unencapsulated ones.

`compat` names the Calico release of the Felix beside bgpd: it decides what an unset
`program_cluster_routes` means (Felix and bgpd must not both program a class of pool, nor
neither) and whether route priorities are on (an older Felix writes no priorities, and older
nodes send LOCAL_PREF 100). A value that is set is always honoured, whatever the release.

Invariants: pure data and pure functions; every release listed maps to one behaviour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = [
    "COMPAT_RELEASES",
    "DEFAULT_COMPAT",
    "DEFAULT_NORMAL_PRIORITY",
    "MAX_NORMAL_PRIORITY",
    "PROGRAM_CLUSTER_ROUTES",
    "ClusterRoutePolicy",
    "check_compat",
    "check_program_cluster_routes",
    "check_normal_priority",
    "cluster_route_policy",
    "has_route_priorities",
]

# The releases `compat` accepts (older ones behave as 3.30 here), oldest first.
COMPAT_RELEASES = ("3.30", "3.31", "3.32", "3.33")
DEFAULT_COMPAT = "3.33"
_PRIORITIES_FROM = "3.32"
_FELIX_IPIP_FROM = "3.33"
# BGPConfiguration ipv4/ipv6NormalRoutePriority: unset (getNormalRoutePriority), and the API's
# range (validate:"gte=1,lte=2147483646").
DEFAULT_NORMAL_PRIORITY = 1024
MAX_NORMAL_PRIORITY = 2_147_483_646


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterRoutePolicy:
    """Which classes of IP pool bgpd programs the cluster routes of (Calico's
    clusterRoutePolicy); what it does not program, Felix does. VXLAN pools are always
    Felix's."""

    ipip: bool  # pools with ipipMode Always or CrossSubnet
    no_encap: bool  # pools with ipipMode and vxlanMode Never


# BGPConfiguration.programClusterRoutes -> the policy it names (clusterRoutePolicyFromBGPConfig).
PROGRAM_CLUSTER_ROUTES: dict[str, ClusterRoutePolicy] = {
    "Enabled": ClusterRoutePolicy(ipip=True, no_encap=True),
    "Disabled": ClusterRoutePolicy(ipip=False, no_encap=False),
    "EnabledIPIPOnly": ClusterRoutePolicy(ipip=True, no_encap=False),
    "EnabledNoEncapOnly": ClusterRoutePolicy(ipip=False, no_encap=True),
}


def _release(compat: str) -> tuple[int, ...]:
    return tuple(int(part) for part in compat.split("."))


def check_compat(v: str) -> str | None:
    if v in COMPAT_RELEASES:
        return None
    return f"compat {json.dumps(v)} is not one of {', '.join(COMPAT_RELEASES)}"


def check_program_cluster_routes(v: str | None) -> str | None:
    if v is None or v in PROGRAM_CLUSTER_ROUTES:
        return None
    known = ", ".join(PROGRAM_CLUSTER_ROUTES)
    return f"program_cluster_routes {json.dumps(v)} is not one of {known}"


def check_normal_priority(v: int) -> str | None:
    if 1 <= v <= MAX_NORMAL_PRIORITY:
        return None
    return f"normal route priority {v} is out of range 1..{MAX_NORMAL_PRIORITY}"


def has_route_priorities(compat: str) -> bool:
    """True from 3.32: kernel metrics and LOCAL_PREF carry route priorities."""
    return _release(compat) >= _release(_PRIORITIES_FROM)


def cluster_route_policy(value: str | None, compat: str) -> ClusterRoutePolicy:
    """The policy `value` names; unset, the default of release `compat`."""
    if value is not None:
        return PROGRAM_CLUSTER_ROUTES[value]
    if _release(compat) >= _release(_FELIX_IPIP_FROM):
        return PROGRAM_CLUSTER_ROUTES["EnabledNoEncapOnly"]
    return PROGRAM_CLUSTER_ROUTES["Enabled"]

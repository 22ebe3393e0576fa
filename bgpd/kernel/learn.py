"""Which kernel routes bgpd learns ("alien" routes, BIRD's `learn`), as a pure rule.

Role: decide, for a route seen in the kernel table, whether it enters bgpd's RIB as a locally
originated (KERNEL) route that the export policy may then advertise.

What Calico needs learned (calico-bgp.md §4): Felix's workload routes, ``<pod>/32 dev cali…``
with protocol 3 (RTPROT_BOOT, Felix's default deviceRouteProtocol), its protocol-80 routes
(VXLAN / no-encap / IPAM-block blackholes), and blackholes of any other alien protocol.

Invariants:
- Our own protocol (12) is never learned: those routes are the output of bgpd, and learning
  them would feed BGP routes back into BGP as local ones.
- ``proto kernel`` (2) routes are learned only as *connected* routes, BIRD's ``direct``
  protocol: an interface subnet (no gateway) on an interface that is not a workload or
  ``kube-ipvs*`` one, nor one BGPConfiguration ``ignoredInterfaces`` names (Calico's
  ``interface -"<ignored>", -"cali*", -"kube-ipvs*", "*"``, where a pattern's ``*`` matches
  any run of characters, as BIRD's ``patmatch``), never IPv6 link-local. `is_connected` tells
  them apart; they enter the RIB as CONNECTED, not KERNEL. As in BIRD, the ignored interfaces
  concern the direct protocol only: alien routes are learned by the rules below whatever
  their interface.
- Protocol 3 is the default of ``ip route add``, so an administrator's own routes carry it
  too: protocol-3 routes are learned only when they are host routes (/32, /128) on a workload
  interface (``cali*`` by default, Felix's FELIX_INTERFACEPREFIX).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bgpd.kernel.kernel_route import (
    FELIX_PROTOCOL,
    RTPROT_BIRD,
    RTPROT_BOOT,
    RTPROT_KERNEL,
    KernelRoute,
)

__all__ = ["LearnRules", "interface_patterns"]


def interface_patterns(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression matching a whole interface name against any of `patterns`, in
    which ``*`` matches any run of characters and everything else itself (BIRD's patmatch;
    Calico's validator allows no other wildcard)."""
    return re.compile("|".join(".*".join(map(re.escape, p.split("*"))) for p in patterns))


@dataclass(frozen=True, slots=True, kw_only=True)
class LearnRules:
    """The learning rule set; `learnable(route)` is the decision.

    - ``protocols``: alien protocols whose routes are learned (config ``learn_protocols``).
    - ``interface_protocols``: of those, the ones learned only as host routes on a workload
      interface (default {3}, see the module docstring).
    - ``interface_prefixes``: workload interface name prefixes (Felix's FELIX_INTERFACEPREFIX,
      a comma list there, e.g. ``cali,tap``).
    - ``blackholes``: learn blackhole routes of any alien protocol (Felix's IPAM-block drops).
    - ``own_protocol``: never learned.
    - ``connected``: learn interface subnets as connected routes; ``connected_excluded``:
      interface name prefixes whose subnets are not (Calico's direct-protocol exclusions);
      ``ignored_interfaces``: name patterns (``*`` wildcards) whose subnets are not either.
    """

    protocols: frozenset[int] = frozenset((RTPROT_BOOT, FELIX_PROTOCOL))
    interface_protocols: frozenset[int] = frozenset((RTPROT_BOOT,))
    interface_prefixes: tuple[str, ...] = ("cali",)
    blackholes: bool = True
    own_protocol: int = RTPROT_BIRD
    connected: bool = True
    connected_excluded: tuple[str, ...] = ("cali", "kube-ipvs")
    ignored_interfaces: tuple[str, ...] = ()
    _ignored: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.own_protocol in self.protocols or RTPROT_KERNEL in self.protocols:
            raise ValueError("bgpd never learns its own protocol or proto kernel (2)")
        if not all(self.interface_prefixes):
            raise ValueError("an empty interface prefix would match every interface")
        if self.ignored_interfaces:
            object.__setattr__(self, "_ignored", interface_patterns(self.ignored_interfaces))

    def is_connected(self, route: KernelRoute) -> bool:
        """An interface subnet the kernel derived from an address (BIRD's direct protocol)."""
        if route.protocol != RTPROT_KERNEL or not self.connected or route.kind != "unicast":
            return False
        if len(route.nexthops) != 1 or route.nexthops[0].gateway is not None:
            return False
        ifname = route.nexthops[0].ifname
        if ifname is None or ifname.startswith(self.connected_excluded):
            return False
        if self._ignored is not None and self._ignored.fullmatch(ifname):
            return False
        return not route.prefix.startswith("fe80:")

    def learnable(self, route: KernelRoute) -> bool:
        proto = route.protocol
        if proto == RTPROT_KERNEL:
            return self.is_connected(route)
        if proto == self.own_protocol:
            return False
        if route.kind == "blackhole" and self.blackholes:
            return True
        if proto not in self.protocols or route.kind not in ("unicast", "blackhole"):
            return False
        if proto not in self.interface_protocols:
            return True
        # A workload route: a host route out of a workload interface, single path.
        host_length = 32 if ":" not in route.prefix else 128
        if route.prefix_length != host_length:
            return False
        ifname = route.ifname
        return ifname is not None and ifname.startswith(self.interface_prefixes)

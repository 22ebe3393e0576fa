"""Export policy: which routes go to a peer, and which communities they gain on the way.

Role: the per-route export decision of the speaker (sans-IO, pure). Two modes:

- **Plain** (no `[calico]` in the config): every route is accepted unchanged. The standard
  re-advertisement rules (iBGP-learned routes are not sent to iBGP non-clients, RFC 4271 §9.2;
  reflection, RFC 4456 §8) are applied by the speaker on top, not here.
- **Calico** (`[calico]` present): Calico's `calico_export_to_bgp_peers(internal_peer)`
  (bird_ipam.cfg, calico-bgp.md §2.6), the same rules in the same order. The config supplies
  only data (pools, blocks, ranges, communities); the ORDER is fixed here and is:

  1. inside a pool with `disable_bgp_export` -> reject            (reject_disabled_pools)
  2. internal peers only: interface `*.cali` / `*.calico` -> reject (reject_tunnel_routes:
     Felix's VXLAN and WireGuard routes, which every node programs itself), and the IPIP
     device (`[kernel] tunnel_device`, tunl0) when Felix programs the IPIP pools' routes
     (`[calico] program_cluster_routes`): those routes are learned from the kernel and would
     otherwise be re-advertised as this node's (Calico's IBGPExportFilterForTunnelRoutes)
  3. interface `bpf*.cali` -> reject                              (reject_local_routes, eBPF)
  4. inside a prefix advertisement -> add its communities, go on  (apply_communities)
  5. exactly one of this node's blocks -> accept;                 (calico_aggr)
     more specific than one of them with an elevated priority -> accept (route priorities
     on: a LOCAL_PREF above 2147483647 - the normal priority, `krt_metric < normal`: the /32
     of a live migration escapes the aggregation),
     more specific than one of them otherwise -> reject (the per-pod /32s behind the block)
  6. inside an advertised service range -> accept                 (/calico/staticroutes)
  7. on a route reflector (a cluster id is set): inside an LB range -> accept
  8. inside any pool whose BGP export is not disabled -> accept   (borrowed /32s, routes
     learned from other nodes; a `disabled` pool still counts: its addresses are in use)
  9. anything else -> reject (host interface routes, the default route, ...)

  "Inside" is BIRD's `net ~ cidr`: equal to or more specific than the cidr, same family.
  Rules 2 and 3 look at the route's outgoing interface and do nothing without one.
  `internal_peer` is True for mesh peers whatever their AS (the mesh template passes `true`)
  and for explicit peers in our AS (`ExportPolicy.peer_internal`).

Invariants: `decide` is a pure function of (prefix, interface, internal_peer, LOCAL_PREF) and of
the
config the policy was built from; a rejected decision never carries communities; decisions are
shared values (one per rule, plus one per rule and set of matching prefix advertisements, made
on first use), so deciding allocates nothing once warm. Decisions are immutable: compare them,
never mutate them.

Speed: this runs per prefix per update group. Prefixes are compared as integers; each rule's
CIDR list is reduced to its outermost members (CIDRs nest or are disjoint), sorted, and probed
with one bisection, so a rule costs O(log n) whatever the number of pools, blocks or ranges.
`decide_nlri` takes the packed prefixes of the RIB and builds no ipaddress objects.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal, TypeVar

from bgpd.config import CalicoSection, Community, Config, IPNetwork, LargeCommunity, PeerSettings
from bgpd.net import Afi, Family, Nlri
from bgpd.policy.route_priority import local_pref_of_priority

__all__ = [
    "ExportDecision",
    "ExportPolicy",
    "ExportRoute",
    "ExportRule",
    "SourceKindName",
    "merge_communities",
]

# Where a route came from, as BIRD's `source` would tell (reserved for BGPFilter's
# `source: RemotePeers`; Calico's own export rules do not look at it).
SourceKindName = Literal["kernel", "static", "connected", "bgp"]

_C = TypeVar("_C", int, tuple[int, int, int])

_BITS = {4: 32, 6: 128}
# Reading a member through its Enum class is slow (a metaclass lookup): keep it in a global.
_AFI_IPV4 = Afi.IPV4


class ExportRule(Enum):
    """The rule that decided; its value names the BIRD function it stands for."""

    PLAIN = "plain"  # no [calico]: everything is exported
    DISABLED_POOL = "reject_disabled_pools"
    TUNNEL_ROUTE = "reject_tunnel_routes"
    LOCAL_ROUTE = "reject_local_routes"
    BLOCK = "calico_aggr accept"
    ELEVATED = "calico_aggr elevated accept"
    INSIDE_BLOCK = "calico_aggr reject"
    ADVERTISE = "static routes"
    LB_RANGE = "route reflector LB ranges"
    POOL = "pools"
    NO_MATCH = "reject"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportRoute:
    """A route about to be exported, as the policy needs to see it."""

    family: Family
    prefix: IPNetwork
    source_kind: SourceKindName
    # The outgoing interface of the route (kernel routes: their oif), or None.
    ifname: str | None = None
    # The path's LOCAL_PREF (its route priority, bgpd.policy.route_priority), or None.
    local_pref: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportDecision:
    """Reject, or accept adding these communities (RFC 1997 values; RFC 8092 triples)."""

    accept: bool
    rule: ExportRule
    communities: tuple[int, ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()


_ACCEPTING = frozenset(
    {
        ExportRule.PLAIN,
        ExportRule.BLOCK,
        ExportRule.ELEVATED,
        ExportRule.ADVERTISE,
        ExportRule.LB_RANGE,
        ExportRule.POOL,
    }
)
# One shared decision per rule, for every decision that adds no community.
_DECISIONS = {rule: ExportDecision(accept=rule in _ACCEPTING, rule=rule) for rule in ExportRule}
# The same as plain names: the hot path avoids hashing enum members (a Python-level __hash__).
_PLAIN = _DECISIONS[ExportRule.PLAIN]
_REJECT_DISABLED_POOL = _DECISIONS[ExportRule.DISABLED_POOL]
_REJECT_TUNNEL = _DECISIONS[ExportRule.TUNNEL_ROUTE]
_REJECT_LOCAL = _DECISIONS[ExportRule.LOCAL_ROUTE]
_REJECT_INSIDE_BLOCK = _DECISIONS[ExportRule.INSIDE_BLOCK]
_REJECT_NO_MATCH = _DECISIONS[ExportRule.NO_MATCH]
# Accepting rules by index, for the per-policy cache of decisions carrying communities.
_BLOCK, _ADVERTISE, _LB_RANGE, _POOL, _ELEVATED = 0, 1, 2, 3, 4
_ACCEPT_RULES = (
    ExportRule.BLOCK,
    ExportRule.ADVERTISE,
    ExportRule.LB_RANGE,
    ExportRule.POOL,
    ExportRule.ELEVATED,
)


def merge_communities(existing: tuple[_C, ...], added: tuple[_C, ...]) -> tuple[_C, ...]:
    """`existing` plus each added value not already present, in order (BIRD's `.add`)."""
    if not added:
        return existing
    seen = set(existing)
    out = list(existing)
    for value in added:
        if value not in seen:
            seen.add(value)
            out.append(value)
    return tuple(out)


# A set of CIDRs of one family as (starts, ends) of disjoint, sorted integer ranges, or None
# when empty. CIDRs nest or are disjoint, so keeping only the outermost ones leaves disjoint
# ranges, and a prefix is inside some member exactly when it lies within the range that starts
# last at or before it.
_PrefixSet = tuple[list[int], list[int]] | None


def _prefix_set(nets: Iterable[IPNetwork]) -> _PrefixSet:
    starts: list[int] = []
    ends: list[int] = []
    # Sorted by start, then widest first: a range inside the previous one is dropped.
    for start, end in sorted((_range(n) for n in nets), key=lambda r: (r[0], -r[1])):
        if ends and start <= ends[-1]:
            continue
        starts.append(start)
        ends.append(end)
    return (starts, ends) if starts else None


def _covers(prefixes: tuple[list[int], list[int]], start: int, end: int) -> bool:
    starts, ends = prefixes
    i = bisect.bisect_right(starts, start) - 1
    return i >= 0 and ends[i] >= end


def _range(net: IPNetwork) -> tuple[int, int]:
    start = int(net.network_address)
    return start, start | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


class _FamilyRules:
    """The Calico rule data of one address family, as integer ranges."""

    __slots__ = (
        "accepted",
        "advertise",
        "block_exact",
        "blocks",
        "communities",
        "disabled",
        "elevated_above",
        "host_masks",
        "lb_ranges",
        "pools",
        "prefix_advertisements",
    )

    def __init__(self, calico: CalicoSection, version: int, route_reflector: bool) -> None:
        def of(nets: Iterable[IPNetwork]) -> list[IPNetwork]:
            return [n for n in nets if n.version == version]

        bits = _BITS[version]
        # host_masks[length]: the host bits of a prefix of that length.
        self.host_masks = tuple((1 << (bits - n)) - 1 for n in range(bits + 1))
        pools = [p for p in calico.pools if p.cidr.version == version]
        self.disabled = _prefix_set(p.cidr for p in pools if p.disable_bgp_export)
        blocks = of(calico.blocks)
        self.block_exact = frozenset((int(b.network_address), b.prefixlen) for b in blocks)
        self.blocks = _prefix_set(blocks)
        self.advertise = _prefix_set(of(calico.advertise))
        self.lb_ranges = _prefix_set(of(calico.lb_ranges) if route_reflector else [])
        self.pools = _prefix_set(p.cidr for p in pools if not p.disable_bgp_export)
        # A LOCAL_PREF above this carries an elevated priority (None: priorities off).
        self.elevated_above = (
            local_pref_of_priority(calico.normal_priority(version))
            if calico.route_priorities
            else None
        )
        adverts = [a for a in calico.prefix_advertisements if a.cidr.version == version]
        # (bit, start, end) per advertisement in config order; a route collects the bits of
        # every advertisement it is inside (rule 4 applies them all).
        self.prefix_advertisements = tuple((1 << i, *_range(a.cidr)) for i, a in enumerate(adverts))
        self.communities = tuple(
            (
                tuple(c.value for c in a.communities if isinstance(c, Community)),
                tuple(
                    (c.global_admin, c.local1, c.local2)
                    for c in a.communities
                    if isinstance(c, LargeCommunity)
                ),
            )
            for a in adverts
        )
        # (accepting rule index, advertisement bits) -> decision, filled on first use: a
        # memo, so that accepting with communities allocates once per combination.
        self.accepted: dict[tuple[int, int], ExportDecision] = {}

    def accept(self, rule: int, bits: int) -> ExportDecision:
        if not bits:
            return _DECISIONS[_ACCEPT_RULES[rule]]
        decision = self.accepted.get((rule, bits))
        if decision is None:
            communities: tuple[int, ...] = ()
            large: tuple[tuple[int, int, int], ...] = ()
            for i, (comms, larges) in enumerate(self.communities):
                if bits >> i & 1:
                    communities = merge_communities(communities, comms)
                    large = merge_communities(large, larges)
            decision = ExportDecision(
                accept=True,
                rule=_ACCEPT_RULES[rule],
                communities=communities,
                large_communities=large,
            )
            self.accepted[rule, bits] = decision
        return decision


class ExportPolicy:
    """The export decision for one configuration (rebuild it when the config changes)."""

    __slots__ = ("_felix_tunnel", "_mesh_names", "_rules", "route_reflector")

    def __init__(
        self,
        rules: dict[int, _FamilyRules] | None,
        mesh_names: frozenset[str],
        route_reflector: bool,
        felix_tunnel: str | None = None,
    ) -> None:
        self._rules = rules
        self._mesh_names = mesh_names
        self.route_reflector = route_reflector
        # The IPIP device when Felix programs the IPIP pools' routes (rule 2), else None.
        self._felix_tunnel = felix_tunnel

    @classmethod
    def from_config(cls, config: Config) -> ExportPolicy:
        route_reflector = config.bgp.cluster_id is not None
        mesh_names = frozenset(p.name for p in config.mesh_peers)
        calico = config.calico
        if calico is None:
            return cls(None, mesh_names, route_reflector)
        rules = {v: _FamilyRules(calico, v, route_reflector) for v in _BITS}
        tunnel = None if calico.cluster_routes.ipip else config.kernel.tunnel_device
        return cls(rules, mesh_names, route_reflector, tunnel)

    @property
    def calico(self) -> bool:
        """True in Calico mode, False for a plain BGP router."""
        return self._rules is not None

    def peer_internal(self, peer: PeerSettings) -> bool:
        """The `internal_peer` argument Calico's templates pass for this peer.

        Mesh sessions always pass `true`; explicit peers pass `peer AS == our AS`.
        """
        return peer.name in self._mesh_names or not peer.is_ebgp

    def decide(self, route: ExportRoute, peer_internal: bool) -> ExportDecision:
        """The decision for `route` towards a peer that is internal (iBGP) or not."""
        prefix = route.prefix
        return self.decide_range(
            prefix.version,
            int(prefix.network_address),
            prefix.prefixlen,
            route.ifname,
            peer_internal,
            local_pref=route.local_pref,
        )

    def decide_nlri(
        self,
        afi: Afi,
        nlri: Nlri,
        ifname: str | None,
        peer_internal: bool,
        local_pref: int | None = None,
    ) -> ExportDecision:
        """`decide` for a packed prefix (bgpd.net's Nlri), with no ipaddress objects."""
        if self._rules is None:
            return _PLAIN
        if afi is _AFI_IPV4:
            version, start = 4, int.from_bytes(nlri[1:], "big") << (8 * (5 - len(nlri)))
        else:
            version, start = 6, int.from_bytes(nlri[1:], "big") << (8 * (17 - len(nlri)))
        return self.decide_range(
            version, start, nlri[0], ifname, peer_internal, local_pref=local_pref
        )

    def decide_range(
        self,
        version: int,
        start: int,
        length: int,
        ifname: str | None,
        peer_internal: bool,
        *,
        local_pref: int | None = None,
    ) -> ExportDecision:
        """The rules of the module docstring, in order, for prefix `start`/`length`."""
        rules = self._rules
        if rules is None:
            return _PLAIN
        r = rules[version]
        end = start | r.host_masks[length]
        # Each "inside one of these" test below is _covers() written out: this is the hot path.
        bisect_right = bisect.bisect_right
        # 1. reject_disabled_pools
        s = r.disabled
        if s is not None:
            i = bisect_right(s[0], start) - 1
            if i >= 0 and s[1][i] >= end:
                return _REJECT_DISABLED_POOL
        if ifname is not None:
            # 2. reject_tunnel_routes, internal peers only: ifname ~ "*.cali" / "*.calico",
            # and ~ "tunl0" when Felix programs the IPIP routes
            if peer_internal and (
                ifname.endswith((".cali", ".calico")) or ifname == self._felix_tunnel
            ):
                return _REJECT_TUNNEL
            # 3. reject_local_routes: ifname ~ "bpf*.cali"
            if ifname.startswith("bpf") and ifname.endswith(".cali"):
                return _REJECT_LOCAL
        # 4. apply_communities: noted now, attached if a later rule accepts.
        bits = 0
        for bit, a_start, a_end in r.prefix_advertisements:
            if a_start <= start and end <= a_end:
                bits |= bit
        # 5. calico_aggr: the block itself, never what is behind it.
        s = r.blocks
        if s is not None:
            i = bisect_right(s[0], start) - 1
            if i >= 0 and s[1][i] >= end:
                if (start, length) in r.block_exact:
                    return r.accept(_BLOCK, bits)
                above = r.elevated_above
                if above is not None and local_pref is not None and local_pref > above:
                    return r.accept(_ELEVATED, bits)
                return _REJECT_INSIDE_BLOCK
        # 6. advertised service ranges
        s = r.advertise
        if s is not None:
            i = bisect_right(s[0], start) - 1
            if i >= 0 and s[1][i] >= end:
                return r.accept(_ADVERTISE, bits)
        # 7. route reflectors pass on routes inside LB ranges (None unless a reflector)
        s = r.lb_ranges
        if s is not None:
            i = bisect_right(s[0], start) - 1
            if i >= 0 and s[1][i] >= end:
                return r.accept(_LB_RANGE, bits)
        # 8. inside a pool
        s = r.pools
        if s is not None:
            i = bisect_right(s[0], start) - 1
            if i >= 0 and s[1][i] >= end:
                return r.accept(_POOL, bits)
        # 9. the caller's trailing `reject;`
        return _REJECT_NO_MATCH

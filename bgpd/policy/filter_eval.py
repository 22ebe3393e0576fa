"""Declarative import/export filters (`[[filter]]`, Calico's BGPFilter): evaluating the rules.

Role: the per-route decision of a peer's `import_filters`/`export_filters` (sans-IO, pure).
The rule lists of the named filters are walked in order, filter after filter as listed on
the peer, and the first rule that matches decides (calico-bgp.md §2.8: each BGPFilter
becomes a BIRD function of `if (cond) then { [operations;] accept|reject; }` lines called in
the peer's order, and the first `accept`/`reject` ends the whole BIRD filter). A rule matches
when all of its conditions hold (template_funcs.go `filterStatement` joins them with `&&`); a
rule without conditions always matches:

- `cidr` + `match_operator`: `in` (BIRD `net ~ cidr`: the prefix is the cidr or more
  specific, and with `prefix_length_*` its length is in the effective range), `not_in`
  (the opposite), `equal` (`net = cidr`), `not_equal`;
- `source = "remote_peers"`: the route was learned from a BGP peer (`source ~ [RTS_BGP]`);
- `interface`: the route has an interface and its name matches the BIRD glob (`*`, `?`);
- `peer_type`: the session is eBGP / iBGP (Calico wraps the rule in `if (!is_same_as)` /
  `if (is_same_as)`, is_same_as = the peer's AS equals ours: bgp_processor.go `sameAS`). Known
  when the chain is built (`ibgp`), so a rule for the other type is left out of the chain;
- `community`: `(A, B) ~ bgp_community` or `(A, B, C) ~ bgp_large_community`: the route carries
  that one value (Calico evaluates exactly one, `filterMatchCommunity`);
- `as_path_prefix` [A, B]: `bgp_path ~ [= A B * =]`, the path's first positions are A then B,
  an AS_SET counting as one position that matches when it holds the ASN (BIRD's
  `as_path_match`);
- `priority` P: `defined(bgp_local_pref) && bgp_local_pref = 2147483647 - P`, the route's
  priority as `route_priority` reads it: its LOCAL_PREF, 100 for a BGP route received without
  one (BIRD 1.6 gives it its default), and on export the one Calico's export filter sets first
  for a local route (the normal priority).

On export the rules see the route as Calico's BIRD (a BIRD 1.6.8 fork, calico-bgp.md §1) runs
its export filter: after the protocol's export preparation (`bgp_import_control`), so toward an
eBGP peer our AS is already first in the path (an `as_path_prefix` sees it, a prepend goes in
front of it) and the other attributes are those the peer is sent; the caller passes the
exported attributes, and the route's own LOCAL_PREF for `priority`.

A matching accept rule's `operations` (bgpd.policy.filter_ops) come with the match
(`CompiledRule.operations`); the caller applies them. Calico refuses operations on a reject
rule, and so does the config.

When no rule matches the result is None and the caller applies Calico's default: on import
**accept** (the template ends with `accept;`), on export Calico's own export policy
(`bgpd.policy.export_policy`, `calico_export_to_bgp_peers`) and then reject.

API for the speaker:
- `compile_filters(filters, names, export=..., version=..., ibgp=...)` -> `FilterChain` (build
  once per peer, direction and family, on config load);
- `FilterChain.match_nlri(nlri, interface=..., from_remote_peer=..., attributes=...)` -> the
  matching `CompiledRule` or None, on packed prefixes (`bgpd.net.Nlri`); `decide_nlri` /
  `decide` (ipaddress networks) give True (accept), False (reject) or None;
- `FilterChain.for_route(attributes)` and `first_prefix_match`: the rules whose route
  conditions hold, decided once per attribute set, then the prefix conditions per prefix
  (bgpd.policy.import_filter does an UPDATE's prefixes so);
- `evaluate(rules, family, prefix, ...)` for one-off checks; `import_accepts(chain, ...)`
  folds in the import default.

Invariants: pure; a chain is immutable and a function of its rules, direction and peer type;
deciding allocates nothing but the integer conversion of the prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bgpd.config.checks import LargeCommunity
from bgpd.config.filter_section import (
    FilterAction,
    FilterConfig,
    FilterRule,
    MatchOperator,
    PeerType,
    RouteSource,
)
from bgpd.net import Afi, Family, IPNetwork, Nlri
from bgpd.policy.filter_ops import RouteOperations
from bgpd.policy.route_priority import route_priority
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.constants import SegmentType

__all__ = [
    "CompiledRule",
    "FilterChain",
    "FilterRule",
    "as_path_starts_with",
    "compile_filters",
    "evaluate",
    "first_prefix_match",
    "glob_matches",
    "import_accepts",
]

_WIDTH = {4: 32, 6: 128}
_NO_ATTRIBUTES = PathAttributes()
# `route_local_pref` not given: the route's LOCAL_PREF is the one in `attributes`.
_FROM_ATTRIBUTES = object()
_SETS = (SegmentType.AS_SET, SegmentType.AS_CONFED_SET)

# Compiled cidr operators.
_OP_NONE = 0
_OP_IN = 1
_OP_NOT_IN = 2
_OP_EQUAL = 3
_OP_NOT_EQUAL = 4
_OPS = {
    MatchOperator.IN: _OP_IN,
    MatchOperator.NOT_IN: _OP_NOT_IN,
    MatchOperator.EQUAL: _OP_EQUAL,
    MatchOperator.NOT_EQUAL: _OP_NOT_EQUAL,
}


def _glob_regex(pattern: str) -> re.Pattern[str]:
    # BIRD's patmatch(): `*` any run of characters, `?` any one character, whole string.
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.DOTALL)


def glob_matches(pattern: str, text: str) -> bool:
    """BIRD's string match `text ~ "pattern"` (shell-style `*` and `?`, whole string)."""
    return _glob_regex(pattern).fullmatch(text) is not None


def as_path_starts_with(attributes: PathAttributes, asns: tuple[int, ...]) -> bool:
    """BIRD's `bgp_path ~ [= A B * =]`: the path's first positions are `asns`, in order. A
    sequence gives one position per ASN, a set one position matching any of its members."""
    i = 0
    n = len(asns)
    for seg in attributes.as_path:
        if i == n:
            return True
        if seg.type in _SETS:
            if asns[i] not in seg.asns:
                return False
            i += 1
            continue
        for asn in seg.asns:
            if asn != asns[i]:
                return False
            i += 1
            if i == n:
                return True
    return i == n


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule, compiled for one IP version, direction and peer type.

    `accept` and `operations` (None when it has none) say what a match does; the rest is how
    it matches. `per_prefix` is False when only route conditions are left: the rule then
    matches every prefix of a route that meets them.
    """

    accept: bool
    operations: RouteOperations | None
    op: int
    shift: int  # width - cidr length: compare `start >> shift` with `net`
    net: int  # cidr address >> shift
    length: int  # cidr length
    low: int  # accepted prefix lengths for in / not_in
    high: int
    remote_only: bool
    interface: re.Pattern[str] | None
    community: int | None
    large_community: tuple[int, int, int] | None
    path_prefix: tuple[int, ...]
    priority: int | None
    on_route: bool  # has a route (attribute) condition
    per_prefix: bool

    def matches_prefix(self, start: int, length: int, interface: str | None, remote: bool) -> bool:
        """The conditions about the prefix and its origin (cidr, source, interface)."""
        if self.op != _OP_NONE:
            if self.op <= _OP_NOT_IN:
                inside = (
                    self.low <= length <= self.high
                    and length >= self.length
                    and start >> self.shift == self.net
                )
                if inside != (self.op == _OP_IN):
                    return False
            else:
                same = length == self.length and start >> self.shift == self.net
                if same != (self.op == _OP_EQUAL):
                    return False
        if self.remote_only and not remote:
            return False
        # BIRD: `defined(ifname) && ifname ~ "..."`, false for routes without one.
        return self.interface is None or (
            interface is not None and self.interface.fullmatch(interface) is not None
        )

    def matches_route(
        self, a: PathAttributes, from_bgp: bool = True, route_local_pref: object = _FROM_ATTRIBUTES
    ) -> bool:
        """The conditions about the route's attributes (community, AS path, priority).

        `from_bgp`: the route was learned over BGP (every imported route). On export
        `route_local_pref` is the route's own LOCAL_PREF, `a` being the exported attributes."""
        if self.community is not None and self.community not in a.communities:
            return False
        if self.large_community is not None and self.large_community not in a.large_communities:
            return False
        if self.path_prefix and not as_path_starts_with(a, self.path_prefix):
            return False
        if self.priority is None:
            return True
        lp = a.local_pref if route_local_pref is _FROM_ATTRIBUTES else route_local_pref
        return route_priority(lp if isinstance(lp, int) else None, from_bgp=from_bgp) == (
            self.priority
        )


def _compile(rule: FilterRule, version: int) -> CompiledRule | None:
    """The compiled rule, or None when its cidr is of the other family (it never matches)."""
    width = _WIDTH[version]
    op, shift, net, length, low, high = _OP_NONE, width, 0, 0, 0, width
    if rule.cidr is not None and rule.match_operator is not None:
        if rule.cidr.version != version:
            return None
        op = _OPS[rule.match_operator]
        length = rule.cidr.prefixlen
        shift = width - length
        net = int(rule.cidr.network_address) >> shift
        low, high = rule.length_range or (length, width)
    community = large = None
    if isinstance(rule.community, LargeCommunity):
        c = rule.community
        large = (c.global_admin, c.local1, c.local2)
    elif rule.community is not None:
        community = rule.community.value
    remote_only = rule.source is RouteSource.REMOTE_PEERS
    return CompiledRule(
        accept=rule.action is FilterAction.ACCEPT,
        operations=RouteOperations.compile(rule.operations),
        op=op,
        shift=shift,
        net=net,
        length=length,
        low=low,
        high=high,
        remote_only=remote_only,
        interface=None if rule.interface is None else _glob_regex(rule.interface),
        community=community,
        large_community=large,
        path_prefix=rule.as_path_prefix,
        priority=rule.priority,
        on_route=rule.community is not None
        or bool(rule.as_path_prefix)
        or rule.priority is not None,
        per_prefix=op != _OP_NONE or remote_only or rule.interface is not None,
    )


def first_prefix_match(
    rules: Sequence[CompiledRule], start: int, length: int, interface: str | None, remote: bool
) -> CompiledRule | None:
    """The first of `rules` (whose route conditions hold) that matches the prefix."""
    for rule in rules:
        if rule.matches_prefix(start, length, interface, remote):
            return rule
    return None


class FilterChain:
    """The ordered rules one peer applies in one direction to one IP version.

    `ibgp` is the peer's type (its AS equals ours); None only for chains without a
    `peer_type` rule (a ValueError otherwise: such a rule cannot be decided).
    """

    __slots__ = ("_on_route", "_rules", "export", "version")

    def __init__(
        self,
        rules: Sequence[FilterRule],
        version: int,
        *,
        export: bool = False,
        ibgp: bool | None = None,
    ) -> None:
        if version not in _WIDTH:
            raise ValueError(f"IP version must be 4 or 6, not {version}")
        self.version = version
        self.export = export
        kept: list[FilterRule] = []
        for r in rules:
            if r.peer_type is not None:
                if ibgp is None:
                    raise ValueError("a peer_type rule needs the peer's type (ibgp)")
                if (r.peer_type is PeerType.IBGP) != ibgp:
                    continue  # Calico: `if (is_same_as) then { ... }` never runs
            kept.append(r)
        compiled = (_compile(r, version) for r in kept)
        self._rules = tuple(c for c in compiled if c is not None)
        self._on_route = any(r.on_route for r in self._rules)

    def __bool__(self) -> bool:
        """False when the chain has no rule (every decision is None)."""
        return bool(self._rules)

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self._rules

    def for_route(self, attributes: PathAttributes) -> tuple[CompiledRule, ...]:
        """The rules whose route conditions hold for `attributes` (all without any)."""
        if not self._on_route:
            return self._rules
        return tuple(r for r in self._rules if not r.on_route or r.matches_route(attributes))

    def match_range(
        self,
        start: int,
        length: int,
        *,
        interface: str | None,
        from_remote_peer: bool,
        attributes: PathAttributes = _NO_ATTRIBUTES,
        route_local_pref: object = _FROM_ATTRIBUTES,
    ) -> CompiledRule | None:
        """The first rule matching the prefix `start`/`length` (address as an integer) of a
        route with `attributes` (on export: as exported, with the route's own LOCAL_PREF
        `route_local_pref`, an int or None)."""
        for rule in self._rules:
            if rule.matches_prefix(start, length, interface, from_remote_peer) and (
                not rule.on_route
                or rule.matches_route(attributes, from_remote_peer, route_local_pref)
            ):
                return rule
        return None

    def nlri_start(self, nlri: Nlri) -> int:
        """The address of a packed prefix of this chain's version, as an integer."""
        octets = _WIDTH[self.version] // 8
        return int.from_bytes(nlri[1:], "big") << (8 * (octets + 1 - len(nlri)))

    def match_nlri(
        self,
        nlri: Nlri,
        *,
        interface: str | None,
        from_remote_peer: bool,
        attributes: PathAttributes = _NO_ATTRIBUTES,
        route_local_pref: object = _FROM_ATTRIBUTES,
    ) -> CompiledRule | None:
        """`match_range` for a packed prefix (bgpd.net's Nlri) of this chain's version."""
        return self.match_range(
            self.nlri_start(nlri),
            nlri[0],
            interface=interface,
            from_remote_peer=from_remote_peer,
            attributes=attributes,
            route_local_pref=route_local_pref,
        )

    def decide_range(
        self,
        start: int,
        length: int,
        *,
        interface: str | None,
        from_remote_peer: bool,
        attributes: PathAttributes = _NO_ATTRIBUTES,
    ) -> bool | None:
        """First match's action for the prefix: True accept, False reject, None no match."""
        rule = self.match_range(
            start,
            length,
            interface=interface,
            from_remote_peer=from_remote_peer,
            attributes=attributes,
        )
        return None if rule is None else rule.accept

    def decide_nlri(
        self,
        nlri: Nlri,
        *,
        interface: str | None,
        from_remote_peer: bool,
        attributes: PathAttributes = _NO_ATTRIBUTES,
    ) -> bool | None:
        """`decide_range` for a packed prefix (bgpd.net's Nlri) of this chain's version."""
        return self.decide_range(
            self.nlri_start(nlri),
            nlri[0],
            interface=interface,
            from_remote_peer=from_remote_peer,
            attributes=attributes,
        )

    def decide(
        self,
        network: IPNetwork,
        *,
        interface: str | None,
        from_remote_peer: bool,
        attributes: PathAttributes = _NO_ATTRIBUTES,
    ) -> bool | None:
        """`decide_range` for an ipaddress network; None for a network of the other version."""
        if network.version != self.version:
            return None
        return self.decide_range(
            int(network.network_address),
            network.prefixlen,
            interface=interface,
            from_remote_peer=from_remote_peer,
            attributes=attributes,
        )


def compile_filters(
    filters: Mapping[str, FilterConfig] | Sequence[FilterConfig],
    names: Sequence[str],
    *,
    export: bool,
    version: int,
    ibgp: bool | None = None,
) -> FilterChain:
    """The chain of the filters `names` (in that order) for one direction, IP version and
    peer type (`ibgp`, see `FilterChain`).

    Names without a filter are skipped, as Calico's template skips a BGPFilter that does not
    exist (the config loader refuses unknown names, so this only matters for hand-built data).
    """
    by_name = filters if isinstance(filters, Mapping) else {f.name: f for f in filters}
    rules: list[FilterRule] = []
    for name in names:
        f = by_name.get(name)
        if f is not None:
            rules.extend(f.rules(export=export, version=version))
    return FilterChain(rules, version, export=export, ibgp=ibgp)


def evaluate(
    rules: Sequence[FilterRule],
    family: Family | Afi,
    prefix: Nlri | IPNetwork,
    *,
    interface: str | None,
    from_remote_peer: bool,
    attributes: PathAttributes = _NO_ATTRIBUTES,
    export: bool = False,
    ibgp: bool | None = None,
) -> bool | None:
    """First-match decision of `rules` for one prefix: True accept, False reject, None none.

    `prefix` is a packed prefix of `family`, or an ipaddress network. Compiles the rules on
    every call: use a `FilterChain` on hot paths.
    """
    afi = family.afi if isinstance(family, Family) else family
    chain = FilterChain(rules, 4 if afi is Afi.IPV4 else 6, export=export, ibgp=ibgp)
    if isinstance(prefix, bytes):
        return chain.decide_nlri(
            prefix, interface=interface, from_remote_peer=from_remote_peer, attributes=attributes
        )
    return chain.decide(
        prefix, interface=interface, from_remote_peer=from_remote_peer, attributes=attributes
    )


def import_accepts(
    chain: FilterChain,
    nlri: Nlri,
    *,
    interface: str | None = None,
    from_remote_peer: bool = True,
    attributes: PathAttributes = _NO_ATTRIBUTES,
) -> bool:
    """The import decision with Calico's default: accept unless a rule rejects.

    Routes being imported come from a BGP peer, hence `from_remote_peer` defaults to True.
    """
    decision = chain.decide_nlri(
        nlri, interface=interface, from_remote_peer=from_remote_peer, attributes=attributes
    )
    return True if decision is None else decision

"""Declarative import/export filters (`[[filter]]`, Calico's BGPFilter): evaluating the rules.

Role: the per-route decision of a peer's `import_filters`/`export_filters` (sans-IO, pure).
The rule lists of the named filters are walked in order, filter after filter as listed on
the peer, and the first rule that matches decides (calico-bgp.md §2.8: each BGPFilter
becomes a BIRD function of `if (cond) then { accept|reject; }` lines called in the peer's
order, and the first `accept`/`reject` ends the whole BIRD filter). A rule matches when all
of its conditions hold; a rule without conditions always matches:

- `cidr` + `match_operator`: `in` (BIRD `net ~ cidr`: the prefix is the cidr or more
  specific, and with `prefix_length_*` its length is in the effective range), `not_in`
  (the opposite), `equal` (`net = cidr`), `not_equal`;
- `source = "remote_peers"`: the route was learned from a BGP peer (`source ~ [RTS_BGP]`);
- `interface`: the route has an interface and its name matches the BIRD glob (`*`, `?`).

When no rule matches the result is None and the caller applies Calico's default: on import
**accept** (the template ends with `accept;`), on export Calico's own export policy
(`bgpd.policy.export_policy`, `calico_export_to_bgp_peers`) and then reject.

API for the speaker:
- `compile_filters(filters, names, export=..., version=...)` -> `FilterChain` (build once per
  peer, direction and family, on config load);
- `FilterChain.decide_nlri(nlri, interface=..., from_remote_peer=...)` on packed prefixes
  (`bgpd.net.Nlri`), `FilterChain.decide(network, ...)` on ipaddress networks;
- `evaluate(rules, family, prefix, interface=..., from_remote_peer=...)` for one-off checks;
- `import_accepts(chain, ...)` folds in the import default.

Invariants: pure; a chain is immutable and a function of its rules alone; deciding allocates
nothing but the integer conversion of the prefix; `True` means accept, `False` reject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bgpd.config.filter_section import (
    FilterAction,
    FilterConfig,
    FilterRule,
    MatchOperator,
    RouteSource,
)
from bgpd.net import Afi, Family, IPNetwork, Nlri

__all__ = [
    "FilterChain",
    "FilterRule",
    "compile_filters",
    "evaluate",
    "glob_matches",
    "import_accepts",
    "import_chains",
    "split_import",
]

_WIDTH = {4: 32, 6: 128}

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


@dataclass(frozen=True, slots=True)
class _Compiled:
    accept: bool
    op: int
    shift: int  # width - cidr length: compare `start >> shift` with `net`
    net: int  # cidr address >> shift
    length: int  # cidr length
    low: int  # accepted prefix lengths for in / not_in
    high: int
    remote_only: bool
    interface: re.Pattern[str] | None

    def matches(self, start: int, length: int, interface: str | None, remote: bool) -> bool:
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


def _compile(rule: FilterRule, version: int) -> _Compiled | None:
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
    return _Compiled(
        accept=rule.action is FilterAction.ACCEPT,
        op=op,
        shift=shift,
        net=net,
        length=length,
        low=low,
        high=high,
        remote_only=rule.source is RouteSource.REMOTE_PEERS,
        interface=None if rule.interface is None else _glob_regex(rule.interface),
    )


class FilterChain:
    """The ordered rules one peer applies in one direction to one IP version."""

    __slots__ = ("_rules", "version")

    def __init__(self, rules: Sequence[FilterRule], version: int) -> None:
        if version not in _WIDTH:
            raise ValueError(f"IP version must be 4 or 6, not {version}")
        self.version = version
        compiled = (_compile(r, version) for r in rules)
        self._rules = tuple(c for c in compiled if c is not None)

    def __bool__(self) -> bool:
        """False when the chain has no rule (every decision is None)."""
        return bool(self._rules)

    def decide_range(
        self, start: int, length: int, *, interface: str | None, from_remote_peer: bool
    ) -> bool | None:
        """First match for the prefix `start`/`length` (address as an integer)."""
        for rule in self._rules:
            if rule.matches(start, length, interface, from_remote_peer):
                return rule.accept
        return None

    def decide_nlri(
        self, nlri: Nlri, *, interface: str | None, from_remote_peer: bool
    ) -> bool | None:
        """`decide_range` for a packed prefix (bgpd.net's Nlri) of this chain's version."""
        octets = _WIDTH[self.version] // 8
        start = int.from_bytes(nlri[1:], "big") << (8 * (octets + 1 - len(nlri)))
        return self.decide_range(
            start, nlri[0], interface=interface, from_remote_peer=from_remote_peer
        )

    def decide(
        self, network: IPNetwork, *, interface: str | None, from_remote_peer: bool
    ) -> bool | None:
        """`decide_range` for an ipaddress network; None for a network of the other version."""
        if network.version != self.version:
            return None
        return self.decide_range(
            int(network.network_address),
            network.prefixlen,
            interface=interface,
            from_remote_peer=from_remote_peer,
        )


def compile_filters(
    filters: Mapping[str, FilterConfig] | Sequence[FilterConfig],
    names: Sequence[str],
    *,
    export: bool,
    version: int,
) -> FilterChain:
    """The chain of the filters `names` (in that order) for one direction and IP version.

    Names without a filter are skipped, as Calico's template skips a BGPFilter that does not
    exist (the config loader refuses unknown names, so this only matters for hand-built data).
    """
    by_name = filters if isinstance(filters, Mapping) else {f.name: f for f in filters}
    rules: list[FilterRule] = []
    for name in names:
        f = by_name.get(name)
        if f is not None:
            rules.extend(f.rules(export=export, version=version))
    return FilterChain(rules, version)


def evaluate(
    rules: Sequence[FilterRule],
    family: Family | Afi,
    prefix: Nlri | IPNetwork,
    *,
    interface: str | None,
    from_remote_peer: bool,
) -> bool | None:
    """First-match decision of `rules` for one prefix: True accept, False reject, None none.

    `prefix` is a packed prefix of `family`, or an ipaddress network. Compiles the rules on
    every call: use a `FilterChain` on hot paths.
    """
    afi = family.afi if isinstance(family, Family) else family
    chain = FilterChain(rules, 4 if afi is Afi.IPV4 else 6)
    if isinstance(prefix, bytes):
        return chain.decide_nlri(prefix, interface=interface, from_remote_peer=from_remote_peer)
    return chain.decide(prefix, interface=interface, from_remote_peer=from_remote_peer)


def import_accepts(
    chain: FilterChain, nlri: Nlri, *, interface: str | None = None, from_remote_peer: bool = True
) -> bool:
    """The import decision with Calico's default: accept unless a rule rejects.

    Routes being imported come from a BGP peer, hence `from_remote_peer` defaults to True.
    """
    decision = chain.decide_nlri(nlri, interface=interface, from_remote_peer=from_remote_peer)
    return True if decision is None else decision


def import_chains(filters: Sequence[FilterConfig]) -> dict[Afi, FilterChain] | None:
    """A peer's import chains per IP version (None: the peer has no import filters)."""
    if not filters:
        return None
    names = [f.name for f in filters]
    return {
        Afi.IPV4: compile_filters(filters, names, export=False, version=4),
        Afi.IPV6: compile_filters(filters, names, export=False, version=6),
    }


Ids = Sequence[int] | None


def split_import(
    chain: FilterChain, prefixes: Sequence[Nlri], path_ids: Ids
) -> tuple[tuple[list[Nlri], Ids], tuple[list[Nlri], Ids]]:
    """(accepted prefixes, their path ids), (rejected ones, theirs): one UPDATE batch through
    a peer's import rules, Calico's default (accept) when no rule matches."""
    keep: list[int] = []
    drop: list[int] = []
    for i, nlri in enumerate(prefixes):
        if chain.decide_nlri(nlri, interface=None, from_remote_peer=True) is False:
            drop.append(i)
        else:
            keep.append(i)

    def pick(idx: list[int]) -> tuple[list[Nlri], Ids]:
        ids = None if path_ids is None else [path_ids[i] for i in idx]
        return [prefixes[i] for i in idx], ids

    return pick(keep), pick(drop)

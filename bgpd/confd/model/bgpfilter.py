"""Calico BGPFilter resources turned into bgpd's declarative `[[filter]]` rules.

Role: read a BGPFilter (api/pkg/apis/projectcalico/v3/bgpfilter.go) and produce the
equivalent `bgpd.config.filter_section.FilterConfig`, plus its JSON form for the key view
(`/calico/bgp/v1/filters/<name>`), whose keys are exactly the TOML keys of `[[filter]]`, so a
template can copy it into bgpd.toml field by field.

The translation is one to one with Calico's BIRD rendering (confd template_funcs.go
`filterStatement`, calico-bgp.md §2.8): `action` Accept|Reject, `matchOperator`
Equal|NotEqual|In|NotIn on `cidr`, `prefixLength.min/max`, `source: RemotePeers`,
`interface` glob. Invariants: every rule list keeps its order; a rule that BIRD would refuse is
a `ConfigProblem` naming the key and the rule (`spec.importV4[1].cidr: ...`), never dropped.

A BGPFilter is never widened: a rule with a condition or operation bgpd cannot evaluate
(`peerType`, `communities`, `asPathPrefix`, `priority`, `operations`: REFUSED in
`bgpd.confd.model.field_ledger`) would, without it, match more routes than written. Such a
filter is refused whole and replaced by a stand-in of the same name in which every rule list
the filter has rules in rejects all routes, and its empty lists stay empty (Calico renders no
function for an empty list: the route goes on to Calico's own rules, exactly as written). So the
peers that name it keep their sessions but exchange nothing through the refused directions:
never more than written, and the rest of their config (and every other peer) unaffected, where
a missing filter would fail the whole render. The watcher reports the refusal
(`confd.unsupported_field`).
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_network

from bgpd.confd.model.field_ledger import refused_fields
from bgpd.confd.model.resources import decode_object
from bgpd.confd.model.values import Fields, Problems
from bgpd.config.filter_section import (
    FILTER_LISTS,
    FilterAction,
    FilterConfig,
    FilterRule,
    MatchOperator,
    RouteSource,
)
from bgpd.errors import ConfigError

__all__ = ["filter_json", "read_bgp_filter"]

# Calico's spec field for each of our rule lists.
_CALICO_LISTS = {
    "import_v4": "importV4",
    "export_v4": "exportV4",
    "import_v6": "importV6",
    "export_v6": "exportV6",
}
_ACTIONS = {"Accept": FilterAction.ACCEPT, "Reject": FilterAction.REJECT}
_OPERATORS = {
    "Equal": MatchOperator.EQUAL,
    "NotEqual": MatchOperator.NOT_EQUAL,
    "In": MatchOperator.IN,
    "NotIn": MatchOperator.NOT_IN,
}
_SOURCES = {"RemotePeers": RouteSource.REMOTE_PEERS}


def _choice(rule: Fields, name: str, table: Mapping[str, object]) -> tuple[bool, object]:
    """(ok, member or None) for an enum-valued field; an empty value is absent."""
    text = rule.text(name)
    if not text:
        return True, None
    if text not in table:
        rule.bad(name, f"{text!r} is not one of {', '.join(table)}")
        return False, None
    return True, table[text]


def _read_rule(rule: Fields, version: int) -> FilterRule | None:
    before = len(rule.problems)
    ok_action, action = _choice(rule, "action", _ACTIONS)
    if ok_action and action is None:
        rule.bad("action", "missing (Accept or Reject)")
    _, operator = _choice(rule, "matchOperator", _OPERATORS)
    _, source = _choice(rule, "source", _SOURCES)
    cidr = None
    cidr_text = rule.text("cidr")
    if cidr_text:
        try:
            cidr = ip_network(cidr_text, strict=True)
        except ValueError as exc:
            rule.bad("cidr", f"{cidr_text!r} is not a CIDR without host bits ({exc})")
        else:
            if cidr.version != version:
                rule.bad("cidr", f"{cidr_text!r} is not an IPv{version} CIDR")
                cidr = None
    top = 32 if version == 4 else 128
    length_min = length_max = None
    lengths = rule.sub("prefixLength")
    if lengths is not None:
        length_min = lengths.integer("min", 0, top)
        length_max = lengths.integer("max", 0, top)
    interface = rule.text("interface") or None
    if len(rule.problems) != before:
        return None
    try:
        return FilterRule(
            action=action,  # type: ignore[arg-type]
            cidr=cidr,
            match_operator=operator,  # type: ignore[arg-type]
            prefix_length_min=length_min,
            prefix_length_max=length_max,
            source=source,  # type: ignore[arg-type]
            interface=interface,
        )
    except ConfigError as exc:
        for p in exc.problems:
            rule.bad(_CALICO_FIELD.get(p.location, p.location), p.message)
        return None


_REJECT_ALL = (FilterRule(action=FilterAction.REJECT),)

_CALICO_FIELD = {
    "match_operator": "matchOperator",
    "prefix_length_min": "prefixLength.min",
    "prefix_length_max": "prefixLength.max",
}


def read_bgp_filter(key: str, name: str, raw: str, problems: Problems) -> FilterConfig | None:
    """The BGPFilter at `key` as a FilterConfig named `name`; None (recorded) when bad."""
    top = decode_object(key, raw, problems)
    if top is None:
        return None
    before = len(problems)
    spec = top.sub("spec") or Fields(key, {}, "spec", problems)
    lists: dict[str, tuple[FilterRule, ...]] = {}
    for ours, version in FILTER_LISTS:
        rules = [_read_rule(rule, version) for rule in spec.subs(_CALICO_LISTS[ours]) or []]
        lists[ours] = tuple(r for r in rules if r is not None)
    if len(problems) != before:
        return None
    if refused_fields("BGPFilter", name, top.obj):
        lists = {ours: _REJECT_ALL if rules else () for ours, rules in lists.items()}
    try:
        return FilterConfig(name=name, **lists)
    except ConfigError as exc:
        for p in exc.problems:
            problems.add(key, f"{p.location}: {p.message}")
        return None


def _rule_json(rule: FilterRule) -> dict[str, object]:
    out: dict[str, object] = {"action": rule.action.value}
    if rule.cidr is not None:
        out["cidr"] = str(rule.cidr)
    if rule.match_operator is not None:
        out["match_operator"] = rule.match_operator.value
    if rule.prefix_length_min is not None:
        out["prefix_length_min"] = rule.prefix_length_min
    if rule.prefix_length_max is not None:
        out["prefix_length_max"] = rule.prefix_length_max
    if rule.source is not None:
        out["source"] = rule.source.value
    if rule.interface is not None:
        out["interface"] = rule.interface
    return out


def filter_json(config: FilterConfig) -> dict[str, object]:
    """The key-view form of a filter: `[[filter]]`'s TOML keys, rule lists always present."""
    out: dict[str, object] = {"name": config.name}
    for ours, _ in FILTER_LISTS:
        rules: tuple[FilterRule, ...] = getattr(config, ours)
        out[ours] = [_rule_json(r) for r in rules]
    return out

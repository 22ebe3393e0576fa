"""Calico BGPFilter resources turned into bgpd's declarative `[[filter]]` rules.

Role: read a BGPFilter (api/pkg/apis/projectcalico/v3/bgpfilter.go) and produce the
equivalent `bgpd.config.filter_section.FilterConfig`, plus its JSON form for the key view
(`/calico/bgp/v1/filters/<name>`), whose keys are exactly the TOML keys of `[[filter]]`, so a
template can copy it into bgpd.toml field by field.

The translation is one to one with Calico's BIRD rendering (confd template_funcs.go
`filterStatement`, calico-bgp.md §2.8): `action` Accept|Reject, `matchOperator`
Equal|NotEqual|In|NotIn on `cidr`, `prefixLength.min/max`, `source: RemotePeers`,
`interface` glob, `peerType` eBGP|iBGP, `communities.values` (one value, standard "A:B" or
large "A:B:C"), `asPathPrefix`, `priority`, and `operations` (`addCommunity.value`,
`prependASPath.prefix`, `setPriority.value`, in order). Invariants: every rule list keeps its
order; a rule that BIRD or Calico's API would refuse is a `ConfigProblem` naming the key and the
rule (`spec.importV4[1].cidr: ...`), never dropped: an empty `communities.values` (Calico's
template fails on it), more than one value (Calico would match the first only), operations on a
Reject rule (refused by Calico's API), an operation setting no or several fields.

Every field of a BGPFilter is evaluated today. The refusal machinery stays for a field Calico
adds that bgpd cannot evaluate (REFUSED in `bgpd.confd.model.field_ledger`): a BGPFilter that
sets one would, without it, match more routes than written, so it is refused whole and replaced
by a stand-in of the same name in which every rule list the filter has rules in rejects all
routes, and its empty lists stay empty (Calico renders no function for an empty list). The
peers that name it keep their sessions but exchange nothing through the refused directions,
and the watcher reports the refusal (`confd.unsupported_field`).
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_network

from bgpd.confd.model.field_ledger import refused_fields
from bgpd.confd.model.resources import decode_object
from bgpd.confd.model.values import Fields, Problems, parse_asn
from bgpd.config.checks import Community, LargeCommunity
from bgpd.config.filter_section import (
    FILTER_LISTS,
    FilterAction,
    FilterConfig,
    FilterOperation,
    FilterRule,
    MatchOperator,
    PeerType,
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
_PEER_TYPES = {"eBGP": PeerType.EBGP, "iBGP": PeerType.IBGP}
_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF


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
    _, peer_type = _choice(rule, "peerType", _PEER_TYPES)
    community = _community_match(rule)
    path_prefix = _asns(rule, "asPathPrefix")
    # The range is FilterRule's to check, with its message; this reads an integer.
    priority = rule.integer("priority", -(2**63), 2**63)
    operations = tuple(_operation(op) for op in rule.subs("operations") or [])
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
            peer_type=peer_type,  # type: ignore[arg-type]
            community=community,
            as_path_prefix=path_prefix,
            priority=priority,
            operations=operations,  # type: ignore[arg-type]
        )
    except ConfigError as exc:
        for p in exc.problems:
            rule.bad(_calico_field(p.location), p.message)
        return None


def _community(holder: Fields, name: str) -> Community | LargeCommunity | None:
    """A BGPCommunityValue ("A:B" of 16-bit parts, or "A:B:C" of 32-bit parts)."""
    if not holder.has(name):
        holder.bad(name, "missing")
        return None
    text = holder.text(name)
    parts = text.split(":")
    if len(parts) in (2, 3) and all(p.isascii() and p.isdigit() for p in parts):
        numbers = [int(p) for p in parts]
        if len(numbers) == 2 and max(numbers) <= _MAX_U16:
            return Community(high=numbers[0], low=numbers[1])
        if len(numbers) == 3 and max(numbers) <= _MAX_U32:
            return LargeCommunity(global_admin=numbers[0], local1=numbers[1], local2=numbers[2])
    holder.bad(name, f"{text!r} is not a community A:B (0..65535 each) or A:B:C (32-bit each)")
    return None


def _community_match(rule: Fields) -> Community | LargeCommunity | None:
    match = rule.sub("communities")
    if match is None:
        return None
    values = match.str_list("values") or ()
    if len(values) != 1:
        # Calico's template matches values[0] only, and fails on an empty list.
        match.bad("values", f"exactly one community is matched, got {len(values)}")
        return None
    holder = Fields(match.key, {"values[0]": values[0]}, match.where, match.problems)
    return _community(holder, "values[0]")


def _asns(holder: Fields, name: str) -> tuple[int, ...]:
    """An array of numorstring.ASNumber (each a number, "64512" or asdot "1.10")."""
    raw = holder.obj.get(name)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        holder.bad(name, "expected an array of AS numbers")
        return ()
    out: list[int] = []
    for i, value in enumerate(raw):
        asn, message = parse_asn(value)
        if message is not None:
            holder.bad(f"{name}[{i}]", message)
        elif asn is not None:
            out.append(asn)
    return tuple(out)


def _operation(op: Fields) -> FilterOperation | None:
    """One BGPFilterOperation, exactly one of its fields set (Calico's MinProperties and
    MaxProperties 1); None (recorded) when bad."""
    given = [k for k in ("addCommunity", "prependASPath", "setPriority") if op.has(k)]
    if len(given) != 1:
        op.problems.add(
            op.key,
            f"{op.where}: an operation sets exactly one of addCommunity, prependASPath, "
            f"setPriority, got {len(given)}",
        )
        return None
    add, prepend, setting = op.sub("addCommunity"), op.sub("prependASPath"), op.sub("setPriority")
    if add is not None:
        community = _community(add, "value")
        return None if community is None else _new_operation(op, add_community=community)
    if prepend is not None:
        before = len(op.problems)
        asns = _asns(prepend, "prefix")
        if not asns:
            if len(op.problems) == before:
                prepend.bad("prefix", "at least one AS number")
            return None
        return _new_operation(op, prepend_as_path=asns)
    if setting is not None:
        if not setting.has("value"):
            setting.bad("value", "missing")
        value = setting.integer("value", -(2**63), 2**63)
        return None if value is None else _new_operation(op, set_priority=value)
    return None


def _new_operation(op: Fields, **values: object) -> FilterOperation | None:
    try:
        return FilterOperation(**values)  # type: ignore[arg-type]
    except ConfigError as exc:
        for p in exc.problems:
            op.bad(_calico_field(p.location), p.message)
        return None


_REJECT_ALL = (FilterRule(action=FilterAction.REJECT),)

_CALICO_FIELD = {
    "match_operator": "matchOperator",
    "prefix_length_min": "prefixLength.min",
    "prefix_length_max": "prefixLength.max",
    "as_path_prefix": "asPathPrefix",
    "prepend_as_path": "prependASPath.prefix",
    "set_priority": "setPriority.value",
}


def _calico_field(location: str) -> str:
    """A problem's location in our rule's terms, in the resource's (`operations[0].set_priority`
    -> `operations[0].setPriority.value`)."""
    head, dot, last = location.rpartition(".")
    base, bracket, index = last.partition("[")
    name = _CALICO_FIELD.get(base, base) + (bracket + index)
    return f"{head}{dot}{name}"


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
    if rule.peer_type is not None:
        out["peer_type"] = rule.peer_type.value
    if rule.community is not None:
        out["community"] = str(rule.community)
    if rule.as_path_prefix:
        out["as_path_prefix"] = list(rule.as_path_prefix)
    if rule.priority is not None:
        out["priority"] = rule.priority
    if rule.operations:
        out["operations"] = [op.as_json() for op in rule.operations]
    return out


def filter_json(config: FilterConfig) -> dict[str, object]:
    """The key-view form of a filter: `[[filter]]`'s TOML keys, rule lists always present."""
    out: dict[str, object] = {"name": config.name}
    for ours, _ in FILTER_LISTS:
        rules: tuple[FilterRule, ...] = getattr(config, ours)
        out[ours] = [_rule_json(r) for r in rules]
    return out

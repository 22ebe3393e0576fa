"""`[[filter]]`: named, ordered import/export rule lists (Calico's BGPFilter, declaratively).

Role: the typed, validated shape of

    [[filter]]
    name = "no-private"
    [[filter.import_v4]]
    action = "reject"            # accept | reject
    cidr = "10.0.0.0/8"          # with match_operator; both or neither
    match_operator = "in"        # equal | not_equal | in | not_in
    prefix_length_min = 8        # optional, in/not_in only (Calico's prefixLength.min/max)
    prefix_length_max = 24
    source = "remote_peers"      # optional: only routes learned from BGP peers
    interface = "eth*"           # optional: the route's interface, BIRD glob (* and ?)
    peer_type = "ebgp"           # optional: only toward/from eBGP (or iBGP) peers
    community = "65000:100"      # optional: the route carries it (A:B, or large A:B:C)
    as_path_prefix = [65001]     # optional: the AS path begins with these ASNs
    priority = 512               # optional: the route's priority (LOCAL_PREF 2147483647 - it)
    [[filter.import_v4.operations]]  # optional, accept only, in order, one key each:
    add_community = "65000:200"      # or prepend_as_path = [65000], or set_priority = 512

with `import_v4`, `export_v4`, `import_v6`, `export_v6` rule lists, and `[[peer]]`'s
`import_filters`/`export_filters` lists naming them. `read_filters` converts the TOML array,
`filter_problems` checks names and references across the config. Evaluation (first match
wins, Calico's defaults) lives in `bgpd.policy.filter_eval`.

Invariants:
- As elsewhere in `bgpd.config`, every class validates itself in `__post_init__` and raises
  `ConfigError` with locations relative to the instance (`cidr`, `import_v4[1].cidr`).
- A rule means exactly what Calico's BIRD rendering of the same BGPFilter rule means
  (template_funcs.go `filterStatement`, calico-bgp.md §2.8): the conditions given are ANDed,
  a rule with none always matches. Rules BIRD would refuse or fail on at run time are refused
  here: a CIDR with host bits, a prefix-length range with `equal`/`not_equal` (BIRD compares
  a prefix with a prefix set and aborts the filter), an empty effective length range; and what
  Calico's API refuses (bgpfilter.go): operations on a rule whose action is not accept, more
  than 10 operations or prepended ASNs, a priority outside 1..2147483646.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_network
from typing import TypeVar

from bgpd.config.checks import Collector, Community, LargeCommunity, raise_problems
from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import MAX_ASN, IPNetwork

__all__ = [
    "FILTER_LISTS",
    "FILTER_OPERATION_KEYS",
    "FILTER_RULE_KEYS",
    "MAX_FILTER_PRIORITY",
    "FilterAction",
    "FilterConfig",
    "FilterOperation",
    "FilterRule",
    "MatchOperator",
    "PeerType",
    "RouteSource",
    "check_filter_name",
    "filter_problems",
    "raw_filter_names",
    "read_filters",
]

MAX_FILTER_NAME = 253  # a Kubernetes resource name, as BGPFilter names are
_FILTER_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
# Calico's validator: bgpFilterInterfaceRegex, a Linux interface name (15 chars) with globs.
_INTERFACE_RE = re.compile(r"[a-zA-Z0-9_.*?-]{1,15}")

# The four rule lists of a filter: (TOML key, IP version of its rules).
FILTER_LISTS: tuple[tuple[str, int], ...] = (
    ("import_v4", 4),
    ("export_v4", 4),
    ("import_v6", 6),
    ("export_v6", 6),
)
FILTER_RULE_KEYS = (
    "action",
    "cidr",
    "match_operator",
    "prefix_length_min",
    "prefix_length_max",
    "source",
    "interface",
    "peer_type",
    "community",
    "as_path_prefix",
    "priority",
    "operations",
)
FILTER_OPERATION_KEYS = ("add_community", "prepend_as_path", "set_priority")
# Calico's bounds (bgpfilter.go): a priority or setPriority value is 1..2^31-2, so that its
# LOCAL_PREF (2^31-1 - it, bgpd.policy.route_priority) is a positive BIRD int; at most 10
# operations per rule and 10 ASNs per prepend.
MAX_FILTER_PRIORITY = 2_147_483_646
MAX_OPERATIONS = 10
MAX_PREPEND = 10


class FilterAction(StrEnum):
    """What a matching rule does with the route."""

    ACCEPT = "accept"
    REJECT = "reject"


class MatchOperator(StrEnum):
    """How a rule's `cidr` is compared with the route's prefix (BIRD `=`, `!=`, `~`, `!~`)."""

    EQUAL = "equal"
    NOT_EQUAL = "not_equal"
    IN = "in"  # the prefix is the cidr or inside it
    NOT_IN = "not_in"


class RouteSource(StrEnum):
    """`source`: where the route came from (Calico's only value: RemotePeers, i.e. BGP)."""

    REMOTE_PEERS = "remote_peers"


class PeerType(StrEnum):
    """`peer_type`: the session the route comes from or goes to (Calico's eBGP/iBGP: the peer's
    AS differs from ours or not, bgp_processor.go `sameAS`)."""

    EBGP = "ebgp"
    IBGP = "ibgp"


def _check_priority(v: int) -> str | None:
    if 1 <= v <= MAX_FILTER_PRIORITY:
        return None
    return f"priority {v} is out of range 1..{MAX_FILTER_PRIORITY}"


def _check_asns(key: str, asns: tuple[int, ...], c: Collector) -> None:
    for i, asn in enumerate(asns):
        if not 1 <= asn <= MAX_ASN:
            c.add(f"{key}[{i}]", f"AS number {asn} is out of range 1..{MAX_ASN}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterOperation:
    """One change a matching rule makes to the route (Calico's BGPFilterOperation): exactly one
    of `add_community` (BIRD `bgp_community.add` / `bgp_large_community.add`),
    `prepend_as_path` (the path then starts with these ASNs, in this order) and `set_priority`
    (LOCAL_PREF = 2147483647 - it)."""

    add_community: Community | LargeCommunity | None = None
    prepend_as_path: tuple[int, ...] = ()
    set_priority: int | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        given = [k for k in FILTER_OPERATION_KEYS if getattr(self, k) not in (None, ())]
        if len(given) != 1:
            names = ", ".join(FILTER_OPERATION_KEYS)
            c.add(given[1] if given else "", f"an operation sets exactly one of {names}")
        if len(self.prepend_as_path) > MAX_PREPEND:
            c.add("prepend_as_path", f"at most {MAX_PREPEND} AS numbers")
        _check_asns("prepend_as_path", self.prepend_as_path, c)
        c.check("set_priority", _check_priority, self.set_priority)

    def as_json(self) -> dict[str, object]:
        """The one key it sets, as `[[filter]]` writes it (TOML and confd's key view)."""
        if self.add_community is not None:
            return {"add_community": str(self.add_community)}
        if self.prepend_as_path:
            return {"prepend_as_path": list(self.prepend_as_path)}
        return {"set_priority": self.set_priority}


def check_filter_name(v: str) -> str | None:
    if not _FILTER_NAME_RE.fullmatch(v):
        return f"filter name {json.dumps(v)} may only contain letters, digits and _ . : -"
    if len(v) > MAX_FILTER_NAME:
        return f"filter name is {len(v)} characters; at most {MAX_FILTER_NAME}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterRule:
    """One rule; the conditions given are ANDed, and a rule with no condition always matches."""

    action: FilterAction
    cidr: IPNetwork | None = None
    match_operator: MatchOperator | None = None
    prefix_length_min: int | None = None
    prefix_length_max: int | None = None
    source: RouteSource | None = None
    interface: str | None = None
    peer_type: PeerType | None = None
    community: Community | LargeCommunity | None = None
    as_path_prefix: tuple[int, ...] = ()
    priority: int | None = None
    operations: tuple[FilterOperation, ...] = ()

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this rule (see `bgpd.config.checks.Collector`)."""
        # Calico's validateBGPFilterRule: cidr and matchOperator come together.
        if self.cidr is not None and self.match_operator is None:
            c.add("match_operator", "match_operator is required with cidr")
        if self.cidr is None and self.match_operator is not None:
            c.add("cidr", "cidr is required with match_operator")
        has_lengths = self.prefix_length_min is not None or self.prefix_length_max is not None
        # Problems about the lengths are reported at the first length key given.
        length_key = (
            "prefix_length_min" if self.prefix_length_min is not None else "prefix_length_max"
        )
        if has_lengths and self.cidr is None:
            c.add(length_key, "prefix lengths need a cidr")
        if self.cidr is not None:
            top = self.cidr.max_prefixlen
            for key in ("prefix_length_min", "prefix_length_max"):
                value: int | None = getattr(self, key)
                if value is not None and not 0 <= value <= top:
                    c.add(key, f"{value} is out of range 0..{top}")
            if has_lengths and self.match_operator in (
                MatchOperator.EQUAL,
                MatchOperator.NOT_EQUAL,
            ):
                c.add(length_key, "prefix lengths only go with match_operator in or not_in")
            if not c.problems and has_lengths:
                low, high = self._range(self.cidr)
                if low > high:
                    c.add(
                        length_key,
                        f"no prefix length is in {low}..{high} (the cidr's own length is "
                        f"{self.cidr.prefixlen})",
                    )
        if self.interface is not None and not (
            self.interface == "*" or _INTERFACE_RE.fullmatch(self.interface)
        ):
            c.add(
                "interface",
                f"interface {json.dumps(self.interface)} must be 1-15 characters of letters, "
                "digits, _ . - and the wildcards * ?",
            )
        _check_asns("as_path_prefix", self.as_path_prefix, c)
        c.check("priority", _check_priority, self.priority)
        if self.operations and self.action is not FilterAction.ACCEPT:
            # bgpfilter.go: "operations may only be used with action Accept".
            c.add("operations", "operations go with action accept only")
        if len(self.operations) > MAX_OPERATIONS:
            c.add("operations", f"at most {MAX_OPERATIONS} operations")

    def _range(self, cidr: IPNetwork) -> tuple[int, int]:
        # template_funcs.go filterMatchPrefixLength: min is raised to the cidr's length, max
        # lowered to the family's; the pattern is then `cidr{min,max}`.
        low: int = cidr.prefixlen
        high: int = cidr.max_prefixlen
        if self.prefix_length_min is not None:
            low = max(low, self.prefix_length_min)
        if self.prefix_length_max is not None:
            high = min(high, self.prefix_length_max)
        return low, high

    @property
    def length_range(self) -> tuple[int, int] | None:
        """The effective (min, max) prefix lengths for `in`/`not_in`, None without a cidr.

        Without prefix_length_* it is (cidr length, family maximum): BIRD's `net ~ cidr`.
        """
        if self.cidr is None:
            return None
        return self._range(self.cidr)


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterConfig:
    """`[[filter]]`: a named set of ordered rule lists, one per direction and family."""

    name: str
    import_v4: tuple[FilterRule, ...] = ()
    export_v4: tuple[FilterRule, ...] = ()
    import_v6: tuple[FilterRule, ...] = ()
    export_v6: tuple[FilterRule, ...] = ()

    def __post_init__(self) -> None:
        c = Collector()
        c.add("name", check_filter_name(self.name))
        for key, version in FILTER_LISTS:
            rules: tuple[FilterRule, ...] = getattr(self, key)
            for i, rule in enumerate(rules):
                if rule.cidr is not None and rule.cidr.version != version:
                    c.add(
                        f"{key}[{i}].cidr",
                        f"{rule.cidr} is IPv{rule.cidr.version} in an IPv{version} rule list",
                    )
        c.raise_if_any()

    def rules(self, *, export: bool, version: int) -> tuple[FilterRule, ...]:
        """The rule list for one direction and IP version (4 or 6)."""
        if version == 4:
            return self.export_v4 if export else self.import_v4
        return self.export_v6 if export else self.import_v6


def filter_problems(
    filters: Iterable[tuple[int, FilterConfig]],
    references: Iterable[tuple[str, str]],
    *,
    also_known: Iterable[str] = (),
) -> list[ConfigProblem]:
    """Duplicate filter names, and references (location, filter name) to unknown filters.

    `also_known` names filters that exist but could not be built (their own problems are
    reported already), so references to them are not reported a second time.
    """
    problems: list[ConfigProblem] = []
    known = set(also_known)
    first: dict[str, int] = {}
    for i, f in filters:
        if f.name in first:
            problems.append(
                ConfigProblem(
                    location=f"filter[{i}].name",
                    message=f"name is already used by filter[{first[f.name]}]",
                )
            )
        first.setdefault(f.name, i)
    for location, name in references:
        if name not in first and name not in known:
            problems.append(
                ConfigProblem(
                    location=location,
                    message=f"no [[filter]] is named {json.dumps(name)}",
                )
            )
    return problems


# --- TOML reading (the loader calls read_filters for the top-level `filter` array). ------------

_Add = Callable[[str, str], None]


def _kind(value: object) -> str:
    return type(value).__name__ if value is not None else "nothing"


def _enum_value(cls: type[StrEnum], value: object, where: str, add: _Add) -> object:
    if isinstance(value, str):
        for member in cls:
            if member.value == value:
                return member
    choices = ", ".join(json.dumps(m.value) for m in cls)
    add(
        where,
        f"{json.dumps(value) if isinstance(value, str) else _kind(value)} is not one of {choices}",
    )
    return None


def _read_rule(raw: object, where: str, add: _Add) -> FilterRule | None:
    if not isinstance(raw, dict):
        add(where, f"expected a table, got {_kind(raw)}")
        return None
    ok = True

    def bad(key: str, message: str) -> None:
        nonlocal ok
        ok = False
        add(f"{where}.{key}", message)

    for key in raw:
        if key not in FILTER_RULE_KEYS:
            bad(key, f"unknown key {json.dumps(key)}")
    values: dict[str, object] = {}
    if "action" not in raw:
        bad("action", "missing required key")
    for key, cls in (
        ("action", FilterAction),
        ("match_operator", MatchOperator),
        ("source", RouteSource),
    ):
        if key in raw:
            member = _enum_value(cls, raw[key], f"{where}.{key}", add)
            if member is None:
                ok = False
            values[key] = member
    if "cidr" in raw:
        text = raw["cidr"]
        if not isinstance(text, str):
            bad("cidr", f"expected a CIDR string, got {_kind(text)}")
        else:
            try:
                values["cidr"] = ip_network(text, strict=True)
            except ValueError as exc:
                bad("cidr", f"{json.dumps(text)} is not a CIDR without host bits ({exc})")
    for key in ("prefix_length_min", "prefix_length_max"):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int):
                bad(key, f"expected an integer, got {_kind(value)}")
            else:
                values[key] = value
    if "interface" in raw:
        value = raw["interface"]
        if not isinstance(value, str):
            bad("interface", f"expected a string, got {_kind(value)}")
        else:
            values["interface"] = value
    if "peer_type" in raw:
        member = _enum_value(PeerType, raw["peer_type"], f"{where}.peer_type", add)
        ok = ok and member is not None
        values["peer_type"] = member
    ok = _read_value(raw, "community", _community, values, where, add) and ok
    ok = _read_value(raw, "as_path_prefix", _asn_list, values, where, add) and ok
    ok = _read_value(raw, "priority", _integer, values, where, add) and ok
    if "operations" in raw:
        items = raw["operations"]
        if not isinstance(items, list):
            bad("operations", f"expected an array of tables, got {_kind(items)}")
        else:
            ops = [_read_operation(o, f"{where}.operations[{i}]", add) for i, o in enumerate(items)]
            ok = ok and all(op is not None for op in ops)
            values["operations"] = tuple(ops)
    if not ok:
        return None
    return _build(FilterRule, values, where, add)


_T = TypeVar("_T")


def _build(cls: Callable[..., _T], values: dict[str, object], where: str, add: _Add) -> _T | None:
    try:
        return cls(**values)
    except ConfigError as exc:
        for p in exc.problems:
            add(f"{where}.{p.location}" if p.location else where, p.message)
        return None


def _read_value(  # noqa: PLR0917 - the reader's state, passed through
    raw: dict[str, object],
    key: str,
    convert: Callable[[object], object],
    values: dict[str, object],
    where: str,
    add: _Add,
) -> bool:
    """Converts `raw[key]` (when present) into `values[key]`; False when it cannot be read."""
    if key not in raw:
        return True
    try:
        values[key] = convert(raw[key])
    except ValueError as exc:
        add(f"{where}.{key}", str(exc))
        return False
    return True


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {_kind(value)}")
    return value


def _asn_list(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected an array of AS numbers, got {_kind(value)}")
    out: list[int] = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int):
            raise ValueError(f"element {i}: expected an AS number, got {_kind(item)}")
        out.append(item)
    return tuple(out)


def _community(value: object) -> Community | LargeCommunity:
    # Imported here: toml_values imports the schema, which imports this module.
    from bgpd.config.toml_values import to_any_community  # noqa: PLC0415

    return to_any_community(value)


def _read_operation(raw: object, where: str, add: _Add) -> FilterOperation | None:
    if not isinstance(raw, dict):
        add(where, f"expected a table, got {_kind(raw)}")
        return None
    ok = True
    for key in raw:
        if key not in FILTER_OPERATION_KEYS:
            add(f"{where}.{key}", f"unknown key {json.dumps(key)}")
            ok = False
    if len(raw) != 1 and ok:
        add(where, f"an operation sets exactly one of {', '.join(FILTER_OPERATION_KEYS)}")
        ok = False
    values: dict[str, object] = {}
    ok = _read_value(raw, "add_community", _community, values, where, add) and ok
    ok = _read_value(raw, "prepend_as_path", _asn_list, values, where, add) and ok
    ok = _read_value(raw, "set_priority", _integer, values, where, add) and ok
    if not ok:
        return None
    return _build(FilterOperation, values, where, add)


def raw_filter_names(value: object) -> set[str]:
    """The names written in a `[[filter]]` array, whether or not the entries are valid."""
    if not isinstance(value, list):
        return set()
    return {e["name"] for e in value if isinstance(e, dict) and isinstance(e.get("name"), str)}


def read_filters(value: object, add: _Add) -> list[tuple[int, FilterConfig]]:
    """The `[[filter]]` entries of a TOML document (`value` is doc["filter"]); problems go to
    `add(location, message)` and the entries with problems are left out."""
    if value is None:
        return []
    if not isinstance(value, list):
        add("filter", f"expected an array of tables ([[filter]]), got {_kind(value)}")
        return []
    out: list[tuple[int, FilterConfig]] = []
    for i, raw in enumerate(value):
        where = f"filter[{i}]"
        if not isinstance(raw, dict):
            add(where, f"expected a table ([[filter]]), got {_kind(raw)}")
            continue
        ok = True
        known = {"name"} | {key for key, _ in FILTER_LISTS}
        for key in raw:
            if key not in known:
                add(f"{where}.{key}", f"unknown key {json.dumps(key)}")
                ok = False
        name = raw.get("name")
        if name is None:
            add(f"{where}.name", "missing required key")
            ok = False
        elif not isinstance(name, str):
            add(f"{where}.name", f"expected a string, got {_kind(name)}")
            ok = False
        lists: dict[str, tuple[FilterRule, ...]] = {}
        for key, _ in FILTER_LISTS:
            items = raw.get(key, [])
            if not isinstance(items, list):
                add(f"{where}.{key}", f"expected an array of tables ([[filter.{key}]])")
                ok = False
                continue
            rules = [_read_rule(item, f"{where}.{key}[{j}]", add) for j, item in enumerate(items)]
            if any(r is None for r in rules):
                ok = False
            lists[key] = tuple(r for r in rules if r is not None)
        if not ok or not isinstance(name, str):
            continue
        try:
            out.append((i, FilterConfig(name=name, **lists)))
        except ConfigError as exc:
            for p in exc.problems:
                add(f"{where}.{p.location}", p.message)
    return out

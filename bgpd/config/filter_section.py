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
  a prefix with a prefix set and aborts the filter), an empty effective length range.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_network

from bgpd.config.checks import Collector
from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import IPNetwork

__all__ = [
    "FILTER_LISTS",
    "FILTER_RULE_KEYS",
    "FilterAction",
    "FilterConfig",
    "FilterRule",
    "MatchOperator",
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
)


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

    def __post_init__(self) -> None:
        c = Collector()
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
        c.raise_if_any()

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
    if not ok:
        return None
    try:
        return FilterRule(**values)  # type: ignore[arg-type]
    except ConfigError as exc:
        for p in exc.problems:
            add(f"{where}.{p.location}", p.message)
        return None


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

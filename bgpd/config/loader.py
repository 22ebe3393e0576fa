"""TOML text to a validated `Config`, reporting every problem at once.

Role: the only way configuration enters the daemon (`bgpd`, `bgpd confd`'s check step, reload).
The loader reads: it parses TOML, converts each value to its field's type
(`bgpd.config.toml_values`), resolves defaults that come from other sections and builds the
section dataclasses, which validate themselves. It adds no value check of its own.

Invariants:
- Either a fully valid `Config` is returned or `ConfigError` is raised; nothing in between.
- Every problem found is reported, each with its location: a key path such as `bgp.hold_time`,
  `static[2].communities[0]` or `peer[1].asn (name "Mesh_x")` (array indices are 0-based),
  and where it is written, `FILE:LINE:COL` (`ConfigProblem.at`, from
  `config.toml_positions`); a TOML syntax error (which stops parsing, so it comes alone) has
  `FILE:LINE:COL` as its location. The loader's
  own problems (unknown or missing key, wrong type, unparseable text) and those a section finds
  (relative to the section, prefixed here with its key path) come in the order of its keys.
- One bad value gives one problem: a table the loader could not fully read is still checked by
  its class for the values it could read (`checks.partial_problems`), rules between fields wait
  for the fields they read, and a section that could not be built takes no part in the rules
  that span sections.
- Unknown keys are errors, with the closest known key suggested, so a typo cannot silently
  fall back to a default.
- Defaults that depend on another section are resolved here, into explicit values:
  `[bgp]` `router_id`, `listen` and `cluster_id` from `[node]` (as Calico's bird.cfg takes them
  from the node), `[kernel].enabled` from the presence of `[calico]`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bgpd.config.bfd_section import BfdSection
from bgpd.config.calico import (
    CalicoSection,
    ClusterNode,
    EncapMode,
    KernelSection,
    MeshSection,
    NodeSection,
    Pool,
    PrefixAdvertisement,
)
from bgpd.config.checks import Validated, partial_problems

# [[filter]] and [[peer]].import_filters/export_filters (bgpd/config/filter_section.py).
from bgpd.config.filter_section import filter_problems, raw_filter_names, read_filters
from bgpd.config.peer import (
    AddPathMode,
    DynamicNeighbors,
    NextHopMode,
    PeerConfig,
    filter_references,
    peer_location,
)
from bgpd.config.restart_mode import RestartMode
from bgpd.config.schema import (
    BgpSection,
    Config,
    ControlSection,
    LogFormat,
    LogLevel,
    MetricsSection,
    StaticRoute,
    cluster_problems,
    config_problems,
    derive_mesh_peers,
    dynamic_problems,
)
from bgpd.config.toml_positions import line_col, positioned, syntax_problem
from bgpd.config.toml_values import (
    Convert,
    InvalidValueError,
    closest,
    suggest,
    to_any_community,
    to_bool,
    to_community,
    to_enum,
    to_family,
    to_int,
    to_ip,
    to_labels,
    to_large_community,
    to_list,
    to_listen_address,
    to_optional_interface,
    to_optional_ip,
    to_prefix,
    to_str,
    type_name,
)
from bgpd.errors import ConfigError, ConfigProblem, os_error_text

__all__ = ["load_config", "parse_config", "read_config_text"]

_V = TypeVar("_V", bound=Validated)
_Locate = Callable[[str], str]


# A hook that rewrites the parsed TOML document before validation and returns it with the
# problems it found in it (the standalone reflector applies its profile defaults and takes out
# its own `[reflector]` table this way); they are reported first, located like the loader's.
Prepare = Callable[[dict[str, Any]], tuple[dict[str, Any], list[ConfigProblem]]]


def parse_config(
    text: str,
    source: str = "<string>",
    *,
    prepare: Prepare | None = None,
    source_path: str | None = None,
) -> Config:
    """Parse and validate TOML `text`; `source` names it in problem locations, `source_path`
    is the file it was read from (`read_config_text`), if any."""
    return _parse(text, source=source, source_path=source_path, prepare=prepare)


def load_config(path: str | os.PathLike[str], *, prepare: Prepare | None = None) -> Config:
    """Read, parse and validate the TOML file at `path`.

    `prepare`, when given, receives the parsed document and returns the one to validate, with
    the problems it found.
    """
    name = os.fspath(path)
    return _parse(read_config_text(name), source=name, source_path=name, prepare=prepare)


def read_config_text(path: str) -> str:
    """The text of the config file `path`; `ConfigError` when it cannot be read or decoded."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = os_error_text(exc, about=path)
        raise ConfigError([ConfigProblem(location=path, message=f"cannot read: {reason}")]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = line_col(data[: exc.start].decode("utf-8"))
        problem = ConfigProblem(location=f"{path}:{line}:{col}", message="not valid UTF-8")
        raise ConfigError([problem]) from exc


def _parse(
    text: str, *, source: str, source_path: str | None, prepare: Prepare | None = None
) -> Config:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([syntax_problem(str(exc), text, source)]) from None
    problems: list[ConfigProblem] = []
    if prepare is not None:
        doc, problems = prepare(doc)
    try:
        config = _Reader().config(doc, source_path)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(positioned(problems, text, source))
    return config


# --- Section specifications: TOML key -> converter; keys equal the dataclass fields. ------------


_FAMILIES = to_list(to_family)

BGP_KEYS: dict[str, Convert] = {
    "asn": to_int,
    "router_id": to_ip,
    "listen": to_list(to_ip),
    "port": to_int,
    "log_level": to_enum(LogLevel),
    "log_format": to_enum(LogFormat),
    "cluster_id": to_ip,
    "hold_time": to_int,
    "keepalive_time": to_int,
    "connect_retry_time": to_int,
    "error_wait_min": to_int,
    "error_wait_max": to_int,
    "graceful_restart": to_bool,
    "graceful_restart_time": to_int,
    "graceful_restart_wait": to_int,
    "restart_mode": to_enum(RestartMode),
    "llgr_stale_time": to_int,
    "families": _FAMILIES,
    "add_path": to_enum(AddPathMode),
    "persist_routes": to_bool,
    "restart_state_file": to_str,
}

CONTROL_KEYS: dict[str, Convert] = {
    "socket": to_str,
    "bird_socket": to_str,
    "bird6_socket": to_str,
    "bird_timeformat_protocol": to_str,
    "bird_timeformat_route": to_str,
    "bird_timeformat_base": to_str,
}

METRICS_KEYS: dict[str, Convert] = {
    "listen": to_listen_address,
    "ready_threshold": to_int,  # /readyz threshold
}

STATIC_KEYS: dict[str, Convert] = {
    "prefix": to_prefix,
    "next_hop": to_ip,
    "blackhole": to_bool,
    "communities": to_list(to_community),
    "large_communities": to_list(to_large_community),
    "med": to_int,
    "local_pref": to_int,
}

PEER_KEYS: dict[str, Convert] = {
    "name": to_str,
    "address": to_ip,
    "asn": to_int,
    "port": to_int,
    "local_address": to_ip,
    "passive": to_bool,
    "password": to_str,
    "password_unavailable": to_str,
    "ttl_security": to_int,
    "multihop": to_int,
    "hold_time": to_int,
    "keepalive_time": to_int,
    "connect_retry_time": to_int,
    "graceful_restart_time": to_int,
    "restart_mode": to_enum(RestartMode),
    "llgr_stale_time": to_int,
    "families": _FAMILIES,
    "add_path": to_enum(AddPathMode),
    "rr_client": to_bool,
    "next_hop_self": to_bool,
    "next_hop_v4": to_ip,
    "next_hop_v6": to_ip,
    "description": to_str,
    # names of [[filter]] entries, applied in order.
    "import_filters": to_list(to_str),
    "export_filters": to_list(to_str),
    "reachable_by": to_ip,
    "local_asn": to_int,
    "next_hop_mode": to_enum(NextHopMode),
    "allow_local_as": to_int,
    "bfd": to_bool,
    "bfd_min_rx_ms": to_int,
    "bfd_min_tx_ms": to_int,
    "bfd_multiplier": to_int,
    "bfd_multihop": to_bool,
}

BFD_KEYS: dict[str, Convert] = {
    "min_rx_ms": to_int,
    "min_tx_ms": to_int,
    "multiplier": to_int,
}

NODE_KEYS: dict[str, Convert] = {
    "name": to_str,
    "ipv4": to_optional_interface,
    "ipv6": to_optional_interface,
    "asn": to_int,
    "rr_cluster_id": to_optional_ip,
}

CLUSTER_NODE_KEYS: dict[str, Convert] = {
    "name": to_str,
    "ipv4": to_optional_ip,
    "ipv6": to_optional_ip,
    "asn": to_int,
    "rr_cluster_id": to_optional_ip,
    "port": to_int,
    "labels": to_labels,
}

MESH_KEYS: dict[str, Convert] = {
    "enabled": to_bool,
    "password": to_str,
    "password_unavailable": to_str,
    "restart_time": to_int,
}

_PREFIXES = to_list(to_prefix)

# [calico] keys holding values; its arrays of tables are CALICO_TABLES.
CALICO_KEYS: dict[str, Convert] = {
    "blocks": _PREFIXES,
    "advertise": _PREFIXES,
    "reject": _PREFIXES,
    "lb_ranges": _PREFIXES,
    "compat": to_str,
    "program_cluster_routes": to_str,
    "ipv4_normal_route_priority": to_int,
    "ipv6_normal_route_priority": to_int,
    "wireguard_peers": to_list(to_ip),
}

POOL_KEYS: dict[str, Convert] = {
    "cidr": to_prefix,
    "ipip": to_enum(EncapMode),
    "vxlan": to_enum(EncapMode),
    "disabled": to_bool,
    "disable_bgp_export": to_bool,
}

PREFIX_ADVERTISEMENT_KEYS: dict[str, Convert] = {
    "cidr": to_prefix,
    "communities": to_list(to_any_community),
}

# [[calico.KEY]] -> (field of CalicoSection, entry class, entry keys).
CALICO_TABLES: dict[str, tuple[str, type[Any], dict[str, Convert]]] = {
    "pool": ("pools", Pool, POOL_KEYS),
    "prefix_advertisement": (
        "prefix_advertisements",
        PrefixAdvertisement,
        PREFIX_ADVERTISEMENT_KEYS,
    ),
}

# [[dynamic_neighbors]] (bgpd/runtime/dynamic.py): ranges accepted without a [[peer]] entry.
DYNAMIC_NEIGHBORS_KEYS: dict[str, Convert] = {
    "prefix": to_prefix,
    "asn": to_int,
    "rr_client": to_bool,
    "max_peers": to_int,
    "hold_time": to_int,
    "families": _FAMILIES,
    "add_path": to_enum(AddPathMode),
    "description": to_str,
}

KERNEL_KEYS: dict[str, Convert] = {
    "enabled": to_bool,
    "tunnel_device": to_str,
    "learn_protocols": to_list(to_int),
    "converge_timeout": to_int,
    "ignored_interfaces": to_list(to_str),
}

SECTION_KEYS: dict[str, dict[str, Convert]] = {
    "bgp": BGP_KEYS,
    "control": CONTROL_KEYS,
    "metrics": METRICS_KEYS,
    "static": STATIC_KEYS,
    "peer": PEER_KEYS,
    "node": NODE_KEYS,
    "cluster_node": CLUSTER_NODE_KEYS,
    "mesh": MESH_KEYS,
    "calico": CALICO_KEYS,
    "kernel": KERNEL_KEYS,
    "bfd": BFD_KEYS,
    "dynamic_neighbors": DYNAMIC_NEIGHBORS_KEYS,
    # [[filter]] is read by bgpd.config.filter_section.read_filters (nested rule arrays).
    "filter": {"name": to_str},
}
_ARRAY_SECTIONS = frozenset(
    {
        "static",
        "peer",
        "cluster_node",
        "calico.pool",
        "calico.prefix_advertisement",
        "dynamic_neighbors",
    }
)
# Hints added to "missing required key" for keys that another section can default.
_MISSING_HINTS: dict[str, str] = {
    "bgp.router_id": " (or set [node].ipv4, which it then defaults to)",
}


REQUIRED_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    for name, cls in (
        ("bgp", BgpSection),
        ("control", ControlSection),
        ("metrics", MetricsSection),
        ("static", StaticRoute),
        ("peer", PeerConfig),
        ("node", NodeSection),
        ("cluster_node", ClusterNode),
        ("mesh", MeshSection),
        ("calico", CalicoSection),
        ("calico.pool", Pool),
        ("calico.prefix_advertisement", PrefixAdvertisement),
        ("kernel", KernelSection),
        ("bfd", BfdSection),
        ("dynamic_neighbors", DynamicNeighbors),
    )
}


@dataclasses.dataclass(slots=True)
class _Table:
    """What the loader read of one table, before its class validates it."""

    values: dict[str, Any]
    # keys whose value could not be read (wrong type, unparseable, missing): not built
    unread: set[str]
    # list keys with some elements unread (None in the value): not built either
    partly_read: set[str]
    # the loader's problems with the values, located relative to the table
    problems: list[ConfigProblem]
    has_unknown_keys: bool


class _Reader:
    """Walks one parsed TOML document, collecting problems instead of stopping at the first."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def add(self, location: str, message: str) -> None:
        self.problems.append(ConfigProblem(location=location, message=message))

    def config(self, doc: Mapping[str, object], source_path: str | None) -> Config:
        for key in doc:
            if key not in SECTION_KEYS:
                self.add(key, _unknown_top_level(key))

        # [node] first: it supplies defaults to [bgp].
        node: NodeSection | None = None
        if "node" in doc:
            node = self.section(NodeSection, doc["node"], NODE_KEYS, "node", _dotted("node"))
        # A [node] that is written but invalid is reported already: the rules that need it wait.
        node_invalid = "node" in doc and node is None
        bgp: BgpSection | None = None
        if "bgp" not in doc:
            self.add("bgp", "missing required section [bgp]")
        else:
            bgp = self.section(
                BgpSection,
                doc["bgp"],
                BGP_KEYS,
                "bgp",
                _dotted("bgp"),
                defaults=_bgp_defaults(node),
                excused=_excused_by_node(doc.get("node")) if node is None else frozenset(),
            )
        control: ControlSection | None = ControlSection()
        if "control" in doc:
            control = self.section(
                ControlSection, doc["control"], CONTROL_KEYS, "control", _dotted("control")
            )
        metrics: MetricsSection | None = MetricsSection()
        if "metrics" in doc:
            metrics = self.section(
                MetricsSection, doc["metrics"], METRICS_KEYS, "metrics", _dotted("metrics")
            )
        bfd: BfdSection | None = BfdSection()
        if "bfd" in doc:
            bfd = self.section(BfdSection, doc["bfd"], BFD_KEYS, "bfd", _dotted("bfd"))
        statics = [
            (i, s)
            for i, raw in self.array(doc, "static")
            if (s := self.section(StaticRoute, raw, STATIC_KEYS, "static", _indexed("static", i)))
            is not None
        ]
        peers = [
            (i, p)
            for i, raw in self.array(doc, "peer")
            if (p := self.section(PeerConfig, raw, PEER_KEYS, "peer", _peer_locator(i, raw)))
            is not None
        ]
        cluster_nodes = [
            (i, n)
            for i, raw in self.array(doc, "cluster_node")
            if (
                n := self.section(
                    ClusterNode,
                    raw,
                    CLUSTER_NODE_KEYS,
                    "cluster_node",
                    _indexed("cluster_node", i),
                )
            )
            is not None
        ]
        mesh: MeshSection | None = MeshSection()
        if "mesh" in doc:
            mesh = self.section(MeshSection, doc["mesh"], MESH_KEYS, "mesh", _dotted("mesh"))
        calico: CalicoSection | None = None
        if "calico" in doc:
            calico = self.calico(doc["calico"])
        # Kernel sync is on by default in Calico mode, as BIRD's kernel protocol was.
        kernel = self.section(
            KernelSection,
            doc.get("kernel", {}),
            KERNEL_KEYS,
            "kernel",
            _dotted("kernel"),
            defaults={"enabled": "calico" in doc},
        )
        dynamic = [
            (i, d)
            for i, raw in self.array(doc, "dynamic_neighbors")
            if (
                d := self.section(
                    DynamicNeighbors,
                    raw,
                    DYNAMIC_NEIGHBORS_KEYS,
                    "dynamic_neighbors",
                    _indexed("dynamic_neighbors", i),
                )
            )
            is not None
        ]
        # [[filter]] entries (problems are added to self.problems as they are found).
        filters = read_filters(doc.get("filter"), self.add)

        if (
            self.problems
            or bgp is None
            or control is None
            or metrics is None
            or bfd is None
            or mesh is None
            or kernel is None
        ):
            # Report cross-section problems among the entries that could be built, too.
            self.problems.extend(
                config_problems(
                    bgp=bgp,
                    control=control,
                    statics=statics,
                    peers=peers,
                    node=node,
                    node_invalid=node_invalid,
                )
            )
            mesh_peers: tuple[PeerConfig, ...] = ()
            if bgp is not None and mesh is not None:
                mesh_peers = derive_mesh_peers(
                    bgp=bgp, node=node, cluster_nodes=[n for _, n in cluster_nodes], mesh=mesh
                )
            self.problems.extend(
                cluster_problems(
                    bgp=bgp,
                    node=node,
                    cluster_nodes=cluster_nodes,
                    mesh_peers=mesh_peers,
                    peers=peers,
                    node_invalid=node_invalid,
                )
            )
            self.problems.extend(
                dynamic_problems(bgp=bgp, node=node, ranges=dynamic, node_invalid=node_invalid)
            )
            self.problems.extend(
                filter_problems(
                    filters,
                    filter_references(peers),
                    also_known=raw_filter_names(doc.get("filter")),
                )
            )
            raise ConfigError(self.problems)
        # Config.__post_init__ runs the cross-section rules; its problems carry full locations.
        return Config(
            bgp=bgp,
            control=control,
            metrics=metrics,
            statics=tuple(s for _, s in statics),
            peers=tuple(p for _, p in peers),
            node=node,
            cluster_nodes=tuple(n for _, n in cluster_nodes),
            mesh=mesh,
            calico=calico,
            kernel=kernel,
            bfd=bfd,
            dynamic_neighbors=tuple(d for _, d in dynamic),
            filters=tuple(f for _, f in filters),
            source_path=source_path,
        )

    def calico(self, raw: object) -> CalicoSection | None:
        """`[calico]` with its `[[calico.pool]]` and `[[calico.prefix_advertisement]]` arrays."""
        if not isinstance(raw, dict):
            self.add("calico", f"expected a table ([calico]), got {type_name(raw)}")
            return None
        tables: dict[str, Any] = {}
        unread: set[str] = set()
        for key, (field_name, cls, keys) in CALICO_TABLES.items():
            name = f"calico.{key}"
            before = len(self.problems)
            entries = tuple(
                entry
                for i, item in self.array(raw, key, name)
                if (entry := self.section(cls, item, keys, name, _indexed(name, i))) is not None
            )
            if len(self.problems) == before:
                tables[field_name] = entries
            else:
                unread.add(field_name)
        scalars = {k: v for k, v in raw.items() if k not in CALICO_TABLES}
        table = self.read(scalars, CALICO_KEYS, "calico", _dotted("calico"), known=CALICO_TABLES)
        if table is None:
            return None
        table.values.update(tables)
        table.unread |= unread
        return self.build(CalicoSection, table, CALICO_KEYS, _dotted("calico"))

    def array(
        self, doc: Mapping[str, object], key: str, name: str | None = None
    ) -> list[tuple[int, object]]:
        """The entries of array of tables `key`; `name` is its full name ([[name]])."""
        if key not in doc:
            return []
        name = name or key
        value = doc[key]
        if isinstance(value, dict):
            self.add(name, f"expected an array of tables: write [[{name}]], not [{name}]")
            return []
        if not isinstance(value, list):
            self.add(name, f"expected an array of tables ([[{name}]]), got {type_name(value)}")
            return []
        return list(enumerate(value))

    def section(
        self,
        cls: type[_V],
        raw: object,
        keys: Mapping[str, Convert],
        table_name: str,
        locate: _Locate,
        *,
        defaults: Mapping[str, Any] | None = None,
        excused: frozenset[str] = frozenset(),
    ) -> _V | None:
        """Convert one table into `cls`, or record its problems and return None.

        `defaults` are typed values for keys the table leaves out (defaults that depend on
        other sections); a key given one is not required. `excused`: required keys whose
        default would come from a section that is itself invalid (already reported): their
        absence is not reported again, the table is just not built.
        """
        table = self.read(raw, keys, table_name, locate, defaults=defaults, excused=excused)
        return None if table is None else self.build(cls, table, keys, locate)

    def read(
        self,
        raw: object,
        keys: Mapping[str, Convert],
        table_name: str,
        locate: _Locate,
        *,
        known: Iterable[str] = (),
        defaults: Mapping[str, Any] | None = None,
        excused: frozenset[str] = frozenset(),
    ) -> _Table | None:
        """The converted values of one table, or None (recorded) when it is not a table.

        Unknown and missing keys are recorded here; the values' problems are left in the
        result, to be reported with the section's own in the order of the keys. Keys in
        `known` are accepted without conversion (the caller reads them).
        """
        if not isinstance(raw, dict):
            header = f"[[{table_name}]]" if table_name in _ARRAY_SECTIONS else f"[{table_name}]"
            self.add(locate(""), f"expected a table ({header}), got {type_name(raw)}")
            return None
        defaults = defaults or {}
        known = frozenset(known)
        unknown = [key for key in raw if key not in keys and key not in known]
        for key in unknown:
            self.add(locate(key), f"unknown key {json.dumps(key)}{suggest(key, keys)}")
        missing = REQUIRED_KEYS[table_name] - raw.keys() - defaults.keys()
        # A misspelt required key is one problem, reported as the unknown key with its
        # suggestion, not again as the key missing.
        misspelt = {closest(key, keys) for key in unknown}
        for key in sorted(missing - excused - misspelt, key=list(keys).index):
            hint = _MISSING_HINTS.get(f"{table_name}.{key}", "")
            self.add(locate(key), "missing required key" + hint)
        table = _Table(
            values={k: v for k, v in defaults.items() if k not in raw},
            unread=set(missing),
            partly_read=set(),
            problems=[],
            has_unknown_keys=bool(unknown),
        )
        for key, conv in keys.items():
            if key not in raw:
                continue
            try:
                table.values[key] = conv(raw[key])
            except InvalidValueError as exc:
                if exc.partial is None:
                    table.unread.add(key)
                else:
                    table.values[key] = exc.partial
                    table.partly_read.add(key)
                table.problems += [
                    ConfigProblem(location=key + suffix, message=message)
                    for suffix, message in exc.problems
                ]
        return table

    def build(
        self, cls: type[_V], table: _Table, keys: Mapping[str, Convert], locate: _Locate
    ) -> _V | None:
        """The section `cls` validates and builds from `table`, or None once its problems are
        recorded. A table with unread values still gets every check of the values it has."""
        problems = list(table.problems)
        built: _V | None = None
        if table.unread or table.partly_read:
            problems += partial_problems(cls, table.values, table.unread, table.partly_read)
        else:
            try:
                built = cls(**table.values)
            except ConfigError as exc:
                problems += exc.problems
        order = {key: i for i, key in enumerate(keys)}
        for p in sorted(problems, key=lambda p: _reading_order(p.location, order)):
            self.add(locate(p.location), p.message)
        return None if problems or table.has_unknown_keys else built


_ELEMENT = re.compile(r"([^[.]*)(?:\[(\d+)\])?(.*)")


def _reading_order(location: str, order: Mapping[str, int]) -> tuple[int, float, str]:
    """Where a table-relative problem is, as one reads the table: the key's position, then
    the element's index in a list (`listen[1]`), then the label name (`labels.rack`); a
    problem of a whole list comes after those of its elements."""
    m = _ELEMENT.fullmatch(location)
    key, index, rest = (m.group(1), m.group(2), m.group(3)) if m else (location, None, "")
    return order.get(key, len(order)), float("inf") if index is None else int(index), rest


def _bgp_defaults(node: NodeSection | None) -> dict[str, Any]:
    """[bgp] values that default to [node]'s, as Calico's bird.cfg takes them from the node."""
    if node is None:
        return {}
    defaults: dict[str, Any] = {"listen": node.addresses}
    if node.ipv4_address is not None:
        defaults["router_id"] = node.ipv4_address
    if node.rr_cluster_id is not None:
        defaults["cluster_id"] = node.rr_cluster_id
    return defaults


def _excused_by_node(raw: object) -> frozenset[str]:
    """[bgp] keys an invalid [node] table meant to supply (its problems are reported)."""
    if isinstance(raw, dict) and "ipv4" in raw:
        return frozenset({"router_id"})
    return frozenset()


def _dotted(section: str) -> _Locate:
    return lambda key: f"{section}.{key}" if key else section


def _indexed(section: str, index: int) -> _Locate:
    return lambda key: f"{section}[{index}].{key}" if key else f"{section}[{index}]"


def _peer_locator(index: int, raw: object) -> _Locate:
    name = raw.get("name") if isinstance(raw, dict) else None
    label = name if isinstance(name, str) else None
    return lambda key: peer_location(index, label, key or None)


def _unknown_top_level(key: str) -> str:
    message = f"unknown section or key {json.dumps(key)}"
    suggestion = suggest(key, SECTION_KEYS)
    if suggestion:
        return message + suggestion
    homes = [f"[{name}]" for name, keys in SECTION_KEYS.items() if key in keys]
    if homes:
        return f"{message}; it belongs in a section: {' or '.join(homes)}"
    return message

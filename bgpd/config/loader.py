"""TOML text to a validated `Config`, reporting every problem at once.

Role: the only way configuration enters the daemon (`bgpd`, `bgpd confd`'s check step, reload).

Invariants:
- Either a fully valid `Config` is returned or `ConfigError` is raised; nothing in between.
- Every problem found is reported, each with its location: a key path such as `bgp.hold_time`,
  `static[2].communities[0]` or `peer[1].asn (name "Mesh_x")` (array indices are 0-based), or
  `FILE:LINE:COL` for TOML syntax errors (which stop parsing, so they come alone).
- Unknown keys are errors, with the closest known key suggested, so a typo cannot silently
  fall back to a default.
- Types are strict: an integer field does not take a string or a boolean, and a prefix with
  host bits set is an error rather than being masked.
- Cross-field rules of one section run only once every field of that section parsed; rules that
  span sections (unique names, inherited timers) run on every entry that could be built.
- Defaults that depend on another section are resolved here, into explicit values:
  `[bgp]` `router_id`, `listen` and `cluster_id` from `[node]` (as Calico's bird.cfg takes them
  from the node), `[kernel].enabled` from the presence of `[calico]`.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv6Interface,
    ip_address,
    ip_interface,
    ip_network,
)
from pathlib import Path
from typing import Any, TypeVar

from bgpd.config.calico import (
    CalicoSection,
    ClusterNode,
    EncapMode,
    KernelSection,
    Labels,
    MeshSection,
    NodeSection,
    Pool,
    PrefixAdvertisement,
    check_converge_timeout,
    check_ifname,
    check_label_key,
    check_label_value,
    check_mesh_restart_time,
    check_node_address,
    check_node_name,
    check_route_protocol,
)
from bgpd.config.checks import (
    check_asn,
    check_cluster_id,
    check_description,
    check_families,
    check_hold_time,
    check_keepalive_time,
    check_listen_host,
    check_listen_ip,
    check_local_address,
    check_multihop,
    check_next_hop_v4,
    check_next_hop_v6,
    check_password,
    check_password_unavailable,
    check_peer_address,
    check_peer_name,
    check_port,
    check_restart_time,
    check_router_id,
    check_seconds,
    check_socket_path,
    check_ttl_security,
    check_uint32,
)

# [[filter]] and [[peer]].import_filters/export_filters (bgpd/config/filter_section.py).
from bgpd.config.filter_section import (
    check_filter_name,
    check_filter_names,
    filter_problems,
    raw_filter_names,
    read_filters,
)
from bgpd.config.schema import (
    AddPathMode,
    BgpSection,
    Community,
    Config,
    ControlSection,
    DynamicNeighbors,
    IPAddress,
    IPNetwork,
    LargeCommunity,
    ListenAddress,
    LogFormat,
    LogLevel,
    MetricsSection,
    PeerConfig,
    StaticRoute,
    check_max_peers,
    cluster_problems,
    config_problems,
    derive_mesh_peers,
    dynamic_problems,
    filter_references,
    peer_location,
)
from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import FAMILIES_BY_NAME, Family

__all__ = ["load_config", "parse_config"]

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)
_Conv = Callable[[object], Any]
_Locate = Callable[[str], str]

_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)$")


# A hook that rewrites the parsed TOML document before validation (the standalone reflector
# applies its profile defaults and takes out its own `[reflector]` table this way).
Prepare = Callable[[dict[str, Any]], dict[str, Any]]


def parse_config(text: str, source: str = "<string>", *, prepare: Prepare | None = None) -> Config:
    """Parse and validate TOML `text`; `source` names it in syntax-error locations."""
    return _parse(text, source=source, source_path=None, prepare=prepare)


def load_config(path: str | os.PathLike[str], *, prepare: Prepare | None = None) -> Config:
    """Read, parse and validate the TOML file at `path`.

    `prepare`, when given, receives the parsed document and returns the one to validate.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigProblem(location=name, message=f"cannot read: {reason}")]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data[: exc.start].decode("utf-8"))
        problem = ConfigProblem(location=f"{name}:{line}:{col}", message="not valid UTF-8")
        raise ConfigError([problem]) from exc
    return _parse(text, source=name, source_path=name, prepare=prepare)


def _parse(
    text: str, *, source: str, source_path: str | None, prepare: Prepare | None = None
) -> Config:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(str(exc), text, source)]) from None
    if prepare is not None:
        doc = prepare(doc)
    return _Reader().config(doc, source_path)


def _line_col(prefix: str) -> tuple[int, int]:
    """1-based line and column of the character just after `prefix` (tomllib's convention)."""
    line = prefix.count("\n") + 1
    return line, len(prefix) - (prefix.rfind("\n") + 1) + 1


def _syntax_problem(message: str, text: str, source: str) -> ConfigProblem:
    # tomllib (3.11) reports the position only inside the message text.
    m = _SYNTAX_POSITION.search(message)
    if m:
        location = f"{source}:{m.group(1)}:{m.group(2)}"
        message = message[: m.start()]
    else:
        end = _SYNTAX_AT_END.search(message)
        if end:
            message = message[: end.start()]
        line, col = _line_col(text)
        location = f"{source}:{line}:{col}"
    return ConfigProblem(location=location, message=f"TOML syntax error: {message}")


# --- Value converters: raw TOML value -> typed value, or _InvalidValueError. ---------------------


class _InvalidValueError(ValueError):
    """A value was rejected; `problems` are (location suffix, message) pairs."""

    def __init__(self, message: str, suffix: str = "") -> None:
        super().__init__(message)
        self.problems: list[tuple[str, str]] = [(suffix, message)]


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return f"a string ({json.dumps(value, ensure_ascii=False)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return "a date/time"
    return type(value).__name__


def _checked(value: _T, check: Callable[[_T], str | None] | None) -> _T:
    if check is not None:
        msg = check(value)
        if msg is not None:
            raise _InvalidValueError(msg)
    return value


def _int(check: Callable[[int], str | None] | None = None) -> _Conv:
    def conv(value: object) -> int:
        # bool is an int subclass in Python; `true` must not pass as 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _InvalidValueError(f"expected an integer, got {_type_name(value)}")
        return _checked(value, check)

    return conv


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _InvalidValueError(f"expected true or false, got {_type_name(value)}")
    return value


def _str(check: Callable[[str], str | None] | None = None) -> _Conv:
    def conv(value: object) -> str:
        if not isinstance(value, str):
            raise _InvalidValueError(f"expected a string, got {_type_name(value)}")
        return _checked(value, check)

    return conv


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {json.dumps(close[0])}?" if close else ""


def _enum(cls: type[_E]) -> _Conv:
    names = [str(m) for m in cls]

    def conv(value: object) -> _E:
        if not isinstance(value, str):
            raise _InvalidValueError(f"expected a string, got {_type_name(value)}")
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(json.dumps(n) for n in names)
            raise _InvalidValueError(
                f"{json.dumps(value)} is not one of {choices}{_suggest(value, names)}"
            ) from None

    return conv


def _ip(check: Callable[[IPAddress], str | None] | None = None) -> _Conv:
    def conv(value: object) -> IPAddress:
        if not isinstance(value, str):
            raise _InvalidValueError(f"expected an IP address string, got {_type_name(value)}")
        try:
            addr = ip_address(value)
        except ValueError:
            raise _InvalidValueError(f"{json.dumps(value)} is not an IP address") from None
        return _checked(addr, check)

    return conv


def _ipv4(check: Callable[[IPAddress], str | None]) -> _Conv:
    inner = _ip(check)

    def conv(value: object) -> IPv4Address:
        addr = inner(value)
        # The check has rejected anything but IPv4 already; this narrows the type.
        if not isinstance(addr, IPv4Address):
            raise _InvalidValueError(f"{addr} is not an IPv4 address")
        return addr

    return conv


def _prefix(value: object) -> IPNetwork:
    if not isinstance(value, str):
        raise _InvalidValueError(
            f'expected a prefix string such as "10.0.0.0/24", got {_type_name(value)}'
        )
    if "/" not in value:
        raise _InvalidValueError(
            f"{json.dumps(value)} has no prefix length (write it as ADDRESS/LENGTH)"
        )
    try:
        return ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        masked = ip_network(value, strict=False)
    except ValueError:
        raise _InvalidValueError(f"{json.dumps(value)} is not an IP prefix") from None
    raise _InvalidValueError(f'{json.dumps(value)} has host bits set; did you mean "{masked}"?')


def _list(element: _Conv, check: Callable[[Any], str | None] | None = None) -> _Conv:
    def conv(value: object) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _InvalidValueError(f"expected an array, got {_type_name(value)}")
        items: list[Any] = []
        problems: list[tuple[str, str]] = []
        for i, raw in enumerate(value):
            try:
                items.append(element(raw))
            except _InvalidValueError as exc:
                problems.extend((f"[{i}]{suffix}", msg) for suffix, msg in exc.problems)
        if problems:
            err = _InvalidValueError(problems[0][1], problems[0][0])
            err.problems = problems
            raise err
        return _checked(tuple(items), check)

    return conv


def _uint_parts(value: object, count: int, limit: int, what: str) -> list[int]:
    if not isinstance(value, str):
        raise _InvalidValueError(f"expected a {what} string, got {_type_name(value)}")
    parts = value.split(":")
    if len(parts) != count or not all(p.isascii() and p.isdigit() for p in parts):
        form = ":".join("ABC"[:count])
        raise _InvalidValueError(f"{json.dumps(value)} is not a {what} of the form {form}")
    numbers = [int(p) for p in parts]
    if any(n > limit for n in numbers):
        raise _InvalidValueError(f"{json.dumps(value)}: each part of a {what} must be 0..{limit}")
    return numbers


def _community(value: object) -> Community:
    # RFC 1997: two 16-bit halves.
    high, low = _uint_parts(value, 2, 65535, "community")
    return Community(high=high, low=low)


def _large_community(value: object) -> LargeCommunity:
    # RFC 8092 §3: three 32-bit parts.
    g, l1, l2 = _uint_parts(value, 3, 4_294_967_295, "large community")
    return LargeCommunity(global_admin=g, local1=l1, local2=l2)


def _any_community(value: object) -> Community | LargeCommunity:
    # Calico's prefixAdvertisements mix both kinds in one list; the colons tell them apart.
    if isinstance(value, str) and value.count(":") == 2:
        return _large_community(value)
    if isinstance(value, str) and value.count(":") != 1:
        raise _InvalidValueError(
            f'{json.dumps(value)} is neither a community "A:B" nor a large community "A:B:C"'
        )
    return _community(value)


def _optional_ip(version: int, check: Callable[[IPAddress], str | None]) -> _Conv:
    """An address of one IP version, or "" for none (Calico writes "" for a missing address)."""
    inner = _ip(check)

    def conv(value: object) -> IPAddress | None:
        if value == "":
            return None
        addr: IPAddress = inner(value)
        if addr.version != version:
            raise _InvalidValueError(f"{addr} is not an IPv{version} address")
        return addr

    return conv


def _optional_interface(version: int) -> _Conv:
    """An "ADDRESS/LENGTH" of one IP version (a bare address is a host route), or "" for none."""

    def conv(value: object) -> IPv4Interface | IPv6Interface | None:
        if value == "":
            return None
        if not isinstance(value, str):
            raise _InvalidValueError(
                f'expected an address string such as "10.0.0.1/24", got {_type_name(value)}'
            )
        try:
            iface = ip_interface(value)
        except ValueError:
            raise _InvalidValueError(
                f"{json.dumps(value)} is not an address with an optional /LENGTH"
            ) from None
        if iface.version != version:
            raise _InvalidValueError(f"{iface} is not an IPv{version} address")
        return _checked(iface, check_node_address)

    return conv


def _optional_cluster_id(value: object) -> IPv4Address | None:
    if value == "":
        return None
    addr: IPv4Address = _ipv4(check_cluster_id)(value)
    return addr


def _labels(value: object) -> Labels:
    """A table of string labels (`labels = { "rack" = "r1" }`), as Kubernetes writes them."""
    if not isinstance(value, dict):
        raise _InvalidValueError(
            f'expected a table of strings such as {{ "rack" = "r1" }}, got {_type_name(value)}'
        )
    problems: list[tuple[str, str]] = []
    for key, label in value.items():
        suffix = f".{json.dumps(key)}" if not key.replace("_", "a").isalnum() else f".{key}"
        if not isinstance(label, str):
            problems.append((suffix, f"expected a string, got {_type_name(label)}"))
            continue
        msg = check_label_key(key) or check_label_value(label)
        if msg:
            problems.append((suffix, msg))
    if problems:
        err = _InvalidValueError(problems[0][1], problems[0][0])
        err.problems = problems
        raise err
    return Labels(value)


def _listen_address(value: object) -> ListenAddress:
    if not isinstance(value, str):
        raise _InvalidValueError(f'expected a "HOST:PORT" string, got {_type_name(value)}')
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep or ":" not in host:
            raise _InvalidValueError(f'{json.dumps(value)} is not "[IPV6]:PORT"')
    else:
        host, sep, port = value.rpartition(":")
        if not sep or ":" in host:
            raise _InvalidValueError(
                f'{json.dumps(value)} is not "HOST:PORT" (write IPv6 hosts as "[::1]:9100")'
            )
    if not (port.isascii() and port.isdigit()):
        raise _InvalidValueError(f"{json.dumps(value)}: port {json.dumps(port)} is not a number")
    msg = check_listen_host(host) or check_port(int(port))
    if msg:
        raise _InvalidValueError(msg)
    return ListenAddress(host=host, port=int(port))


# --- Section specifications: TOML key -> converter; keys equal the dataclass fields. ------------


def _family(value: object) -> Family:
    if not isinstance(value, str):
        raise _InvalidValueError(f"expected a family name string, got {_type_name(value)}")
    family = FAMILIES_BY_NAME.get(value)
    if family is None:
        choices = ", ".join(json.dumps(n) for n in FAMILIES_BY_NAME)
        raise _InvalidValueError(
            f"{json.dumps(value)} is not one of {choices}{_suggest(value, FAMILIES_BY_NAME)}"
        )
    return family


_FAMILIES = _list(_family, check_families)

BGP_KEYS: dict[str, _Conv] = {
    "asn": _int(check_asn),
    "router_id": _ipv4(check_router_id),
    "listen": _list(_ip(check_listen_ip)),
    "port": _int(check_port),
    "log_level": _enum(LogLevel),
    "log_format": _enum(LogFormat),
    "cluster_id": _ipv4(check_cluster_id),
    "hold_time": _int(check_hold_time),
    "keepalive_time": _int(check_keepalive_time),
    "connect_retry_time": _int(check_seconds),
    "error_wait_min": _int(check_seconds),
    "error_wait_max": _int(check_seconds),
    "graceful_restart": _bool,
    "graceful_restart_time": _int(check_restart_time),
    "graceful_restart_wait": _int(check_seconds),
    "families": _FAMILIES,
    "add_path": _enum(AddPathMode),
    "persist_routes": _bool,
}

CONTROL_KEYS: dict[str, _Conv] = {
    "socket": _str(check_socket_path),
    "bird_socket": _str(check_socket_path),
    "bird6_socket": _str(check_socket_path),
}

METRICS_KEYS: dict[str, _Conv] = {
    "listen": _listen_address,
    "ready_threshold": _int(check_seconds),  # /readyz threshold
}

STATIC_KEYS: dict[str, _Conv] = {
    "prefix": _prefix,
    "next_hop": _ip(),
    "blackhole": _bool,
    "communities": _list(_community),
    "large_communities": _list(_large_community),
    "med": _int(check_uint32),
    "local_pref": _int(check_uint32),
}

PEER_KEYS: dict[str, _Conv] = {
    "name": _str(check_peer_name),
    "address": _ip(check_peer_address),
    "asn": _int(check_asn),
    "port": _int(check_port),
    "local_address": _ip(check_local_address),
    "passive": _bool,
    "password": _str(check_password),
    "password_unavailable": _str(check_password_unavailable),
    "ttl_security": _int(check_ttl_security),
    "multihop": _int(check_multihop),
    "hold_time": _int(check_hold_time),
    "keepalive_time": _int(check_keepalive_time),
    "connect_retry_time": _int(check_seconds),
    "graceful_restart_time": _int(check_restart_time),
    "families": _FAMILIES,
    "add_path": _enum(AddPathMode),
    "rr_client": _bool,
    "next_hop_self": _bool,
    "next_hop_v4": _ip(check_next_hop_v4),
    "next_hop_v6": _ip(check_next_hop_v6),
    "description": _str(check_description),
    # names of [[filter]] entries, applied in order.
    "import_filters": _list(_str(check_filter_name), check_filter_names),
    "export_filters": _list(_str(check_filter_name), check_filter_names),
}

NODE_KEYS: dict[str, _Conv] = {
    "name": _str(check_node_name),
    "ipv4": _optional_interface(4),
    "ipv6": _optional_interface(6),
    "asn": _int(check_asn),
    "rr_cluster_id": _optional_cluster_id,
}

CLUSTER_NODE_KEYS: dict[str, _Conv] = {
    "name": _str(check_node_name),
    "ipv4": _optional_ip(4, check_node_address),
    "ipv6": _optional_ip(6, check_node_address),
    "asn": _int(check_asn),
    "rr_cluster_id": _optional_cluster_id,
    "port": _int(check_port),
    "labels": _labels,
}

MESH_KEYS: dict[str, _Conv] = {
    "enabled": _bool,
    "password": _str(check_password),
    "password_unavailable": _str(check_password_unavailable),
    "restart_time": _int(check_mesh_restart_time),
}

_PREFIXES = _list(_prefix)

# [calico] keys holding values; its arrays of tables are CALICO_TABLES.
CALICO_KEYS: dict[str, _Conv] = {
    "blocks": _PREFIXES,
    "advertise": _PREFIXES,
    "reject": _PREFIXES,
    "lb_ranges": _PREFIXES,
}

POOL_KEYS: dict[str, _Conv] = {
    "cidr": _prefix,
    "ipip": _enum(EncapMode),
    "vxlan": _enum(EncapMode),
    "disabled": _bool,
    "disable_bgp_export": _bool,
}

PREFIX_ADVERTISEMENT_KEYS: dict[str, _Conv] = {
    "cidr": _prefix,
    "communities": _list(_any_community),
}

# [[calico.KEY]] -> (field of CalicoSection, entry class, entry keys).
CALICO_TABLES: dict[str, tuple[str, type[Any], dict[str, _Conv]]] = {
    "pool": ("pools", Pool, POOL_KEYS),
    "prefix_advertisement": (
        "prefix_advertisements",
        PrefixAdvertisement,
        PREFIX_ADVERTISEMENT_KEYS,
    ),
}

# [[dynamic_neighbors]] (bgpd/runtime/dynamic.py): ranges accepted without a [[peer]] entry.
DYNAMIC_NEIGHBORS_KEYS: dict[str, _Conv] = {
    "prefix": _prefix,
    "asn": _int(check_asn),
    "rr_client": _bool,
    "max_peers": _int(check_max_peers),
    "hold_time": _int(check_hold_time),
    "families": _FAMILIES,
    "add_path": _enum(AddPathMode),
    "description": _str(check_description),
}

KERNEL_KEYS: dict[str, _Conv] = {
    "enabled": _bool,
    "tunnel_device": _str(check_ifname),
    "learn_protocols": _list(_int(check_route_protocol)),
    "converge_timeout": _int(check_converge_timeout),
}

SECTION_KEYS: dict[str, dict[str, _Conv]] = {
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
    "dynamic_neighbors": DYNAMIC_NEIGHBORS_KEYS,
    # [[filter]] is read by bgpd.config.filter_section.read_filters (nested rule arrays).
    "filter": {"name": _str(check_filter_name)},
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
        ("dynamic_neighbors", DynamicNeighbors),
    )
}


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
            or mesh is None
            or kernel is None
        ):
            # Report cross-section problems among the entries that could be built, too.
            self.problems.extend(
                config_problems(bgp=bgp, control=control, statics=statics, peers=peers, node=node)
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
                )
            )
            self.problems.extend(dynamic_problems(bgp=bgp, node=node, ranges=dynamic))
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
            dynamic_neighbors=tuple(d for _, d in dynamic),
            filters=tuple(f for _, f in filters),
            source_path=source_path,
        )

    def calico(self, raw: object) -> CalicoSection | None:
        """`[calico]` with its `[[calico.pool]]` and `[[calico.prefix_advertisement]]` arrays."""
        if not isinstance(raw, dict):
            self.add("calico", f"expected a table ([calico]), got {_type_name(raw)}")
            return None
        before = len(self.problems)
        tables: dict[str, Any] = {}
        for key, (field_name, cls, keys) in CALICO_TABLES.items():
            name = f"calico.{key}"
            tables[field_name] = tuple(
                entry
                for i, item in self.array(raw, key, name)
                if (entry := self.section(cls, item, keys, name, _indexed(name, i))) is not None
            )
        scalars = {k: v for k, v in raw.items() if k not in CALICO_TABLES}
        values = self.values(scalars, CALICO_KEYS, "calico", _dotted("calico"), known=CALICO_TABLES)
        if values is None or len(self.problems) != before:
            return None
        return self.build(CalicoSection, values | tables, _dotted("calico"))

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
            self.add(name, f"expected an array of tables ([[{name}]]), got {_type_name(value)}")
            return []
        return list(enumerate(value))

    def section(
        self,
        cls: type[_T],
        raw: object,
        keys: Mapping[str, _Conv],
        table_name: str,
        locate: _Locate,
        *,
        defaults: Mapping[str, Any] | None = None,
        excused: frozenset[str] = frozenset(),
    ) -> _T | None:
        """Convert one table into `cls`, or record its problems and return None.

        `defaults` are typed values for keys the table leaves out (defaults that depend on
        other sections); a key given one is not required. `excused`: required keys whose
        default would come from a section that is itself invalid (already reported): their
        absence is not reported again, the table is just not built.
        """
        values = self.values(raw, keys, table_name, locate, defaults=defaults, excused=excused)
        return None if values is None else self.build(cls, values, locate)

    def values(
        self,
        raw: object,
        keys: Mapping[str, _Conv],
        table_name: str,
        locate: _Locate,
        *,
        known: Iterable[str] = (),
        defaults: Mapping[str, Any] | None = None,
        excused: frozenset[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """The converted values of one table, or None after recording its problems.

        Keys in `known` are accepted without conversion (the caller reads them).
        """
        if not isinstance(raw, dict):
            header = f"[[{table_name}]]" if table_name in _ARRAY_SECTIONS else f"[{table_name}]"
            self.add(locate(""), f"expected a table ({header}), got {_type_name(raw)}")
            return None
        before = len(self.problems)
        defaults = defaults or {}
        known = frozenset(known)
        for key in raw:
            if key not in keys and key not in known:
                self.add(locate(key), f"unknown key {json.dumps(key)}{_suggest(key, keys)}")
        missing = REQUIRED_KEYS[table_name] - raw.keys() - defaults.keys()
        unbuildable = bool(missing & excused)  # not reported again: see `section`
        for key in sorted(missing - excused, key=list(keys).index):
            hint = _MISSING_HINTS.get(f"{table_name}.{key}", "")
            self.add(locate(key), "missing required key" + hint)
        values: dict[str, Any] = {k: v for k, v in defaults.items() if k not in raw}
        for key, conv in keys.items():
            if key not in raw:
                continue
            try:
                values[key] = conv(raw[key])
            except _InvalidValueError as exc:
                for suffix, msg in exc.problems:
                    self.add(locate(key + suffix), msg)
        return None if unbuildable or len(self.problems) != before else values

    def build(self, cls: type[_T], values: Mapping[str, Any], locate: _Locate) -> _T | None:
        try:
            return cls(**values)
        except ConfigError as exc:
            # Cross-field rules of the section; locations are bare keys (`keepalive_time`).
            for p in exc.problems:
                self.add(locate(p.location), p.message)
            return None


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
    suggestion = _suggest(key, SECTION_KEYS)
    if suggestion:
        return message + suggestion
    homes = [f"[{name}]" for name, keys in SECTION_KEYS.items() if key in keys]
    if homes:
        return f"{message}; it belongs in a section: {' or '.join(homes)}"
    return message

"""`Config` back to TOML text (`bgpctl show config`, logging the running config at reload),
and the project's one TOML value writer (`toml_value`, also confd's `toml` template filter).

Role: the inverse of the loader, written by hand because it is small and the project takes no
TOML-writing dependency.

Invariants:
- Unmasked output parses back (`parse_config`) to a `Config` equal to the input.
- With `mask_secrets` every password is replaced by `MASK`, which is never the real one.
- `[bgp]` and `[control]` are written in full so the effective global values are visible;
  `[[static]]` and `[[peer]]` entries show only values that differ from the field defaults
  (a `None` peer field means "inherit" and is omitted), which keeps large peer lists readable.
- Only what the file says is written: derived mesh peers and Calico statics are not, and
  `[bgp]` values defaulted from `[node]` are written explicitly (they read back the same).
  `[kernel]` is written whenever `[calico]` is present, since its `enabled` default depends on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import TYPE_CHECKING

from bgpd.config.bfd_section import BfdSection
from bgpd.config.calico import KernelSection, MeshSection
from bgpd.config.filter_section import FILTER_LISTS, FilterOperation
from bgpd.config.schema import (
    Community,
    Config,
    LargeCommunity,
    ListenAddress,
)
from bgpd.net import Family

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["MASK", "render_config_toml", "toml_value"]

MASK = "********"

_SHORT_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}


def render_config_toml(cfg: Config, *, mask_secrets: bool = True) -> str:
    """TOML text for `cfg`; passwords are shown as `MASK` unless `mask_secrets` is False."""
    lines: list[str] = []
    if cfg.source_path is not None:
        lines.append(f"# loaded from {_string(cfg.source_path)}")
    lines.append("[bgp]")
    lines.extend(_table(cfg.bgp, only_changed=False))
    lines += ["", "[control]"]
    lines.extend(_table(cfg.control, only_changed=False))
    if cfg.metrics.listen is not None:
        lines += ["", "[metrics]"]
        lines.extend(_table(cfg.metrics, only_changed=False))
    if cfg.node is not None:
        lines += ["", "[node]"]
        lines.extend(_table(cfg.node, only_changed=True))
    if cfg.mesh != MeshSection():
        lines += ["", "[mesh]"]
        mesh = cfg.mesh
        if mask_secrets and mesh.password is not None:
            mesh = dataclasses.replace(mesh, password=MASK)
        lines.extend(_table(mesh, only_changed=True))
    if cfg.bfd != BfdSection():
        lines += ["", "[bfd]"]
        lines.extend(_table(cfg.bfd, only_changed=True))
    if cfg.kernel != KernelSection() or cfg.calico is not None:
        lines += ["", "[kernel]"]
        lines.extend(_table(cfg.kernel, only_changed=False))
    if cfg.calico is not None:
        # The table's own keys first: TOML puts everything after [[calico.pool]] inside it.
        lines += ["", "[calico]"]
        lines.extend(_table(cfg.calico, only_changed=False, skip=_CALICO_TABLES))
        for pool in cfg.calico.pools:
            lines += ["", "[[calico.pool]]"]
            lines.extend(_table(pool, only_changed=True))
        for adv in cfg.calico.prefix_advertisements:
            lines += ["", "[[calico.prefix_advertisement]]"]
            lines.extend(_table(adv, only_changed=False))
    for route in cfg.statics:
        lines += ["", "[[static]]"]
        lines.extend(_table(route, only_changed=True))
    for peer in cfg.peers:
        lines += ["", "[[peer]]"]
        shown = peer
        if mask_secrets and peer.password is not None:
            shown = dataclasses.replace(peer, password=MASK)
        lines.extend(_table(shown, only_changed=True))
    for node in cfg.cluster_nodes:
        lines += ["", "[[cluster_node]]"]
        lines.extend(_table(node, only_changed=True))
    for dynamic in cfg.dynamic_neighbors:
        lines += ["", "[[dynamic_neighbors]]"]
        lines.extend(_table(dynamic, only_changed=True))
    for flt in cfg.filters:  # [[filter]] with its [[filter.<list>]] rule tables
        lines += ["", "[[filter]]", f"name = {_string(flt.name)}"]
        for key, _ in FILTER_LISTS:
            for rule in getattr(flt, key):
                lines += ["", f"[[filter.{key}]]"]
                lines.extend(_table(rule, only_changed=True))
    return "\n".join(lines) + "\n"


# CalicoSection fields written as arrays of tables rather than keys.
_CALICO_TABLES = frozenset({"pools", "prefix_advertisements"})


def _table(
    obj: DataclassInstance, *, only_changed: bool, skip: frozenset[str] = frozenset()
) -> list[str]:
    out: list[str] = []
    for f in dataclasses.fields(obj):
        if f.name in skip or not f.init:
            continue
        value = getattr(obj, f.name)
        if value is None:
            continue  # TOML has no null: an absent key is the None default
        if only_changed and f.default is not dataclasses.MISSING and value == f.default:
            continue
        out.append(f"{f.name} = {toml_value(value)}")
    return out


def toml_value(value: object) -> str:
    """A TOML literal for a config value: bool, int, str, enum, address, network, community,
    family, an array of those (list or tuple), or labels, a filter operation or any mapping
    with string keys as an inline table.

    The project's one TOML writer: `render_config_toml` and confd's templates (their `toml`
    filter) both write values through it.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Enum):
        return _string(str(value.value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(
        value,
        IPv4Address
        | IPv6Address
        | IPv4Network
        | IPv6Network
        | IPv4Interface
        | IPv6Interface
        | Community
        | LargeCommunity
        | ListenAddress
        | Family,  # before `tuple`: a Family is a NamedTuple, written by its name
    ):
        return _string(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, FilterOperation):
        value = value.as_json()
    if isinstance(value, Mapping):
        # An inline table (labels, a filter rule's operation); keys are quoted because label
        # keys may hold "/" and ".".
        items = (f"{_string(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _string(s: str) -> str:
    """A TOML basic string (TOML 1.0 §String): escapes for quote, backslash and controls."""
    out = ['"']
    for ch in s:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)

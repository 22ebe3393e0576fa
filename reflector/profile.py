"""The reflector profile: bgpd's config format with the defaults of a standalone route reflector.

Role: `load_reflector_config` reads the same TOML file bgpd reads, plus one `[reflector]` table,
and returns a `ReflectorSetup` whose `config` runs on the unchanged bgpd core. The profile is a
transformation of the parsed TOML document before bgpd's own validation (`bgpd.config`'s
`prepare` hook), followed by client discovery (`reflector.discovery`) on the validated config.

What the profile changes, and nothing else:
- `[bgp] cluster_id` is required (or `[node].rr_cluster_id`, which it defaults from): a
  reflector without a cluster id would fall back to its router id (RFC 4456 §7), and two
  reflectors of one redundant pair would then not recognise each other's reflections.
- `[node].rr_cluster_id` defaults to `[bgp].cluster_id`, so the reflector is never in a mesh.
- `[kernel] enabled` defaults to false: a reflector on its own VM forwards no traffic.
- `[control] socket` defaults to `DEFAULT_CONTROL_SOCKET`, so a reflector and a bgpd on the same
  host do not fight over one path.
- `[metrics] listen` defaults to `DEFAULT_METRICS_LISTEN` (loopback only: exposing it to the
  network is the operator's decision).

Invariants:
- Every key the file sets wins over a profile default; the profile never edits a value.
- Problems of the `[reflector]` table and of the rest of the file are reported together, each
  with its key path, as one `ConfigError`.
- The returned `Config` is valid by construction (the discovered peers are checked by `Config`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bgpd.config import Config, ConfigError, ConfigProblem, PeerConfig, load_config, parse_config
from bgpd.config.selector import Selector, SelectorError, parse_selector
from reflector.discovery import Discovery, discover_peers

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_CONTROL_SOCKET",
    "DEFAULT_METRICS_LISTEN",
    "ReflectorSection",
    "ReflectorSetup",
    "apply_profile",
    "load_reflector_config",
    "parse_reflector_config",
]

DEFAULT_CONFIG = "/etc/bgp-reflector/bgp-reflector.toml"
DEFAULT_CONTROL_SOCKET = "/run/bgp-reflector/bgp-reflector.ctl"
# 9179: BGP's port 179 in the 9xxx range Prometheus exporters use; not bgpd's node default.
DEFAULT_METRICS_LISTEN = "127.0.0.1:9179"

_REFLECTOR_KEYS = ("clients", "cluster_peers")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReflectorSection:
    """`[reflector]`: how the reflector finds its peers in the `[[cluster_node]]` list."""

    # Calico selector over node labels; None = no discovery (clients are [[peer]] entries).
    clients: Selector | None = None
    # Peer with every other node whose rr_cluster_id is our cluster id, selected or not.
    cluster_peers: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ReflectorSetup:
    """A loaded reflector: the config to run and how its peers came about."""

    config: Config
    section: ReflectorSection
    discovery: Discovery = field(default_factory=Discovery)


class _Profile:
    """The `prepare` hook: hands `[reflector]` problems to the loader, keeps the section."""

    __slots__ = ("section",)

    def __init__(self) -> None:
        self.section = ReflectorSection()

    def __call__(self, doc: dict[str, Any]) -> tuple[dict[str, Any], list[ConfigProblem]]:
        out, self.section, problems = apply_profile(doc)
        return out, problems


def apply_profile(
    doc: Mapping[str, Any],
) -> tuple[dict[str, Any], ReflectorSection, list[ConfigProblem]]:
    """(bgpd document with the profile's defaults, the `[reflector]` table, its problems).

    `doc` is a parsed TOML document and is not modified.
    """
    out = dict(doc)
    problems: list[ConfigProblem] = []
    section = _reflector_section(out.pop("reflector", {}), problems)

    bgp = out.get("bgp")
    node = out.get("node")
    node_cluster = node.get("rr_cluster_id") if isinstance(node, dict) else None
    if isinstance(bgp, dict) and "cluster_id" not in bgp and node_cluster in (None, ""):
        problems.append(
            ConfigProblem(
                location="bgp.cluster_id",
                message="missing required key: a route reflector needs a cluster id "
                "(or set [node].rr_cluster_id, which it then defaults to)",
            )
        )
    if (
        isinstance(bgp, dict)
        and isinstance(node, dict)
        and node_cluster in (None, "")
        and "cluster_id" in bgp
    ):
        # A reflector is never in the node-to-node mesh (calico-bgp.md §2.3).
        out["node"] = node | {"rr_cluster_id": bgp["cluster_id"]}
    _default(out, "kernel", "enabled", False)
    _default(out, "control", "socket", DEFAULT_CONTROL_SOCKET)
    _default(out, "metrics", "listen", DEFAULT_METRICS_LISTEN)
    return out, section, problems


def _default(doc: dict[str, Any], table: str, key: str, value: object) -> None:
    current = doc.get(table, {})
    if isinstance(current, dict) and key not in current:
        # A copy: the caller's document stays as it was parsed.
        doc[table] = current | {key: value}


def _reflector_section(raw: object, problems: list[ConfigProblem]) -> ReflectorSection:
    def add(key: str, message: str) -> None:
        problems.append(
            ConfigProblem(location=f"reflector.{key}" if key else "reflector", message=message)
        )

    if not isinstance(raw, dict):
        add("", f"expected a table ([reflector]), got {type(raw).__name__}")
        return ReflectorSection()
    for key in raw:
        if key not in _REFLECTOR_KEYS:
            close = difflib.get_close_matches(str(key), _REFLECTOR_KEYS, n=1, cutoff=0.6)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            add(key, f"unknown key {json.dumps(key)}{hint}")
    clients: Selector | None = None
    if "clients" in raw:
        text = raw["clients"]
        if not isinstance(text, str):
            add("clients", f"expected a selector string, got {type(text).__name__}")
        else:
            try:
                clients = parse_selector(text)
            except SelectorError as exc:
                add("clients", str(exc))
    cluster_peers = raw.get("cluster_peers", True)
    if not isinstance(cluster_peers, bool):
        add("cluster_peers", f"expected true or false, got {type(cluster_peers).__name__}")
        cluster_peers = True
    return ReflectorSection(clients=clients, cluster_peers=cluster_peers)


def _finish(load: Callable[[_Profile], Config]) -> ReflectorSetup:
    profile = _Profile()
    config = load(profile)  # the loader reports the profile's problems with its own
    discovery = discover_peers(config, profile.section.clients, profile.section.cluster_peers)
    peers: tuple[PeerConfig, ...] = (*config.peers, *discovery.peers)
    try:
        config = dataclasses.replace(config, peers=peers)
    except ConfigError as exc:
        raise ConfigError(
            [ConfigProblem(location="reflector.clients", message=p.message) for p in exc.problems]
        ) from None
    return ReflectorSetup(config=config, section=profile.section, discovery=discovery)


def load_reflector_config(path: str | os.PathLike[str]) -> ReflectorSetup:
    """Read `path` with the reflector profile; raises `ConfigError` listing every problem."""
    return _finish(lambda profile: load_config(path, prepare=profile))


def parse_reflector_config(text: str, source: str = "<string>") -> ReflectorSetup:
    """As `load_reflector_config`, from TOML text."""
    return _finish(lambda profile: parse_config(text, source, prepare=profile))

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
- `[bgp] restart_state_file` defaults to `DEFAULT_RESTART_STATE_FILE`, in the state directory
  bgp-reflector.service and the DaemonSet provide, so a reflector starts cold (reflecting as
  routes arrive) unless its clients may still hold its routes (bgpd.speaker.start_mode).

Invariants:
- Every key the file sets wins over a profile default; the profile never edits a value.
- Problems of the `[reflector]` table and of the rest of the file are reported together, each
  with its key path and FILE:LINE:COL, as one `ConfigError`. What discovery reports about a
  node (a problem of the peer made from it, or why it is not peered) is located at the
  `[[cluster_node]]` address it comes from, the only place the peer is written.
- The returned `Config` is valid by construction (the discovered peers are checked by `Config`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bgpd.config import Config, ConfigError, ConfigProblem, parse_config, read_config_text
from bgpd.config.selector import Selector, SelectorError, parse_selector
from bgpd.config.toml_positions import location_path, positioned
from reflector.discovery import Discovery, discover_peers, discovered_problems

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_CONTROL_SOCKET",
    "DEFAULT_METRICS_LISTEN",
    "DEFAULT_RESTART_STATE_FILE",
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
# StateDirectory=bgp-reflector (deploy/systemd), a volume in deploy/reflector/daemonset.yaml.
DEFAULT_RESTART_STATE_FILE = "/var/lib/bgp-reflector/restart-state.json"

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
    _default(out, "bgp", "restart_state_file", DEFAULT_RESTART_STATE_FILE)
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
    clients: Selector | None = None
    cluster_peers = True
    for key, value in raw.items():  # in the file's order, as the loader reports its tables
        if key == "clients":
            if not isinstance(value, str):
                add(key, f"expected a selector string, got {type(value).__name__}")
                continue
            try:
                clients = parse_selector(value)
            except SelectorError as exc:
                add(key, str(exc))
        elif key == "cluster_peers":
            if isinstance(value, bool):
                cluster_peers = value
            else:
                add(key, f"expected true or false, got {type(value).__name__}")
        else:
            close = difflib.get_close_matches(str(key), _REFLECTOR_KEYS, n=1, cutoff=0.6)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            add(key, f"unknown key {json.dumps(key)}{hint}")
    return ReflectorSection(clients=clients, cluster_peers=cluster_peers)


def _finish(text: str, source: str, source_path: str | None) -> ReflectorSetup:
    profile = _Profile()
    # the loader reports the profile's problems with its own, located
    config = parse_config(text, source, prepare=profile, source_path=source_path)
    try:
        found = discover_peers(config, profile.section.clients, profile.section.cluster_peers)
    except ConfigError as exc:
        raise ConfigError(positioned(exc.problems, text, source)) from None
    try:
        config = dataclasses.replace(config, peers=(*config.peers, *found.peers))
    except ConfigError as exc:
        raise ConfigError(
            positioned(_discovered_problems(exc.problems, config, found), text, source)
        ) from None
    skipped = tuple(positioned(found.skipped, text, source))
    discovery = dataclasses.replace(found, skipped=skipped)
    return ReflectorSetup(config=config, section=profile.section, discovery=discovery)


def _discovered_problems(
    problems: Iterable[ConfigProblem], config: Config, found: Discovery
) -> list[ConfigProblem]:
    """`problems` of the config with the discovered peers, those of a discovered peer moved to
    the `[[cluster_node]]` key it came from (it is written nowhere else)."""
    out: list[ConfigProblem] = []
    for p in problems:
        path = location_path(p.location)
        index = path[1] if path[:1] == ("peer",) and len(path) > 1 else None
        if isinstance(index, int) and index >= len(config.peers):
            k = index - len(config.peers)
            out += discovered_problems([p], found.peers[k].name, found.origins[k])
        else:
            out.append(p)
    return out


def load_reflector_config(path: str | os.PathLike[str]) -> ReflectorSetup:
    """Read `path` with the reflector profile; raises `ConfigError` listing every problem."""
    name = os.fspath(path)
    return _finish(read_config_text(name), name, name)


def parse_reflector_config(text: str, source: str = "<string>") -> ReflectorSetup:
    """As `load_reflector_config`, from TOML text."""
    return _finish(text, source, None)

"""Shared helpers for the config tests: the minimal file from the brief and a text builder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from bgpd.config import ConfigError, parse_config

MINIMAL = """\
[bgp]
asn = 64512
router_id = "127.0.0.1"
listen = ["127.0.0.1"]
port = 1179
log_level = "info"

[control]
socket = "/tmp/bgpd-a.ctl"

[[static]]
prefix = "10.10.1.0/24"

[[peer]]
name = "Mesh_127_0_0_2"
address = "127.0.0.2"
port = 1179
asn = 64512
local_address = "127.0.0.1"
"""

# Values are raw TOML snippets; `None` in an override removes the key.
Table = Mapping[str, str | None]

BASE_BGP: dict[str, str] = {
    "asn": "64512",
    "router_id": '"127.0.0.1"',
    "listen": '["127.0.0.1"]',
    "port": "1179",
    "log_level": '"info"',
}
BASE_CONTROL: dict[str, str] = {"socket": '"/tmp/bgpd-a.ctl"'}
BASE_STATIC: dict[str, str] = {"prefix": '"10.10.1.0/24"'}
BASE_PEER: dict[str, str] = {
    "name": '"Mesh_127_0_0_2"',
    "address": '"127.0.0.2"',
    "port": "1179",
    "asn": "64512",
    "local_address": '"127.0.0.1"',
}


def _lines(header: str, base: Mapping[str, str], override: Table | None) -> list[str]:
    merged: dict[str, str | None] = dict(base)
    merged.update(override or {})
    return [header] + [f"{k} = {v}" for k, v in merged.items() if v is not None] + [""]


def build(
    *,
    bgp: Table | None = None,
    control: Table | None = None,
    metrics: Table | None = None,
    statics: Sequence[Table] = ({},),
    peers: Sequence[Table] = ({},),
    extra: str = "",
) -> str:
    """The minimal config with per-key overrides; each static/peer override extends the base."""
    out = _lines("[bgp]", BASE_BGP, bgp)
    out += _lines("[control]", BASE_CONTROL, control)
    if metrics is not None:
        out += _lines("[metrics]", {}, metrics)
    for s in statics:
        out += _lines("[[static]]", BASE_STATIC, s)
    for p in peers:
        out += _lines("[[peer]]", BASE_PEER, p)
    return "\n".join(out) + extra


def problems_of(text: str) -> list[tuple[str, str]]:
    """(location, message) pairs of the ConfigError that `text` must raise."""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return [(p.location, p.message) for p in info.value.problems]

"""Calico Enterprise's BGPPeer `restartMode`, end to end without sockets: v3 resources -> the
model's v1 keys -> the rendered bgpd.toml -> the loaded config -> our OPEN.

`restartMode: LongLivedGracefulRestart` is `restart_mode = "llgr"`, and its `maxRestartTime`
is the long-lived stale time (Calico Enterprise's reading of the field in that mode; the
graceful restart time keeps [bgp]'s); without `maxRestartTime` the stale time is [bgp]'s
(3600 s, BIRD's default). `GracefulRestart` or no restartMode: `maxRestartTime` is the
graceful restart time, as in open-source Calico.
"""

from __future__ import annotations

import json

import pytest

from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.model.errors import CalicoDataError
from bgpd.config import parse_config
from bgpd.config.restart_mode import RestartMode
from bgpd.speaker.peer_state import session_settings
from bgpd.wire.capabilities import LongLivedGracefulRestart

from .calico_v3 import bgp_configuration, bgp_peer, node
from .test_peer_session_render import render


def cluster() -> dict[str, str]:
    values: dict[str, str] = {}
    values |= bgp_configuration(asNumber=64512)
    values |= node("a", "10.0.0.1/24")
    values |= bgp_peer(
        "rr-llgr",
        peerIP="10.0.0.251",
        asNumber=64512,
        restartMode="LongLivedGracefulRestart",
        maxRestartTime="10m",
    )
    values |= bgp_peer(
        "rr-llgr-default",
        peerIP="10.0.0.252",
        asNumber=64512,
        restartMode="LongLivedGracefulRestart",
    )
    values |= bgp_peer(
        "rr-gr",
        peerIP="10.0.0.253",
        asNumber=64512,
        restartMode="GracefulRestart",
        maxRestartTime="90s",
    )
    values |= bgp_peer("plain", peerIP="10.0.0.254", asNumber=64512, maxRestartTime="30s")
    return values


def test_restart_mode_reaches_the_config_and_the_open() -> None:
    cfg = parse_config(render(cluster()))
    peers = {p.name: p for p in cfg.peers}
    got = {
        name: (s.restart_mode, s.llgr_stale_time, s.graceful_restart_time)
        for name, p in peers.items()
        for s in [cfg.peer_settings(p)]
    }
    assert got == {
        "Global_10_0_0_251": (RestartMode.LLGR, 600, 120),
        "Global_10_0_0_252": (RestartMode.LLGR, 3600, 120),
        "Global_10_0_0_253": (RestartMode.GR, 3600, 90),
        "Global_10_0_0_254": (RestartMode.GR, 3600, 30),
    }
    caps = session_settings(cfg, peers["Global_10_0_0_251"]).capabilities()
    (llgr,) = [c for c in caps if isinstance(c, LongLivedGracefulRestart)]
    assert {f.stale_time for f in llgr.families} == {600}


def test_v1_keys_carry_restart_mode_only_when_set() -> None:
    view = derive_view(cluster(), LocalNode(nodename="a"))
    peers = {k: json.loads(v) for k, v in view.items() if "/peer_v4/" in k}
    modes = {v["ip"]: v.get("restart_mode") for v in peers.values()}
    assert modes == {
        "10.0.0.251": "LongLivedGracefulRestart",
        "10.0.0.252": "LongLivedGracefulRestart",
        "10.0.0.253": "GracefulRestart",
        "10.0.0.254": None,  # open-source Calico's JSON, unchanged
    }


def test_an_unknown_restart_mode_is_refused_out_loud() -> None:
    values = cluster() | bgp_peer("odd", peerIP="10.0.0.250", asNumber=64512, restartMode="Forever")
    with pytest.raises(CalicoDataError, match="restartMode: 'Forever' is not GracefulRestart"):
        render(values)

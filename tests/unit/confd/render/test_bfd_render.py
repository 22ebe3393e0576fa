"""BGPPeer `failureDetectionMode: BFDIfDirectlyConnected` (Calico Enterprise), end to end
without sockets: v3 resources -> the model's v1 keys -> the rendered bgpd.toml -> the loaded
config: `bfd = true` (single hop) for a peer on the node's subnet, nothing for one beyond it,
and an unknown mode is refused by the model (the render fails, the running config stays)."""

from __future__ import annotations

import pytest

from bgpd.confd.model.errors import CalicoDataError
from bgpd.config import PeerBfd, parse_config

from .calico_v3 import bgp_configuration, bgp_peer, node
from .test_peer_session_render import render


def cluster() -> dict[str, str]:
    values: dict[str, str] = {}
    values |= bgp_configuration(asNumber=64512)
    values |= node("a", "10.0.0.1/24")
    values |= bgp_peer(
        "tor", peerIP="10.0.0.254", asNumber=65000, failureDetectionMode="BFDIfDirectlyConnected"
    )
    values |= bgp_peer(
        "far", peerIP="10.9.0.1", asNumber=65000, failureDetectionMode="BFDIfDirectlyConnected"
    )
    values |= bgp_peer("plain", peerIP="10.0.0.253", asNumber=65000, failureDetectionMode="None")
    return values


def test_bfd_for_the_directly_connected_peer_only() -> None:
    cfg = parse_config(render(cluster()))
    by_address = {str(p.address): p for p in cfg.peers}
    assert cfg.peer_bfd(by_address["10.0.0.254"]) == PeerBfd(
        min_rx_ms=300, min_tx_ms=300, multiplier=3, multihop=False
    )
    assert by_address["10.0.0.254"].multihop is not None  # Calico's BGP multihop stays
    assert cfg.peer_bfd(by_address["10.9.0.1"]) is None
    assert cfg.peer_bfd(by_address["10.0.0.253"]) is None


def test_an_unknown_mode_is_refused() -> None:
    values = cluster() | bgp_peer(
        "tor", peerIP="10.0.0.254", asNumber=65000, failureDetectionMode="Sometimes"
    )
    with pytest.raises(CalicoDataError, match="failureDetectionMode: 'Sometimes' is not None"):
        render(values)

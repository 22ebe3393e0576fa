"""Dynamic neighbours: which addresses a range admits, the peer it makes, limits, reload."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from bgpd.config import Config, ConfigError, parse_config
from bgpd.net import IPV6_UNICAST
from bgpd.runtime.dynamic import DynamicPeers, dynamic_peer_name, find_range
from reflector.profile import parse_reflector_config

BGP = """
[bgp]
asn = 64512
router_id = "10.0.0.1"
cluster_id = "224.0.0.1"

[[peer]]
name = "configured"
address = "10.9.0.5"
asn = 64512
"""

RANGES = """
[[dynamic_neighbors]]
prefix = "10.9.0.0/24"
max_peers = 2

[[dynamic_neighbors]]
prefix = "fd00:9::/64"
asn = 65001
families = ["ipv6-unicast"]
hold_time = 30
description = "v6 edge routers"
"""


def config(extra: str = RANGES) -> Config:
    return parse_config(BGP + extra)


def test_off_by_default_in_bgpd() -> None:
    cfg = config("")
    assert cfg.dynamic_neighbors == ()
    assert DynamicPeers().accept(cfg, "10.9.0.7") is None


def test_range_matching() -> None:
    cfg = config()
    assert find_range(cfg, ip_address("10.9.0.7")) is cfg.dynamic_neighbors[0]
    assert find_range(cfg, ip_address("fd00:9::abcd")) is cfg.dynamic_neighbors[1]
    assert find_range(cfg, ip_address("10.9.1.7")) is None
    assert find_range(cfg, ip_address("fd00:8::1")) is None


def test_accepted_peer_is_passive_and_client_in_an_ibgp_range() -> None:
    dyn = DynamicPeers()
    accepted = dyn.accept(config(), "10.9.0.7")
    assert accepted is not None
    new, name = accepted
    assert name == "Dynamic_10_9_0_7" == dynamic_peer_name(ip_address("10.9.0.7"))
    peer = new.peer(name)
    assert peer.passive and peer.rr_client and peer.asn == 64512
    assert peer.address == ip_address("10.9.0.7")
    assert dyn.is_dynamic(name) and not dyn.is_dynamic("configured")
    # The config it came from is unchanged; the new one has one more peer.
    assert len(new.peers) == len(config().peers) + 1


def test_ebgp_range_peer_is_not_a_client_and_takes_range_settings() -> None:
    accepted = DynamicPeers().accept(config(), "fd00:9::7")
    assert accepted is not None
    new, name = accepted
    peer = new.peer(name)
    assert name == "Dynamic_fd00_9__7"
    assert peer.asn == 65001 and not peer.rr_client and peer.hold_time == 30
    assert peer.families == (IPV6_UNICAST,) and peer.description == "v6 edge routers"


def test_refused_outside_ranges_for_configured_addresses_and_over_the_limit() -> None:
    dyn = DynamicPeers()
    cfg = config()
    assert dyn.accept(cfg, "10.8.0.1") is None
    assert dyn.accept(cfg, "10.9.0.5") is None  # the configured peer's address
    assert dyn.accept(cfg, "not-an-address") is None
    for last in (7, 8):
        accepted = dyn.accept(cfg, f"10.9.0.{last}")
        assert accepted is not None
        cfg = accepted[0]
    assert dyn.accept(cfg, "10.9.0.9") is None  # max_peers = 2
    # The v6 range counts separately.
    assert dyn.accept(cfg, "fd00:9::1") is not None
    # IPv4-mapped IPv6 (a dual-stack listener) is the IPv4 address.
    assert DynamicPeers().accept(config(), "::ffff:10.9.0.9") is not None


def test_remove_frees_the_slot() -> None:
    dyn = DynamicPeers()
    cfg = config()
    for last in (7, 8):
        accepted = dyn.accept(cfg, f"10.9.0.{last}")
        assert accepted is not None
        cfg = accepted[0]
    smaller = dyn.remove(cfg, "Dynamic_10_9_0_7")
    assert smaller is not None
    assert "Dynamic_10_9_0_7" not in {p.name for p in smaller.peers}
    assert dyn.remove(smaller, "Dynamic_10_9_0_7") is None
    assert dyn.remove(smaller, "configured") is None  # never a configured peer
    assert dyn.accept(smaller, "10.9.0.9") is not None


def test_reload_keeps_allowed_dynamic_peers() -> None:
    dyn = DynamicPeers()
    running = config()
    for addr in ("10.9.0.7", "10.9.0.8", "fd00:9::7"):
        accepted = dyn.accept(running, addr)
        assert accepted is not None
        running = accepted[0]
    # The same file again: every dynamic peer is kept, unchanged.
    same = dyn.carry_over(running, config())
    assert same == running
    # The v6 range is gone and the v4 range shrinks to one peer.
    v4_only = '\n[[dynamic_neighbors]]\nprefix = "10.9.0.0/24"\nmax_peers = 1\n'
    reloaded = dyn.carry_over(running, config(v4_only))
    names = {p.name for p in reloaded.peers}
    assert "Dynamic_10_9_0_7" in names and "Dynamic_fd00_9__7" not in names
    assert "Dynamic_10_9_0_8" not in names  # over the new limit
    assert dyn.names() == ["Dynamic_10_9_0_7"]
    # A [[peer]] for the address takes over from the dynamic peer.
    taken = v4_only + '\n[[peer]]\nname = "by-hand"\naddress = "10.9.0.7"\nasn = 64512\n'
    after = dyn.carry_over(reloaded, config(taken))
    assert "Dynamic_10_9_0_7" not in {p.name for p in after.peers}
    assert dyn.names() == []


def test_schema_errors() -> None:
    bad = """
[[dynamic_neighbors]]
prefix = "10.9.0.0/16"

[[dynamic_neighbors]]
prefix = "10.9.3.0/24"
asn = 65001
rr_client = true

[[dynamic_neighbors]]
prefix = "10.10.0.1/16"
max_peers = 0
"""
    with pytest.raises(ConfigError) as exc:
        config(bad)
    found = {p.location: p.message for p in exc.value.problems}
    assert set(found) == {
        "dynamic_neighbors[1].prefix",
        "dynamic_neighbors[1].rr_client",
        "dynamic_neighbors[2].prefix",
        "dynamic_neighbors[2].max_peers",
    }
    assert "overlaps dynamic_neighbors[0]" in found["dynamic_neighbors[1].prefix"]
    assert "host bits set" in found["dynamic_neighbors[2].prefix"]


def test_reflector_accepts_dynamic_ranges() -> None:
    setup = parse_reflector_config(BGP + RANGES)
    assert [r.max_peers for r in setup.config.dynamic_neighbors] == [2, 100]

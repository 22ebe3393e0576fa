"""What client discovery reports is located at FILE:LINE:COL, as every config problem is
(issue 17, point 7): a node passed over, and a discovered peer the config refuses, are written
nowhere but at their `[[cluster_node]]` address, so that is where they are reported."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

import reflector.discovery
import reflector.profile
from bgpd.config import Config, ConfigError, ConfigProblem
from reflector.command import main
from reflector.discovery import Discovery, discover_peers
from reflector.profile import load_reflector_config, parse_reflector_config

# Line numbers are asserted literally below: keep the layout.
TEXT = """\
[bgp]
asn = 64512
cluster_id = "224.0.0.1"

[node]
name = "rr1"
ipv4 = "10.0.0.1/24"

[reflector]
clients = "all()"

[[cluster_node]]
name = "w1"
ipv4 = "10.0.0.11"
  ipv6 = "fd00::11"

[[cluster_node]]
name = "w2"
    ipv4 = "10.0.0.12"

[[peer]]
name = "w2-by-hand"
address = "10.0.0.12"
asn = 64512
"""
W1_IPV4 = "14:1"
W1_IPV6 = "15:3"
W2_IPV4 = "19:5"


def test_node_without_a_local_address_of_its_family_is_located(tmp_path: Path) -> None:
    path = tmp_path / "rr.toml"
    path.write_text(TEXT)
    setup = load_reflector_config(path)
    assert [(str(p), p.at) for p in setup.discovery.skipped if "IPv6" in p.message] == [
        (
            f"{path}:{W1_IPV6}: cluster_node[0].ipv6: node w1 not peered: "
            "no local IPv6 address in [node]",
            f"{path}:{W1_IPV6}",
        )
    ]


def test_node_a_configured_peer_has_is_located_and_in_file_order() -> None:
    setup = parse_reflector_config(TEXT, source="rr.toml")
    assert [(p.at, p.location, p.message) for p in setup.discovery.skipped] == [
        (
            f"rr.toml:{W1_IPV6}",
            "cluster_node[0].ipv6",
            "node w1 not peered: no local IPv6 address in [node]",
        ),
        (
            f"rr.toml:{W2_IPV4}",
            "cluster_node[1].ipv4",
            "node w2 not peered: 10.0.0.12 is a configured [[peer]]",
        ),
    ]
    # and the node that is peered came from w1's ipv4 key
    assert setup.discovery.origins == ("cluster_node[0].ipv4",)


def test_discovered_peer_the_config_refuses_is_located_at_its_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No file discovers a peer the config refuses today (the loader checks every node value a
    # peer is made of); should a new rule do so, the problem is at the node, not at a peer[N]
    # written nowhere. Here: a discovered peer that needs the kernel sync that is off.
    def discover(config: Config, *args: Any) -> Discovery:
        found = discover_peers(config, *args)
        bad = dataclasses.replace(found.peers[0], reachable_by=ip_address("10.0.0.254"))
        return dataclasses.replace(found, peers=(bad, *found.peers[1:]))

    monkeypatch.setattr(reflector.profile, "discover_peers", discover)
    with pytest.raises(ConfigError) as info:
        parse_reflector_config(TEXT, source="rr.toml")
    assert [str(p) for p in info.value.problems] == [
        f"rr.toml:{W1_IPV4}: cluster_node[0].ipv4: discovered peer Node_10_0_0_11: "
        "reachable_by needs [kernel] enabled = true (bgpd installs the route to the peer in "
        "the kernel)"
    ]


def test_discovered_peer_that_cannot_be_built_is_located_at_its_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = reflector.discovery.PeerConfig

    def build(**fields: Any) -> object:
        if fields["address"] == ip_address("10.0.0.11"):
            raise ConfigError([ConfigProblem(location="port", message="port is bad")])
        return real(**fields)

    monkeypatch.setattr(reflector.discovery, "PeerConfig", build)
    with pytest.raises(ConfigError) as info:
        parse_reflector_config(TEXT, source="rr.toml")
    assert [str(p) for p in info.value.problems] == [
        f"rr.toml:{W1_IPV4}: cluster_node[0].ipv4: discovered peer Node_10_0_0_11: port is bad"
    ]


def test_check_prints_the_located_nodes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rr.toml"
    path.write_text(TEXT)
    assert main(["check", "-c", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"  {path}:{W1_IPV6}: cluster_node[0].ipv6: node w1 not peered: "
        "no local IPv6 address in [node]",
        f"  {path}:{W2_IPV4}: cluster_node[1].ipv4: node w2 not peered: "
        "10.0.0.12 is a configured [[peer]]",
    ]


def test_profile_and_loader_problems_of_a_bad_file_once_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rr.toml"
    path.write_text(TEXT.replace('clients = "all()"', 'clientz = "all()"'))
    assert main(["check", "-c", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: config rejected:",
        f'{path}:10:1: reflector.clientz: unknown key "clientz"; did you mean "clients"?',
    ]


def test_reflector_table_problems_come_in_the_files_order() -> None:
    text = TEXT.replace(
        'clients = "all()"', "clusterpeers = false\nclients = \"role = 'x'\"\ncluster_peers = 1"
    )
    with pytest.raises(ConfigError) as info:
        parse_reflector_config(text, source="rr.toml")
    assert [(p.at, p.location) for p in info.value.problems] == [
        ("rr.toml:10:1", "reflector.clusterpeers"),
        ("rr.toml:11:1", "reflector.clients"),
        ("rr.toml:12:1", "reflector.cluster_peers"),
    ]

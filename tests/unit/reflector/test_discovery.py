"""Client discovery from the node list: selectors over labels, Calico's client semantics."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from bgpd.config import ConfigError, PeerConfig, parse_config, render_config_toml
from bgpd.config.selector import parse_selector
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from reflector.discovery import discover_peers, node_peer_name
from reflector.profile import parse_reflector_config

HEAD = """
[bgp]
asn = 64512
cluster_id = "224.0.0.1"

[node]
name = "rr1"
ipv4 = "10.0.0.1/24"
ipv6 = "fd00::1/64"

[reflector]
clients = "{selector}"

[[cluster_node]]
name = "rr1"
ipv4 = "10.0.0.1"
ipv6 = "fd00::1"
rr_cluster_id = "224.0.0.1"
labels = {{ "route-reflector" = "true" }}

[[cluster_node]]
name = "rr2"
ipv4 = "10.0.0.2"
rr_cluster_id = "224.0.0.1"
labels = {{ "route-reflector" = "true" }}

[[cluster_node]]
name = "w1"
ipv4 = "10.0.0.11"
ipv6 = "fd00::11"
labels = {{ "kubernetes.io/role" = "worker", rack = "r1" }}

[[cluster_node]]
name = "w2"
ipv4 = "10.0.0.12"
port = 1790
labels = {{ "kubernetes.io/role" = "worker", rack = "r2" }}

[[cluster_node]]
name = "m1"
ipv4 = "10.0.0.21"
labels = {{ "kubernetes.io/role" = "master" }}

[[cluster_node]]
name = "other-cluster"
ipv4 = "10.0.0.31"
rr_cluster_id = "224.0.0.2"
labels = {{ "kubernetes.io/role" = "worker" }}

[[cluster_node]]
name = "other-as"
ipv4 = "10.0.0.41"
asn = 65001
labels = {{ "kubernetes.io/role" = "worker" }}
"""

RANGE = """
[[dynamic_neighbors]]
prefix = "10.0.9.0/24"
max_peers = 3
"""


def peers(selector: str, extra: str = "") -> dict[str, PeerConfig]:
    setup = parse_reflector_config(HEAD.format(selector=selector) + extra)
    return {p.name: p for p in setup.config.peers}


def test_selected_nodes_become_clients_per_family() -> None:
    found = peers("kubernetes.io/role == 'worker'")
    assert list(found) == [
        "Node_10_0_0_2",  # the other reflector of our cluster: not selected, but ours
        "Node_10_0_0_11",
        "Node_10_0_0_12_port_1790",
        "Node_10_0_0_31",
        "Node_10_0_0_41",
        "Node_fd00__11",
    ]
    w1 = found["Node_10_0_0_11"]
    assert w1.rr_client and w1.asn == 64512 and w1.families == (IPV4_UNICAST,)
    assert w1.local_address == ip_address("10.0.0.1") and not w1.passive
    w1_v6 = found["Node_fd00__11"]
    assert w1_v6.rr_client and w1_v6.families == (IPV6_UNICAST,)
    assert w1_v6.local_address == ip_address("fd00::1")
    assert found["Node_10_0_0_12_port_1790"].port == 1790
    # Same cluster id: an ordinary iBGP non-client; another cluster id: a client (Calico).
    assert not found["Node_10_0_0_2"].rr_client
    assert found["Node_10_0_0_31"].rr_client
    # Another AS: an eBGP peer, never a reflection client.
    other_as = found["Node_10_0_0_41"]
    assert other_as.asn == 65001 and not other_as.rr_client


def test_selector_narrows_and_never_ourselves() -> None:
    found = peers("rack in {'r1'} || route-reflector == 'true'")
    # rr1 matches the selector but is us (name and addresses).
    assert set(found) == {"Node_10_0_0_2", "Node_10_0_0_11", "Node_fd00__11"}
    assert set(peers("has(nonexistent)")) == {"Node_10_0_0_2"}
    # all() (and the empty selector, which Calico reads as all()) selects everyone but us.
    assert set(peers("all()")) == set(peers("")) and len(peers("")) == 7


def test_cluster_peers_off_and_no_selector() -> None:
    text = HEAD.replace(
        'clients = "{selector}"\n', "clients = \"rack == 'r2'\"\ncluster_peers = false\n"
    )
    setup = parse_reflector_config(text.format())
    assert [p.name for p in setup.config.peers] == ["Node_10_0_0_12_port_1790"]
    # No [reflector] table at all: only the other reflectors of our cluster.
    no_table = HEAD.replace('[reflector]\nclients = "{selector}"\n', "").format()
    assert [p.name for p in parse_reflector_config(no_table).config.peers] == ["Node_10_0_0_2"]


def test_configured_peer_wins() -> None:
    extra = """
[[peer]]
name = "w1-by-hand"
address = "10.0.0.11"
asn = 64512
rr_client = true
hold_time = 30
"""
    found = peers("rack == 'r1'", extra)
    assert set(found) == {"w1-by-hand", "Node_10_0_0_2", "Node_fd00__11"}
    assert found["w1-by-hand"].hold_time == 30


def test_discovery_is_pure_and_reports_skipped_families() -> None:
    cfg = parse_reflector_config(HEAD.format(selector="all()")).config
    plain = parse_reflector_config(
        HEAD.replace('ipv6 = "fd00::1/64"\n', "").format(selector="all()")
    )
    assert ("cluster_node[2].ipv6", "node w1 not peered: no local IPv6 address in [node]") in {
        (p.location, p.message) for p in plain.discovery.skipped
    }
    assert "Node_fd00__11" not in {p.name for p in plain.config.peers}
    again = discover_peers(cfg, parse_selector("all()"))
    # Discovered peers are already in cfg: discovering again finds them configured.
    assert again.peers == ()
    assert {p.message.partition(": ")[2] for p in again.skipped} == {
        f"{ip_address(a)} is a configured [[peer]]"
        for a in ("10.0.0.2", "10.0.0.11", "10.0.0.12", "10.0.0.21", "10.0.0.31", "10.0.0.41")
    } | {"fd00::11 is a configured [[peer]]"}


def test_node_peer_name() -> None:
    assert node_peer_name(ip_address("10.0.0.2")) == "Node_10_0_0_2"
    assert node_peer_name(ip_address("fd00::2"), 179) == "Node_fd00__2"
    assert node_peer_name(ip_address("fd00::2"), 1790) == "Node_fd00__2_port_1790"


def test_labels_are_checked() -> None:
    bad = HEAD.replace('rack = "r1"', 'rack = "no spaces allowed"').format(selector="all()")
    with pytest.raises(ConfigError) as exc:
        parse_reflector_config(bad)
    (problem,) = exc.value.problems
    assert problem.location == "cluster_node[2].labels.rack"


def test_show_config_round_trips_labels_and_discovered_peers() -> None:
    setup = parse_reflector_config(HEAD.format(selector="all()") + RANGE)
    text = render_config_toml(setup.config, mask_secrets=False)
    assert 'labels = {"kubernetes.io/role" = "worker", "rack" = "r1"}' in text
    # bgpd reads it back as the same config; the reflector too: the discovered peers are now
    # [[peer]] entries, which win over discovery, so nothing is discovered twice.
    assert parse_config(text) == setup.config
    again = parse_reflector_config(text)
    assert again.config == setup.config and again.discovery.peers == ()

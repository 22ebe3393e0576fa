"""diff_configs: every classification the reload path relies on."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Network
from typing import Any

import pytest

from bgpd.config import ConfigDiff, PeerSettings, diff_configs, parse_config
from bgpd.config.diff import (
    GLOBAL_SESSION_FIELDS,
    POLICY_FIELDS,
    SESSION_FIELDS,
    SETTINGS_FIELDS,
)
from tests.unit.config.helpers import build

A: dict[str, str] = {}
B = {"name": '"Mesh_b"', "address": '"127.0.0.3"'}
B_HOLD = {**B, "hold_time": "90"}


def diff(old: str, new: str) -> ConfigDiff:
    return diff_configs(parse_config(old), parse_config(new))


def test_identical_configs_give_an_empty_diff() -> None:
    text = build(peers=[A, B])
    d = diff(text, text)
    assert d.is_empty
    assert d == ConfigDiff()
    assert not d.statics_changed


def test_peers_added_and_removed_by_name() -> None:
    d = diff(build(peers=[A]), build(peers=[B]))
    assert d.peers_added == ("Mesh_b",)
    assert d.peers_removed == ("Mesh_127_0_0_2",)
    assert d.session_changed == d.policy_changed == d.settings_changed == ()
    assert not d.is_empty


def test_rename_is_remove_plus_add() -> None:
    d = diff(build(peers=[A]), build(peers=[{"name": '"renamed"'}]))
    assert (d.peers_added, d.peers_removed) == (("renamed",), ("Mesh_127_0_0_2",))


@pytest.mark.parametrize(
    "override",
    [
        {"address": '"127.0.0.9"'},
        {"port": "179"},
        {"asn": "65001"},
        {"local_address": None},
        {"password": '"new"'},
        {"ttl_security": "1"},
        {"multihop": "2"},
        {"passive": "true"},
        {"hold_time": "30"},
        {"local_asn": "65010"},
        {"graceful_restart_time": "10"},
        {"families": '["ipv4-unicast"]'},
        {"add_path": '"receive"'},
    ],
)
def test_session_fields_reset_only_that_peer(override: dict[str, str | None]) -> None:
    d = diff(build(peers=[A, B]), build(peers=[override, B]))
    assert d.session_changed == ("Mesh_127_0_0_2",)
    assert d.policy_changed == d.settings_changed == d.peers_added == d.peers_removed == ()
    assert not d.global_session_changed


def test_same_effective_value_written_explicitly_is_no_change() -> None:
    # families default to both; writing the same list explicitly changes nothing effective.
    d = diff(build(), build(peers=[{"families": '["ipv6-unicast", "ipv4-unicast"]'}]))
    assert d.is_empty


@pytest.mark.parametrize(
    "bgp",
    [
        {"hold_time": "30"},
        {"graceful_restart": "false"},
        {"graceful_restart_time": "10"},
        {"families": '["ipv6-unicast"]'},
        {"add_path": '"both"'},
    ],
)
def test_inherited_global_change_resets_peers_that_inherit(bgp: dict[str, str]) -> None:
    # Mesh_b sets its own hold_time; for hold_time only Mesh_127_0_0_2 inherits.
    d = diff(build(peers=[A, B_HOLD]), build(bgp=bgp, peers=[A, B_HOLD]))
    if "hold_time" in bgp:
        assert d.session_changed == ("Mesh_127_0_0_2",)
    else:
        assert d.session_changed == ("Mesh_127_0_0_2", "Mesh_b")
    assert not d.global_session_changed


@pytest.mark.parametrize(
    "override",
    [
        {"rr_client": "true"},
        {"next_hop_self": "true"},
        {"next_hop_mode": '"self"'},
        {"next_hop_mode": '"keep"'},
        {"allow_local_as": "1"},
        {"next_hop_v6": '"fd00::1"'},
        {"next_hop_v4": '"10.0.0.1"'},
    ],
)
def test_policy_fields(override: dict[str, str]) -> None:
    d = diff(build(peers=[A, B]), build(peers=[override, B]))
    assert d.policy_changed == ("Mesh_127_0_0_2",)
    assert d.session_changed == d.settings_changed == ()


def test_session_change_wins_over_policy_change() -> None:
    d = diff(build(), build(peers=[{"rr_client": "true", "hold_time": "30"}]))
    assert d.session_changed == ("Mesh_127_0_0_2",)
    assert d.policy_changed == ()


@pytest.mark.parametrize(
    ("bgp", "peer"),
    [
        ({}, {"description": '"rack 4"'}),
        ({}, {"connect_retry_time": "30"}),
        ({"connect_retry_time": "9"}, {}),
        ({"error_wait_min": "1"}, {}),
        ({"error_wait_max": "60"}, {}),
        # our KEEPALIVE pace is ours to choose below the hold time (RFC 4271 §4.4): no reset
        ({}, {"keepalive_time": "10"}),
        ({"keepalive_time": "10"}, {}),
    ],
)
def test_settings_fields_update_in_place(bgp: dict[str, str], peer: dict[str, str]) -> None:
    d = diff(build(), build(bgp=bgp, peers=[peer]))
    assert d.settings_changed == ("Mesh_127_0_0_2",)
    assert d.session_changed == d.policy_changed == ()


def test_next_hop_self_and_the_same_mode_written_anew_is_no_change() -> None:
    # the older spelling and next_hop_mode = "self" are the same effective setting
    d = diff(build(peers=[{"next_hop_self": "true"}]), build(peers=[{"next_hop_mode": '"self"'}]))
    assert d.is_empty


def test_policy_change_wins_over_settings_change() -> None:
    d = diff(build(), build(peers=[{"next_hop_self": "true", "description": '"x"'}]))
    assert (d.policy_changed, d.settings_changed) == (("Mesh_127_0_0_2",), ())


@pytest.mark.parametrize(
    "bgp",
    [
        {"asn": "64513"},
        {"router_id": '"127.0.0.9"'},
        {"cluster_id": '"224.0.0.1"'},
    ],
)
def test_global_session_changes(bgp: dict[str, str]) -> None:
    # The peer keeps asn 64512 in both configs: with a new [bgp].asn it becomes eBGP, which the
    # global reset covers.
    d = diff(build(), build(bgp=bgp))
    assert d.global_session_changed
    # our AS is also each peer's local_asn: the per-peer lists are filled in regardless
    assert d.session_changed == (("Mesh_127_0_0_2",) if "asn" in bgp else ())


def test_a_peer_local_asn_change_resets_that_peer_only() -> None:
    # a new OPEN is needed (its My AS); nothing global changed
    d = diff(build(peers=[A, B]), build(peers=[{"local_asn": "65010"}, B]))
    assert d.session_changed == ("Mesh_127_0_0_2",)
    assert not d.global_session_changed


@pytest.mark.parametrize("bgp", [{"listen": '["127.0.0.1", "::1"]'}, {"port": "179"}])
def test_listen_changes_move_the_listeners_only(bgp: dict[str, str]) -> None:
    d = diff(build(), build(bgp=bgp))
    assert d.listen_changed
    assert not d.global_session_changed
    assert d.session_changed == ()


def test_listen_order_is_not_a_change() -> None:
    old = build(bgp={"listen": '["127.0.0.1", "::1"]'})
    new = build(bgp={"listen": '["::1", "127.0.0.1"]'})
    assert diff(old, new).is_empty


@pytest.mark.parametrize(
    ("bgp", "flag"),
    [
        ({"log_level": '"debug"'}, "log_level_changed"),
        ({"log_format": '"json"'}, "log_format_changed"),
        ({"persist_routes": "false"}, "persist_routes_changed"),
    ],
)
def test_global_soft_flags(bgp: dict[str, str], flag: str) -> None:
    d = diff(build(), build(bgp=bgp))
    assert getattr(d, flag) is True
    flags: dict[str, Any] = {flag: True}
    assert d == ConfigDiff(**flags)


def test_control_and_metrics_changes() -> None:
    d = diff(build(), build(control={"bird_socket": '"/tmp/bird.ctl"'}))
    assert d == ConfigDiff(control_changed=True)
    d = diff(build(), build(metrics={"listen": '"127.0.0.1:9100"'}))
    assert d == ConfigDiff(metrics_changed=True)


def test_statics_added_changed_removed() -> None:
    old = build(statics=[{}, {"prefix": '"10.10.2.0/24"'}, {"prefix": '"10.10.3.0/24"'}])
    new = build(
        statics=[
            {"prefix": '"10.10.3.0/24"'},
            {"communities": '["65000:1"]'},  # 10.10.1.0/24 changed
            {"prefix": '"10.10.4.0/24"'},  # added
        ]
    )
    d = diff(old, new)
    assert d.statics_changed
    assert [str(s.prefix) for s in d.statics_updated] == ["10.10.1.0/24", "10.10.4.0/24"]
    assert d.statics_removed == (IPv4Network("10.10.2.0/24"),)
    assert d.session_changed == d.policy_changed == ()


def test_statics_reordered_is_not_a_change() -> None:
    one = {"prefix": '"10.10.2.0/24"'}
    d = diff(build(statics=[{}, one]), build(statics=[one, {}]))
    assert d.is_empty


def test_every_peer_settings_field_is_classified_exactly_once() -> None:
    groups = [SESSION_FIELDS, POLICY_FIELDS, SETTINGS_FIELDS, GLOBAL_SESSION_FIELDS]
    all_fields = {f.name for f in dataclasses.fields(PeerSettings)}
    assert set().union(*groups) == all_fields
    assert sum(len(g) for g in groups) == len(all_fields)


def test_a_node_change_is_part_of_the_diff() -> None:
    node = '\n[node]\nname = "n"\nipv4 = "10.0.0.1/24"\n'
    d = diff(build(extra=node), build(extra=node + 'ipv6 = "fd00::1/64"\n'))
    assert d.node_changed
    assert not d.session_changed and not d.global_session_changed
    assert not diff(build(extra=node), build(extra=node)).node_changed

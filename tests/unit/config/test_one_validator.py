"""One validator: the sections check every value (their `validate`), the loader only reads.

One bad value gives exactly one problem line with its key path; the other problems of the same
table and file still come in the same pass; a section built by hand reports what the file
reports for the same values.
"""

from __future__ import annotations

import json
import tomllib

import pytest

from bgpd.config import ConfigError, PeerConfig
from bgpd.config import loader as loader_module
from bgpd.config import toml_values as toml_values_module
from bgpd.config.peer import peer_location
from tests.unit.config.helpers import build, problems_of

PEER = 'peer[0].{} (name "Mesh_127_0_0_2")'
HOLD_2 = "hold_time 2 must be 0 (no keepalives) or 3..65535 seconds (RFC 4271 §4.2)"
ASN_0 = "AS number 0 is out of range 1..4294967295"
BAD_NODE = '[node]\nname = "a"\nipv4 = "127.0.0.1"\nasn = 0\n'
RULE = '\n[[filter]]\nname = "f"\n[[filter.import_v4]]\naction = "accept"\nmatch_operator = "in"\n'

# (file, the one problem it must give)
ONCE = [
    (build(bgp={"hold_time": "2"}), ("bgp.hold_time", HOLD_2)),
    (build(peers=[{"hold_time": "2"}]), (PEER.format("hold_time"), HOLD_2)),
    (build(bgp={"asn": "0"}), ("bgp.asn", ASN_0)),
    (
        build(peers=[{"asn": "23456"}]),
        (
            PEER.format("asn"),
            "AS number 23456 is AS_TRANS (RFC 6793) and cannot be used as a real AS",
        ),
    ),
    (
        build(bgp={"router_id": '"224.0.0.1"'}),
        (
            "bgp.router_id",
            "router_id 224.0.0.1 is multicast; peers reject it as a Bad BGP Identifier",
        ),
    ),
    (
        build(bgp={"router_id": '"::1"'}),
        (
            "bgp.router_id",
            "router_id must be an IPv4 address (a BGP identifier is 4 octets), got ::1",
        ),
    ),
    (
        build(bgp={"listen": '["224.0.0.1"]'}),
        ("bgp.listen[0]", "cannot listen on multicast address 224.0.0.1"),
    ),
    (
        build(metrics={"listen": '"127.0.0.1:0"'}),
        ("metrics.listen", "port 0 is out of range 1..65535"),
    ),
    (
        build(extra=RULE + 'cidr = "10.0.0.1/8"\n'),
        (
            "filter[0].import_v4[0].cidr",
            '"10.0.0.1/8" is not a CIDR without host bits (10.0.0.1/8 has host bits set)',
        ),
    ),
    (
        build(extra=RULE + 'cidr = "fd00::/8"\n'),
        ("filter[0].import_v4[0].cidr", "fd00::/8 is IPv6 in an IPv4 rule list"),
    ),
    # A rule between fields waits for the fields it reads.
    (
        build(bgp={"hold_time": "10", "keepalive_time": "70000"}),
        ("bgp.keepalive_time", "keepalive_time 70000 is out of range 1..65535"),
    ),
    (
        build(peers=[{"password": '""', "password_unavailable": '"gone"'}]),
        (PEER.format("password"), "password must not be empty (omit the key for no password)"),
    ),
    # An invalid [node] is not reported again by the rules that need it.
    (build(extra=BAD_NODE + '[[cluster_node]]\nname = "b"\n'), ("node.asn", ASN_0)),
    (build(peers=[{"rr_client": "true", "asn": "65001"}], extra=BAD_NODE), ("node.asn", ASN_0)),
    (
        build(
            extra=BAD_NODE
            + '[[dynamic_neighbors]]\nprefix = "10.9.0.0/16"\nasn = 65001\nrr_client = true\n'
        ),
        ("node.asn", ASN_0),
    ),
]


@pytest.mark.parametrize(("text", "problem"), ONCE)
def test_one_bad_value_is_one_problem(text: str, problem: tuple[str, str]) -> None:
    assert problems_of(text) == [problem]


def test_bad_values_in_distant_entries_are_all_reported() -> None:
    peers = [{"name": f'"p{i}"', "address": f'"127.0.0.{i + 2}"'} for i in range(5)]
    peers[0]["hold_time"] = "2"
    peers[4]["asn"] = "0"
    assert problems_of(build(peers=peers)) == [
        ('peer[0].hold_time (name "p0")', HOLD_2),
        ('peer[4].asn (name "p4")', ASN_0),
    ]


def test_a_value_of_the_wrong_type_does_not_hide_the_other_checks_of_its_table() -> None:
    # The loader cannot build the peer, but the class still checks what could be read.
    assert problems_of(build(peers=[{"port": '"x"', "multihop": "0"}])) == [
        (PEER.format("port"), 'expected an integer, got a string ("x")'),
        (PEER.format("multihop"), "multihop 0 is out of range 1..255 (an IP TTL)"),
    ]


def test_a_list_with_an_unreadable_element_still_checks_the_others() -> None:
    assert problems_of(build(bgp={"listen": '["224.0.0.1", 5]'})) == [
        ("bgp.listen[0]", "cannot listen on multicast address 224.0.0.1"),
        ("bgp.listen[1]", "expected an IP address string, got an integer"),
    ]
    labels = 'labels = { "a b" = "x", c = 1 }\n'
    node = '[node]\nname = "a"\nipv4 = "127.0.0.1"\n[[cluster_node]]\nname = "b"\n'
    assert [loc for loc, _ in problems_of(build(extra=node + labels))] == [
        'cluster_node[0].labels."a b"',
        "cluster_node[0].labels.c",
    ]


@pytest.mark.parametrize(
    "override",
    [
        {"hold_time": 2},
        {"asn": 0, "port": 0, "description": "two\nlines"},
        {"ttl_security": 1, "multihop": 2},
        {"hold_time": 30, "keepalive_time": 30},
        {"local_address": "::1", "next_hop_v6": "fe80::1"},
        {"password": "pw", "password_unavailable": "gone"},
        {"import_filters": ["a b", "ok"], "export_filters": ["x", "x"]},
        {"families": ["ipv4-unicast", "ipv4-unicast"]},
    ],
)
def test_a_peer_built_by_hand_reports_what_the_file_reports(override: dict[str, object]) -> None:
    raw: dict[str, object] = {"name": "p", "address": "127.0.0.2", "asn": 64512} | override
    typed = {key: loader_module.PEER_KEYS[key](value) for key, value in raw.items()}
    with pytest.raises(ConfigError) as by_hand:
        PeerConfig(**typed)
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in raw.items())
    text = '[bgp]\nasn = 64512\nrouter_id = "127.0.0.1"\n[[peer]]\n' + lines
    tomllib.loads(text)  # the JSON spelling of these values is valid TOML
    expected = [(peer_location(0, "p", p.location), p.message) for p in by_hand.value.problems]
    assert sorted(problems_of(text)) == sorted(expected)
    assert expected


def test_the_loader_applies_no_value_check_of_its_own() -> None:
    # Field checks live with the sections (bgpd.config.checks and the section modules).
    for module in (loader_module, toml_values_module):
        assert [name for name in vars(module) if name.startswith("check_")] == [], module

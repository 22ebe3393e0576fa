"""`[[filter]]` and `[[peer]].import_filters/export_filters`: loading, checks, render, diff."""

from __future__ import annotations

import ipaddress

import pytest

from bgpd.config import ConfigError, diff_configs, parse_config, render_config_toml
from bgpd.config.filter_section import FilterAction, FilterConfig, FilterRule, MatchOperator

BASE = """
[bgp]
asn = 65000
router_id = "10.0.0.1"
"""

FILTERS = """
[[filter]]
name = "edge"

[[filter.import_v4]]
action = "reject"
cidr = "10.0.0.0/8"
match_operator = "in"
prefix_length_min = 25

[[filter.export_v4]]
action = "accept"
interface = "eth*"
source = "remote_peers"

[[filter.export_v6]]
action = "reject"
cidr = "fd00::/8"
match_operator = "not_equal"

[[filter.export_v6]]
action = "accept"
peer_type = "ibgp"
community = "65000:1:2"
as_path_prefix = [65001, 65002]
priority = 512
[[filter.export_v6.operations]]
add_community = "65000:200"
[[filter.export_v6.operations]]
prepend_as_path = [65000, 65000]
[[filter.export_v6.operations]]
set_priority = 100

[[filter]]
name = "other"
"""

PEER = """
[[peer]]
name = "tor"
address = "192.0.2.1"
asn = 65100
import_filters = ["edge"]
export_filters = ["edge", "other"]
"""


def test_filters_load_and_resolve_on_the_peer() -> None:
    cfg = parse_config(BASE + FILTERS + PEER)
    edge, other = cfg.filters
    assert edge.name == "edge" and other == FilterConfig(name="other")
    assert edge.import_v4 == (
        FilterRule(
            action=FilterAction.REJECT,
            cidr=ipaddress.IPv4Network("10.0.0.0/8"),
            match_operator=MatchOperator.IN,
            prefix_length_min=25,
        ),
    )
    assert edge.export_v4[0].interface == "eth*"
    peer = cfg.peers[0]
    assert (peer.import_filters, peer.export_filters) == (("edge",), ("edge", "other"))
    settings = cfg.peer_settings("tor")
    assert settings.import_filters == (edge,)
    assert settings.export_filters == (edge, other)


def test_render_round_trip() -> None:
    cfg = parse_config(BASE + FILTERS + PEER)
    assert parse_config(render_config_toml(cfg, mask_secrets=False)) == cfg


def _rule(family: str, *lines: str) -> str:
    return f'[[filter]]\nname = "x"\n[[filter.import_{family}]]\n' + "\n".join(lines) + "\n"


PROBLEMS = [
    (
        PEER.replace('["edge"]', '["nope"]'),
        'peer[0].import_filters[0] (name "tor")',
        'no [[filter]] is named "nope"',
    ),
    (PEER.replace('["edge"]', '["edge", "edge"]'), 'peer[0].import_filters (name "tor")', "twice"),
    (PEER.replace('["edge"]', '["bad name"]'), 'peer[0].import_filters[0] (name "tor")', "only"),
    ('[[filter]]\nname = "edge"\n', "filter[2].name", "already used by filter[0]"),
    (
        _rule("v4", 'cidr = "10.0.0.0/8"', 'match_operator = "in"'),
        "filter[2].import_v4[0].action",
        "missing required key",
    ),
    (
        '[[filter]]\nname = "x"\n[[filter.import_v4]]\naction = "drop"\n',
        "filter[2].import_v4[0].action",
        '"drop" is not one of',
    ),
    (
        _rule("v4", 'action = "accept"', 'cidr = "10.0.0.1/8"', 'match_operator = "in"'),
        "filter[2].import_v4[0].cidr",
        "host bits",
    ),
    (
        _rule("v6", 'action = "accept"', 'cidr = "10.0.0.0/8"', 'match_operator = "in"'),
        "filter[2].import_v6[0].cidr",
        "IPv4 in an IPv6 rule list",
    ),
    (
        '[[filter]]\nname = "x"\n[[filter.import_v4]]\naction = "accept"\ncidr = "10.0.0.0/8"\n',
        "filter[2].import_v4[0].match_operator",
        "required with cidr",
    ),
    (
        '[[filter]]\nname = "x"\n[[filter.import_v4]]\naction = "accept"\nprefix_length_max = 9\n',
        "filter[2].import_v4[0].prefix_length_max",
        "need a cidr",
    ),
    (
        '[[filter]]\nname = "x"\n[[filter.import_v4]]\naction = "accept"\ninterface = "a b"\n',
        "filter[2].import_v4[0].interface",
        "1-15 characters",
    ),
    (
        '[[filter]]\nname = "x"\n[[filter.import_v4]]\naction = "accept"\ncolour = "red"\n',
        "filter[2].import_v4[0].colour",
        "unknown key",
    ),
    ('[[filter]]\nname = "x"\nexport_v5 = []\n', "filter[2].export_v5", "unknown key"),
    (
        _rule("v4", 'action = "accept"', 'peer_type = "eBGP"'),
        "filter[2].import_v4[0].peer_type",
        '"eBGP" is not one of "ebgp", "ibgp"',
    ),
    (
        _rule("v4", 'action = "accept"', 'community = "1:2:3:4"'),
        "filter[2].import_v4[0].community",
        "is neither a community",
    ),
    (
        _rule("v4", 'action = "accept"', 'community = "65536:1"'),
        "filter[2].import_v4[0].community",
        "0..65535",
    ),
    (
        _rule("v4", 'action = "accept"', "as_path_prefix = [1, 0]"),
        "filter[2].import_v4[0].as_path_prefix[1]",
        "out of range",
    ),
    (
        _rule("v4", 'action = "accept"', 'as_path_prefix = [1, "x"]'),
        "filter[2].import_v4[0].as_path_prefix",
        "element 1: expected an AS number",
    ),
    (
        _rule("v4", 'action = "accept"', "priority = 0"),
        "filter[2].import_v4[0].priority",
        "out of range 1..2147483646",
    ),
    (
        _rule("v4", 'action = "reject"', "operations = [{set_priority = 1}]"),
        "filter[2].import_v4[0].operations",
        "action accept only",
    ),
    (
        _rule("v4", 'action = "accept"', "operations = [{}]"),
        "filter[2].import_v4[0].operations[0]",
        "exactly one of",
    ),
    (
        _rule(
            "v4", 'action = "accept"', "operations = [{set_priority = 1, prepend_as_path = [1]}]"
        ),
        "filter[2].import_v4[0].operations[0]",
        "exactly one of",
    ),
    (
        _rule("v4", 'action = "accept"', "operations = [{paint = 1}]"),
        "filter[2].import_v4[0].operations[0].paint",
        "unknown key",
    ),
    (
        _rule(
            "v4",
            'action = "accept"',
            "operations = [{prepend_as_path = [1,2,3,4,5,6,7,8,9,10,11]}]",
        ),
        "filter[2].import_v4[0].operations[0].prepend_as_path",
        "at most 10",
    ),
    (
        _rule("v4", 'action = "accept"', "operations = [{set_priority = 2147483647}]"),
        "filter[2].import_v4[0].operations[0].set_priority",
        "out of range",
    ),
    (
        _rule(
            "v4",
            'action = "accept"',
            "operations = " + str([{"set_priority": 1}] * 11).replace("'", "").replace(":", " ="),
        ),
        "filter[2].import_v4[0].operations",
        "at most 10 operations",
    ),
    ("[[filter]]\n", "filter[2].name", "missing required key"),
    ('filter = "x"\n', "filter", "expected an array of tables"),
]


@pytest.mark.parametrize(("extra", "location", "fragment"), PROBLEMS)
def test_problems(extra: str, location: str, fragment: str) -> None:
    text = BASE + FILTERS + PEER + extra
    if extra.startswith("filter ="):
        text = extra + BASE + PEER.replace('["edge"]', "[]").replace('["edge", "other"]', "[]")
    if extra.startswith("\n[[peer]]"):
        text = BASE + FILTERS + extra
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert any(p.location == location and fragment in p.message for p in info.value.problems), (
        info.value.problems
    )


def test_reference_to_an_invalid_filter_is_not_reported_twice() -> None:
    broken = (
        BASE
        + '[[filter]]\nname = "edge"\n[[filter.import_v4]]\naction = "drop"\n'
        + PEER.replace('["edge", "other"]', "[]")
    )
    with pytest.raises(ConfigError) as info:
        parse_config(broken)
    assert [p.location for p in info.value.problems] == ["filter[0].import_v4[0].action"]


def test_filter_changes_are_policy_changes_for_the_peers_using_them() -> None:
    old = parse_config(
        BASE + FILTERS + PEER + '[[peer]]\nname = "plain"\naddress = "192.0.2.2"\nasn = 65200\n'
    )
    changed_rule = FILTERS.replace("prefix_length_min = 25", "prefix_length_min = 26")
    new = parse_config(
        BASE
        + changed_rule
        + PEER
        + '[[peer]]\nname = "plain"\naddress = "192.0.2.2"\nasn = 65200\n'
    )
    d = diff_configs(old, new)
    assert d.policy_changed == ("tor",)
    assert d.session_changed == ()
    renamed = parse_config(
        BASE + FILTERS + PEER.replace('export_filters = ["edge", "other"]', "export_filters = []")
    )
    d = diff_configs(parse_config(BASE + FILTERS + PEER), renamed)
    assert (d.policy_changed, d.session_changed) == (("tor",), ())

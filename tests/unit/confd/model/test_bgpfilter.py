"""BGPFilter resources -> bgpd [[filter]] rules (calico-bgp.md §2.8), and what they decide."""

from __future__ import annotations

import ipaddress
import json

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys, filter_json, read_bgp_filter
from bgpd.confd.model.values import Problems
from bgpd.config import parse_config
from bgpd.config.checks import Community, LargeCommunity
from bgpd.config.filter_section import (
    FilterAction,
    FilterConfig,
    FilterOperation,
    FilterRule,
    MatchOperator,
    PeerType,
    RouteSource,
)
from bgpd.policy.filter_eval import compile_filters
from tests.unit.confd.model.calico_data import bgp_filter


def _read(**spec: object) -> FilterConfig:
    key, raw = bgp_filter("f", **spec)
    problems = Problems()
    result = read_bgp_filter(key, "f", raw, problems)
    assert not problems.items, problems.items
    assert result is not None
    return result


def test_calico_doc_example_translates_rule_for_rule() -> None:
    # The example from template_funcs.go's BGPFilterBIRDFuncs documentation.
    f = _read(
        exportV4=[
            {"action": "Accept", "matchOperator": "In", "cidr": "77.0.0.0/16"},
            {"action": "Reject", "matchOperator": "In", "cidr": "77.1.0.0/16"},
        ],
        importV4=[
            {"action": "Accept", "matchOperator": "In", "cidr": "44.0.0.0/16"},
            {"action": "Reject", "matchOperator": "In", "cidr": "44.1.0.0/16"},
        ],
    )
    net = ipaddress.ip_network
    assert f.export_v4 == (
        FilterRule(
            action=FilterAction.ACCEPT, cidr=net("77.0.0.0/16"), match_operator=MatchOperator.IN
        ),
        FilterRule(
            action=FilterAction.REJECT, cidr=net("77.1.0.0/16"), match_operator=MatchOperator.IN
        ),
    )
    assert [str(r.cidr) for r in f.import_v4] == ["44.0.0.0/16", "44.1.0.0/16"]
    assert f.import_v6 == f.export_v6 == ()


def test_every_field_translates() -> None:
    f = _read(
        importV6=[
            {
                "action": "Reject",
                "matchOperator": "NotIn",
                "cidr": "fd00::/8",
                "prefixLength": {"min": 16, "max": 64},
                "source": "RemotePeers",
                "interface": "eth*",
            },
            {"action": "Accept", "matchOperator": "NotEqual", "cidr": "::/0"},
            {"action": "Reject", "matchOperator": "Equal", "cidr": "fd00:1::/64"},
            {"action": "Accept"},
        ]
    )
    first = f.import_v6[0]
    assert (first.action, first.match_operator, first.source, first.interface) == (
        FilterAction.REJECT,
        MatchOperator.NOT_IN,
        RouteSource.REMOTE_PEERS,
        "eth*",
    )
    assert (first.prefix_length_min, first.prefix_length_max, first.length_range) == (
        16,
        64,
        (16, 64),
    )
    assert [r.match_operator for r in f.import_v6[1:]] == [
        MatchOperator.NOT_EQUAL,
        MatchOperator.EQUAL,
        None,
    ]


def test_prefix_length_range_is_clamped_like_calico() -> None:
    # filterMatchPrefixLength: min below the cidr's length counts as the cidr's length.
    f = _read(
        importV4=[
            {
                "action": "Accept",
                "matchOperator": "In",
                "cidr": "10.0.0.0/16",
                "prefixLength": {"min": 8},
            }
        ]
    )
    assert f.import_v4[0].length_range == (16, 32)


BAD_RULES = [
    ({"action": "Drop"}, "spec.importV4[0].action: 'Drop' is not one of Accept, Reject"),
    ({"matchOperator": "In", "cidr": "10.0.0.0/8"}, "spec.importV4[0].action: missing"),
    ({"action": "Accept", "cidr": "10.0.0.0/8"}, "matchOperator"),
    ({"action": "Accept", "matchOperator": "In"}, "cidr is required"),
    (
        {"action": "Accept", "matchOperator": "Like", "cidr": "10.0.0.0/8"},
        "spec.importV4[0].matchOperator",
    ),
    ({"action": "Accept", "matchOperator": "In", "cidr": "10.0.0.1/8"}, "host bits"),
    ({"action": "Accept", "matchOperator": "In", "cidr": "fd00::/8"}, "not an IPv4 CIDR"),
    ({"action": "Accept", "source": "Kernel"}, "spec.importV4[0].source"),
    ({"action": "Accept", "interface": "a-very-long-interface-name"}, "interface"),
    (
        {
            "action": "Accept",
            "matchOperator": "Equal",
            "cidr": "10.0.0.0/8",
            "prefixLength": {"max": 24},
        },
        "only go with match_operator in or not_in",
    ),
    (
        {
            "action": "Accept",
            "matchOperator": "In",
            "cidr": "10.0.0.0/24",
            "prefixLength": {"max": 16},
        },
        "no prefix length is in 24..16",
    ),
    (
        {
            "action": "Accept",
            "matchOperator": "In",
            "cidr": "10.0.0.0/8",
            "prefixLength": {"min": 33},
        },
        "out of range",
    ),
    ({"action": "Accept", "peerType": "ebgp"}, "spec.importV4[0].peerType: 'ebgp' is not one of"),
    # Calico's template fails on an empty list and matches values[0] only: one value.
    (
        {"action": "Accept", "communities": {"values": []}},
        "spec.importV4[0].communities.values: exactly one community is matched, got 0",
    ),
    (
        {"action": "Accept", "communities": {"values": ["1:2", "3:4"]}},
        "exactly one community is matched, got 2",
    ),
    (
        {"action": "Accept", "communities": {"values": ["65536:1"]}},
        "spec.importV4[0].communities.values[0]: '65536:1' is not a community",
    ),
    ({"action": "Accept", "communities": {"values": ["1:2:3:4"]}}, "is not a community"),
    (
        {"action": "Accept", "asPathPrefix": [65001, 0]},
        "spec.importV4[0].asPathPrefix[1]: AS number 0 is out of range",
    ),
    ({"action": "Accept", "priority": 0}, "spec.importV4[0].priority: priority 0 is out of range"),
    ({"action": "Accept", "priority": 2147483647}, "out of range 1..2147483646"),
    ({"action": "Accept", "priority": "512"}, "spec.importV4[0].priority: expected an integer"),
    # bgpfilter.go: "operations may only be used with action Accept".
    (
        {"action": "Reject", "operations": [{"addCommunity": {"value": "1:2"}}]},
        "spec.importV4[0].operations: operations go with action accept only",
    ),
    (
        {"action": "Accept", "operations": [{}]},
        "spec.importV4[0].operations[0]: an operation sets exactly one of",
    ),
    (
        {
            "action": "Accept",
            "operations": [
                {"addCommunity": {"value": "1:2"}, "setPriority": {"value": 5}},
            ],
        },
        "exactly one of addCommunity, prependASPath, setPriority, got 2",
    ),
    (
        {"action": "Accept", "operations": [{"addCommunity": {}}]},
        "spec.importV4[0].operations[0].addCommunity.value: missing",
    ),
    (
        {"action": "Accept", "operations": [{"prependASPath": {"prefix": []}}]},
        "operations[0].prependASPath.prefix: at least one AS number",
    ),
    (
        {"action": "Accept", "operations": [{"prependASPath": {"prefix": list(range(1, 12))}}]},
        "spec.importV4[0].operations[0].prependASPath.prefix: at most 10 AS numbers",
    ),
    (
        {"action": "Accept", "operations": [{"setPriority": {"value": 0}}]},
        "spec.importV4[0].operations[0].setPriority.value: priority 0 is out of range",
    ),
    (
        {"action": "Accept", "operations": [{"setPriority": {"value": 5}}] * 11},
        "spec.importV4[0].operations: at most 10 operations",
    ),
]


@pytest.mark.parametrize(("rule", "fragment"), BAD_RULES)
def test_bad_rules_are_reported_with_key_and_rule(rule: dict[str, object], fragment: str) -> None:
    key, raw = bgp_filter("bad", importV4=[rule])
    with pytest.raises(CalicoDataError) as info:
        derive_bgp_keys({key: raw})
    assert any(p.location == key and fragment in p.message for p in info.value.problems), (
        info.value.problems
    )


def test_view_json_renders_into_a_config_that_behaves_like_bird() -> None:
    key, raw = bgp_filter(
        "edge",
        importV4=[
            {
                "action": "Reject",
                "matchOperator": "In",
                "cidr": "10.0.0.0/8",
                "prefixLength": {"min": 25},
            },
        ],
        exportV4=[
            {"action": "Accept", "interface": "eth0"},
            {"action": "Reject", "source": "RemotePeers"},
        ],
    )
    view = derive_bgp_keys({key: raw})
    filter_doc = json.loads(view["/calico/bgp/v1/filters/edge"])
    # What a template does with it: each key becomes a TOML key of [[filter]].
    lines = [
        "[bgp]",
        "asn = 65000",
        'router_id = "10.0.0.1"',
        "",
        "[[filter]]",
        f'name = "{filter_doc["name"]}"',
    ]
    for list_name in ("import_v4", "export_v4", "import_v6", "export_v6"):
        for rule in filter_doc[list_name]:
            lines.append(f"[[filter.{list_name}]]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in rule.items())
    lines += ["[[peer]]", 'name = "tor"', 'address = "192.0.2.1"', "asn = 65100"]
    lines += ['import_filters = ["edge"]', 'export_filters = ["edge"]']
    cfg = parse_config("\n".join(lines))
    settings = cfg.peer_settings("tor")
    imports = compile_filters(settings.import_filters, ["edge"], export=False, version=4)
    exports = compile_filters(settings.export_filters, ["edge"], export=True, version=4)
    net = ipaddress.ip_network
    assert imports.decide(net("10.1.2.0/25"), interface=None, from_remote_peer=True) is False
    assert imports.decide(net("10.1.2.0/24"), interface=None, from_remote_peer=True) is None
    assert exports.decide(net("192.168.0.0/24"), interface="eth0", from_remote_peer=False) is True
    assert exports.decide(net("192.168.0.0/24"), interface=None, from_remote_peer=True) is False
    assert exports.decide(net("192.168.0.0/24"), interface="cali1", from_remote_peer=False) is None


def test_conditions_and_operations_translate() -> None:
    f = _read(
        exportV6=[
            {
                "action": "Accept",
                "peerType": "iBGP",
                "communities": {"values": ["65000:10:20"]},
                "asPathPrefix": [65001, "1.10"],
                "priority": 512,
                "operations": [
                    {"prependASPath": {"prefix": [65000, 65001]}},
                    {"addCommunity": {"value": "65000:100"}},
                    {"setPriority": {"value": 1024}},
                ],
            },
            {"action": "Reject", "peerType": "eBGP", "operations": []},
        ]
    )
    first, second = f.export_v6
    assert first.peer_type is PeerType.IBGP and second.peer_type is PeerType.EBGP
    assert first.community == LargeCommunity(global_admin=65000, local1=10, local2=20)
    assert first.as_path_prefix == (65001, 65546)
    assert first.priority == 512
    assert first.operations == (
        FilterOperation(prepend_as_path=(65000, 65001)),
        FilterOperation(add_community=Community(high=65000, low=100)),
        FilterOperation(set_priority=1024),
    )
    # An empty operations list is no operation (Calico: `len(fields.operations) > 0`).
    assert second.operations == ()
    assert filter_json(f)["export_v6"] == [
        {
            "action": "accept",
            "peer_type": "ibgp",
            "community": "65000:10:20",
            "as_path_prefix": [65001, 65546],
            "priority": 512,
            "operations": [
                {"prepend_as_path": [65000, 65001]},
                {"add_community": "65000:100"},
                {"set_priority": 1024},
            ],
        },
        {"action": "reject", "peer_type": "ebgp"},
    ]

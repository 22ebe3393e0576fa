"""A BGPFilter bgpd cannot evaluate in full is refused whole, never widened.

Calico's rule `{action: Accept, communities: {values: ["65000:100"]}}` accepts only routes
carrying that community; bgpd cannot evaluate communities, so dropping the condition would
accept every route (a bare accept). The filter is refused instead: each rule list it has rules
in rejects everything, its empty lists stay empty (no filter, as in Calico).
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from bgpd.confd.model import derive_bgp_keys, read_bgp_filter
from bgpd.confd.model.values import Problems
from bgpd.config import parse_config
from bgpd.config.filter_section import FilterAction, FilterRule
from bgpd.policy.filter_eval import compile_filters
from tests.unit.confd.model.calico_data import bgp_filter

NET = ipaddress.ip_network
COMMUNITY_ACCEPT = {"action": "Accept", "communities": {"values": ["65000:100"]}}


def _decisions(view: dict[str, str], name: str) -> tuple[object, object]:
    """(export decision, import decision) of filter `name` for a route of this node."""
    doc = json.loads(view[f"/calico/bgp/v1/filters/{name}"])
    lines = ["[bgp]", "asn = 65000", 'router_id = "10.0.0.1"', "", "[[filter]]"]
    lines.append(f'name = "{name}"')
    for list_name in ("import_v4", "export_v4", "import_v6", "export_v6"):
        for rule in doc[list_name]:
            lines.append(f"[[filter.{list_name}]]")
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in rule.items())
    lines += ["[[peer]]", 'name = "tor"', 'address = "192.0.2.1"', "asn = 65100"]
    lines += [f'import_filters = ["{name}"]', f'export_filters = ["{name}"]']
    settings = parse_config("\n".join(lines)).peer_settings("tor")
    exports = compile_filters(settings.export_filters, [name], export=True, version=4)
    imports = compile_filters(settings.import_filters, [name], export=False, version=4)
    route = NET("10.244.0.0/26")
    return (
        exports.decide(route, interface=None, from_remote_peer=False),
        imports.decide(route, interface=None, from_remote_peer=True),
    )


def test_a_community_condition_is_never_rendered_as_a_bare_accept() -> None:
    key, raw = bgp_filter("tor", exportV4=[COMMUNITY_ACCEPT])
    export, import_ = _decisions(derive_bgp_keys({key: raw}), "tor")
    assert export is False  # rejected: nothing is exported through a refused filter
    assert import_ is None  # importV4 is empty: no filter, Calico's own rules decide


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "Accept", "peerType": "eBGP"},
        COMMUNITY_ACCEPT,
        {"action": "Accept", "asPathPrefix": [65001]},
        {"action": "Accept", "priority": 10},
        {"action": "Accept", "operations": [{"addCommunity": {"value": "65000:1"}}]},
        {"action": "Reject", "operations": [{"prependASPath": {"prefix": [65000]}}]},
        {"action": "Accept", "operations": [{"setPriority": {"value": 5}}]},
    ],
)
def test_every_unevaluable_condition_refuses_the_whole_filter(rule: dict[str, object]) -> None:
    plain = {"action": "Accept", "matchOperator": "In", "cidr": "10.0.0.0/8"}
    key, raw = bgp_filter("f", importV4=[plain], exportV4=[rule], exportV6=[])
    problems = Problems()
    refused = read_bgp_filter(key, "f", raw, problems)
    assert not problems.items
    assert refused is not None
    reject_all = (FilterRule(action=FilterAction.REJECT),)
    # The evaluable import rule is refused with the rest: the resource is refused whole.
    assert refused.export_v4 == refused.import_v4 == reject_all
    assert refused.export_v6 == refused.import_v6 == ()


def test_an_evaluable_filter_is_unchanged() -> None:
    key, raw = bgp_filter(
        "f", exportV4=[{"action": "Accept", "matchOperator": "In", "cidr": "10.244.0.0/16"}]
    )
    assert _decisions(derive_bgp_keys({key: raw}), "f") == (True, None)


def test_empty_refused_values_do_not_refuse() -> None:
    # An empty communities list, an empty operations list: no condition in Calico either.
    rule = {"action": "Accept", "communities": {"values": []}, "operations": []}
    key, raw = bgp_filter("f", exportV4=[rule])
    assert _decisions(derive_bgp_keys({key: raw}), "f") == (True, None)

"""A BGPFilter bgpd cannot evaluate in full is refused whole, never widened.

Every field of today's BGPFilter is evaluated (peerType, communities, asPathPrefix, priority and
the operations included), so none is refused. The machinery stays for a field Calico adds
later: a condition bgpd could not evaluate would, dropped, accept more routes than written. A
filter setting one is refused instead: each rule list it has rules in rejects everything, its
empty lists stay empty (no filter, as in Calico). Here a future condition is stood in for by a
REFUSED ledger entry added for the test.
"""

from __future__ import annotations

import pytest

from bgpd.confd.model import field_ledger, read_bgp_filter
from bgpd.confd.model.field_ledger import FieldEntry, FieldStatus, refused_fields
from bgpd.confd.model.values import Problems
from bgpd.config.filter_section import FilterAction, FilterConfig, FilterRule
from tests.unit.confd.model.calico_data import bgp_filter

FUTURE = "spec.exportV4[].futureCondition"
EVERY_FIELD = {
    "action": "Accept",
    "matchOperator": "In",
    "cidr": "10.0.0.0/8",
    "prefixLength": {"min": 16, "max": 24},
    "source": "RemotePeers",
    "interface": "eth*",
    "peerType": "eBGP",
    "communities": {"values": ["65000:100"]},
    "asPathPrefix": [65001],
    "priority": 512,
    "operations": [
        {"addCommunity": {"value": "65000:1:2"}},
        {"prependASPath": {"prefix": [65000]}},
        {"setPriority": {"value": 5}},
    ],
}


def _read(**spec: object) -> FilterConfig:
    key, raw = bgp_filter("f", **spec)
    problems = Problems()
    result = read_bgp_filter(key, "f", raw, problems)
    assert not problems.items, problems.items
    assert result is not None
    return result


@pytest.fixture
def future_field(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = FieldEntry(
        kind="BGPFilter",
        path=FUTURE,
        status=FieldStatus.REFUSED,
        note=field_ledger.FILTER_REFUSAL,
    )
    refused = dict(field_ledger._REFUSED)
    refused["BGPFilter"] = ((entry, tuple(FUTURE.split("."))),)
    monkeypatch.setattr(field_ledger, "_REFUSED", refused)


def test_no_field_of_todays_bgpfilter_is_refused() -> None:
    assert refused_fields("BGPFilter", "f", {"spec": {"exportV4": [EVERY_FIELD]}}) == ()
    f = _read(exportV4=[EVERY_FIELD], importV6=[{"action": "Reject"}])
    assert f.export_v4[0].community is not None and len(f.export_v4[0].operations) == 3


@pytest.mark.usefixtures("future_field")
def test_a_filter_with_an_unevaluable_condition_is_refused_whole() -> None:
    plain = {"action": "Accept", "matchOperator": "In", "cidr": "10.0.0.0/8"}
    rule = {"action": "Accept", "futureCondition": "x"}
    refused = _read(importV4=[plain], exportV4=[rule], exportV6=[])
    reject_all = (FilterRule(action=FilterAction.REJECT),)
    # The evaluable import rule is refused with the rest: the resource is refused whole.
    assert refused.export_v4 == refused.import_v4 == reject_all
    assert refused.export_v6 == refused.import_v6 == ()


@pytest.mark.usefixtures("future_field")
def test_a_filter_without_it_is_unchanged() -> None:
    f = _read(exportV4=[EVERY_FIELD])
    assert f.export_v4[0].action is FilterAction.ACCEPT and f.export_v4[0].as_path_prefix == (
        65001,
    )

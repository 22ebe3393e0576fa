"""The route view's AS_PATH: flat for scripts, segments kept so sets are not mistaken for hops."""

from __future__ import annotations

from bgpd.control.tables import render_routes
from bgpd.net import IPV4_UNICAST
from bgpd.rib import SourceKind
from bgpd.speaker.views import route_view
from tests.unit.rib.helpers import P1, attrs, cand, source


def test_an_as_set_stays_a_segment_in_json_and_a_set_in_bgpctl() -> None:
    peer = source("Global_10_0_0_1", SourceKind.EBGP, asn=64512)
    aggregated = cand(peer, attrs(path=(64512,), as_set=(64513, 64514)))
    view = route_view(IPV4_UNICAST, P1, aggregated, best=True)
    assert view.to_json()["as_path"] == [64512, 64513, 64514]
    assert view.to_json()["as_path_segments"] == [
        {"type": "AS_SEQUENCE", "asns": [64512]},
        {"type": "AS_SET", "asns": [64513, 64514]},
    ]
    assert render_routes([view]).split("\n")[1].endswith(" Global_10_0_0_1  64512 {64513 64514}")


def test_a_local_route_has_no_segments() -> None:
    view = route_view(IPV4_UNICAST, P1, cand(source("static", SourceKind.STATIC)), best=True)
    assert view.to_json()["as_path"] == [] and view.to_json()["as_path_segments"] == []

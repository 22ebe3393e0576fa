"""The rows of a streamed `show routes` answer are the very JSON of their views: the encoder
that reuses the text of paths met before (`bgpd.speaker.route_json`) writes what
`json.dumps(route_view(...).to_json())` writes, for every kind of path, and never mixes up two
paths whose attributes, source, path id, staleness or rank differ."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Afi, format_prefix, pack_prefix
from bgpd.rib import Candidate, SourceKind
from bgpd.speaker import route_json
from bgpd.speaker.route_answers import Row
from bgpd.speaker.route_json import RouteRowEncoder
from bgpd.speaker.views import route_view
from tests.unit.rib.helpers import attrs, cand, source


def plain(row: Row) -> str:
    family, nlri, candidate, best = row
    view = route_view(family, nlri, candidate, best=best)
    return json.dumps(view.to_json(), separators=(",", ":"))


def rows() -> list[Row]:
    p1, p2 = source("p1", SourceKind.EBGP), source("p2", SourceKind.IBGP, address="10.0.0.2")
    shared = cand(p1, attrs(path=(65001, 65002), as_set=(7, 8), med=5))
    reflected = cand(p2, attrs(originator_id="1.2.3.4", cluster_list=("5.6.7.8",)))
    stale = replace(shared, stale=True)
    with_id = replace(shared, path_id=7)
    local = cand(source("static", SourceKind.STATIC), attrs())
    out: list[Row] = []
    for i in range(40):
        nlri = pack_prefix(f"10.{i}.0.0/16")
        out.append((IPV4_UNICAST, nlri, shared, True))
        out.append((IPV4_UNICAST, nlri, (reflected, stale, with_id, local)[i % 4], i % 3 == 0))
    out.append((IPV6_UNICAST, pack_prefix("2001:db8::/32"), shared, True))
    out.append((IPV6_UNICAST, pack_prefix("::/0"), stale, False))
    return out


@pytest.mark.parametrize("kept", [1, 3, 4_096])
def test_each_row_is_the_json_of_its_view(monkeypatch: pytest.MonkeyPatch, kept: int) -> None:
    monkeypatch.setattr(route_json, "TEXTS_KEPT", kept)  # forgetting changes nothing either
    encode = RouteRowEncoder()
    for row in rows():
        assert encode(row) == plain(row)


def test_a_new_attribute_set_at_a_reused_id_is_not_mistaken_for_the_old() -> None:
    encode = RouteRowEncoder()
    p1 = source("p1", SourceKind.EBGP)
    nlri = pack_prefix("10.0.0.0/8")
    first = Candidate(source=p1, info=cand(p1, attrs(med=1)).info)
    assert '"med":1' in encode((IPV4_UNICAST, nlri, first, True))
    second = Candidate(source=p1, info=cand(p1, attrs(med=2)).info)
    assert encode((IPV4_UNICAST, nlri, second, True)) == plain((IPV4_UNICAST, nlri, second, True))


def test_ipv4_prefixes_are_formatted_as_ipaddress_formats_them() -> None:
    for length in range(33):
        for address in ("0.0.0.0", "10.1.2.3", "255.255.255.255", "192.168.128.1"):
            network = ipaddress.ip_network(f"{address}/{length}", strict=False)
            assert format_prefix(pack_prefix(str(network)), Afi.IPV4) == str(network)

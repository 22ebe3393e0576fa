"""The peer's input problems as metrics: RFC 7606 actions per action, next hops refused per
reason, scraped through the explicit registry from a speaker fed crafted UPDATEs."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from bgpd.control.tables import render_peer
from bgpd.metrics import SnapshotSource, new_registry, render
from bgpd.policy.next_hop import REASONS
from bgpd.views import PeerView
from tests.unit.speaker.raw_peer import Bench
from tests.unit.speaker.test_next_hop_sanity import CONFIG, v4_update
from tests.unit.wire.helpers import AS_PATH_65001, NLRI_10_0_0_0_24, ORIGIN_IGP, update_body

BASE = ORIGIN_IGP + AS_PATH_65001 + "40 03 04 0a000002"  # next hop: the peer


def samples(bench: Bench, name: str) -> dict[tuple[str, str], float]:
    source = SnapshotSource(bench.speaker, clock=lambda: bench.now, wall=lambda: 0.0)
    text = render(new_registry(source.snapshot, process=False))[0].decode()
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                label = s.labels.get("action") or s.labels.get("reason") or ""
                out[(s.labels["peer"], label)] = s.value
    return out


def test_actions_and_refusals_are_exported_per_peer() -> None:
    bench = Bench(CONFIG)
    x = bench.peer("x", 65002, "10.0.0.2", "10.0.0.1")
    bench.peer("c", 64512, "10.0.0.3", "10.0.0.1")
    x.send_update(update_body("", BASE + "c0 08 05 0000000100", NLRI_10_0_0_0_24))  # TAW
    x.send_update(update_body("", BASE + "40 06 01 00", NLRI_10_0_0_0_24))  # discard
    x.send_update(update_body("", BASE + "40 06 01 00", NLRI_10_0_0_0_24))
    x.send_update(v4_update("127.0.0.1"))
    x.send_update(v4_update("10.0.0.1", "10.21.0.0/16"))
    actions = samples(bench, "bgpd_peer_rfc7606_actions_total")
    assert actions[("x", "treat-as-withdraw")] == 1
    assert actions[("x", "attribute-discard")] == 2
    assert actions[("x", "afi-safi-disable")] == 0
    assert actions[("c", "treat-as-withdraw")] == 0  # every action has a series from the start
    refused = samples(bench, "bgpd_peer_next_hop_refused_prefixes_total")
    assert refused[("x", "loopback")] == 1
    assert refused[("x", "own_address")] == 1
    assert refused[("x", "multicast")] == 0
    assert {r for (p, r) in refused if p == "c"} == set(REASONS)

    view = bench.speaker.peer_view("x", bench.now)
    assert view is not None
    text = render_peer(
        PeerView.from_json(json.loads(json.dumps(view.to_json())))
    )  # `bgpctl show peer x`, over the socket
    assert "rfc7606_actions:" in text and "attribute-discard: 2" in text
    assert "next_hop_refused:" in text and "own_address:" in text
    assert "last_input_problem:" in text and "next hop 10.0.0.1 refused" in text

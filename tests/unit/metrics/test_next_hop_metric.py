"""`bgpd_peer_family_without_next_hop`: a negotiated family we cannot give a next hop for."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bgpd.metrics import SnapshotSource, new_registry, render
from tests.unit.speaker.harness import Net, config


def gauge(extra_peer: str) -> dict[str, float]:
    net = Net()
    net.add(
        "a", "127.0.0.1", config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], "", extra_peer)
    )
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    source = SnapshotSource(net.nodes["a"].speaker, clock=lambda: net.now, wall=lambda: 0.0)
    text = render(new_registry(source.snapshot, process=False))[0].decode()
    return {
        s.labels["afi"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "bgpd_peer_family_without_next_hop" and s.labels["peer"] == "to_b"
    }


def test_ipv6_over_ipv4_without_an_address_is_1_and_next_hop_v6_clears_it() -> None:
    assert gauge("") == {"ipv4": 0.0, "ipv6": 1.0}
    assert gauge('next_hop_v6 = "fd00::1"') == {"ipv4": 0.0, "ipv6": 0.0}

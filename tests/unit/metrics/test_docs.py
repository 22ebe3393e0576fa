"""docs/metrics.md and the example alert rules stay true to what bgpd exports."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bgpd.metrics import ConfdStatus, ReloadStats, SnapshotSource, new_registry, render
from tests.unit.speaker.harness import Net, config

from .test_exposition import FakeKernelStats

DOCS = Path(__file__).resolve().parents[3] / "docs"


def exported_names() -> set[str]:
    """Every sample name of a scrape with every optional input present."""
    net = Net()
    with_bfd = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], extra_peer="bfd = true")
    net.add("a", "127.0.0.1", with_bfd)
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    source = SnapshotSource(
        net.nodes["a"].speaker,
        clock=lambda: net.now,
        wall=lambda: 0.0,
        kernel=FakeKernelStats,
        confd=lambda: ConfdStatus(
            etcd_connected=True,
            datastores=(("etcd", True),),
            unsupported_fields=(("BGPPeer", "spec.keepaliveTime", 1),),
        ),
        reloads=ReloadStats(0.0),
        bfd_drops=lambda: {"ttl": 1},
    )
    text = render(new_registry(source.snapshot, process=False))[0].decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_exported_metric_is_documented() -> None:
    documented = set(re.findall(r"`(bgpd_[a-z0-9_]+)`", (DOCS / "metrics.md").read_text()))
    names = exported_names()
    # Histogram samples are documented under the family name.
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
    assert families - documented == set()
    assert documented - families == set(), "documented but not exported"


def test_the_alert_rules_only_use_exported_metrics() -> None:
    rules = (DOCS / "alerts" / "bgpd-rules.yml").read_text()
    used = set(re.findall(r"\b(bgpd_[a-z0-9_]+)", rules))
    assert used, "the rules reference bgpd metrics"
    assert used - exported_names() == set()

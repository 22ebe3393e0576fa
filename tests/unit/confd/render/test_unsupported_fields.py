"""Refused Calico fields are said out loud: one warning per (resource, field) change, the
`bgpd_confd_unsupported_fields` gauge, and a line each in `bgpd confd --onetime` output.

Every BGPPeer field of the shipped CRDs is honoured now, so the machinery is exercised with two
fields marked REFUSED for these tests only (`refusing`): what is said, and when, does not
depend on which fields the ledger refuses today."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import (
    InProcessWatcher,
    LocalNode,
    build_watcher,
    derive_view,
    parse_args,
    report_refusals,
    run_confd,
)
from bgpd.confd.model import field_ledger, new_derive_cache
from bgpd.confd.model.field_ledger import FieldEntry, FieldStatus
from bgpd.confd.model.refusals import RefusalTracker
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import parse_config
from bgpd.metrics import ConfdStatus, ReloadStats, SnapshotSource, new_registry, render
from tests.unit.speaker.harness import Net, config

from .calico_v3 import affinity, bgp_filter, bgp_peer, ip_pool, node

KEEPALIVE = "spec.keepaliveTime"
KEEPALIVE_WHY = "not applied: the session keeps bgpd's default keepalive (a third of the hold time)"
LOCAL_AS_WHY = "no per-peer local AS: the session uses the node's AS"


@pytest.fixture(autouse=True)
def refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger as if it refused BGPPeer keepaliveTime and localASNumber."""
    entries = tuple(
        FieldEntry(kind="BGPPeer", path=path, status=FieldStatus.REFUSED, note=why)
        for path, why in ((KEEPALIVE, KEEPALIVE_WHY), ("spec.localASNumber", LOCAL_AS_WHY))
    )
    refused = field_ledger.refused_by_kind(entries)
    monkeypatch.setattr(field_ledger, "_REFUSED", refused)
    monkeypatch.setattr(field_ledger, "_MARKERS", field_ledger.refusal_markers(refused))


def cluster(**peer: object) -> dict[str, str]:
    values: dict[str, str] = {}
    values.update(node("a", "10.0.0.1/24"))
    values.update(ip_pool("pool", "10.244.0.0/16"))
    values.update(affinity("a", "10.244.1.0/26"))
    spec = {"peerIP": "10.0.0.254", "asNumber": 65000, "keepaliveTime": "10s", "filters": ["f"]}
    values.update(bgp_peer("tor", **{**spec, **peer}))
    # Every BGPFilter field is evaluated: this one is not refused (nothing said about it).
    rule = {"action": "Accept", "communities": {"values": ["65000:100"]}}
    values.update(bgp_filter("f", exportV4=[rule]))
    return values


def warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if "confd.unsupported_field" in r.msg]
    caplog.clear()
    return lines


def test_each_refused_field_is_warned_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    cache, tracker = new_derive_cache(), RefusalTracker()

    def derive(values: dict[str, str]) -> None:
        derive_view(values, None, cache)
        report_refusals(tracker, cache)

    with caplog.at_level(logging.WARNING):
        derive(cluster())
        assert warned(caplog) == [
            "confd.unsupported_field kind=BGPPeer name=tor field=spec.keepaliveTime reason=not "
            "applied: the session keeps bgpd's default keepalive (a third of the hold time)",
        ]
        derive(cluster())  # the same snapshot, rendered again: nothing new to say
        derive(cluster(asNumber=65001))  # the peer changed, but not its refused field
        assert warned(caplog) == []
        derive(cluster(localASNumber=65100))  # a second refused field: only it is new
        assert [line.split(" reason=")[0] for line in warned(caplog)] == [
            "confd.unsupported_field kind=BGPPeer name=tor field=spec.localASNumber"
        ]
        assert tracker.counts() == (
            ("BGPPeer", KEEPALIVE, 1),
            ("BGPPeer", "spec.localASNumber", 1),
        )
        derive(cluster(keepaliveTime=None))  # fixed: nothing to warn, the gauge reads 0
        assert warned(caplog) == []
        assert ("BGPPeer", KEEPALIVE, 0) in tracker.counts()
        derive(cluster())  # set again: said again
        assert [line.split(" reason=")[0] for line in warned(caplog)] == [
            f"confd.unsupported_field kind=BGPPeer name=tor field={KEEPALIVE}"
        ]


def test_a_peer_with_a_refused_field_still_peers() -> None:
    # A refused field is reported; the peering itself is still rendered.
    resources = load_resources(DEFAULT_CONFDIR, "a")
    renderer = Renderer(DEFAULT_CONFDIR, resources, TemplateContext(nodename="a"))
    view = derive_view(cluster(), LocalNode(nodename="a"))
    rendered = parse_config(renderer.render_text(resources[0], view))
    (tor,) = [p for p in rendered.all_peers if str(p.address) == "10.0.0.254"]
    assert tor.asn == 65000
    assert tor.export_filters == ("f",)


def _kv_file(tmp_path: Path) -> Path:
    path = tmp_path / "calico.yaml"
    path.write_text(yaml.safe_dump({k: json.loads(v) for k, v in cluster().items()}))
    return path


def test_onetime_prints_a_line_per_resource_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--backend", "file", "--file", str(_kv_file(tmp_path)), "--onetime"]
    args = parse_args([*argv, "--dest-root", str(tmp_path / "root"), "--var", "kernel=false"])
    code = asyncio.run(run_confd(args, {"NODENAME": "a"}))
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out  # refusing a field does not fail the render
    assert [line for line in out if line.startswith("unsupported field:")] == [
        f"unsupported field: BGPPeer tor {KEEPALIVE}: not applied: the session keeps bgpd's "
        "default keepalive (a third of the hold time)",
    ]


def test_the_gauge_counts_the_resources_setting_each_field(tmp_path: Path) -> None:
    args = parse_args(["--backend", "file", "--file", str(_kv_file(tmp_path)), "--onetime"])
    setup = build_watcher(args, {"NODENAME": "a"}, dest_root=tmp_path / "root")
    asyncio.run(setup.watcher.run_once())
    companion = InProcessWatcher(setup)
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", []))
    source = SnapshotSource(
        net.nodes["a"].speaker,
        clock=lambda: net.now,
        wall=lambda: 0.0,
        confd=lambda: ConfdStatus(unsupported_fields=companion.unsupported_fields()),
        reloads=ReloadStats(0.0),
    )
    text = render(new_registry(source.snapshot, process=False))[0].decode()
    samples = {
        (s.labels["kind"], s.labels["field"]): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "bgpd_confd_unsupported_fields"
        for s in f.samples
    }
    assert samples == {("BGPPeer", KEEPALIVE): 1.0}

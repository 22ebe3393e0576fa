"""The ledger classifies every field of the CRDs the project ships, and nothing else.

A field added to deploy/crds (or to Calico's Node BGP spec) fails here until it is classified
in bgpd/confd/model/field_ledger.py; docs/calico-fields.md is the ledger's table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.confd.model import field_ledger
from bgpd.confd.model.field_ledger import (
    LEDGER,
    FieldEntry,
    FieldStatus,
    entries_of,
    ledger_table,
    may_refuse,
    refused_fields,
)

REPO = Path(__file__).resolve().parents[4]
CRDS = REPO / "deploy" / "crds"
# The Node is not a CRD (core Nodes with Calico's annotations on the Kubernetes datastore, a v3
# resource in etcd): its BGP part and its WireGuard addresses, as libcalico-go/lib/apis/
# internalapi/node.go NodeBGPSpec and NodeWireguardSpec define them in Calico's main branch
# (bgpnodeprocessor.go reads both).
NODE_BGP_FIELDS = (
    "spec.bgp.asNumber",
    "spec.bgp.ipv4Address",
    "spec.bgp.ipv6Address",
    "spec.bgp.ipv4IPIPTunnelAddr",
    "spec.bgp.routeReflectorClusterID",
    "spec.wireguard.interfaceIPv4Address",
    "spec.wireguard.interfaceIPv6Address",
)


def _leaves(schema: Mapping[str, Any], prefix: str) -> Iterator[str]:
    """Every leaf path of an OpenAPI schema: `[]` for array items, objects by their fields."""
    props = schema.get("properties")
    items = schema.get("items")
    if props:
        for name, sub in props.items():
            yield from _leaves(sub, f"{prefix}.{name}" if prefix else name)
    elif isinstance(items, Mapping) and items.get("properties"):
        yield from _leaves(items, prefix + "[]")
    else:
        yield prefix


def crd_fields() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        kind = doc["spec"]["names"]["kind"]
        for version in doc["spec"]["versions"]:
            top = version["schema"]["openAPIV3Schema"]["properties"]
            for section in ("spec", "status"):
                if section in top:
                    out.setdefault(kind, set()).update(_leaves(top[section], section))
    out["Node"] = set(NODE_BGP_FIELDS)
    return out


def test_every_crd_field_is_classified_and_every_entry_is_a_crd_field() -> None:
    fields = crd_fields()
    assert set(fields) == {"BGPConfiguration", "BGPPeer", "BGPFilter", "IPPool", "Node",
                           "BlockAffinity", "IPAMBlock"}  # fmt: skip
    ledger = {(e.kind, e.path) for e in LEDGER}
    shipped = {(kind, path) for kind, paths in fields.items() for path in paths}
    assert sorted(shipped - ledger) == [], "fields no ledger entry classifies"
    assert sorted(ledger - shipped) == [], "ledger entries no CRD has"
    assert len(ledger) == len(LEDGER), "a field classified twice"


def test_honoured_fields_name_a_test_module_that_exists() -> None:
    for e in LEDGER:
        if e.status is FieldStatus.HONOURED:
            assert e.note.startswith("tests/") and (REPO / e.note).is_file(), e
        else:
            assert e.note and not e.note.startswith("tests/"), e
        if e.status is not FieldStatus.REFUSED:
            assert e.honoured == (), e


def test_the_docs_table_is_the_ledger() -> None:
    doc = (REPO / "docs" / "calico-fields.md").read_text()
    # To regenerate: print(bgpd.confd.model.field_ledger.ledger_table()) into the page.
    assert ledger_table() in doc


def _set(path: str, value: object) -> dict[str, Any]:
    """A resource whose only field is `path` = value (an array step holds one element)."""
    steps = path.split(".")
    node: object = value
    for step in reversed(steps):
        node = {step[:-2]: [node]} if step.endswith("[]") else {step: node}
    assert isinstance(node, dict)
    return node


def _refused_value(honoured: tuple[object, ...]) -> object:
    for value in (7, "Manual", True, ["x"]):
        if value not in honoured:
            return value
    raise AssertionError(honoured)


# Every field of today's CRDs is honoured or not BGP; the detection is also proven on fields
# marked REFUSED for the test only, so it stays tested whatever the ledger refuses.
SYNTHETIC = (
    FieldEntry(kind="BGPPeer", path="spec.keepaliveTime", status=FieldStatus.REFUSED, note="a"),
    FieldEntry(
        kind="BGPFilter",
        path="spec.exportV4[].communities.values",
        status=FieldStatus.REFUSED,
        note="b",
    ),
    FieldEntry(
        kind="BGPPeer",
        path="spec.reversePeering",
        status=FieldStatus.REFUSED,
        note="c",
        honoured=("Auto",),
    ),
)


@pytest.mark.parametrize(
    "entry",
    [*(e for e in LEDGER if e.status is FieldStatus.REFUSED), *SYNTHETIC],
    ids=lambda e: f"{e.kind}:{e.path}",
)
def test_each_refused_field_is_detected_only_when_set(
    entry: FieldEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = field_ledger.refused_by_kind((entry,))
    monkeypatch.setattr(field_ledger, "_REFUSED", refused)
    monkeypatch.setattr(field_ledger, "_MARKERS", field_ledger.refusal_markers(refused))
    resource = _set(entry.path, _refused_value(entry.honoured))
    assert may_refuse(entry.kind, json.dumps(resource))
    found = refused_fields(entry.kind, "r1", resource)
    assert [(r.kind, r.name, r.field, r.reason) for r in found] == [
        (entry.kind, "r1", entry.path, entry.note)
    ]
    for unset in (None, "", [], {}, *entry.honoured):
        assert refused_fields(entry.kind, "r1", _set(entry.path, unset)) == (), unset


def test_detection_survives_any_json_shape() -> None:
    for resource in (None, 3, "x", [], {"spec": []}, {"spec": {"exportV4": {"priority": 1}}},
                     {"spec": {"exportV4": [None, 3, {"priority": None}]}}):  # fmt: skip
        assert refused_fields("BGPFilter", "f", resource) == ()
    assert refused_fields("Unknown", "x", {"spec": {"keepaliveTime": "1s"}}) == ()


def test_kinds_without_refused_fields_are_never_decoded_twice() -> None:
    assert entries_of("Node") and not may_refuse("Node", '{"spec": {"bgp": {}}}')

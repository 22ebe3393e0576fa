"""docs/performance.md's result tables are the benchmark JSON's, not typed by hand.

Each `<!-- table: NAME -->` block must be exactly what `bench/perf_tables.py` makes from the
committed JSON file behind it; a re-run that changes the JSON without `--write`, or a table
edited by hand, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import perf_tables

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"


def test_every_generated_table_agrees_with_its_json() -> None:
    assert perf_tables.problems(DOC.read_text()) == []


def test_the_doc_has_the_issue_tables() -> None:
    text = DOC.read_text()
    for name in ("forward", "forward-dense", "reflect-bird", "calico"):
        assert f"<!-- table: {name} -->" in text


def test_a_table_edited_by_hand_or_a_changed_result_is_caught(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    source = json.loads((perf_tables.RESULTS / "forward_bench.json").read_text())
    (results / "forward_bench.json").write_text(json.dumps(source))
    table = perf_tables.generated("forward", results)
    doc = f"<!-- table: forward -->\n{table}<!-- end: forward -->\n"
    assert perf_tables.problems(doc, results) == []
    assert perf_tables.problems(doc.replace("bgpd", "bgpd*", 1), results) != []
    size = next(iter(source["median"]))
    source["median"][size]["bgpd"]["seconds"] += 1
    (results / "forward_bench.json").write_text(json.dumps(source))
    assert perf_tables.problems(doc, results) != []
    assert perf_tables.problems(perf_tables.rewrite(doc, results), results) == []


def test_a_block_without_its_json_is_reported(tmp_path: Path) -> None:
    doc = "<!-- table: scale -->\nx\n<!-- end: scale -->\n"
    (problem,) = perf_tables.problems(doc, tmp_path)
    assert "scale_bench.json is missing" in problem

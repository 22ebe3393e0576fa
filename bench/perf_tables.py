"""The result tables of docs/performance.md, made from the benchmark JSON in bench/results/.

Role: one home for turning a benchmark's saved results into the Markdown the doc shows, so a
table is never typed by hand and a re-run changes the doc by one command. In the doc each
generated table sits between two comments naming it:

    <!-- table: NAME -->
    ...
    <!-- end: NAME -->

``--write`` replaces every such block with what NAME's generator makes from its JSON file;
``--check`` (what tests/unit/test_performance_tables.py runs) lists the blocks that differ, and
the JSON files that are missing. The JSON files behind the doc are committed with it.

Run: ``.venv/bin/python bench/perf_tables.py [--write | --check] [--doc FILE]``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import plot_calico, plot_reflect, plot_scale

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "performance.md"
DUT_NAMES = {"bgpd": "bgpd", "bird2": "BIRD 2", "gobgp": "GoBGP", "frr": "FRR"}

Json = dict[str, Any]


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def _machine(data: Json, runs: int) -> str:
    """The caption: how many runs, and how loaded the machine was when they ended."""
    load = data.get("machine", {}).get("load_average")
    where = (
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) as the "
        "run ended"
        if load
        else "load not recorded"
    )
    return f"_{runs} run{'s' if runs != 1 else ''} per point; {where}._"


def forward(data: Json) -> str:
    """bench/forward_bench.py's results: every size, every DUT, medians and each run."""
    runs: dict[str, dict[str, list[Json]]] = data["runs"]
    med: dict[str, dict[str, Json]] = data["median"]
    lines = [
        "| prefixes | DUT | all prefixes, s (median; runs) | 99 %, s | DUT CPU, s "
        "| prefixes per UPDATE in | bytes/route held | peak RSS | vs BIRD 2 | vs GoBGP |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    most = 0
    for size in sorted(runs, key=int):
        for dut in (d for d in DUT_NAMES if d in runs[size]):
            reps, m = runs[size][dut], med[size][dut]
            most = max(most, len(reps))
            each = ", ".join(f"{r['seconds']:.3f}" for r in reps)
            lines.append(
                f"| {int(size):,} | {DUT_NAMES[dut]} | {m['seconds']:.3f} ({each}) "
                f"| {m['seconds_99']:.3f} | {m['dut_cpu_seconds']:.2f} "
                f"| {m['sender_prefixes_per_update']:.2f} | {m['bytes_per_route']:,.0f} "
                f"| {_mib(m['peak_rss_kib'])} | {_num(m.get('vs_bird2'))} "
                f"| {_num(m.get('vs_gobgp'))} |"
            )
    caption = (
        f"_`--packing {data.get('packing', 'bird')}`, {data.get('per_set', '?')} prefixes per "
        f"attribute set._ " + _machine(data, most)
    )
    return caption + "\n\n" + "\n".join(lines) + "\n"


def reflect_bird(data: Json) -> str:
    """bench/reflect_bench.py --clients bird: each run's times, per reflector."""
    lines = [
        "| C x P | reflector | last session up (clients' view), s | gap to last client done, s "
        "| all routes, s | reflector CPU, s | clients' CPU, s | peak RSS |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    most = 0
    for mode, per_mode in data["modes"].items():
        for point, per_dut in per_mode["runs"].items():
            for dut in (d for d in DUT_NAMES if d in per_dut):
                reps = per_dut[dut]
                most = max(most, len(reps))

                def each(key: str, reps: list[Json] = reps) -> str:
                    return ", ".join(_num(r.get(key)) for r in reps)

                peak = statistics.median(r["peak_rss_kib"] for r in reps)
                lines.append(
                    f"| {point.replace('x', ' x ')} ({mode}) | {DUT_NAMES[dut]} "
                    f"| {each('last_session_up_clients')} "
                    f"| {each('gap_after_last_session_clients')} | {each('seconds')} "
                    f"| {each('reflector_cpu_seconds')} | {each('clients_cpu_seconds')} "
                    f"| {_mib(peak)} |"
                )
    return _machine(data, most) + "\n\n" + "\n".join(lines) + "\n"


def _reflect(mode: str) -> Callable[[Json], str]:
    def make(data: Json) -> str:
        points = data["modes"][mode]["runs"].values()
        most = max(len(reps) for per_dut in points for reps in per_dut.values())
        return _machine(data, most) + "\n\n" + plot_reflect.table(data, mode)

    return make


def _with_caption(make: Callable[[Json], str], runs_key: str) -> Callable[[Json], str]:
    def made(data: Json) -> str:
        runs = data.get(runs_key)
        count = runs if isinstance(runs, int) else 1
        return _machine(data, count) + "\n\n" + make(data)

    return made


def _calico(data: Json) -> str:
    load = statistics.median(r["load_average"][0] for r in data["runs"])
    caption = (
        f"_{data['nodes']:,} nodes, {data['nodes'] * 24:,} prefixes, two reflectors; load "
        f"average {load:.1f} (1 min, median of the runs)._"
    )
    return caption + "\n\n" + plot_calico.table(data) + "\n"


# NAME -> (its JSON file in bench/results, its generator)
TABLES: dict[str, tuple[str, Callable[[Json], str]]] = {
    "forward": ("forward_bench.json", forward),
    "forward-dense": ("forward_bench_dense.json", forward),
    "reflect-bird": ("reflect_bird.json", reflect_bird),
    "reflect-cold": ("reflect_bench.json", _reflect("cold")),
    "reflect-warm": ("reflect_bench.json", _reflect("warm")),
    "scale": ("scale_bench.json", _with_caption(plot_scale.table, "repeat")),
    "calico": ("calico_ingest.json", _calico),
}

_BLOCK = re.compile(
    r"(?P<open><!-- table: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- end: (?P=name) -->)",
    re.DOTALL,
)


def generated(name: str, results: Path = RESULTS) -> str:
    file, make = TABLES[name]
    return make(json.loads((results / file).read_text()))


def problems(doc: str, results: Path = RESULTS) -> list[str]:
    """What differs between the doc's generated blocks and their JSON (empty: all agree)."""
    out: list[str] = []
    for block in _BLOCK.finditer(doc):
        name = block["name"]
        if name not in TABLES:
            out.append(f"{name}: no such table (known: {', '.join(TABLES)})")
            continue
        if not (results / TABLES[name][0]).exists():
            out.append(f"{name}: {TABLES[name][0]} is missing from {results}")
            continue
        if block["body"] != generated(name, results):
            out.append(f"{name}: differs from {TABLES[name][0]} (run bench/perf_tables.py --write)")
    return out


def rewrite(doc: str, results: Path = RESULTS) -> str:
    def fill(block: re.Match[str]) -> str:
        name = block["name"]
        if name not in TABLES or not (results / TABLES[name][0]).exists():
            return block[0]
        return block["open"] + generated(name, results) + block["close"]

    return _BLOCK.sub(fill, doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the doc's tables")
    action.add_argument("--check", action="store_true", help="list the tables that differ")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    doc = args.doc.read_text()
    if args.write:
        args.doc.write_text(rewrite(doc, args.results))
        return 0
    if args.check:
        found = problems(doc, args.results)
        print("\n".join(found) or "every generated table agrees with its JSON")
        return 1 if found else 0
    for name in TABLES:
        if (args.results / TABLES[name][0]).exists():
            print(f"<!-- table: {name} -->\n{generated(name, args.results)}<!-- end: {name} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prints the table of docs/performance.md's "Calico-shaped ingest" from the benchmark JSON.

Reads ``bench/results/calico_ingest.json`` (``bench/calico_ingest_bench.py``) and prints one
Markdown row per node daemon (medians over the runs; the time's range in brackets), and with
``--runs`` one row per run. ``--plot`` also draws ``docs/img/calico_ingest.svg``: routes in the
kernel against seconds from the first session up, for each daemon's median run.

Run: ``.venv/bin/python bench/plot_calico.py [--results FILE] [--table] [--runs] [--plot]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NAMES = {"bgpd": "bgpd", "bird2": "BIRD 2"}
COLOURS = {"bgpd": "#0072b2", "bird2": "#d55e00"}


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def table(data: dict[str, Any]) -> str:
    rows = [
        "| node daemon | runs | all routes in the kernel, s (median; range) | 99 %, s "
        "| CPU, s | routes/s into the kernel | peak RSS | held RSS | bytes/prefix held "
        "| idle CPU, s per s | one reflector down: kernel changes, CPU s above idle "
        "| both down: all removed, s | CPU, s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, m in data["median"].items():
        lo, hi = m["seconds_range"]
        spread = f" ({lo:.2f}-{hi:.2f})" if m["runs"] > 1 else ""
        rows.append(
            f"| {NAMES.get(kind, kind)} | {m['runs']} | {m['seconds']:.2f}{spread} "
            f"| {m['seconds_99']:.2f} | {m['cpu_seconds']:.2f} | {m['programming_rate']:,.0f} "
            f"| {mib(m['peak_rss_kib'])} | {mib(m['held_rss_kib'])} "
            f"| {m['bytes_per_prefix']:,.0f} | {m['idle_cpu_per_s']:.3f} "
            f"| {m['drop_one_events']:,.0f}, "
            f"{m['drop_one_cpu']:.2f} | {m['drop_both_seconds']:.2f} | {m['drop_both_cpu']:.2f} |"
        )
    return "\n".join(rows)


def runs_table(data: dict[str, Any]) -> str:
    rows = [
        "| node daemon | all routes, s | first route, s | CPU, s | peak RSS | load average |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        i = r["ingest"]
        rows.append(
            f"| {NAMES.get(r['dut'], r['dut'])} | {i['seconds']:.2f} | {i['first_route_s']:.2f} "
            f"| {i['cpu_seconds']:.2f} | {mib(i['peak_rss_kib'])} | {r['load_average'][0]:.1f} |"
        )
    return "\n".join(rows)


def plot(data: dict[str, Any], path: Path) -> None:
    """Routes in the kernel over time, linear axes, the median run of each daemon."""
    width, height, left, bottom, top, right = 640, 360, 70, 40, 20, 130
    series: list[tuple[str, list[tuple[float, int]]]] = []
    for kind in data["median"]:
        mine = sorted(
            (r for r in data["runs"] if r["dut"] == kind), key=lambda r: r["ingest"]["seconds"]
        )
        run = mine[len(mine) // 2]
        series.append((kind, [(t, n) for t, n in run["ingest"]["timeline"] if t >= 0]))
    xmax = max(t for _, pts in series for t, _ in pts) or 1.0
    ymax = max(n for _, pts in series for _, n in pts) or 1
    pw, ph = width - left - right, height - top - bottom

    def xy(t: float, n: float) -> str:
        return f"{left + pw * t / xmax:.1f},{top + ph * (1 - n / ymax):.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>',
        f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">'
        "seconds from the first session up</text>",
        f'<text x="14" y="{top + ph / 2}" transform="rotate(-90 14 {top + ph / 2})" '
        'text-anchor="middle">routes in the kernel</text>',
    ]
    for k in range(5):
        t, n = xmax * k / 4, ymax * k / 4
        x, y = left + pw * k / 4, top + ph * (1 - k / 4)
        out.append(f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{t:.1f}</text>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{n:,.0f}</text>')
    for i, (kind, pts) in enumerate(series):
        colour = COLOURS.get(kind, "black")
        path_d = " ".join(xy(t, n) for t, n in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path_d}"/>')
        y = top + 14 + 16 * i
        x = left + pw + 10
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 20}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
        )
        out.append(f'<text x="{left + pw + 34}" y="{y + 4}">{NAMES.get(kind, kind)}</text>')
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench/results/calico_ingest.json")
    parser.add_argument("--table", action="store_true", help="print the Markdown table")
    parser.add_argument("--runs", action="store_true", help="print one row per run")
    parser.add_argument("--plot", action="store_true", help="draw docs/img/calico_ingest.svg")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    print(
        f"{data['nodes']:,} nodes, {data['nodes'] * 24:,} prefixes, two reflectors; load average "
        f"{statistics.median(r['load_average'][0] for r in data['runs']):.1f} (median of runs)"
    )
    if args.table or not (args.runs or args.plot):
        print(table(data))
    if args.runs:
        print(runs_table(data))
    if args.plot:
        plot(data, REPO / "docs/img/calico_ingest.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())

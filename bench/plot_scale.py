"""Draws the big-cluster plots from bench/results/scale_bench.json and prints the doc tables.

Log-log line charts (bench/svg_plot.py), one line per phase of ``bench/scale_bench.py``
against the number of nodes C, per reflector config (``dynamic``, ``static``):

- ``docs/img/scale_time.svg``: seconds until every node holds every route (join, storm from
  the return, one node's re-join from its return);
- ``docs/img/scale_cpu.svg``: the reflector's CPU seconds in each phase.

A dashed line of slope 2 through the first join point shows what O(C^2) growth looks like
(the routes delivered grow as C x (C-1) x 24). ``--table`` prints the Markdown table of
docs/performance.md's "A reflector for a big cluster" section.

Run: ``.venv/bin/python bench/plot_scale.py [--results FILE] [--img-dir DIR] [--table]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.svg_plot import LogLogChart, legend_svg

REPO = Path(__file__).resolve().parents[1]
PHASES = {  # phase -> (label, the key of its time, colour)
    "join": ("join (all connect)", "seconds", "#0072b2"),
    "storm": ("reconnect storm", "seconds_from_return", "#d55e00"),
    "rejoin": ("one node re-joins", "seconds_from_return", "#009e73"),
}
DASH = {"dynamic": "", "static": "2 3"}


def points(data: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """config -> C -> medians."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for key, med in data["median"].items():
        kind, c = key.rsplit("-", 1)
        out.setdefault(kind, {})[int(c)] = med
    return out


def render(data: dict[str, Any], what: str) -> str:
    by_kind = points(data)
    xs = sorted({c for per in by_kind.values() for c in per})
    series: list[tuple[str, str, str, list[tuple[int, float]]]] = []
    for kind, per in sorted(by_kind.items()):
        for phase, (label, key, colour) in PHASES.items():
            k = key if what == "time" else "reflector_cpu_seconds"
            pts = [(c, per[c][phase][k]) for c in sorted(per) if per[c][phase].get(k)]
            if pts:
                name = label if len(by_kind) == 1 else f"{label}, {kind}"
                series.append((name, colour, DASH.get(kind, ""), pts))
    values = [v for *_, pts in series for _, v in pts]
    if len(xs) < 2 or not values:
        raise ValueError("fewer than two points: not drawn")
    join = next((pts for name, _, _, pts in series if name.startswith("join")), None)
    quadratic = [(x, join[0][1] * (x / join[0][0]) ** 2) for x in xs] if join else []
    chart = LogLogChart.around(xs, values + [v for _, v in quadratic])
    if what == "time":
        title = "Reflector with C nodes (24 routes each): time until every node holds all"
    else:
        title = "Reflector with C nodes (24 routes each): bgpd CPU seconds per phase"
    out = chart.frame(title, xs, lambda v: f"{v:,.0f}", "nodes C (log scale)")
    legend: list[tuple[str, str, str]] = []
    for name, colour, dash, pts in series:
        line = " ".join(f"{chart.x(x):.1f},{chart.y(v):.1f}" for x, v in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>'
        )
        out += [
            f'<circle cx="{chart.x(x):.1f}" cy="{chart.y(v):.1f}" r="4" fill="{colour}"/>'
            for x, v in pts
        ]
        legend.append((name, colour, dash))
    if quadratic:
        line = " ".join(f"{chart.x(x):.1f},{chart.y(v):.1f}" for x, v in quadratic)
        out.append(f'<polyline points="{line}" fill="none" stroke="#999" stroke-dasharray="6 4"/>')
        legend.append(("C^2 (join)", "#999", "6 4"))
    out += legend_svg(legend)
    return "\n".join(out) + "\n"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def table(data: dict[str, Any]) -> str:
    lines = [
        "| config | C | routes | join, s | last session up, s | join CPU, s | nodes CPU, s "
        "| peak RSS | held RSS | storm, s (from return) | storm CPU, s | re-join, s "
        "(from return) | re-join CPU, s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, per in sorted(points(data).items()):
        for c in sorted(per):
            j, s, r = per[c]["join"], per[c]["storm"], per[c]["rejoin"]
            mib = "{:.1f} MiB"
            peak = None if j.get("peak_rss_kib") is None else j["peak_rss_kib"] / 1024
            held = None if j.get("held_rss_kib") is None else j["held_rss_kib"] / 1024
            lines.append(
                f"| {kind} | {c:,} | {c * 24:,} | {_num(j['seconds'])} "
                f"| {_num(j['last_established'])} | {_num(j['reflector_cpu_seconds'])} "
                f"| {_num(j.get('nodes_cpu_seconds'))} | {_num(peak, mib)} | {_num(held, mib)} "
                f"| {_num(s['seconds_from_return'])} | {_num(s['reflector_cpu_seconds'])} "
                f"| {_num(r['seconds_from_return'], '{:.3f}')} "
                f"| {_num(r['reflector_cpu_seconds'])} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--results", type=Path, default=REPO / "bench" / "results" / "scale_bench.json"
    )
    parser.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--table", action="store_true", help="print the Markdown table")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    args.img_dir.mkdir(parents=True, exist_ok=True)
    for what in ("time", "cpu"):
        path = args.img_dir / f"scale_{what}.svg"
        try:
            path.write_text(render(data, what))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            continue
        print(f"wrote {path}")
    if args.table:
        print()
        print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())

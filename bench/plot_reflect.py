"""Draws the reflect plots from bench/results/reflect_bench.json and prints the doc table.

Line charts (no matplotlib; the SVG is written by hand, a few dozen elements, stable output
for the same data so the files diff cleanly in git), both axes logarithmic, per mode of the
benchmark (``cold``: from connect; ``warm``: from announce with every session up):

- ``docs/img/reflect_time_vs_clients.svg`` (cold; ``reflect_warm_time_vs_clients.svg``): time
  until every client holds every route against the number of clients C, at the fixed P of the
  series (``series.clients_at_prefixes``);
- ``docs/img/reflect_time_vs_prefixes.svg`` (cold; ``reflect_warm_time_vs_prefixes.svg``): the
  same against P, at the fixed C of the series (``series.prefixes_at_clients``).

One line per reflector through the medians, every repetition as a small dot, the target
(2 times BIRD) dashed; a point where a reflector timed out or failed is a cross on the top
edge. ``--table`` prints the Markdown tables of docs/performance.md's "Reflect" section, one per
mode (every point, every reflector: median time and range, 99 %, reflector and clients CPU,
ratios, peak RSS).

Run: ``.venv/bin/python bench/plot_reflect.py [--results FILE] [--img-dir DIR] [--table]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.svg_plot import TOP, LogLogChart, legend_svg

REPO = Path(__file__).resolve().parents[1]
STYLE = {  # reflector -> (label, colour); distinguishable in grey scale and by colour-blind
    "bgpd": ("bgpd", "#0072b2"),
    "bird2": ("BIRD 2", "#009e73"),
    "gobgp": ("GoBGP", "#d55e00"),
    "frr": ("FRR", "#cc79a7"),
    "bgp-reflector": ("bgp-reflector", "#56b4e9"),
}
TARGET = 2  # bgpd within 2x of BIRD


def ok_seconds(reps: list[dict[str, Any]]) -> list[float]:
    return [r["seconds"] for r in reps if r.get("status") == "ok" and r.get("seconds")]


def series(data: dict[str, Any], mode: str, axis: str) -> tuple[list[int], dict[int, str], int]:
    """(x values, x -> point key, the fixed value) of the C or the P series."""
    runs: dict[str, Any] = data["modes"][mode]["runs"]
    if axis == "clients":
        fixed = data["series"]["clients_at_prefixes"]
        keys = {int(k.split("x")[0]): k for k in runs if int(k.split("x")[1]) == fixed}
    else:
        fixed = data["series"]["prefixes_at_clients"]
        keys = {int(k.split("x")[1]): k for k in runs if int(k.split("x")[0]) == fixed}
    return sorted(keys), keys, fixed


def render(data: dict[str, Any], mode: str, axis: str) -> str:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = data["modes"][mode]["runs"]
    xs, keys, fixed = series(data, mode, axis)
    if len(xs) < 2:
        raise ValueError(f"the {mode} {axis} series has {len(xs)} points: not drawn")
    duts = [d for d in STYLE if any(d in runs[keys[x]] for x in xs)]
    medians = {
        (dut, x): statistics.median(ok_seconds(runs[keys[x]][dut]))
        for x in xs
        for dut in duts
        if ok_seconds(runs[keys[x]].get(dut, []))
    }
    every = [t for x in xs for reps in runs[keys[x]].values() for t in ok_seconds(reps)]
    targets = [TARGET * medians["bird2", x] for x in xs if ("bird2", x) in medians]
    chart = LogLogChart.around(xs, every + targets)
    px, py = chart.x, chart.y

    what = "from connect" if mode == "cold" else "from announce, sessions up"
    if axis == "clients":
        title = f"Reflect ({what}): time until every client holds every route, P = {fixed}"
        xlabel = "route-reflector clients C (log scale)"
    else:
        title = f"Reflect ({what}): time until every client holds every route, C = {fixed}"
        xlabel = "prefixes per client P (log scale)"
    out = chart.frame(title, xs, str, xlabel)
    legend: list[tuple[str, str, str]] = []
    for dut in duts:
        label, colour = STYLE[dut]
        points = []
        for x in xs:
            reps = runs[keys[x]].get(dut, [])
            if any(r.get("status") != "ok" for r in reps):
                # Timed out or failed at least once: a cross on the top edge.
                cx, cy = px(x), TOP + 6
                out.append(
                    f'<path d="M{cx - 5:.1f},{cy - 5} L{cx + 5:.1f},{cy + 5} '
                    f'M{cx - 5:.1f},{cy + 5} L{cx + 5:.1f},{cy - 5}" stroke="{colour}" '
                    'stroke-width="2"/>'
                )
            if (dut, x) not in medians:
                continue
            med = medians[dut, x]
            points.append(f"{px(x):.1f},{py(med):.1f}")
            out += [
                f'<circle cx="{px(x):.1f}" cy="{py(t):.1f}" r="2" fill="{colour}" '
                'fill-opacity="0.5"/>'
                for t in ok_seconds(reps)
            ]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(med):.1f}" r="4" fill="{colour}"/>')
        if points:
            out.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        legend.append((label, colour, ""))
    if "bird2" in duts:
        colour = STYLE["bird2"][1]
        pts = " ".join(
            f"{px(x):.1f},{py(TARGET * medians['bird2', x]):.1f}"
            for x in xs
            if ("bird2", x) in medians
        )
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5" '
            'stroke-dasharray="6 4"/>'
        )
        legend.append((f"{TARGET}x BIRD 2 (target)", colour, "6 4"))
    out += legend_svg(legend)
    return "\n".join(out) + "\n"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def table(data: dict[str, Any], mode: str) -> str:
    """The Markdown table of ``mode``: every point (C, then P), every reflector."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = data["modes"][mode]["runs"]
    med: dict[str, dict[str, dict[str, Any]]] = data["modes"][mode]["median"]
    lines = [
        "| C | P | routes | reflector | all routes, s (median; range) | 99 %, s | reflector CPU, s "
        "| clients CPU, s | vs BIRD 2 | vs GoBGP | vs FRR | peak RSS |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(runs, key=lambda k: tuple(int(v) for v in k.split("x"))):
        c, p = (int(v) for v in key.split("x"))
        for dut in (d for d in STYLE if d in runs[key]):
            reps, m = runs[key][dut], med[key][dut]
            times = ok_seconds(reps)
            failed = [r.get("status", "?") for r in reps if r.get("status") != "ok"]
            if times:
                cell = f"{m['seconds']:.2f}"
                if len(times) > 1:
                    cell += f" ({min(times):.2f}-{max(times):.2f})"
            else:
                cell = "-"
            if failed:
                cell += f" [{len(failed)} of {len(reps)}: {', '.join(sorted(set(failed)))}]"
            rss = m.get("peak_rss_kib")
            lines.append(
                f"| {c} | {p} | {c * p:,} | {STYLE[dut][0]} | {cell} | {_num(m['seconds_99'])} "
                f"| {_num(m['reflector_cpu_seconds'])} | {_num(m['clients_cpu_seconds'])} "
                f"| {_num(m.get('vs_bird2'))} "
                f"| {_num(m.get('vs_gobgp'))} | {_num(m.get('vs_frr'))} "
                f"| {_num(None if rss is None else rss / 1024, '{:.1f} MiB')} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--results", type=Path, default=REPO / "bench" / "results" / "reflect_bench.json"
    )
    parser.add_argument("--img-dir", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--table", action="store_true", help="print the Markdown table")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    args.img_dir.mkdir(parents=True, exist_ok=True)
    for mode in data["modes"]:
        for axis in ("clients", "prefixes"):
            # The definition (cold: from connect) keeps the plain names.
            name = f"reflect_time_vs_{axis}" if mode == "cold" else f"reflect_{mode}_time_vs_{axis}"
            path = args.img_dir / f"{name}.svg"
            try:
                svg = render(data, mode, axis)
            except ValueError as exc:
                print(exc, file=sys.stderr)
                continue
            path.write_text(svg)
            print(f"wrote {path}")
    if args.table:
        for mode in data["modes"]:
            print(f"\n{mode}:\n")
            print(table(data, mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Draws docs/img/forward_time.svg from bench/results/forward_bench.json (no matplotlib).

A line chart of the time from the sender's session coming up until the collector holds every
prefix, against the number of prefixes (both axes logarithmic), one line per device under test
through the medians, every repetition as a small dot, and the target (3 times BIRD) dashed.
The SVG is written by hand: a few dozen elements, no dependency, stable output for the same
data (so the file diffs cleanly in git).

Run: ``.venv/bin/python bench/plot_forward.py [--results FILE] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.svg_plot import LogLogChart, legend_svg

REPO = Path(__file__).resolve().parents[1]
STYLE = {  # DUT -> (label, colour); colours distinguishable in grey scale and by colour-blind
    "bgpd": ("bgpd", "#0072b2"),
    "bird2": ("BIRD 2", "#009e73"),
    "gobgp": ("GoBGP", "#d55e00"),
}


def fmt_count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def render(data: dict[str, Any]) -> str:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = data["runs"]
    sizes = sorted(int(s) for s in runs)
    duts = [d for d in STYLE if any(d in runs[str(s)] for s in sizes)]
    medians = {
        (dut, n): statistics.median(r["seconds"] for r in runs[str(n)][dut])
        for n in sizes
        for dut in duts
        if runs[str(n)].get(dut)
    }
    every = [r["seconds"] for n in sizes for reps in runs[str(n)].values() for r in reps]
    chart = LogLogChart.around(sizes, every)
    x, y = chart.x, chart.y
    out = chart.frame(
        "Ingest and forward: time until the collector holds every prefix",
        sizes,
        lambda n: fmt_count(int(n)),
        "IPv4 prefixes forwarded (log scale)",
    )
    legend: list[tuple[str, str, str]] = []
    if "bird2" in duts:
        # The target: within 3x of BIRD (dashed, BIRD's colour).
        colour = STYLE["bird2"][1]
        pts = " ".join(
            f"{x(n):.1f},{y(3 * medians['bird2', n]):.1f}" for n in sizes if ("bird2", n) in medians
        )
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5" '
            'stroke-dasharray="6 4"/>'
        )
        legend.append(("3x BIRD 2 (target)", colour, "6 4"))
    for dut in duts:
        label, colour = STYLE[dut]
        points = []
        for n in sizes:
            if (dut, n) not in medians:
                continue
            med = medians[dut, n]
            points.append(f"{x(n):.1f},{y(med):.1f}")
            out += [
                f'<circle cx="{x(n):.1f}" cy="{y(r["seconds"]):.1f}" r="2" fill="{colour}" '
                'fill-opacity="0.5"/>'
                for r in runs[str(n)][dut]
            ]
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(med):.1f}" r="4" fill="{colour}"/>')
        out.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        legend.insert(len(legend) - ("bird2" in duts), (label, colour, ""))
    out += legend_svg(legend)
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--results", type=Path, default=REPO / "bench" / "results" / "forward_bench.json"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "forward_time.svg")
    args = parser.parse_args()
    svg = render(json.loads(args.results.read_text()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(svg)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

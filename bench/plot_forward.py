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
import math
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 40, 56  # margins around the plot area
STYLE = {  # DUT -> (label, colour); colours distinguishable in grey scale and by colour-blind
    "bgpd": ("bgpd", "#0072b2"),
    "bird2": ("BIRD 2", "#009e73"),
    "gobgp": ("GoBGP", "#d55e00"),
}


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks per decade between ``lo`` and ``hi``."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**exp
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


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
    # Log scales on both axes: equal vertical distance is an equal ratio, and a line of
    # slope 1 is time growing linearly with the table.
    y_lo = max(t for t in log_ticks(1e-3, 1e4) if t <= min(every) * 0.9)
    y_hi = min(t for t in log_ticks(1e-3, 1e4) if t >= max(every) * 1.1)
    x_lo, x_hi = sizes[0] / 1.4, sizes[-1] * 1.4
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(n: float) -> float:
        return LEFT + pw * math.log(n / x_lo) / math.log(x_hi / x_lo)

    def y(sec: float) -> float:
        return TOP + ph * (1 - math.log(sec / y_lo) / math.log(y_hi / y_lo))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">'
        "Ingest and forward: time until the collector holds every prefix</text>",
    ]
    for v in log_ticks(y_lo, y_hi):
        out.append(
            f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{LEFT + pw}" y2="{y(v):.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for n in sizes:
        out.append(
            f'<line x1="{x(n):.1f}" y1="{TOP}" x2="{x(n):.1f}" y2="{TOP + ph}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{x(n):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{fmt_count(n)}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>'
    )
    out.append(
        f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 14}" text-anchor="middle">'
        "IPv4 prefixes forwarded (log scale)</text>"
    )
    out.append(
        f'<text transform="translate(18 {TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
        "seconds, log scale (median; dots: each run)</text>"
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
    for i, (label, colour, dash) in enumerate(legend):
        ly, lx = TOP + 16 + 22 * i, LEFT + pw + 16
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        if not dash:
            out.append(f'<circle cx="{lx + 12}" cy="{ly}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{lx + 32}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
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

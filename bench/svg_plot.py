"""The log-log line chart that the benchmark plots share, written as plain SVG (no matplotlib).

A fixed 640x400 canvas with the legend on the right: `LogLogChart` maps values to the plot
area and writes the frame (title, 1-2-5 grid, axis labels); `legend_svg` closes the chart.
Stable output for the same data, so the SVG files diff cleanly in git.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 40, 56  # margins around the plot area
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
Y_LABEL = "seconds, log scale (median; dots: each run)"


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks per decade between ``lo`` and ``hi``."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**exp
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


@dataclass(frozen=True, slots=True)
class LogLogChart:
    """Both axes logarithmic: equal distances are equal ratios, and a line of slope 1 is time
    growing linearly with x. The y range is the 1-2-5 ticks around ``values``, the x range a
    factor 1.4 around the first and last x."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float

    @classmethod
    def around(cls, xs: Sequence[float], values: Sequence[float]) -> LogLogChart:
        ticks = log_ticks(1e-3, 1e5)
        return cls(
            x_lo=xs[0] / 1.4,
            x_hi=xs[-1] * 1.4,
            y_lo=max(t for t in ticks if t <= min(values) * 0.9),
            y_hi=min(t for t in ticks if t >= max(values) * 1.1),
        )

    def x(self, v: float) -> float:
        return LEFT + PLOT_W * math.log(v / self.x_lo) / math.log(self.x_hi / self.x_lo)

    def y(self, sec: float) -> float:
        return TOP + PLOT_H * (1 - math.log(sec / self.y_lo) / math.log(self.y_hi / self.y_lo))

    def frame(
        self, title: str, xs: Sequence[float], x_text: Callable[[float], str], x_label: str
    ) -> list[str]:
        """The opening of the SVG: title, grid with tick labels, plot frame, axis labels."""
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
        ]
        for v in log_ticks(self.y_lo, self.y_hi):
            y = self.y(v)
            out.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_W}" y2="{y:.1f}" stroke="#ddd"/>'
            )
            out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
        for v in xs:
            x = self.x(v)
            out.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + PLOT_H}" stroke="#ddd"/>'
            )
            out.append(
                f'<text x="{x:.1f}" y="{TOP + PLOT_H + 18}" text-anchor="middle">{x_text(v)}</text>'
            )
        out.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" '
            'stroke="black"/>'
        )
        out.append(
            f'<text x="{LEFT + PLOT_W / 2}" y="{HEIGHT - 14}" text-anchor="middle">{x_label}</text>'
        )
        out.append(
            f'<text transform="translate(18 {TOP + PLOT_H / 2}) rotate(-90)" '
            f'text-anchor="middle">{Y_LABEL}</text>'
        )
        return out


def legend_svg(entries: Sequence[tuple[str, str, str]]) -> list[str]:
    """The legend right of the plot and the closing tag: (label, colour, dash pattern or "";
    an entry without a dash gets the median dot)."""
    out = []
    for i, (label, colour, dash) in enumerate(entries):
        ly, lx = TOP + 16 + 22 * i, LEFT + PLOT_W + 16
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        if not dash:
            out.append(f'<circle cx="{lx + 12}" cy="{ly}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{lx + 32}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    return out

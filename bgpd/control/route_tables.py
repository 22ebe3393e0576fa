"""bgpctl's tables for `show routes` answers: routes with a summary line per family, the
counts of `--count`, and `--received` (accepted routes, refused prefixes, and what bgpd
cannot show).

Pure rendering of views (`bgpd.views`); every string from the daemon goes through
`escape_controls` (via `tables.table` or here).
"""

from __future__ import annotations

from collections.abc import Sequence

from bgpd.control.tables import render_routes, table
from bgpd.text import escape_controls
from bgpd.views import ReceivedView, RouteCountView, RouteView


def route_family(route: RouteView) -> str:
    return "ipv6-unicast" if ":" in route.prefix else "ipv4-unicast"


def summary_lines(routes: Sequence[RouteView]) -> list[str]:
    """One line per family of the rows shown: `ipv4-unicast: 3 prefixes, 4 paths`."""
    counts: dict[str, tuple[set[str], int]] = {}
    for route in routes:
        prefixes, paths = counts.get(route_family(route), (set(), 0))
        prefixes.add(route.prefix)
        counts[route_family(route)] = (prefixes, paths + 1)
    return [
        f"{family}: {_plural(len(prefixes), 'prefix', 'prefixes')}, {_plural(paths, 'path')}"
        for family, (prefixes, paths) in sorted(counts.items())
    ]


def render_route_list(routes: Sequence[RouteView]) -> str:
    if not routes:
        return render_routes(routes)
    return "\n".join([render_routes(routes), "", *summary_lines(routes)])


def render_counts(counts: Sequence[RouteCountView]) -> str:
    if not counts:
        return "No routes."
    rows = [[c.family, str(c.prefixes), str(c.paths), str(c.best)] for c in counts]
    return table(["FAMILY", "PREFIXES", "PATHS", "BEST"], rows)


def render_received(received: ReceivedView) -> str:
    peer = escape_controls(received.peer)
    parts = [f"Accepted from {peer} (as the Loc-RIB holds them):"]
    parts.append(render_route_list(received.accepted))
    if received.rejected:
        parts += ["", f"Refused from {peer} (prefix only, attributes not kept):"]
        parts += [f"  {escape_controls(r.prefix)}" for r in received.rejected]
    parts += ["", f"Note: {escape_controls(received.note)}"] if received.note else []
    return "\n".join(parts)


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"

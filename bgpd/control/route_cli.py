"""bgpctl's `show routes`: its arguments, the request they make, and the answer's table.

The daemon checks every argument (`bgpd.speaker.route_query`: one home for what a query
may be); bgpctl only shapes them. `show routes for ADDRESS` is read from the positional
words, as birdc's `show route for`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from bgpd.control.route_tables import render_counts, render_received, render_route_list
from bgpd.views import ReceivedView, RouteCountView, RouteView, ViewDecodeError

FAMILIES = ("ipv4", "ipv6", "ipv4-unicast", "ipv6-unicast")


def add_route_query_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target",
        nargs="*",
        metavar="PREFIX | for ADDRESS",
        help="a prefix (exact match unless --longer/--shorter), or 'for ADDRESS'",
    )
    p.add_argument("--peer", dest="peer_name", metavar="NAME", help="one peer's routes")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--longer", action="store_true", help="PREFIX and its more specifics")
    scope.add_argument("--shorter", action="store_true", help="PREFIX and the prefixes covering it")
    p.add_argument(
        "--community",
        action="append",
        default=[],
        metavar="ASN:VALUE",
        help="paths carrying this community (repeatable: all must be there)",
    )
    p.add_argument(
        "--large-community",
        action="append",
        default=[],
        metavar="ASN:D1:D2",
        help="paths carrying this large community (repeatable)",
    )
    p.add_argument(
        "--as-path",
        metavar="REGEX",
        help="paths whose AS path, as the table shows it ('64512 {64513 64514}'), matches",
    )
    p.add_argument("--family", choices=FAMILIES)
    p.add_argument("--stale", action="store_true", help="stale paths only (graceful restart)")
    p.add_argument("--best", action="store_true", help="best paths only")
    rib = p.add_mutually_exclusive_group()
    rib.add_argument(
        "--received",
        action="store_true",
        help="with --peer: what bgpd knows of what the peer sent (no Adj-RIB-In is kept)",
    )
    rib.add_argument("--advertised", action="store_true", help="with --peer: what we sent the peer")
    p.add_argument("--count", action="store_true", help="counts per family instead of routes")


def route_query_args(args: argparse.Namespace) -> dict[str, object]:
    """The request's arguments (`bgpd.speaker.route_query.RouteQuery.from_args`)."""
    words: list[str] = args.target
    prefix: str | None = None
    address: str | None = None
    if len(words) == 2 and words[0] == "for":
        address = words[1]
    elif len(words) == 1 and words[0] != "for":
        prefix = words[0]
    elif words:
        print("bgpctl: show routes takes one PREFIX or 'for ADDRESS'", file=sys.stderr)
        raise SystemExit(2)  # a usage error, as argparse's
    out: dict[str, object] = {"prefix": prefix, "peer": args.peer_name}
    optional: dict[str, object] = {
        "for": address,
        "longer": args.longer,
        "shorter": args.shorter,
        "communities": args.community,
        "large_communities": args.large_community,
        "as_path": args.as_path,
        "family": args.family,
        "stale": args.stale,
        "best": args.best,
        "received": args.received,
        "advertised": args.advertised,
        "count": args.count,
    }
    out.update({k: v for k, v in optional.items() if v})
    return out


def render_route_answer(args: Mapping[str, object], data: object) -> str:
    if args.get("received"):
        return render_received(ReceivedView.from_json(data))
    if not isinstance(data, list):
        raise ViewDecodeError(f"expected a list, got {type(data).__name__}")
    if args.get("count"):
        return render_counts([RouteCountView.from_json(c) for c in data])
    return render_route_list([RouteView.from_json(r) for r in data])

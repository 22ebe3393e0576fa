"""Pure rendering of control replies as human tables (bgpctl's default output)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
    return "\n".join(lines)


def render_peers(peers: Sequence[dict[str, Any]]) -> str:
    if not peers:
        return "No peers configured."
    rows = [
        [
            p["name"],
            p["address"],
            str(p["asn"]),
            p["state"],
            format_duration(p.get("uptime_s")),
            str(p["prefixes_received"]),
            str(p["prefixes_sent"]),
            p.get("last_error") or "",
        ]
        for p in peers
    ]
    return table(["NAME", "ADDRESS", "ASN", "STATE", "UPTIME", "RCVD", "SENT", "LAST ERROR"], rows)


def render_peer(peer: dict[str, Any]) -> str:
    return "\n".join(_fields(peer, 0))


def _fields(values: dict[str, Any], depth: int) -> list[str]:
    """`key: value` lines, nested tables indented (negotiated capabilities, counters...)."""
    indent = "  " * depth
    width = max((len(k) for k in values), default=0) + 1
    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:" + ("" if value else " -"))
            lines.extend(_fields(value, depth + 1))
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "-"
            lines.append(f"{indent}{(str(key) + ':').ljust(width)} {text}")
        else:
            text = "-" if value is None or value == "" else str(value)
            lines.append(f"{indent}{(str(key) + ':').ljust(width)} {text}")
    return lines


def _communities(route: dict[str, Any]) -> str:
    parts = [*route.get("communities", []), *route.get("large_communities", [])]
    return " ".join(parts)


def render_routes(routes: Sequence[dict[str, Any]]) -> str:
    if not routes:
        return "No routes."
    rows = [
        [
            ("*" if r.get("best") else " ") + " " + r["prefix"],
            r["next_hop"] or "-",
            r["peer"],
            " ".join(str(a) for a in r["as_path"]) or "(local)",
            "" if r.get("med") is None else str(r["med"]),
            "" if r.get("local_pref") is None else str(r["local_pref"]),
            _communities(r),
        ]
        for r in routes
    ]
    return table(["  PREFIX", "NEXT HOP", "FROM", "AS PATH", "MED", "LPREF", "COMMUNITIES"], rows)


def render_kernel(routes: Sequence[dict[str, Any]]) -> str:
    if not routes:
        return "No kernel routes installed or learned."
    rows = [
        [
            r["status"],
            r["prefix"],
            r["kind"],
            ", ".join(r["next_hops"]) or "-",
            str(r["protocol"]),
        ]
        for r in routes
    ]
    return table(["STATUS", "PREFIX", "KIND", "NEXT HOPS", "PROTO"], rows)

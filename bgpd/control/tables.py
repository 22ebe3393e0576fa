"""Pure rendering of control replies as human tables (bgpctl's default output), from the
views (`bgpd.views`) bgpctl reads back from the daemon's JSON.

Invariant: every string from the daemon (a peer's shutdown text in LAST ERROR, names and
descriptions from the datastore, interface names) goes through `escape_controls` before it is
laid out, so no control character from a peer reaches the operator's terminal and no value
breaks a row; `--json` output is JSON-escaped instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from bgpd.control.aspath import format_as_path, path_segments
from bgpd.text import escape_controls
from bgpd.views import Json, KernelRouteRow, PeerView, RouteView


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
    rows = [[escape_controls(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
    return "\n".join(lines)


def render_peers(peers: Sequence[PeerView]) -> str:
    if not peers:
        return "No peers configured."
    rows = [
        [
            p.name,
            p.address,
            str(p.asn),
            p.state,
            format_duration(p.uptime_s),
            str(p.prefixes_received),
            str(p.prefixes_sent),
            p.last_error,
        ]
        for p in peers
    ]
    return table(["NAME", "ADDRESS", "ASN", "STATE", "UPTIME", "RCVD", "SENT", "LAST ERROR"], rows)


def render_peers_wide(peers: Sequence[PeerView]) -> str:
    """`show peers --wide`: the row with the peer's role, local end, flaps, BFD and graceful
    restart state, description, and the last error with how long ago it happened."""
    if not peers:
        return "No peers configured."
    rows = [
        [
            p.name,
            p.address if p.port == 179 else f"{p.address} port {p.port}",
            str(p.asn),
            p.role or "-",
            p.state,
            format_duration(p.uptime_s),
            str(p.prefixes_received),
            str(p.prefixes_sent),
            "-" if p.local_address is None else f"{p.local_address} port {p.local_port or '-'}",
            str(p.flaps),
            p.bfd or "-",
            p.graceful_restart or "-",
            p.description or "-",
            _last_error(p),
        ]
        for p in peers
    ]
    headers = ["NAME", "ADDRESS", "ASN", "ROLE", "STATE", "UPTIME", "RCVD", "SENT"]
    headers += ["LOCAL", "FLAPS", "BFD", "GR", "DESCRIPTION", "LAST ERROR"]
    return table(headers, rows)


def _last_error(peer: PeerView) -> str:
    if not peer.last_error or peer.last_error_age_s is None:
        return peer.last_error
    return f"{peer.last_error} ({format_duration(peer.last_error_age_s)} ago)"


def render_peer(peer: PeerView) -> str:
    """Every field of the view, in the order and with the names its JSON has."""
    return render_fields(peer.to_json())


def render_fields(values: dict[str, Json]) -> str:
    """A JSON object as `key: value` lines, nested objects indented below their key."""
    return "\n".join(_fields(values, 0))


def _fields(values: dict[str, Json], depth: int) -> list[str]:
    """`key: value` lines, nested tables indented (negotiated capabilities, counters...)."""
    indent = "  " * depth
    keys = {k: escape_controls(str(k)) for k in values}
    width = max((len(k) for k in keys.values()), default=0) + 1
    lines: list[str] = []
    for raw_key, value in values.items():
        key = keys[raw_key]
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:" + ("" if value else " -"))
            lines.extend(_fields(value, depth + 1))
            continue
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "-"
        else:
            text = "-" if value is None or value == "" else str(value)
        lines.append(f"{indent}{(key + ':').ljust(width)} {escape_controls(text)}")
    return lines


def render_routes(routes: Sequence[RouteView]) -> str:
    if not routes:
        return "No routes."
    rows = [
        [
            route_marks(r) + " " + r.prefix,
            r.next_hop or "-",
            r.peer,
            format_as_path(path_segments(r)) or "(local)",
            "" if r.med is None else str(r.med),
            "" if r.local_pref is None else str(r.local_pref),
            " ".join([*r.communities, *r.large_communities]),
        ]
        for r in routes
    ]
    return table(["   PREFIX", "NEXT HOP", "FROM", "AS PATH", "MED", "LPREF", "COMMUNITIES"], rows)


# RFC 9494's LLGR_STALE community as bgpctl shows it
LLGR_STALE_TEXT = "65535:6"


def route_marks(route: RouteView) -> str:
    """The two status characters before a prefix: `*` the best path; `S` a stale path kept
    for a restarting peer (RFC 4724), `L` one kept long-lived stale (RFC 9494)."""
    best = "*" if route.best else " "
    if not route.stale:
        return best + " "
    return best + ("L" if LLGR_STALE_TEXT in route.communities else "S")


def render_kernel(routes: Sequence[KernelRouteRow]) -> str:
    if not routes:
        return "No kernel routes installed or learned."
    rows = [
        [
            r.status,
            r.prefix,
            r.kind,
            ", ".join(r.next_hops) or "-",
            str(r.protocol) if r.protocol else "-",
            str(r.metric),
            r.owner or "-",
        ]
        for r in routes
    ]
    return table(["STATUS", "PREFIX", "KIND", "NEXT HOPS", "PROTO", "METRIC", "OWNER"], rows)

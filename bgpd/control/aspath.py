"""AS_PATH as text for bgpctl's tables and the BIRD-compatible sockets.

Role: a route view's JSON carries its AS_PATH twice: `as_path`, every AS number in order (sets
flattened, kept for scripts that read it), and `as_path_segments`, the segments with their
RFC 4271 §4.3 types (`{"type": "AS_SET", "asns": [...]}`); `RouteView` keeps the segments.
Flattening loses what an AS_SET means (one hop whose order is unknown, RFC 4271 §9.1.2.2 a
counts it 1), so text shows sets marked as BIRD and FRR do:
- bgpctl (FRR's style): `64512 {64513 64514}`, confederation segments `(64512 64513)` and
  `[64512 64513]` (RFC 5065);
- the BIRD sockets (BIRD 1.6's as_path_format, down to its spaces): `64512 { 64513 64514 }`.
  BIRD 1.6 knows no confederation segments; they are shown in its spacing with FRR's marks.

(A JSON view without `as_path_segments`, from an older daemon, reads as one AS_SEQUENCE of
`as_path`: `RouteView.from_json`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from bgpd.views import SEGMENT_MARKS, SEQUENCE, RouteView, as_path_text

Segment = tuple[str, tuple[int, ...]]

SET = "AS_SET"
CONFED_SEQUENCE = "AS_CONFED_SEQUENCE"
CONFED_SET = "AS_CONFED_SET"

# (opening, closing) marks of each segment type; a sequence has none.
_MARKS = SEGMENT_MARKS


def path_segments(route: RouteView) -> list[Segment]:
    """The route view's AS_PATH segments as (type, AS numbers)."""
    return [(s.type, s.asns) for s in route.as_path_segments]


def format_as_path(segments: Sequence[Segment]) -> str:
    """bgpctl's AS path column: `64512 {64513 64514}` (the text `--as-path` matches)."""
    return as_path_text(segments)


def bird_as_path(segments: Sequence[Segment]) -> str:
    """BIRD 1.6's `BGP.as_path` value: `64512 { 64513 64514 }`."""
    words: list[str] = []
    for kind, asns in segments:
        opening, closing = _MARKS.get(kind, ("", ""))
        words += [opening] if opening else []
        words += [str(a) for a in asns]
        words += [closing] if closing else []
    return " ".join(words)


def bird_origin_as(segments: Sequence[Segment]) -> int | None:
    """BIRD's as_path_get_last(): the last AS of the path when its last (non-empty) segment is
    a sequence, None when it is a set (the origin is not known)."""
    origin: int | None = None
    for kind, asns in segments:
        if asns:
            origin = asns[-1] if kind in (SEQUENCE, CONFED_SEQUENCE) else None
    return origin

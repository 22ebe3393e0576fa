"""BIRD's `timeformat`: how the BIRD-compatible sockets print times (`[control]`
`bird_timeformat_protocol`, `_route`, `_base`).

Role: `parse_timeformat` reads one setting as BIRD's config grammar writes it after the
`timeformat protocol|route|base` keywords (`iso long`, `iso short ms`, `"%s"`,
`"%T" 72000 "%F"`), `TimeFormat.format` prints a wall-clock time with it.

Invariants:
- None (the setting left out) means BIRD 1.6's defaults, what calicoctl's parser expects:
  `"%T" 72000 "%F"` for protocols and routes (the time within 20 hours, the date beyond),
  `"%F %T"` for `base` (show status).
- Times are local, as BIRD prints them; `%Nf` (N = 1..6) is BIRD's fraction of a second.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass

__all__ = [
    "BASE_DEFAULT",
    "ROUTE_DEFAULT",
    "TimeFormat",
    "check_timeformat",
    "parse_timeformat",
]

# BIRD 2's shorthands (conf/confbase.Y), BIRD 1.6's `iso short`/`iso long` among them.
_SHORTHANDS = {
    "iso short": "%T",
    "iso long": "%F %T",
    "iso short ms": "%T.%3f",
    "iso long ms": "%F %T.%3f",
    "iso short us": "%T.%6f",
    "iso long us": "%F %T.%6f",
}
_FRACTION = re.compile(r"%([1-6])f")


@dataclass(frozen=True, slots=True)
class TimeFormat:
    """`fmt` for times within `limit_s` seconds of now, `old` (when set) for older ones."""

    fmt: str
    limit_s: int = 0
    old: str | None = None

    def format(self, t: float, now: float) -> str:
        fmt = self.fmt if self.old is None or now - t < self.limit_s else self.old
        fraction = int((t % 1) * 1_000_000)
        fmt = _FRACTION.sub(lambda m: f"{fraction:06d}"[: int(m.group(1))], fmt)
        return time.strftime(fmt, time.localtime(t))


ROUTE_DEFAULT = TimeFormat("%T", 72000, "%F")  # BIRD 1.6's protocol and route times
BASE_DEFAULT = TimeFormat("%F %T")


def parse_timeformat(text: str) -> TimeFormat:
    """A `timeformat` value: a shorthand, `"FMT"`, or `"FMT" LIMIT "FMT"`; ValueError if not."""
    shorthand = _SHORTHANDS.get(" ".join(text.split()))
    if shorthand is not None:
        return TimeFormat(shorthand)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"timeformat {text!r}: {exc}") from None
    quoted = text.strip()[:1] in "\"'"
    if len(words) == 1 and words[0] and (quoted or "%" in words[0]):
        return TimeFormat(words[0])
    if len(words) == 3 and words[1].isdigit():
        return TimeFormat(words[0], int(words[1]), words[2])
    choices = ", ".join(f'"{s}"' for s in _SHORTHANDS)
    raise ValueError(
        f"timeformat {text!r} is none of {choices}, a quoted strftime format, "
        'or "FORMAT" LIMIT "FORMAT"'
    )


def check_timeformat(text: str) -> str | None:
    try:
        parse_timeformat(text)
    except ValueError as exc:
        return str(exc)
    return None

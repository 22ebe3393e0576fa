"""The one exception hierarchy of bgpd.

Invariants: every error bgpd raises on purpose derives from `BgpdError`. A `WireError` always
carries what a NOTIFICATION needs (RFC 4271 §4.5 code, subcode, data), so the session layer can
turn it into queued bytes without knowing where it came from. A `ConfigError` carries every
problem found, each with its location, never only the first one.

`contained` is the core's only catch-all (DESIGN: no `except Exception` in the core elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def os_error_text(exc: OSError, about: str | None = None) -> str:
    """An OSError in plain words, with the path it concerns unless that is `about` (the path
    the caller already names): `/etc/hosts: not a directory`, not `[Errno 20] Not a
    directory: '/etc/hosts'`."""
    reason = exc.strerror or str(exc)
    reason = reason[:1].lower() + reason[1:]
    if exc.filename and exc.filename != about:
        return f"{exc.filename}: {reason}"
    return reason


class BgpdError(Exception):
    """Root of every error bgpd raises on purpose."""


class WireError(BgpdError):
    """Bytes that break the protocol; maps one-to-one to a NOTIFICATION."""

    __slots__ = ("code", "data", "subcode")

    def __init__(self, code: int, subcode: int, data: bytes = b"", message: str = "") -> None:
        self.code = code
        self.subcode = subcode
        self.data = bytes(data)
        super().__init__(message or f"BGP error {code}/{subcode}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigProblem:
    """One thing wrong with a configuration, and where it is."""

    location: str
    message: str
    # FILE:LINE:COL of the location in the text it was read from, when known
    at: str = ""

    def __str__(self) -> str:
        if self.at:
            return f"{self.at}: {self.location}: {self.message}"
        return f"{self.location}: {self.message}"


class ConfigError(BgpdError):
    """A configuration that must not be used; lists every problem found."""

    __slots__ = ("problems",)

    def __init__(self, problems: tuple[ConfigProblem, ...] | list[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def contained(step: Callable[[], None]) -> Exception | None:
    """Runs `step`; returns the exception it raised (None when it returned).

    The fault boundary of the core, used at exactly two seams: the speaker around the
    processing of one peer's input (`Speaker._for_peer`) and the exporter around the work done
    for one update group (`Exporter._guarded`). An exception there is a bug in bgpd or a case it
    does not handle, never the peer's fault in protocol terms (those are `WireError`s, answered
    per RFC 4271/7606); catching it at the seam lets the caller end only the sessions concerned
    (a NOTIFICATION, a log line with the traceback, the error wait) instead of unwinding through
    the event loop and every other session with it. Nowhere else is an arbitrary exception
    caught: below the seams errors propagate, so the seam knows the state it can no longer
    trust, and throws that state away.
    """
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - the documented boundary above
        return exc
    return None

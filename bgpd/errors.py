"""The one exception hierarchy of bgpd.

Invariants: every error bgpd raises on purpose derives from `BgpdError`. A `WireError` always
carries what a NOTIFICATION needs (RFC 4271 §4.5 code, subcode, data), so the session layer can
turn it into queued bytes without knowing where it came from. A `ConfigError` carries every
problem found, each with its location, never only the first one.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ConfigError(BgpdError):
    """A configuration that must not be used; lists every problem found."""

    __slots__ = ("problems",)

    def __init__(self, problems: tuple[ConfigProblem, ...] | list[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

"""`[bfd]`: the defaults of the BFD sessions (RFC 5880) that peers with `bfd = true` run, and
what one peer resolves to.

Role: the typed, validated shape of BFD's timers. A `[[peer]]` asks for BFD with `bfd = true`
and may override each value (`bfd_min_rx_ms`, `bfd_min_tx_ms`, `bfd_multiplier`);
`Config.peer_bfd` resolves them (`PeerBfd`), the runtime's BFD edge runs them.

Invariants: intervals are whole milliseconds, 10..60000 (BFD carries microseconds; below
10 ms a Python process on a shared loop cannot keep the promise); the multiplier is 1..255
(RFC 5880 §4.1, Detect Mult).
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.config.checks import Collector, raise_problems

__all__ = [
    "BfdSection",
    "PeerBfd",
    "check_bfd_interval",
    "check_bfd_multiplier",
]

MIN_INTERVAL_MS = 10
MAX_INTERVAL_MS = 60_000


def check_bfd_interval(v: int) -> str | None:
    if MIN_INTERVAL_MS <= v <= MAX_INTERVAL_MS:
        return None
    return f"{v} is out of range {MIN_INTERVAL_MS}..{MAX_INTERVAL_MS} milliseconds"


def check_bfd_multiplier(v: int) -> str | None:
    return None if 1 <= v <= 255 else f"{v} is out of range 1..255 (RFC 5880 Detect Mult)"


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdSection:
    """`[bfd]`: FRR's defaults (300 ms both ways, 3 missed packets: 900 ms to detect)."""

    min_rx_ms: int = 300
    min_tx_ms: int = 300
    multiplier: int = 3

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        c.check("min_rx_ms", check_bfd_interval, self.min_rx_ms)
        c.check("min_tx_ms", check_bfd_interval, self.min_tx_ms)
        c.check("multiplier", check_bfd_multiplier, self.multiplier)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerBfd:
    """One peer's BFD session, `[bfd]` overridden by the peer's own keys. `multihop`: RFC 5883
    on port 4784 (a peer with `multihop` above 1), else RFC 5881 single hop on 3784."""

    min_rx_ms: int
    min_tx_ms: int
    multiplier: int
    multihop: bool

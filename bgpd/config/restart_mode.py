"""How a session's routes outlive it: graceful restart alone or long-lived graceful restart.

Role: the `restart_mode` and `llgr_stale_time` keys of `[bgp]` (defaults) and `[[peer]]`, and
their checks. `"gr"` is RFC 4724 graceful restart: a peer's routes are kept for its restart
time. `"llgr"` adds RFC 9494 on top: our OPEN carries the Long-Lived Graceful Restart
capability, and when both sides sent it the peer's routes are kept past the restart time, for
its long-lived stale time, at the lowest preference and marked LLGR_STALE.

Invariants: LLGR is sent only beside the Graceful Restart capability (RFC 9494 §3), so
`"llgr"` where `[bgp] graceful_restart = false` is a config error, never a silent "gr".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from bgpd.errors import ConfigProblem
from bgpd.wire.capabilities import MAX_LONG_LIVED_STALE_TIME


class RestartMode(StrEnum):
    GR = "gr"  # RFC 4724 only
    LLGR = "llgr"  # RFC 4724 and RFC 9494


# BIRD 2's `long lived stale time` default; Calico Enterprise's BGPPeer gives no other.
DEFAULT_LLGR_STALE_TIME = 3600


def check_llgr_stale_time(v: int) -> str | None:
    if 1 <= v <= MAX_LONG_LIVED_STALE_TIME:
        return None
    return f"llgr_stale_time {v} is out of range 1..{MAX_LONG_LIVED_STALE_TIME} (RFC 9494 §3)"


def llgr_without_gr(where: str) -> ConfigProblem:
    return ConfigProblem(
        location=where,
        message='restart_mode = "llgr" needs [bgp] graceful_restart = true (RFC 9494 §3: '
        "the LLGR capability is sent beside the graceful restart one)",
    )


def restart_mode_problems(
    modes: Iterable[tuple[str, RestartMode | None]], *, graceful_restart: bool
) -> list[ConfigProblem]:
    """(location, restart_mode) pairs asking for LLGR while graceful restart is off."""
    if graceful_restart:
        return []
    return [llgr_without_gr(where) for where, mode in modes if mode is RestartMode.LLGR]

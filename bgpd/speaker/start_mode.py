"""How a speaker starts: as an RFC 4724 restarting speaker, or cold.

Role: `decide_start` is the pure decision the runtime takes once at start (bgpd/runtime/daemon.py):
a restarting speaker sets the R and F bits in its OPENs and defers every export until its peers'
End-of-RIB (`bgpd.speaker.recovery`); a cold one reflects each route as it arrives. Restarting is
right only when a peer may still hold routes of ours: after a run that kept kernel routes (the
forwarding state, `kept_routes`), or for a route reflector, after a run whose sessions were up
recently enough that its clients may still keep our routes as stale (our advertised restart
time, plus the long-lived stale time with `restart_mode = "llgr"`, RFC 9494). A reflector learns
that from the restart state file (`[bgp] restart_state_file`): `RestartRecord`, written by the
runtime (bgpd/runtime/restart_state.py) while any session is Established and at a clean stop.

Invariants: pure (no I/O, no clock: the runtime passes the file's text and the wall-clock `now`).
Whenever the evidence is missing in a way that could hide a recent run (no file configured, a
file that cannot be read or written, corrupt content, a time in the future) the answer is
"restarting", today's safe side; "cold" needs a writable location and either no file at all or
a record older than the window in which a peer may hold our routes, or one written at a clean
stop (our Cease ended graceful restart on every peer's side).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from bgpd.config import Config
from bgpd.config.restart_mode import RestartMode

__all__ = [
    "RECORD_VERSION",
    "RestartRecord",
    "StartDecision",
    "StateFileRead",
    "decide_start",
    "decode_record",
    "encode_record",
    "held_for",
    "refresh_period",
]

RECORD_VERSION = 1
# The record is refreshed at most this far apart while a session is up (and a quarter of the
# shortest restart time we advertise, so well inside it).
MAX_REFRESH_S = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartRecord:
    """The restart state file's content: when this speaker last had an Established session
    (Unix time) and for how long after that a peer may still hold our routes (seconds, from
    that run's config: restart time, long-lived stale time, and for a record refreshed while
    sessions ran, the hold time a peer may need to notice a silent end plus one refresh)."""

    sessions_up_at: float
    held_for: int
    clean_stop: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.sessions_up_at) or self.held_for < 0:
            raise ValueError(f"invalid restart record {self.sessions_up_at} {self.held_for}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StateFileRead:
    """What the runtime found at the configured path: `text` None when there is no file,
    `error` why it could not be read, `write_error` why nothing can be written beside it."""

    text: str | None = None
    error: str | None = None
    write_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartDecision:
    restarting: bool
    reason: str  # one word for the log line and the docs (docs/config.md, restart_state_file)
    kept_routes: int = 0
    error: str | None = None  # why the state file could not be used
    # From a record: seconds since its sessions were up, and the window it was held against.
    sessions_up_ago: float | None = None
    window: int | None = None
    clean_stop: bool | None = None


def refresh_period(config: Config) -> int:
    """Seconds between two records while a session is up: well below every restart time."""
    shortest = min(s.graceful_restart_time for s in _settings(config))
    return max(1, min(MAX_REFRESH_S, shortest // 4))


def held_for(config: Config, *, clean_stop: bool) -> int:
    """How long after our last Established session a peer may still hold our routes: the
    longest restart time we advertise (plus the long-lived stale time with LLGR, RFC 9494 §4.3).
    A record refreshed while sessions ran (not a clean stop) adds the longest hold time (a peer
    notices a silent end, a host gone, only when its hold timer expires: RFC 4724 §4.2 keeps
    our routes from then on) and one refresh period (we may have run that long after it)."""
    window = 0
    hold = 0
    for s in _settings(config):
        if not s.graceful_restart:
            continue
        kept = s.graceful_restart_time
        if s.restart_mode is RestartMode.LLGR:
            kept += s.llgr_stale_time
        window = max(window, kept)
        hold = max(hold, s.hold_time)
    if window == 0 or clean_stop:
        return window
    return window + hold + refresh_period(config)


def encode_record(record: RestartRecord) -> str:
    return (
        json.dumps(
            {
                "version": RECORD_VERSION,
                "sessions_up_at": round(record.sessions_up_at, 3),
                "held_for": record.held_for,
                "clean_stop": record.clean_stop,
            }
        )
        + "\n"
    )


def decode_record(text: str) -> RestartRecord:
    """The record in `text`; ValueError for anything else (a corrupt or foreign file)."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        raise ValueError("not a version 1 restart record")
    up_at, kept, clean = data.get("sessions_up_at"), data.get("held_for"), data.get("clean_stop")
    if (
        not isinstance(up_at, int | float)
        or isinstance(up_at, bool)
        or not isinstance(kept, int)
        or isinstance(kept, bool)
        or not isinstance(clean, bool)
    ):
        raise ValueError("restart record fields missing or of the wrong type")
    return RestartRecord(sessions_up_at=float(up_at), held_for=kept, clean_stop=clean)


def decide_start(
    config: Config, *, now: float, kept_routes: int = 0, state: StateFileRead | None
) -> StartDecision:
    """Restarting or cold (module docstring). `now` is wall-clock (Unix) time; `state` is
    None when no `[bgp] restart_state_file` is configured."""
    if not config.bgp.graceful_restart:
        return StartDecision(restarting=False, reason="graceful_restart_off")
    if kept_routes:
        # The forwarding state of our last run is in the kernel (RFC 4724 §4.1, BIRD's -R).
        return StartDecision(restarting=True, reason="kernel_routes_kept", kept_routes=kept_routes)
    if config.bgp.cluster_id is None:
        return StartDecision(restarting=False, reason="no_routes_kept")
    # A route reflector: its clients may hold routes of ours for a while after our last run.
    if state is None:
        return StartDecision(restarting=True, reason="no_restart_state_file")
    if state.write_error is not None:
        return StartDecision(
            restarting=True, reason="restart_state_not_writable", error=state.write_error
        )
    if state.error is not None:
        return StartDecision(restarting=True, reason="restart_state_unreadable", error=state.error)
    if state.text is None:
        return StartDecision(restarting=False, reason="no_previous_run")
    try:
        record = decode_record(state.text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return StartDecision(restarting=True, reason="restart_state_corrupt", error=_one_line(exc))
    age = now - record.sessions_up_at
    window = max(record.held_for, held_for(config, clean_stop=record.clean_stop))
    if record.clean_stop and age >= 0:
        # Our stop sent every peer a Cease: without RFC 8538's N bit (we never set it) a
        # NOTIFICATION ends graceful restart on the peer's side, which drops our routes at once.
        reason, restarting = "clean_stop", False
    elif age < 0:
        # The clock went back (or the file came from elsewhere): we cannot tell how long ago.
        reason, restarting = "restart_state_in_future", True
    elif age < window:
        reason, restarting = "sessions_up_recently", True
    else:
        reason, restarting = "sessions_down_long_enough", False
    return StartDecision(
        restarting=restarting,
        reason=reason,
        sessions_up_ago=round(age, 1),
        window=window,
        clean_stop=record.clean_stop,
    )


def _settings(config: Config) -> list[_Timers]:
    """The [bgp] defaults (dynamic neighbours take them) and every configured peer's."""
    b = config.bgp
    out = [
        _Timers(
            graceful_restart=b.graceful_restart,
            graceful_restart_time=b.graceful_restart_time,
            restart_mode=b.restart_mode,
            llgr_stale_time=b.llgr_stale_time,
            hold_time=b.hold_time,
        )
    ]
    for peer in config.all_peers:
        s = config.peer_settings(peer)
        out.append(
            _Timers(
                graceful_restart=s.graceful_restart,
                graceful_restart_time=s.graceful_restart_time,
                restart_mode=s.restart_mode,
                llgr_stale_time=s.llgr_stale_time,
                hold_time=s.hold_time,
            )
        )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class _Timers:
    graceful_restart: bool
    graceful_restart_time: int
    restart_mode: RestartMode
    llgr_stale_time: int
    hold_time: int


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:120] or type(exc).__name__

"""The restart state file (`[bgp] restart_state_file`): the evidence of a previous run.

Role: the runtime edge of `bgpd.speaker.start_mode`. At start `read_state` reads the file and
checks that one can be written beside it (the decision itself is pure, in start_mode). While
the speaker runs, `RestartStateWriter` records the wall-clock time whenever any session is
Established: at once when the first one comes up, then every `refresh_period` while one is
up, and at a clean stop (`stopping`). So the next start knows whether a peer may still hold
our routes.

Invariants: every write is atomic (a temporary file in the same directory, rename), the
file is 0644 and holds times only (no peer, no secret). A failed write is logged once until a
write succeeds again and never stops the speaker. The time written is `time.time()`, read here
at the edge; the core never sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable

from bgpd.config import Config
from bgpd.errors import os_error_text
from bgpd.session import SessionState
from bgpd.speaker import Speaker
from bgpd.speaker.start_mode import (
    RestartRecord,
    StartDecision,
    StateFileRead,
    decide_start,
    encode_record,
    held_for,
    refresh_period,
)

logger = logging.getLogger(__name__)

__all__ = ["RestartStateWriter", "any_established", "read_state", "start_mode", "write_record"]

# A record stays current to this many seconds between the refreshes: how often we look for a
# first Established session while none was up.
LOOK_S = 1.0
MAX_READ_BYTES = 4096


def read_state(path: str) -> StateFileRead:
    """The file at `path` (text None when absent), and whether a file can be written beside
    it (a temporary file is created and removed; the record itself is left as it was)."""
    write_error = None
    try:
        fd, probe = tempfile.mkstemp(prefix=".restart-probe-", dir=os.path.dirname(path))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        write_error = os_error_text(exc)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
    except FileNotFoundError:
        return StateFileRead(write_error=write_error)
    except OSError as exc:
        return StateFileRead(error=os_error_text(exc), write_error=write_error)
    if len(data) > MAX_READ_BYTES:
        return StateFileRead(text="<larger than a record>", write_error=write_error)
    return StateFileRead(text=data.decode("utf-8", "replace"), write_error=write_error)


def start_mode(config: Config, kept_routes: int) -> StartDecision:
    """Restarting or cold (bgpd.speaker.start_mode), with the one log line that says why."""
    path = config.bgp.restart_state_file
    state = None if path is None else read_state(path)
    d = decide_start(config, now=time.time(), kept_routes=kept_routes, state=state)
    how = "restarting" if d.restarting else "cold"
    if d.kept_routes:
        logger.info("start %s reason=%s routes=%d", how, d.reason, d.kept_routes)
    elif d.error is not None:
        logger.warning("start %s reason=%s path=%s error=%s", how, d.reason, path, d.error)
    elif d.window is not None:
        logger.info(
            "start %s reason=%s path=%s sessions_up_ago=%.1f window=%d clean_stop=%s",
            how,
            d.reason,
            path,
            d.sessions_up_ago,
            d.window,
            d.clean_stop,
        )
    elif path is not None:
        logger.info("start %s reason=%s path=%s", how, d.reason, path)
    else:
        logger.info("start %s reason=%s", how, d.reason)
    return d


def any_established(speaker: Speaker) -> bool:
    for name in speaker.peer_names():
        session = speaker.peer_session(name)
        if session is not None and session.state is SessionState.ESTABLISHED:
            return True
    return False


def write_record(path: str, record: RestartRecord) -> None:
    """Replace the file at `path` by `record`, atomically; OSError when it cannot."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".restart-state-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o644)  # times only: readable for an operator's look
            f.write(encode_record(record))
        # No fsync: it stalled the loop for tens of ms on a busy disk, right when the first
        # sessions come up. After a power loss the file may be empty or one record old: an
        # empty (corrupt) file makes the next start a restarting one, the safe side, and one
        # record old is within the refresh period the window allows for.
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class RestartStateWriter:
    """Keeps the record current while the speaker runs (module docstring)."""

    __slots__ = ("_any_up", "_config", "_failing", "_handle", "_loop", "_timing", "_written_at")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        config: Callable[[], Config],
        any_established: Callable[[], bool],
    ) -> None:
        self._loop = loop
        self._config = config  # the running config: a reload moves the file or the window
        self._any_up = any_established
        self._written_at: float | None = None  # loop time of this run's last record
        self._failing = False
        # (config, refresh period, window, clean-stop window): walks every peer's settings,
        # so once per config rather than at each look.
        self._timing: tuple[Config, int, int, int] | None = None
        self._handle: asyncio.TimerHandle | None = loop.call_later(LOOK_S, self._tick)

    def _tick(self) -> None:
        self._handle = self._loop.call_later(LOOK_S, self._tick)
        config = self._config()
        if config.bgp.restart_state_file is None or not self._any_up():
            return
        now = self._loop.time()
        if self._written_at is not None and now - self._written_at < self._times(config)[0]:
            return
        self._written_at = now
        self._write(config, clean_stop=False)

    def stopping(self) -> None:
        """A clean stop (before the sessions are closed): the stop time, when a session is up."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        config = self._config()
        if config.bgp.restart_state_file is not None and self._any_up():
            self._write(config, clean_stop=True)

    def _times(self, config: Config) -> tuple[int, int, int]:
        if self._timing is None or self._timing[0] is not config:
            self._timing = (
                config,
                refresh_period(config),
                held_for(config, clean_stop=False),
                held_for(config, clean_stop=True),
            )
        return self._timing[1:]

    def _write(self, config: Config, *, clean_stop: bool) -> None:
        path = config.bgp.restart_state_file
        assert path is not None
        record = RestartRecord(
            sessions_up_at=time.time(),
            held_for=self._times(config)[2 if clean_stop else 1],
            clean_stop=clean_stop,
        )
        try:
            write_record(path, record)
        except OSError as exc:
            if not self._failing:
                self._failing = True
                logger.warning(
                    "restart state not written path=%s error=%s", path, os_error_text(exc, path)
                )
            return
        if self._failing:
            self._failing = False
            logger.info("restart state written again path=%s", path)

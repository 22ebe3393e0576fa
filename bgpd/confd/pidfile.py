"""Telling a speaker in another process to reload: SIGHUP to the PID its pidfile names.

Role: `bgpd confd --pidfile-to-signal FILE`'s reload hook (as calico-node's confd runs
`sv hup bird`). A pidfile is only a claim: it may be stale, truncated, hand-edited or hold
another process's number after PID reuse. `os.kill` with 0 signals our whole process group
and with -1 every process we may signal, so the number is checked before anything is sent.

Invariants:
- A signal goes only to one process: a positive PID written in ASCII digits, that exists, is
  not this process, whose command line names bgpd (`bgpd` or the standalone `reflector`).
  Anything else is a `ReloadError` naming the file and the reason, and nothing is sent.
- The check and the signal address the same process: it is held by a pidfd from before
  its command line is read until the signal is sent, so a PID reused in between is never
  signalled (the pidfd then refers to the exited process and the send fails).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from bgpd.errors import BgpdError

__all__ = ["SPEAKER_NAMES", "ReloadError", "read_pid", "send_reload", "signal_pidfile"]

logger = logging.getLogger(__name__)

# What the speaker's command line holds (`bgpd run`, `python -m bgpd`, `python -m reflector`).
SPEAKER_NAMES = (b"bgpd", b"reflector")
_MAX_PIDFILE_BYTES = 64  # "4194304\n" is the longest a Linux PID gets; more is not a pidfile


class ReloadError(BgpdError):
    """The speaker could not be told to reload."""


def read_pid(path: Path) -> int:
    """The PID in `path`: one line of ASCII digits, positive; ReloadError otherwise."""
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_PIDFILE_BYTES + 1)
    except OSError as exc:
        raise ReloadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = raw.strip()
    if len(raw) > _MAX_PIDFILE_BYTES or not text or not (text.isascii() and text.isdigit()):
        raise ReloadError(f"{path} does not hold a PID (one line of digits): {raw[:20]!r}")
    pid = int(text)
    if pid <= 0:
        raise ReloadError(f"{path} holds PID {pid}: not a process (0 and below mean groups)")
    return pid


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def send_reload(pid: int, where: Path) -> None:
    """SIGHUP to the speaker `pid` (read from `where`), after the checks of the docstring."""
    if pid == os.getpid():
        raise ReloadError(f"{where} holds our own PID {pid}, not the speaker's")
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise ReloadError(f"{where}: no process {pid} (a stale pidfile?)") from None
    except OSError as exc:
        raise ReloadError(f"{where}: cannot open process {pid}: {exc.strerror}") from exc
    try:
        try:
            cmdline = _cmdline(pid)
        except OSError as exc:
            raise ReloadError(f"{where}: cannot read process {pid}: {exc.strerror}") from exc
        if not any(name in cmdline for name in SPEAKER_NAMES):
            shown = cmdline.replace(b"\0", b" ").strip().decode(errors="backslashreplace")[:80]
            raise ReloadError(f"{where}: process {pid} is not bgpd ({shown!r}); not signalled")
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGHUP)
        except ProcessLookupError:
            raise ReloadError(f"{where}: process {pid} exited before the signal") from None
        except OSError as exc:
            raise ReloadError(f"{where}: cannot signal process {pid}: {exc.strerror}") from exc
    finally:
        os.close(pidfd)


def signal_pidfile(path: Path) -> Callable[[], None]:
    """A reload hook sending SIGHUP to the speaker whose PID is written in `path`.

    Until the first signal has gone out, a missing pidfile is the speaker not started yet
    (calico-node starts confd first, and the speaker reads the file confd just rendered when
    it starts): one info line, not an error. Once a speaker has been signalled, a missing
    pidfile is an error like any other."""
    signalled = False

    def hup() -> None:
        nonlocal signalled
        if not signalled and not path.exists():
            logger.info("confd speaker not started yet pidfile=%s action=none", path)
            return
        send_reload(read_pid(path), path)
        signalled = True

    return hup

"""Lifecycle shared by the peer daemons: workdir, start with a readiness check, stop, freeze.

A `Daemon` owns one foreground process at a time (started in a `Namespace` or on the host),
a working directory for its config and logs, and a short private directory for its UNIX
control socket (``sun_path`` holds at most 107 bytes, and pytest's ``tmp_path`` can be longer).

Invariants:
- `start` returns only when the daemon answers on its control socket; if the process exits
  first, `DaemonError` carries its output.
- `close` is idempotent: stops the process (SIGTERM, then SIGKILL) and removes the temporary
  directories this object created (never a caller-provided workdir, which keeps the logs).
  It also runs at interpreter exit for daemons that were never closed.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

from .netns import Namespace, Process, spawn
from .poll import wait_until

__all__ = ["Daemon", "DaemonError"]


class DaemonError(RuntimeError):
    """A daemon failed to start, or its control interface reported an error."""


class Daemon(ABC):
    """Base class: subclasses provide the argv, config writing and a readiness probe."""

    __slots__ = ("_closed", "_own_workdir", "_process", "_sockdir", "name", "netns", "workdir")

    def __init__(self, *, name: str, netns: Namespace | None, workdir: Path | None) -> None:
        self.name = name
        self.netns = netns
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix=f"bgpdt-{name}-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._sockdir = Path(tempfile.mkdtemp(prefix="bgpdt-"))
        self._process: Process | None = None
        self._closed = False
        # Fallback for callers that never close(): stop the process and remove the dirs.
        atexit.register(self.close)

    # -- subclass hooks --------------------------------------------------------------------

    @abstractmethod
    def _prepare(self) -> None:
        """Write the config (and validate it) before a start."""

    @abstractmethod
    def _argv(self) -> list[str]:
        """The foreground command line."""

    @abstractmethod
    def _ready(self) -> bool:
        """True once the control interface answers (False, never an exception, until then)."""

    @abstractmethod
    def diagnostics(self) -> str:
        """Logs and state dumps to show when a test fails."""

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def process(self) -> Process | None:
        """The current process handle (None before the first start)."""
        return self._process

    @property
    def pid(self) -> int:
        """PID of the running daemon; raises DaemonError if it was never started."""
        if self._process is None:
            raise DaemonError(f"{self.name} was not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        """True while the daemon process exists (also while frozen)."""
        return self._process is not None and self._process.running

    def start(self, timeout: float = 10.0) -> Self:
        """Write the config, start the daemon and wait until its control socket answers."""
        if self._closed:
            raise DaemonError(f"{self.name} is closed")
        if self.running:
            raise DaemonError(f"{self.name} is already running")
        self._prepare()
        argv = self._argv()
        if self.netns is not None:
            self._process = self.netns.spawn(argv, name=self.name, log_dir=self.workdir)
        else:
            self._process = spawn(argv, name=self.name, log_dir=self.workdir)
        proc = self._process

        def ready() -> bool:
            if not proc.running:
                raise DaemonError(
                    f"{self.name} exited with status {proc.returncode} during start-up\n"
                    + proc.output()
                )
            return self._ready()

        try:
            wait_until(ready, timeout, 0.02, f"{self.name} control socket")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (a clean shutdown: BGP peers get a Cease), SIGKILL after ``timeout``."""
        if self._process is None:
            return None
        return self._process.stop(timeout)

    def kill(self) -> int | None:
        """SIGKILL: the daemon dies without notifying its peers (TCP reset or silence)."""
        if self._process is None:
            return None
        return self._process.kill()

    def restart(self, *, kill: bool = False, timeout: float = 10.0) -> Self:
        """Stop (cleanly, or with SIGKILL if ``kill``) and start again with the same config."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)

    def freeze(self) -> None:
        """SIGSTOP: the daemon stops answering (keepalives stop, hold timers run out)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze`."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def logs(self) -> str:
        """Tail of the daemon's stdout/stderr (all runs since this object was created)."""
        return self._process.output() if self._process is not None else "<never started>"

    def close(self) -> None:
        """Stop the daemon and remove the temporary directories this object created."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            atexit.unregister(self.close)

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        ns = self.netns.name if self.netns is not None else "host"
        pid = self._process.pid if self._process is not None else None
        return f"{type(self).__name__}(name={self.name!r}, netns={ns!r}, pid={pid})"

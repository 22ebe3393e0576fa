"""What the peer daemons share: lifecycle, control-client calls, session and RIB waits.

A `Daemon` owns one foreground process at a time (started in a `Namespace` or on the host),
a working directory for its config and logs, and a short private directory for its UNIX
control socket (``sun_path`` holds at most 107 bytes, and pytest's ``tmp_path`` can be longer).

Invariants:
- `start` returns only when the daemon answers on its control socket; if the process exits
  first, `DaemonError` carries its output.
- `close` is idempotent: stops the process (SIGTERM, then SIGKILL) and removes the temporary
  directories this object created (never a caller-provided workdir, which keeps the logs).
  It also runs at interpreter exit for daemons that were never closed.

`NeighborDaemon` adds what GoBGP, FRR and OpenBGPD have in common on top: sessions named by the
neighbour address, a RIB read per family, and the waits built on those.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import shutil
import signal
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from .binaries import Family
from .netns import Namespace, Process, run, spawn
from .poll import wait_until
from .routes import Route, RouteTable, canonical_prefix, family_of, wait_no_route, wait_route

__all__ = ["Daemon", "DaemonError", "NeighborDaemon", "numbered", "quoted"]


class DaemonError(RuntimeError):
    """A daemon failed to start, or its control interface reported an error."""


def numbered(text: str) -> str:
    """``text`` with line numbers, to show next to a daemon's complaint about a config line."""
    return "\n".join(f"{i:4} {line}" for i, line in enumerate(text.splitlines(), 1))


def quoted(text: str, daemon: str) -> str:
    """``text`` as a double-quoted config string (BIRD's and OpenBGPD's syntax); refuses what
    would need escaping rather than guess each daemon's escapes."""
    if '"' in text or "\\" in text or "\n" in text:
        raise ValueError(f"cannot quote {text!r} for {daemon}")
    return f'"{text}"'


class Daemon(ABC):
    """Base class: subclasses provide the argv, config writing, a readiness probe and a status."""

    error: ClassVar[type[DaemonError]] = DaemonError
    """What the subclass raises when its control client fails."""
    config_suffix: ClassVar[str] = "conf"

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
    def _status(self) -> str:
        """The daemon's own account of its sessions (a quick control call), for diagnostics."""

    # -- config and control ----------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        """Where the config is written."""
        return self.workdir / f"{self.name}.{self.config_suffix}"

    def _control(
        self,
        argv: list[str],
        what: str,
        timeout: float,
        refused: Callable[[str], bool] = lambda output: False,
    ) -> str:
        """Run a control client; stdout, or `error` on a timeout (frozen?), a non-zero exit or
        an output the client exits 0 with but ``refused`` recognises as an error."""
        try:
            proc = run(argv, check=False, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise self.error(f"{self.name}: {what} timed out (frozen?)") from exc
        output = proc.stdout + proc.stderr
        if proc.returncode != 0 or refused(output):
            raise self.error(
                f"{self.name}: {what} failed ({proc.returncode}): {output.strip()[:2000]}"
            )
        return proc.stdout

    def _decode_json(self, out: str, what: str) -> Any:
        """A control client's JSON answer (None when it printed nothing)."""
        try:
            return json.loads(out) if out.strip() else None
        except json.JSONDecodeError as exc:
            raise self.error(f"{self.name}: not JSON from {what}: {out[:500]}") from exc

    def _answers(self, socket: Path, probe: Callable[[], object]) -> bool:
        """A readiness probe: the control ``socket`` exists (a client without it backs off or
        hangs) and ``probe`` returns something true without a control error."""
        if not socket.exists():
            return False
        try:
            return bool(probe())
        except DaemonError:
            return False

    def _wait_state(
        self, what: str, current: Callable[[], str], state: str, timeout: float
    ) -> None:
        """Wait until ``current()`` (the state of session ``what``) is ``state``."""
        wait_until(
            lambda: current() == state,
            timeout,
            0.1,
            f"{self.name} {what} {state}",
            retry_on=(self.error,),
            describe=self.diagnostics,
        )

    def diagnostics(self) -> str:
        """The status (if the daemon answers), the config path and the log tail."""
        try:
            state = self._status()
        except DaemonError as exc:
            state = str(exc)
        return f"== {self!r} config {self.config_path}\n{state}\n{self.logs()}"

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


class NeighborDaemon(Daemon):
    """A router daemon (GoBGP, FRR, OpenBGPD) whose sessions are named by neighbour address."""

    __slots__ = ("asn", "router_id")

    def __init__(
        self,
        *,
        asn: int,
        router_id: str,
        name: str,
        netns: Namespace | None,
        workdir: Path | None,
    ) -> None:
        super().__init__(name=name, netns=netns, workdir=workdir)
        ipaddress.IPv4Address(router_id)
        self.asn = asn
        self.router_id = router_id

    @abstractmethod
    def neighbor_json(self, address: str) -> dict[str, Any]:
        """The daemon's own JSON about the session with ``address``."""

    @abstractmethod
    def neighbor_state(self, address: str) -> str:
        """Session state with ``address`` in BIRD's spelling (``Established``, ``Active``...)."""

    @abstractmethod
    def routes(self, family: Family | None = None) -> RouteTable:
        """Every path of the RIB (both families unless ``family`` is given)."""

    def wait_neighbor_state(self, address: str, state: str, timeout: float = 15.0) -> None:
        """Wait until the session with ``address`` is in ``state``."""
        self._wait_state(
            f"neighbour {address}", lambda: self.neighbor_state(address), state, timeout
        )

    def wait_established(self, address: str, timeout: float = 15.0) -> None:
        """Wait until the session with ``address`` is Established."""
        self.wait_neighbor_state(address, "Established", timeout)

    def wait_route(
        self, prefix: str, timeout: float = 10.0, where: Callable[[Route], bool] | None = None
    ) -> list[Route]:
        """Wait until the RIB holds ``prefix`` (a path matching ``where``)."""
        key = canonical_prefix(prefix)
        return wait_route(self, key, timeout, where, fetch=lambda: self.routes(family_of(key)))

    def wait_no_route(self, prefix: str, timeout: float = 10.0) -> None:
        """Wait until the RIB holds no path for ``prefix``."""
        key = canonical_prefix(prefix)
        wait_no_route(self, key, timeout, fetch=lambda: self.routes(family_of(key)))

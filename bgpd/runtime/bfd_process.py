"""The daemon's side of BFD: starts the BFD process (bgpd.runtime.bfd_child), tells it the
sessions the config asks for, hears their state changes, and starts it again if it dies.

Role: `configure` sends the wanted sessions (a reload sends them whole again); the process's
state changes go to `on_change` (the daemon tells the speaker), its status (the sessions'
views, drop counters) is kept for `show bfd sessions` and the metrics, its log records are
written as the daemon's own. `close` asks for AdminDown to every neighbour and waits for the
process to end.

Why a process of its own, and what it costs: see bgpd.runtime.bfd_child and
docs/performance.md ("BFD: failover, and BFD under load").

Invariants:
- The process runs this daemon's code: the same interpreter (`sys.executable -m`), and the
  directory this package was imported from first on its path when that is not already where
  the interpreter looks (a source tree, an editable install).
- A process that dies (end of file on the channel, a broken message, or `SILENT_S` plus
  `STALL_S` without a message: hung) is killed if need be, reaped without blocking the loop,
  logged with its exit status, counted (`restarts`, metric
  `bgpd_bfd_process_restarts_total`) and started again with the sessions of the running config,
  after a delay that doubles (up to `RESTART_MAX_S`) while it keeps dying young. Its sessions
  start from Down: the speaker hears Down for each session that was not (no failure: the path
  was not seen to fail, so we close no BGP session for it). A neighbour does see one: our new
  session says Down to its Up one (RFC 5880 §6.8.6), and it closes its BGP session to us until
  BFD is Up again, a second or so later.
- Everything runs on the loop's thread (the main thread: PR_SET_PDEATHSIG fires when the thread
  that started the process ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import bgpd
from bgpd.bfd import BfdPeer, BfdSettings, Diagnostic, PeerStateChanged, State, StateChanged
from bgpd.config import Config
from bgpd.control.bird_replies import BfdSessionRow
from bgpd.runtime.bfd_messages import (
    BfdMessageError,
    Changes,
    Closed,
    Configure,
    FrameReader,
    Hello,
    LogLine,
    Message,
    Shutdown,
    Status,
    encode_message,
)

__all__ = ["BfdProcess", "bfd_peers", "child_argv"]

logger = logging.getLogger(__name__)

RESTART_MIN_S = 0.1
RESTART_MAX_S = 30.0
YOUNG_S = 10.0  # a process that dies sooner than this doubles the next restart's delay
CLOSE_TIMEOUT_S = 2.0
# Nothing from the process for this long (it sends its status every second), and still nothing
# STALL_S later: it is hung, and is killed and started again. The second look is for a daemon
# that was stopped with it (SIGSTOP to the group, a paused VM): both woke, it will speak.
SILENT_S = 10.0
STALL_S = 3.0  # and still silent this much later, the loop having run meanwhile: hung
_REAP_S = 0.01


def bfd_peers(config: Config) -> list[BfdPeer]:
    """The BFD sessions `config` asks for, one per peer with `bfd = true`."""
    out = []
    for peer in config.all_peers:
        resolved = config.peer_bfd(peer)
        if resolved is None:
            continue
        settings = BfdSettings(
            desired_min_tx_us=resolved.min_tx_ms * 1000,
            required_min_rx_us=resolved.min_rx_ms * 1000,
            detect_mult=resolved.multiplier,
        )
        out.append(
            BfdPeer(
                name=peer.name,
                address=str(peer.address),
                multihop=resolved.multihop,
                settings=settings,
                local_address=None if peer.local_address is None else str(peer.local_address),
            )
        )
    return out


def child_argv(fd: int) -> list[str]:
    return [sys.executable, "-m", "bgpd.runtime.bfd_child", str(fd), str(os.getpid())]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(bgpd.__file__).resolve().parents[1])
    installed = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    if root not in installed:
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = root if not path else f"{root}{os.pathsep}{path}"
    return env


class BfdProcess:
    __slots__ = (
        "_closed",
        "_closing",
        "_drops_before",
        "_heard_at",
        "_launched",
        "_loop",
        "_on_change",
        "_out",
        "_proc",
        "_reader",
        "_restart_delay",
        "_restart_handle",
        "_restarting",
        "_sock",
        "_started_at",
        "_status",
        "_suspect_since",
        "_wanted",
        "_watchdog",
        "argv",
        "pid",
        "restarts",
        "startup_s",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[list[PeerStateChanged]], None],
        *,
        argv: Callable[[int], list[str]] = child_argv,
    ) -> None:
        self._loop = loop
        self._on_change = on_change
        self.argv = argv  # tests start a stand-in
        self._wanted: list[BfdPeer] = []
        self._status = Status(sessions=())
        self._drops_before: Counter[str] = Counter()  # the counters of processes that died
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader = FrameReader()
        self._out = bytearray()
        self._started_at = 0.0
        self._restart_delay = RESTART_MIN_S
        self._restart_handle: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._heard_at = 0.0
        self._suspect_since: float | None = None
        self._restarting: asyncio.Task[None] | None = None  # held: the loop keeps weak ones
        self._closing = False
        self._launched = False
        self._closed: asyncio.Future[None] | None = None
        self.pid: int | None = None
        self.restarts = 0
        self.startup_s: float | None = None  # from the start to its hello, last start

    # -------------------------------------------------------------------- the daemon's calls

    def start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                self.argv(child.fileno()),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                env=_child_env(),
            )
        except OSError:
            parent.close()
            raise
        finally:
            child.close()
        self.pid = self._proc.pid
        self._started_at = time.monotonic()
        self.startup_s = None
        parent.setblocking(False)
        self._sock = parent
        self._reader = FrameReader()
        self._out.clear()
        self._loop.add_reader(parent, self._readable)
        self._heard_at = time.monotonic()
        self._suspect_since = None
        self._arm_watchdog(SILENT_S)
        if self._wanted:
            self._send(self._configure())

    def configure(self, config: Config) -> list[str]:
        """Makes the sessions those `config` asks for; returns their peer names. The process
        starts with the first config that asks for a session (none runs without BFD peers)."""
        self._wanted = bfd_peers(config)
        if self._wanted and not self._launched and not self._closing:
            self._launched = True  # from now on a death, or a failed start, restarts it
            self._restart()
        else:
            self._send(self._configure())
        return sorted(p.name for p in self._wanted)

    def drops(self) -> dict[str, int]:
        """Packets not taken, by reason, over every process this daemon ran."""
        return dict(self._drops_before + Counter(self._status.drops))

    def bird_rows(self) -> list[BfdSessionRow]:
        """`show bfd sessions` on the BIRD-compatible sockets, from the last status."""
        return [
            BfdSessionRow(
                address=s.address,
                interface="---",
                state=s.state,
                since=s.since,
                interval_s=s.interval_s,
                timeout_s=s.timeout_s,
            )
            for s in self._status.sessions
        ]

    async def close(self) -> None:
        """AdminDown to every neighbour (the process sends them), then the process ends."""
        self._closing = True
        if self._restart_handle is not None:
            self._restart_handle.cancel()
            self._restart_handle = None
        proc = self._proc
        if proc is None:
            return
        if self._sock is not None:
            self._closed = self._loop.create_future()
            self._send(Shutdown())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_TIMEOUT_S)
        self._detach()
        if proc.poll() is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reaped(proc), CLOSE_TIMEOUT_S)
        if proc.poll() is None:
            logger.warning("bfd process did not exit pid=%d action=kill", proc.pid)
            proc.kill()
            await self._reaped(proc)

    # ---------------------------------------------------------------------------- the channel

    def _configure(self) -> Configure:
        level = logging.getLogger().getEffectiveLevel()
        return Configure(peers=tuple(self._wanted), log_level=level)

    def _send(self, msg: Message) -> None:
        if self._sock is None:
            return  # between a death and the restart: the restart sends the config
        pending = bool(self._out)
        self._out += encode_message(msg)
        if not pending:
            self._writable()

    def _writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = len(self._out)  # the process is gone: its end of file tells the reader
        del self._out[:sent]
        if self._out:
            self._loop.add_writer(sock, self._writable)
        else:
            self._loop.remove_writer(sock)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._died(f"channel error {exc.strerror or exc}")
            return
        if not data:
            self._died("end of file")
            return
        self._heard_at = time.monotonic()
        try:
            messages = self._reader.feed(data)
        except BfdMessageError as exc:
            self._died(f"a broken message: {exc}")
            return
        for msg in messages:
            if self._sock is None:
                break  # a message before this one ended it
            self._handle(msg)

    def _handle(self, msg: Message) -> None:
        if isinstance(msg, Changes):
            for c in msg.changes:
                logger.log(
                    logging.WARNING if c.change.failure else logging.INFO,
                    "bfd state peer=%s old=%s new=%s diag=%s",
                    c.peer,
                    c.change.old.label,
                    c.change.new.label,
                    c.change.diag.text.replace(" ", "_"),
                )
            self._on_change(list(msg.changes))
        elif isinstance(msg, Status):
            self._status = msg
        elif isinstance(msg, LogLine):
            logging.getLogger(msg.logger).log(msg.level, msg.msg, *msg.args)
        elif isinstance(msg, Hello):
            self.startup_s = time.monotonic() - self._started_at
            logger.info(
                "bfd process started pid=%d startup_ms=%.0f",
                msg.pid,
                self.startup_s * 1000,
            )
        elif isinstance(msg, Closed):
            if self._closed is not None and not self._closed.done():
                self._closed.set_result(None)
        else:
            self._died(f"{type(msg).__name__} is no message for the daemon")

    # ------------------------------------------------------------------------- death, restart

    def _arm_watchdog(self, delay: float) -> None:
        self._watchdog = self._loop.call_later(delay, self._check_alive)

    def _check_alive(self) -> None:
        self._watchdog = None
        now = time.monotonic()
        silent = now - self._heard_at
        if silent < SILENT_S:
            self._arm_watchdog(SILENT_S - silent)
        elif self._suspect_since is None or self._heard_at > self._suspect_since:
            # Silent, but we may have been stopped with it (SIGSTOP to the process group, a
            # paused VM) and both just woke: judged only if it stays silent a while longer.
            self._suspect_since = now
            self._arm_watchdog(STALL_S)
        else:
            self._died(f"silent for {silent:.0f} s")

    def _detach(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._sock is not None:
            self._loop.remove_reader(self._sock)
            self._loop.remove_writer(self._sock)
            self._sock.close()
            self._sock = None
        self._out.clear()

    def _died(self, why: str) -> None:
        proc = self._proc
        self._detach()
        if self._closing:
            if self._closed is not None and not self._closed.done():
                self._closed.set_result(None)
            return
        if proc is not None and proc.poll() is None:
            proc.kill()  # broken but alive: a fresh one replaces it
        self._restarting = self._loop.create_task(self._restart_after(proc, why))

    async def _reaped(self, proc: subprocess.Popen[bytes]) -> None:
        while proc.poll() is None:  # a SIGKILLed process is gone within milliseconds
            await asyncio.sleep(_REAP_S)

    async def _restart_after(self, proc: subprocess.Popen[bytes] | None, why: str) -> None:
        if proc is not None:
            await self._reaped(proc)
        if time.monotonic() - self._started_at >= YOUNG_S:
            self._restart_delay = RESTART_MIN_S
        delay = self._restart_delay
        self._restart_delay = min(delay * 2, RESTART_MAX_S)  # the next, if it dies young
        self.restarts += 1
        logger.error(
            "bfd process exited pid=%s status=%s reason=%s restarts=%d action=restart delay_s=%.1f",
            None if proc is None else proc.pid,
            None if proc is None else proc.returncode,
            why,
            self.restarts,
            delay,
        )
        self._sessions_down()
        if self._closing:
            return
        self._restart_handle = self._loop.call_later(delay, self._restart)

    def _restart(self) -> None:
        self._restart_handle = None
        if self._closing:
            return
        try:
            self.start()
        except OSError as exc:
            logger.error("bfd process cannot start error=%s", exc.strerror or exc)
            self._restarting = self._loop.create_task(self._restart_after(None, "start failed"))

    def _sessions_down(self) -> None:
        """The dead process's sessions are gone: Down for every one that was not, as no
        failure (nobody saw the path fail)."""
        now = time.monotonic()
        changes = [
            PeerStateChanged(
                peer=s.peer,
                change=StateChanged(
                    old=_STATES.get(s.state, State.DOWN),
                    new=State.DOWN,
                    diag=Diagnostic.NONE,
                    at=now,
                    failure=False,
                ),
            )
            for s in self._status.sessions
            if s.state != State.DOWN.label
        ]
        self._drops_before += Counter(self._status.drops)
        self._status = Status(sessions=())
        for c in changes:
            logger.info(
                "bfd state peer=%s old=%s new=Down diag=bfd_process_restarted",
                c.peer,
                c.change.old.label,
            )
        if changes:
            self._on_change(changes)


_STATES = {state.label: state for state in State}

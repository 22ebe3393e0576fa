"""The BFD process: the daemon's BFD sessions (the sans-IO `bgpd.bfd.BfdTable` and its UDP
sockets, bgpd.runtime.bfd_transport) in a process of their own, started by the daemon
(bgpd.runtime.bfd_process) as ``python -m bgpd.runtime.bfd_child FD PARENT_PID``, FD being its
end of a Unix socketpair that carries the messages of bgpd.runtime.bfd_messages.

Why a process: BFD's deadlines are tens of milliseconds, and the daemon's interpreter is busy
for longer than that during a full-table burst. On the asyncio loop one callback held the
packets for 294 ms at 10,000 prefixes; on a thread of its own BFD still waited for the
interpreter lock up to 165 ms past its 100 ms interval at 100,000 (half to two thirds of it the
cyclic garbage collector, whose full passes grow with the table), where this process stays
within 7-18 ms of it (bench/bfd_bench.py, docs/performance.md). Here nothing of the daemon's
can hold a packet: its own interpreter, a heap of a few hundred objects, one thread. FRR runs
bfdd apart for the same reason.

Invariants:
- It dies with the daemon: PR_SET_PDEATHSIG (SIGKILL) when the daemon's main thread ends, and
  it exits on end-of-file of the channel; it ignores SIGINT (a Ctrl-C reaches the whole
  process group; the daemon's orderly shutdown sends the AdminDowns).
- Nothing it sends waits for the daemon: the channel is non-blocking with a buffer of its own;
  only the latest status is kept while the daemon is slow to read (changes and logs are kept
  whole, in order).
- `now` is `time.monotonic()` (CLOCK_MONOTONIC, the same clock in every process of the host);
  the status carries wall-clock `since` for `show bfd sessions`.
- Log records go to the daemon (`LogLine`), which writes them with its own format and level.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
import traceback

from bgpd.bfd import BfdTable, PeerStateChanged
from bgpd.runtime.bfd_messages import (
    BfdMessageError,
    Changes,
    Closed,
    Configure,
    FrameReader,
    Hello,
    LogLine,
    Message,
    SessionStatus,
    Shutdown,
    Status,
    encode_message,
)
from bgpd.runtime.bfd_transport import BfdSockets

__all__ = ["BfdChild", "main"]

logger = logging.getLogger(__name__)

STATUS_S = 1.0  # the status is sent at least this often (a heartbeat for the daemon)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class _ChannelHandler(logging.Handler):
    """Log records to the daemon, as template and arguments."""

    def __init__(self, child: BfdChild) -> None:
        super().__init__()
        self._child = child

    def emit(self, record: logging.LogRecord) -> None:
        raw = record.args if isinstance(record.args, tuple) else ()
        args = tuple(a if isinstance(a, int | float | str) else str(a) for a in raw)
        msg = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            msg += " exc=%s"
            args += ("".join(traceback.format_exception(*record.exc_info)).strip(),)
        self._child.send(LogLine(level=record.levelno, logger=record.name, msg=msg, args=args))


class BfdChild:
    __slots__ = (
        "_channel",
        "_closing",
        "_out",
        "_reader",
        "_selector",
        "_sent_status",
        "_sockets",
        "_status_at",
        "_status_due",
        "table",
    )

    def __init__(self, channel: socket.socket, rng: random.Random) -> None:
        self._channel = channel
        channel.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(channel, selectors.EVENT_READ, None)
        self.table = BfdTable(rng)
        self._sockets = BfdSockets(self.table, self._selector, rng)
        self._reader = FrameReader()
        self._out = bytearray()
        self._status_due = False  # a status to send once the channel's buffer is empty
        self._sent_status: object = None
        self._status_at = time.monotonic() + STATUS_S
        self._closing = False

    def run(self) -> int:
        self.send(Hello(pid=os.getpid()))
        while not self._closing:
            try:
                if not self._step():
                    return 0  # the daemon is gone
            except BfdMessageError as exc:
                logger.error("bfd process channel broken error=%s action=exit", exc)
                return 2
            except Exception:
                # A bug must not end BFD for good (every session would time out on the
                # other side, ours would never come up again): logged, and BFD goes on.
                logger.exception("bfd process step failed action=continue")
                time.sleep(0.01)
        self._finish()
        return 0

    # ---------------------------------------------------------------------------- a turn

    def _step(self) -> bool:
        now = time.monotonic()
        deadline = self.table.next_deadline()
        wake = self._status_at if deadline is None else min(deadline, self._status_at)
        events = self._selector.select(max(0.0, wake - now))
        now = time.monotonic()
        for key, mask in events:
            if key.fileobj is self._channel:
                if mask & selectors.EVENT_WRITE:
                    self._write()
                if mask & selectors.EVENT_READ and not self._read(now):
                    return False
            else:
                self._sockets.receive(key.fileobj, key.data, now)  # type: ignore[arg-type]
        self.table.handle_timer(time.monotonic())
        self._report(self._sockets.flush())
        if now >= self._status_at:
            self._status_at = now + STATUS_S
            self._status_due = True
            self._sent_status = None  # sent even unchanged: the daemon's sign that we live
        self._send_status()
        return True

    def _read(self, now: float) -> bool:
        try:
            data = self._channel.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False
        for msg in self._reader.feed(data):
            self._handle(msg, now)
        return True

    def _handle(self, msg: Message, now: float) -> None:
        if isinstance(msg, Configure):
            logging.getLogger().setLevel(msg.log_level)
            self._report(self._sockets.configure(list(msg.peers), now))
            self._status_due = True
        elif isinstance(msg, Shutdown):
            self._closing = True
        else:
            raise BfdMessageError(f"{type(msg).__name__} is no message for the BFD process")

    def _report(self, changes: list[PeerStateChanged]) -> None:
        if changes:
            self.send(Changes(changes=tuple(changes)))
            self._status_due = True

    def _status(self) -> tuple[object, Status]:
        key = []
        for peer in self.table.peers():
            session = self.table.session(peer.name)
            if session is not None:
                key.append(
                    (
                        peer.name,
                        peer.address,
                        session.state,
                        session.state_since,
                        session.tx_interval_us(),
                        session.detection_time_us(),
                    )
                )
        drops = dict(self.table.drops)
        now, wall = time.monotonic(), time.time()
        sessions = tuple(
            SessionStatus(
                peer=name,
                address=address,
                state=state.label,
                since=wall - (now - since),
                interval_s=tx_us / 1e6,
                timeout_s=detect_us / 1e6,
            )
            for name, address, state, since, tx_us, detect_us in key
        )
        return (key, sorted(drops.items())), Status(sessions=sessions, drops=drops)

    def _send_status(self) -> None:
        if not self._status_due or self._out:
            return  # a slow daemon: the latest status goes once it has read the rest
        self._status_due = False
        key, status = self._status()
        if key != self._sent_status:
            self._sent_status = key
            self.send(status)

    # ---------------------------------------------------------------------------- sending

    def send(self, msg: Message) -> None:
        pending = bool(self._out)
        self._out += encode_message(msg)
        if not pending:
            self._write()

    def _write(self) -> None:
        try:
            sent = self._channel.send(self._out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._out.clear()  # the daemon is gone: the read side sees the end of file
            sent = 0
        del self._out[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
        self._selector.modify(self._channel, events, None)

    def _finish(self) -> None:
        """The daemon's shutdown: AdminDown to every neighbour (RFC 5880 §6.8.16), then
        `closed` once everything before it is written."""
        self._report(self._sockets.configure([], time.monotonic()))
        self._sockets.close()
        self.send(Closed())
        self._channel.setblocking(True)
        self._channel.settimeout(2.0)
        with contextlib.suppress(OSError):
            self._channel.sendall(self._out)
        self._out.clear()


def _die_with_parent(parent: int) -> bool:
    """SIGKILL when the daemon's thread that started us ends; False if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return os.getppid() == parent  # the daemon may have gone before prctl


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fd, parent = int(args[0]), int(args[1])
    if not _die_with_parent(parent):
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = socket.socket(fileno=fd)
    child = BfdChild(channel, random.Random())
    root = logging.getLogger()
    root.handlers[:] = [_ChannelHandler(child)]
    root.setLevel(logging.INFO)  # until the daemon's Configure says its level
    gc.freeze()  # the modules: the collector walks only the sessions' few objects
    return child.run()


if __name__ == "__main__":
    # `-m` runs this file as __main__: import it under its own name, which its logger carries
    from bgpd.runtime.bfd_child import main as _main

    raise SystemExit(_main())

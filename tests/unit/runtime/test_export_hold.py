"""A batch of reads stays open while the input is backlogged (`bgpd.runtime.export_hold`):
held only when a big read left more bytes waiting in the socket, ended when the backlog is
gone, when too many prefixes are staged, or when its time is up (by the next batch or by a
timer, even if no input comes)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator

import pytest

from bgpd.runtime.export_hold import (
    BACKLOG_READ,
    HOLD_MAX_S,
    HOLD_MAX_STAGED,
    ExportHold,
    bytes_waiting,
)
from bgpd.runtime.sessions import Sessions

BIG = b"u" * BACKLOG_READ


def test_hold_keeps_a_backlogged_batch_within_its_bounds() -> None:
    hold = ExportHold()
    assert not hold.keep(1.0, 1.01, backlogged=False, staged=5)
    assert hold.since is None and hold.deadline is None
    assert hold.keep(1.0, 1.04, backlogged=True, staged=5)
    assert hold.deadline == 1.0 + HOLD_MAX_S
    assert hold.keep(1.04, 1.08, backlogged=True, staged=10)
    assert hold.since == 1.0  # the bound counts from the first held turn
    assert not hold.keep(1.08, 1.0 + HOLD_MAX_S, backlogged=True, staged=15)
    assert hold.since is None and (hold.turns, hold.reason) == (3, "time")
    assert not hold.keep(2.0, 2.01, backlogged=True, staged=HOLD_MAX_STAGED)
    assert (hold.turns, hold.reason) == (1, "staged")
    assert hold.keep(3.0, 3.01, backlogged=True, staged=1)
    assert not hold.keep(3.01, 3.02, backlogged=False, staged=2)  # the backlog drained
    assert hold.since is None and hold.reason == "drained"


def test_bytes_waiting_reads_the_sockets_receive_queue() -> None:
    a, b = socket.socketpair()
    try:
        assert bytes_waiting(b) == 0
        a.sendall(b"x" * 1000)
        assert bytes_waiting(b) == 1000
        b.recv(400)
        assert bytes_waiting(b) == 600
    finally:
        a.close()
        b.close()
    assert bytes_waiting(b) == 0  # closed: nothing to wait for
    assert bytes_waiting(None) == 0


class _Speaker:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.staged = 10
        self.work: Callable[[], None] = lambda: None  # the read's processing (clock moves)

    def begin_batch(self) -> None:
        self.calls.append("begin")

    def end_batch(self, now: float) -> None:
        self.calls.append("end")

    def receive_data(self, peer: str, conn_id: int, data: bytes, now: float) -> None:
        self.calls.append(f"data {len(data)}")
        self.work()

    def staged_changes(self) -> int:
        return self.staged


class _Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class _Loop:
    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []
        self.timers: list[_Timer] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        self.timers.append(_Timer(when, callback))
        return self.timers[-1]

    def armed(self) -> list[_Timer]:
        return [t for t in self.timers if not t.cancelled]


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.conn_id = 1
        self.peer = "sender"
        self.transport = _Transport(sock)


class _Rig:
    def __init__(self, waiting: socket.socket, far: socket.socket) -> None:
        self.speaker, self.loop, self.flushes = _Speaker(), _Loop(), 0
        self.clock = 10.0
        self.near, self.far = waiting, far
        self.sessions = Sessions(
            self.speaker,  # type: ignore[arg-type]
            loop=lambda: self.loop,  # type: ignore[arg-type, return-value]
            now=lambda: self.clock,
            flush=self._flush,
        )
        self.conn = _Conn(waiting)
        self.sessions.connections[1] = self.conn  # type: ignore[assignment]

    def _flush(self) -> None:
        self.flushes += 1

    def turn(self, data: bytes, *, waiting: int, seconds: float = 0.01) -> None:
        """One loop turn: a read of `data` processed in `seconds`, `waiting` bytes left in
        the socket after it."""
        if waiting:
            self.far.sendall(b"w" * waiting)
        self.speaker.work = lambda: self._tick(seconds)
        self.sessions.on_data(self.conn, data)  # type: ignore[arg-type]
        self.loop.soon.pop()()
        if waiting:
            self.near.recv(waiting)

    def _tick(self, seconds: float) -> None:
        self.clock += seconds


@pytest.fixture
def rig() -> Iterator[_Rig]:
    near, far = socket.socketpair()
    near.setblocking(False)
    try:
        yield _Rig(near, far)
    finally:
        near.close()
        far.close()


def test_a_big_read_with_more_waiting_holds_the_batch_until_the_backlog_drains(rig: _Rig) -> None:
    rig.turn(BIG, waiting=100)
    rig.turn(BIG, waiting=100)
    assert rig.speaker.calls == ["begin", f"data {len(BIG)}"] * 2  # no end: held
    assert rig.flushes == 2  # session messages still go out every turn
    [timer] = rig.loop.armed()
    assert timer.when == 10.0 + HOLD_MAX_S
    rig.turn(b"tail", waiting=0)
    assert rig.speaker.calls[-3:] == ["begin", "data 4", "end"]
    assert rig.loop.armed() == []


def test_small_reads_or_an_empty_socket_never_hold(rig: _Rig) -> None:
    rig.turn(b"u" * (BACKLOG_READ - 1), waiting=100)  # a trickle, whatever is waiting
    rig.turn(BIG, waiting=0)  # a big read that emptied the socket
    assert rig.speaker.calls.count("end") == 2
    assert rig.loop.timers == []


def test_the_hold_ends_at_its_time_bound_or_staged_bound(rig: _Rig) -> None:
    rig.turn(BIG, waiting=100, seconds=HOLD_MAX_S / 2)
    rig.turn(BIG, waiting=100, seconds=HOLD_MAX_S / 2)  # the turn that reaches the bound
    assert rig.speaker.calls.count("end") == 1
    rig.turn(BIG, waiting=100)
    assert rig.speaker.calls.count("end") == 1
    rig.speaker.staged = HOLD_MAX_STAGED
    rig.turn(BIG, waiting=100)
    assert rig.speaker.calls.count("end") == 2


def test_the_timer_ends_a_hold_when_no_input_comes(
    rig: _Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bgpd.runtime.sessions")
    rig.turn(BIG, waiting=100)
    [timer] = rig.loop.armed()
    flushes = rig.flushes
    timer.callback()
    assert rig.speaker.calls[-1] == "end" and rig.flushes == flushes + 1
    assert "export hold ended turns=1 seconds=0.010 staged=10 reason=timer" in caplog.text
    rig.sessions.release()  # nothing held any more: no second end
    assert rig.speaker.calls.count("end") == 1

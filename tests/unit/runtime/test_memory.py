"""The daemon's memory housekeeping: collector tuning at startup, malloc_trim after bursts."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest

from bgpd.runtime import memory
from bgpd.runtime.memory import GC_YOUNG_THRESHOLD, MemoryTrimmer


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_startup_freezes_what_exists_and_raises_the_young_threshold() -> None:
    gc.set_threshold(700, 10, 10)
    MemoryTrimmer.freeze_startup_objects()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0  # what existed at startup is out of the collector's way


def test_a_burst_is_trimmed_once_the_input_has_been_quiet() -> None:
    trims: list[int] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        trimmer = MemoryTrimmer(loop)
        trimmer._trim = lambda: trims.append(1)  # the libc call, observed
        trimmer.note_input(memory.TRIM_AFTER_BYTES - 1)
        await asyncio.sleep(0)
        assert trimmer._handle is None  # below the burst: no plan
        trimmer.note_input(1)
        deadline = loop.time() + 5 * memory.QUIET_S
        while not trims and loop.time() < deadline:
            await asyncio.sleep(0.05)
        trimmer.close()

    asyncio.run(scenario())
    assert trims == [1]


class FakeLoop:
    """The trimmer's clock and timers, advanced by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], object], FakeHandle]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> FakeHandle:
        handle = FakeHandle()
        self.timers.append((self.now + delay, callback, handle))
        return handle

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [t for t in self.timers if t[0] <= end and not t[2].cancelled]
            if not due:
                break
            first = min(due, key=lambda t: t[0])
            self.timers.remove(first)
            self.now = first[0]
            first[1]()
        self.now = end


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def fake_trimmer() -> tuple[FakeLoop, MemoryTrimmer, list[int]]:
    loop = FakeLoop()
    trimmer = MemoryTrimmer(loop)  # type: ignore[arg-type]
    trims: list[int] = []
    trimmer._trim = lambda: trims.append(1)
    return loop, trimmer, trims


def test_a_mass_withdrawal_without_input_is_trimmed_once_quiet() -> None:
    loop, trimmer, trims = fake_trimmer()
    trimmer.note_rib_size(100_000)  # a table arrived (its input bytes were noted elsewhere)
    loop.advance(10)
    assert trims == []
    # the peer's session is lost: its 100,000 paths leave the Loc-RIB, no byte came in
    trimmer.note_rib_size(0)
    loop.advance(memory.QUIET_S / 2)
    assert trims == []  # not while things still move
    loop.advance(memory.QUIET_S)
    assert trims == [1]
    loop.advance(10)
    assert trims == [1]  # once


def test_a_few_withdrawals_are_no_reason_to_trim() -> None:
    loop, trimmer, trims = fake_trimmer()
    trimmer.note_rib_size(1_000)
    trimmer.note_rib_size(900)
    loop.advance(10)
    assert trims == []
    # but they add up with what follows: this drop alone is just below a burst
    few = memory.TRIM_AFTER_BYTES // memory.BYTES_PER_PATH
    assert few * memory.BYTES_PER_PATH < memory.TRIM_AFTER_BYTES
    trimmer.note_rib_size(900 + few)
    trimmer.note_rib_size(900)
    loop.advance(10)
    assert trims == [1]

"""The daemon's memory housekeeping: collector tuning at startup, malloc_trim after bursts."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

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

"""Giving memory back after a burst: glibc's `malloc_trim` once the speaker goes quiet.

Why: a table load passes megabytes of transient buffers (socket reads, UPDATEs queued for slow
peers) through the C heap. Once freed, glibc keeps most of it mapped, so RSS stays at the
burst's peak (measured: about 70 bytes per route held after a 100,000-route load) although
Python no longer uses it. `malloc_trim(0)` returns the free pages; it costs a few
milliseconds, so it runs only after a burst (several MiB of input) and once the input has
been quiet for a second. Elsewhere than glibc it does nothing.

A mass withdrawal frees as much without any input: a peer's session lost (its routes leave the
Loc-RIB at once), a reload removing peers. So the daemon also reports the Loc-RIB's path count
after each event (`note_rib_size`); a drop weighs `BYTES_PER_PATH` per path gone, like input
bytes, toward the same trim once things are quiet.

Also the cyclic garbage collector. `gc.freeze()`: the objects alive once the speaker is set up
(modules, config) are moved out of the collector's generations, so its full passes walk only
what the routes created. And a young-generation threshold of 20,000 allocations instead of
700: a table load allocates millions of container objects that nearly all live on (RIB
entries) or die by reference counting (messages), so the default threshold makes the collector
walk the same survivors over and over (measured: 15 % of the CPU of a 100,000-route
ingest-and-forward; with 20,000 as much as with the collector off). bgpd makes few cycles, so
the memory they hold meanwhile is small.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython default: 700)
TRIM_AFTER_BYTES = 1 << 20  # input since the last trim before one is worth it
QUIET_S = 1.0  # no input for this long: the burst is over
# What one Loc-RIB path held, roughly (its entry, packed prefix and share of a candidate): a
# drop of ~5,000 paths weighs as much as a 1 MiB input burst.
BYTES_PER_PATH = 200


class Scheduler(Protocol):
    """The part of the asyncio loop the trimmer uses (a fake clock in tests)."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle: ...


def _libc_trim() -> Callable[[], object] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class MemoryTrimmer:
    __slots__ = ("_handle", "_last_input", "_loop", "_paths", "_since", "_trim")

    def __init__(self, loop: Scheduler) -> None:
        self._loop = loop
        self._trim = _libc_trim()
        self._since = 0
        self._paths = 0  # the Loc-RIB's path count at the last `note_rib_size`
        self._last_input = 0.0
        self._handle: asyncio.TimerHandle | None = None

    @staticmethod
    def freeze_startup_objects() -> None:
        gc.collect()
        gc.freeze()
        _young, middle, old = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)

    def note_input(self, nbytes: int) -> None:
        """Bytes came in: after a large enough burst, a trim is planned for when it ends."""
        if self._trim is None:
            return
        self._since += nbytes
        self._last_input = self._loop.time()
        if self._since >= TRIM_AFTER_BYTES and self._handle is None:
            self._handle = self._loop.call_later(QUIET_S, self._maybe_trim)

    def note_rib_size(self, paths: int) -> None:
        """The Loc-RIB's path count now: paths gone since the last call (a session lost, a
        reload, a mass withdrawal) count toward a trim as input bytes do."""
        gone = self._paths - paths
        self._paths = paths
        if gone > 0:
            self.note_input(gone * BYTES_PER_PATH)

    def _maybe_trim(self) -> None:
        self._handle = None
        quiet_for = self._loop.time() - self._last_input
        if quiet_for < QUIET_S:
            self._handle = self._loop.call_later(QUIET_S - quiet_for, self._maybe_trim)
            return
        self._since = 0
        if self._trim is not None:
            self._trim()
            logger.debug("memory returned to the system after a burst of input")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

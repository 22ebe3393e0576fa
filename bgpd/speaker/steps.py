"""Answers computed in steps: a long table walk as a generator that pauses between chunks.

Role: a walk of a table of a million prefixes takes most of a second; run in one go it holds
the event loop, so keepalives, UPDATEs and other control clients wait. The sans-IO core
writes such a walk as `Steps[T]`, a generator that yields (nothing) after each chunk of
`WALK_CHUNK` keys and returns its answer; the asyncio edge (`bgpd.runtime.control_dispatch`,
the BIRD sockets) lets the loop run between steps, a caller without a loop (tests, benches)
runs them back to back with `finish`.

Consistency of a walked answer: the walk reads a snapshot of the table's keys taken when it
starts, and each prefix's paths at the moment its chunk is read. A prefix added after the
start is not in the answer, one withdrawn before its chunk is read is left out, and two
prefixes of one answer may have been read a few steps (milliseconds) apart, with UPDATEs
processed in between. A lookup (one prefix, a longest match, `--count`) takes no steps: it is
one consistent look.

An answer of many rows (a whole table, a full feed's routes) is a `Stream[T]`: each step hands
its chunk of the answer (maybe empty: a step that found nothing to show yet) in the answer's
order, so that the edge can encode and send a chunk and drop it before the next is built.
An answer of a million rows never exists whole in the daemon: building one made millions of
long-lived objects, and the collector's full passes over them and the table held the loop
for seconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

__all__ = [
    "VIEW_CHUNK",
    "WALK_CHUNK",
    "Steps",
    "Stream",
    "chunks",
    "collect",
    "finish",
    "merge_sorted",
    "paused",
    "stream_of",
]

T = TypeVar("T")
K = TypeVar("K")
S = TypeVar("S", bound=tuple[Any, ...])

Steps = Generator[None, None, T]
Stream = Generator[list[T], None, None]

# Keys per step: some 10-30 ms of work per chunk for the costliest filters in
# bench/route_query_bench.py, small next to a hold time of 1 s or more.
WALK_CHUNK = 20_000

# Views (or reply lines) built per step: a route's view costs some 30 us, so a chunk of keys
# where every prefix matches (a filter's matches need not be spread evenly) would otherwise be
# a step of 600 ms.
VIEW_CHUNK = 1_000


def chunks(keys: Collection[K], size: int | None = None) -> Iterator[list[K]]:
    """A snapshot of `keys` (a live dict view may change between steps), `size` (by default
    `WALK_CHUNK`, read at each call) at a time."""
    size = size or WALK_CHUNK
    snapshot = list(keys)
    for start in range(0, len(snapshot), size):
        yield snapshot[start : start + size]


def finish(steps: Steps[T]) -> T:
    """Runs every step at once: the answer, for a caller that has no loop to let run."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            answer: T = done.value
            return answer


def collect(stream: Stream[T]) -> Steps[list[T]]:
    """A stream's chunks gathered into one answer, still one step per chunk (for the callers
    that need the whole list: the BIRD socket's replies, tests, `answer`)."""
    out: list[T] = []
    for chunk in stream:
        out.extend(chunk)
        yield
    return out


def paused(steps: Steps[T]) -> Generator[list[Any], None, T]:
    """`steps` run inside a stream (`yield from`): an empty chunk per step, then its answer."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            answer: T = done.value
            return answer
        yield []


def stream_of(steps: Steps[list[T]]) -> Stream[T]:
    """An answer made in steps as a stream: empty chunks while it is made, then all of it."""
    yield (yield from paused(steps))


def merge_sorted(runs: Sequence[list[S]], pick: Callable[[S], T]) -> Steps[list[T]]:
    """`pick` of every item of `runs` (each sorted already, say one per chunk of a walk), in
    order, `WALK_CHUNK` items per step: a sort of a million items in one go would hold the
    loop for a second, a merge of sorted runs is spread over the steps."""
    size = WALK_CHUNK
    merged = heapq.merge(*runs) if len(runs) > 1 else iter(runs[0] if runs else ())
    out: list[T] = []
    while True:
        before = len(out)
        out.extend(pick(item) for item in islice(merged, size))
        if len(out) - before < size:
            return out
        yield

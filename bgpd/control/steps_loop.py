"""The asyncio edge of the core's walks in steps (`bgpd.speaker.steps`).

Role: run a `Steps` generator on the event loop, letting the loop run between two steps, so
that a walk of a million routes for one control client (bgpctl's socket, a BIRD socket) does
not hold sessions, timers and other clients for its whole length.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import TypeVar

__all__ = ["run_steps", "run_stream"]

T = TypeVar("T")


async def run_steps(steps: Generator[None, None, T]) -> T:
    """Runs a walk of the core (`bgpd.speaker.steps`), letting the loop run between steps."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            answer: T = done.value
            return answer
        await asyncio.sleep(0)


async def run_stream(stream: Generator[list[T], None, None]) -> AsyncGenerator[list[T], None]:
    """Runs a stream of the core (`bgpd.speaker.steps.Stream`), handing on each non-empty
    chunk as it is made and letting the loop run between steps."""
    for chunk in stream:
        if chunk:
            yield chunk
        await asyncio.sleep(0)

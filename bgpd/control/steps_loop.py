"""The asyncio edge of the core's walks in steps (`bgpd.speaker.steps`).

Role: run a `Steps` generator on the event loop, letting the loop run between two steps, so
that a walk of a million routes for one control client (bgpctl's socket, a BIRD socket) does
not hold sessions, timers and other clients for its whole length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TypeVar

__all__ = ["run_steps"]

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

"""Polling with a deadline: the project's standard way for a test to wait.

Tests never sleep to synchronise. They call `wait_until` with a probe that observes the system
(a daemon's RIB, a session state, a kernel table) and a deadline. The probe's last result, and
optionally a longer description of the system, end up in the AssertionError raised on timeout,
so a failing CI run says what was seen, not only that something did not happen.

Invariants: the probe runs at least once, even with a zero timeout; the deadline uses the
monotonic clock; exceptions not listed in ``retry_on`` propagate at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
    *,
    retry_on: tuple[type[BaseException], ...] = (),
    describe: Callable[[], object] | None = None,
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    ``retry_on`` lists exceptions that mean "not yet" (e.g. a control socket that is not up);
    they are remembered and reported like a falsy result. On timeout, raises AssertionError
    naming ``message``, the last observed value (or exception) and, if given, ``describe()``
    (called once, for diagnostics such as a daemon's full protocol dump).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except retry_on as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    text = f"timed out after {timeout:.1f}s waiting for {message}; last observed: {last!r}"
    if describe is not None:
        try:
            details = describe()
        except Exception as exc:  # diagnostics must not hide the timeout itself
            details = f"<describe() failed: {exc!r}>"
        text += f"\n--- state ---\n{details}"
    raise AssertionError(text)

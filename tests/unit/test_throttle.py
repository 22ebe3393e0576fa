"""The one rate-limit rule (`bgpd.throttle.WindowBudget`) behind LogThrottle, the refused
connection log and the per-route debug filter."""

from __future__ import annotations

from bgpd.throttle import WindowBudget


def test_burst_per_key_in_fixed_windows_and_every_held_line_is_counted() -> None:
    budget: WindowBudget[str] = WindowBudget(burst=2, window=10.0)
    assert [budget.admit("a", t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, False, False]
    assert budget.admit("b", 3.0)  # keys have their own budgets
    assert budget.take_held("b") == 0
    assert budget.admit("a", 10.0)  # the window opened at 0.0 has ended
    assert budget.take_held("a") == 2  # ... the count survives until taken
    assert budget.take_held("a") == 0
    assert budget.take_held("never") == 0


def test_take_ended_reports_and_forgets_only_ended_windows() -> None:
    budget: WindowBudget[str] = WindowBudget(burst=1, window=1.0)
    budget.admit("quiet", 0.0)
    for _ in range(3):
        budget.admit("noisy", 0.0)
    budget.admit("late", 0.6)
    budget.admit("late", 0.7)
    assert budget.take_ended(0.5) == []
    assert budget.take_ended(1.0) == [("noisy", 2)]  # "quiet" is forgotten without a report
    assert budget.take_ended(float("inf")) == [("late", 1)]
    assert budget.admit("noisy", 1.2)  # a forgotten key starts a fresh window

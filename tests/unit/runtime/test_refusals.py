"""Unknown connections: every one counted, one log line per window plus a summary."""

from __future__ import annotations

from bgpd.runtime.refusals import RefusedConnections


def test_a_flood_is_one_line_per_window_and_a_count_and_every_refusal_is_counted() -> None:
    refused = RefusedConnections(interval=10.0)
    logged = [refused.refused(f"192.0.2.{i % 200}", 100.0 + i * 0.001) for i in range(1000)]
    assert logged.count(True) == 1 and logged[0]
    assert refused.summary() == (999, "192.0.2.199")
    assert refused.summary() is None  # the count starts again
    assert refused.total == 1000
    # a refusal after the window ends opens a new one: logged again
    assert refused.refused("192.0.2.7", 111.0)
    assert not refused.refused("192.0.2.8", 112.0)
    assert refused.summary() == (1, "192.0.2.8")
    assert refused.total == 1002


def test_a_lone_refusal_has_no_summary() -> None:
    refused = RefusedConnections()
    assert refused.refused("192.0.2.1", 0.0)
    assert refused.summary() is None

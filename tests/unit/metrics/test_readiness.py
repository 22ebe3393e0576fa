"""`/readyz` rules (calico-node's -bird-ready): table-driven on hand-built snapshots, then on
live sans-IO speakers with a fake clock crossing the threshold."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bgpd.metrics import (
    ConfdStatus,
    Health,
    MetricsSnapshot,
    PeerMetrics,
    ReloadMetrics,
    SnapshotSource,
    readiness,
)
from bgpd.session.events import SessionState
from tests.unit.speaker.harness import Net, config

UP, DOWN = SessionState.ESTABLISHED, SessionState.ACTIVE


def peer(n: int, state: SessionState, restarting: bool = False) -> PeerMetrics:
    return PeerMetrics(
        name=f"Mesh_10_0_0_{n}",
        address=f"10.0.0.{n}",
        state=state,
        uptime_seconds=0.0,
        established_transitions=0,
        prefixes_received=(),
        prefixes_accepted=(),
        prefixes_advertised=(),
        messages_received=(),
        messages_sent=(),
        prefix_announcements_received=0,
        prefix_withdrawals_received=0,
        last_error_code=0,
        last_error_subcode=0,
        restarting=restarting,
    )


def snapshot(*peers: PeerMetrics) -> MetricsSnapshot:
    return MetricsSnapshot(
        version="test",
        python_version="3",
        start_time=0.0,
        peers=peers,
        rib_prefixes=(),
        rib_paths=(),
        update_group_sizes=(),
        kernel=None,
        reloads=ReloadMetrics(
            success_total=0, failure_total=0, last_success_timestamp=0.0, last_successful=True
        ),
        confd=None,
        graceful_restart_in_progress=any(p.restarting for p in peers),
        uptime_seconds=0.0,
    )


CASES = [
    # (peers, seconds since start, ready?, reason)
    ((), 0, True, "no BGP peers configured"),
    ((), 100, True, "no BGP peers configured"),
    ((peer(2, UP), peer(3, UP)), 5, True, "BGP established with all 2 peers"),
    ((peer(2, UP), peer(3, DOWN)), 5, False, "BGP not established with 10.0.0.3"),
    (
        (peer(2, DOWN), peer(3, DOWN)),
        29.9,
        False,
        "BGP not established with 10.0.0.2,10.0.0.3",
    ),
    ((peer(2, UP), peer(3, DOWN)), 30, True, "BGP established with 1 of 2 peers"),
    ((peer(2, DOWN), peer(3, DOWN)), 31, False, "BGP not established with 10.0.0.2,10.0.0.3"),
    ((peer(2, UP, restarting=True),), 5, False, "Graceful restart in progress"),
    # After the threshold graceful restart no longer matters (Calico checks it only within).
    ((peer(2, UP, restarting=True),), 60, True, "BGP established with 1 of 1 peers"),
]


@pytest.mark.parametrize(("peers", "since", "ok", "reason"), CASES)
def test_readiness_rules(
    peers: tuple[PeerMetrics, ...], since: float, ok: bool, reason: str
) -> None:
    assert readiness(snapshot(*peers), since_start=since, threshold=30) == Health(
        ok=ok, reason=reason
    )


def test_a_stopped_confd_watcher_is_not_ready_whatever_the_peers() -> None:
    running = replace(snapshot(peer(2, UP)), confd=ConfdStatus(renders_total=3))
    assert readiness(running, since_start=60, threshold=30).ok
    # Render failures alone keep readiness: the last good config still runs.
    failing = replace(running, confd=ConfdStatus(renders_total=3, render_failures_total=2))
    assert readiness(failing, since_start=60, threshold=30).ok
    stopped = replace(running, confd=ConfdStatus(renders_total=3, stopped="RuntimeError: x"))
    assert readiness(stopped, since_start=60, threshold=30) == Health(
        ok=False, reason="confd watcher stopped: RuntimeError: x"
    )


def test_readiness_follows_live_sessions_across_the_threshold() -> None:
    net = Net()
    net.add(
        "a",
        "127.0.0.1",
        config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)]),
    )
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.add("c", "127.0.0.3", config(64512, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    source = SnapshotSource(net.nodes["a"].speaker, clock=lambda: net.now, wall=lambda: 0.0)

    def health() -> Health:
        return readiness(
            source.snapshot(), since_start=source.now() - source.started_at, threshold=30
        )

    assert health() == Health(ok=False, reason="BGP not established with 127.0.0.2,127.0.0.3")
    net.start()
    assert health().ok
    # Within the threshold one peer down is enough to be unready...
    net.nodes["c"].speaker.shutdown(net.now)
    net.settle()
    assert health() == Health(ok=False, reason="BGP not established with 127.0.0.3")
    net.advance(31)
    # ...after it, one Established peer is enough.
    assert health() == Health(ok=True, reason="BGP established with 1 of 2 peers")
    net.nodes["b"].speaker.shutdown(net.now)
    net.settle()
    assert health() == Health(ok=False, reason="BGP not established with 127.0.0.2,127.0.0.3")

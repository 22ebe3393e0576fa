"""Prometheus metrics and health endpoints (the only package importing prometheus_client).

`SnapshotSource` reads the daemon's state into an immutable `MetricsSnapshot` at scrape time;
`SnapshotCollector` renders it on an explicit registry; `MetricsServer` serves `/metrics`,
`/livez` and `/readyz` on the daemon's asyncio loop. See docs/metrics.md.
"""

from bgpd.metrics.collector import SnapshotCollector, new_registry, render, snapshot_metrics
from bgpd.metrics.health import DEFAULT_READY_THRESHOLD_S, Health, probe_unix_socket, readiness
from bgpd.metrics.server import LivenessProbe, MetricsServer, bind_metrics_socket
from bgpd.metrics.snapshot import (
    ConfdStatus,
    FamilyCount,
    KernelMetrics,
    KernelStatsLike,
    MetricsSnapshot,
    PeerMetrics,
    ReloadMetrics,
    ReloadStats,
    SnapshotSource,
)

__all__ = [
    "DEFAULT_READY_THRESHOLD_S",
    "ConfdStatus",
    "FamilyCount",
    "Health",
    "KernelMetrics",
    "KernelStatsLike",
    "LivenessProbe",
    "MetricsServer",
    "MetricsSnapshot",
    "PeerMetrics",
    "ReloadMetrics",
    "ReloadStats",
    "SnapshotCollector",
    "SnapshotSource",
    "bind_metrics_socket",
    "new_registry",
    "probe_unix_socket",
    "readiness",
    "render",
    "snapshot_metrics",
]

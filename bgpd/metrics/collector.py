"""The Prometheus view of a `MetricsSnapshot`: one custom collector on an explicit registry.

Role: `SnapshotCollector.collect()` asks its source for a fresh snapshot and turns it into
metric families; `new_registry()` puts it (and the process collector) on a registry of its
own, never prometheus_client's global one. `render()` encodes a registry for an Accept header.

Invariants:
- The collector keeps no state between scrapes: every family is built from the snapshot of
  this scrape, so a removed peer has no series at all in the next one.
- Names follow Prometheus conventions: `bgpd_` prefix, base units (seconds), `_total` for
  counters (prometheus_client appends it to counter families), `_info` for info gauges.
- Labels are per peer (`peer`, `address`) and per family (`afi`, `safi`), never per prefix.
- An optional input (kernel sync off, no confd watcher, no etcd) produces no series rather
  than zeros, so "absent" and "zero" mean different things in alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from bgpd.metrics.snapshot import STATE_CODES, MetricsSnapshot, PeerMetrics

__all__ = ["GROUP_SIZE_BUCKETS", "SnapshotCollector", "new_registry", "render", "snapshot_metrics"]

PEER = ["peer", "address"]
PEER_FAMILY = ["peer", "address", "afi", "safi"]
FAMILY = ["afi", "safi"]
GROUP_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def _state_label(state: object) -> str:
    return str(state).lower()


def _peer_families(peers: tuple[PeerMetrics, ...]) -> Iterator[Metric]:
    def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=PEER if labels is None else labels)

    def counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=PEER if labels is None else labels)

    fsm = gauge(
        "bgpd_peer_fsm_state",
        "BGP FSM state as BGP4-MIB bgpPeerState: 1 idle, 2 connect, 3 active, 4 opensent, "
        "5 openconfirm, 6 established.",
    )
    state = gauge(
        "bgpd_peer_state",
        "1 for the session's current BGP FSM state, 0 for the others.",
        [*PEER, "state"],
    )
    up = gauge("bgpd_peer_up", "1 when the session is Established, else 0.")
    uptime = gauge(
        "bgpd_peer_uptime_seconds", "Seconds since the session became Established (0 when down)."
    )
    flaps = counter(
        "bgpd_peer_established_transitions", "Times the session reached Established (flaps)."
    )
    info = gauge(
        "bgpd_peer_info",
        "1 for each configured peer, labelled with its AS number (negotiated once up), ours, "
        "its type (ibgp, ebgp) and whether it is our reflector client: join it on peer.",
        [*PEER, "peer_asn", "local_asn", "type", "rr_client"],
    )
    received = gauge(
        "bgpd_peer_prefixes_received",
        "Prefixes (paths under ADD-PATH) the peer currently announces to us, per family, "
        "including those rejected by loop checks and import rules.",
        PEER_FAMILY,
    )
    accepted = gauge(
        "bgpd_peer_prefixes_accepted",
        "Prefixes (paths) from the peer currently held in the Loc-RIB, per family.",
        PEER_FAMILY,
    )
    advertised = gauge(
        "bgpd_peer_prefixes_advertised",
        "Prefixes (paths) we currently advertise to the peer (its Adj-RIB-Out), per family.",
        PEER_FAMILY,
    )
    msg_in = counter(
        "bgpd_peer_messages_received", "BGP messages received, by type.", [*PEER, "type"]
    )
    msg_out = counter("bgpd_peer_messages_sent", "BGP messages sent, by type.", [*PEER, "type"])
    ann_in = counter(
        "bgpd_peer_prefix_announcements_received",
        "Prefixes announced to us in UPDATE messages (each NLRI counted once per UPDATE).",
    )
    wd_in = counter(
        "bgpd_peer_prefix_withdrawals_received",
        "Prefixes withdrawn by the peer in UPDATE messages.",
    )
    ann_out = counter(
        "bgpd_peer_prefix_announcements_sent",
        "Prefixes we announced to the peer in UPDATE messages (each NLRI once per UPDATE).",
    )
    wd_out = counter(
        "bgpd_peer_prefix_withdrawals_sent",
        "Prefixes we withdrew from the peer in UPDATE messages.",
    )
    withheld = counter(
        "bgpd_peer_prefixes_withheld_too_big",
        "Announcements not sent to the peer because their attributes leave no room for the "
        "prefix in one message of its maximum size (4096 octets without extended messages).",
    )
    err_code = gauge(
        "bgpd_peer_last_error_code",
        "RFC 4271 error code of the last NOTIFICATION sent or received (0: none).",
    )
    err_sub = gauge(
        "bgpd_peer_last_error_subcode",
        "Error subcode of the last NOTIFICATION sent or received (0: none or unspecific).",
    )
    no_next_hop = gauge(
        "bgpd_peer_family_without_next_hop",
        "1 when the family is negotiated but we have no next hop of its IP version for the "
        "peer (our own routes of that family cannot be sent; see next_hop_v6), else 0.",
        PEER_FAMILY,
    )
    rfc7606 = counter(
        "bgpd_peer_rfc7606_actions",
        "RFC 7606 error actions applied to the peer's UPDATEs, by action.",
        [*PEER, "action"],
    )
    next_hop = counter(
        "bgpd_peer_next_hop_refused_prefixes",
        "Prefixes treated as withdrawn because their next hop is unusable, by reason.",
        [*PEER, "reason"],
    )
    no_password = gauge(
        "bgpd_peer_password_unavailable",
        "1 when the session is held down because its password could not be had (its "
        "Kubernetes Secret or key is missing or unreadable; the reason is in bgpctl show peer), "
        "else 0.",
    )
    bfd_up = gauge(
        "bgpd_peer_bfd_up",
        "1 while the peer's BFD session is Up, else 0; only for peers with bfd = true.",
    )
    bfd_failures = counter(
        "bgpd_peer_bfd_failures",
        "Failures BFD detected on the path to the peer (detection time passed, or the "
        "neighbour said Down), each of which closed the BGP session at once.",
        PEER,
    )
    for p in peers:
        labels = [p.name, p.address]
        no_password.add_metric(labels, 1 if p.password_unavailable else 0)
        if p.bfd_up is not None:
            bfd_up.add_metric(labels, 1 if p.bfd_up else 0)
            bfd_failures.add_metric(labels, p.bfd_failures)
        for action, n in p.rfc7606_actions:
            rfc7606.add_metric([*labels, action], n)
        for reason, n in p.next_hop_refused:
            next_hop.add_metric([*labels, reason], n)
        for fc in p.without_next_hop:
            no_next_hop.add_metric([*labels, fc.afi, fc.safi], fc.value)
        fsm.add_metric(labels, p.state_code)
        for s in STATE_CODES:
            state.add_metric([*labels, _state_label(s)], 1 if s is p.state else 0)
        up.add_metric(labels, 1 if p.up else 0)
        uptime.add_metric(labels, p.uptime_seconds)
        flaps.add_metric(labels, p.established_transitions)
        rr_client = "true" if p.rr_client else "false"
        info.add_metric([*labels, str(p.peer_asn), str(p.local_asn), p.peer_type, rr_client], 1)
        for family, counts in (
            (received, p.prefixes_received),
            (accepted, p.prefixes_accepted),
            (advertised, p.prefixes_advertised),
        ):
            for fc in counts:
                family.add_metric([*labels, fc.afi, fc.safi], fc.value)
        for kind, n in p.messages_received:
            msg_in.add_metric([*labels, kind], n)
        for kind, n in p.messages_sent:
            msg_out.add_metric([*labels, kind], n)
        ann_in.add_metric(labels, p.prefix_announcements_received)
        wd_in.add_metric(labels, p.prefix_withdrawals_received)
        ann_out.add_metric(labels, p.prefix_announcements_sent)
        wd_out.add_metric(labels, p.prefix_withdrawals_sent)
        withheld.add_metric(labels, p.prefixes_withheld_too_big)
        err_code.add_metric(labels, p.last_error_code)
        err_sub.add_metric(labels, p.last_error_subcode)
    yield from (info, fsm, state, up, uptime, flaps, received, accepted, advertised)
    yield from (msg_in, msg_out, ann_in, wd_in, ann_out, wd_out, withheld, err_code, err_sub)
    yield from (no_next_hop, rfc7606, next_hop, no_password, bfd_up, bfd_failures)


def _group_histogram(sizes: tuple[int, ...]) -> HistogramMetricFamily:
    # A histogram of the groups there are now (what OpenMetrics calls a gauge histogram),
    # written as a plain one: the text format has no gauge histogram, and prometheus_client
    # would print its `_gsum`/`_gcount` under a `histogram` TYPE that wants `_sum`/`_count`.
    buckets = [
        # `le` spelled as prometheus_client's own histograms do ("1.0").
        (str(float(b)), float(sum(1 for s in sizes if s <= b)))
        for b in GROUP_SIZE_BUCKETS
    ]
    buckets.append(("+Inf", float(len(sizes))))
    return HistogramMetricFamily(
        "bgpd_update_group_members",
        "Update groups by member count (established peers sharing one Adj-RIB-Out); _sum is "
        "the peers in groups, _count the groups.",
        buckets=buckets,
        sum_value=float(sum(sizes)),
    )


def snapshot_metrics(snap: MetricsSnapshot) -> Iterator[Metric]:
    """Every metric family of one snapshot, in a stable order."""
    info = InfoMetricFamily("bgpd_build", "bgpd build information.")
    info.add_metric([], {"version": snap.version, "python_version": snap.python_version})
    yield info
    yield GaugeMetricFamily(
        "bgpd_start_time_seconds", "Unix time the daemon started.", value=snap.start_time
    )
    yield from _peer_families(snap.peers)

    rib_prefixes = GaugeMetricFamily(
        "bgpd_rib_prefixes", "Prefixes in the Loc-RIB, per family.", labels=FAMILY
    )
    for fc in snap.rib_prefixes:
        rib_prefixes.add_metric([fc.afi, fc.safi], fc.value)
    rib_paths = GaugeMetricFamily(
        "bgpd_rib_paths", "Paths (all candidates) in the Loc-RIB, per family.", labels=FAMILY
    )
    for fc in snap.rib_paths:
        rib_paths.add_metric([fc.afi, fc.safi], fc.value)
    yield from (rib_prefixes, rib_paths)

    yield GaugeMetricFamily(
        "bgpd_update_groups",
        "Update groups (established peers sharing one Adj-RIB-Out and one encoding).",
        value=len(snap.update_group_sizes),
    )
    yield _group_histogram(snap.update_group_sizes)

    k = snap.kernel
    if k is not None:
        yield GaugeMetricFamily(
            "bgpd_kernel_routes_installed",
            "Routes bgpd installed in the kernel (its own protocol number).",
            value=k.installed,
        )
        yield GaugeMetricFamily(
            "bgpd_kernel_routes_learned",
            "Kernel routes of other protocols learned and offered to BGP (e.g. Felix's).",
            value=k.learned,
        )
        yield GaugeMetricFamily(
            "bgpd_kernel_routes_desired",
            "Routes bgpd wants in the kernel (installed once the sync catches up).",
            value=k.desired,
        )
        yield GaugeMetricFamily(
            "bgpd_kernel_converged",
            "1 once stale routes of a previous run have been reconciled.",
            value=1 if k.converged else 0,
        )
        yield CounterMetricFamily(
            "bgpd_kernel_operations",
            "Netlink route operations attempted.",
            value=k.operations_total,
        )
        yield CounterMetricFamily(
            "bgpd_kernel_operation_errors",
            "Netlink route operations that failed (retried with backoff).",
            value=k.errors_total,
        )
        yield CounterMetricFamily(
            "bgpd_kernel_resyncs", "Full re-dumps of the kernel table.", value=k.resyncs_total
        )

    r = snap.reloads
    reloads = CounterMetricFamily(
        "bgpd_config_reloads", "Config reloads, by result.", labels=["result"]
    )
    reloads.add_metric(["success"], r.success_total)
    reloads.add_metric(["failure"], r.failure_total)
    yield reloads
    yield GaugeMetricFamily(
        "bgpd_config_last_reload_successful",
        "1 when the last reload was applied (or none was tried), 0 when it was rejected.",
        value=1 if r.last_successful else 0,
    )
    yield GaugeMetricFamily(
        "bgpd_config_last_reload_success_timestamp_seconds",
        "Unix time of the last config load that was applied (start time before any reload).",
        value=r.last_success_timestamp,
    )

    c = snap.confd
    if c is not None:
        yield CounterMetricFamily(
            "bgpd_confd_renders", "Config renders by the confd watcher.", value=c.renders_total
        )
        yield CounterMetricFamily(
            "bgpd_confd_render_failures",
            "Renders that failed (template or data error); the old file was kept.",
            value=c.render_failures_total,
        )
        yield CounterMetricFamily(
            "bgpd_confd_check_failures",
            "Rendered configs rejected by the config check; the old file was kept.",
            value=c.check_failures_total,
        )
        if c.etcd_connected is not None:
            yield GaugeMetricFamily(
                "bgpd_confd_etcd_connected",
                "1 while the watcher's etcd connection is up.",
                value=1 if c.etcd_connected else 0,
            )
        if c.datastores:
            connected = GaugeMetricFamily(
                "bgpd_confd_datastore_connected",
                "1 while the watcher reaches this datastore (etcd, kubernetes).",
                labels=["datastore"],
            )
            for name, up in c.datastores:
                connected.add_metric([name], 1 if up else 0)
            yield connected
        if c.unsupported_fields:
            unsupported = GaugeMetricFamily(
                "bgpd_confd_unsupported_fields",
                "Datastore resources setting a field bgpd refuses (see docs/calico-fields.md), "
                "by kind and field; 0 once none does.",
                labels=["kind", "field"],
            )
            for kind, field, count in c.unsupported_fields:
                unsupported.add_metric([kind, field], count)
            yield unsupported

    yield CounterMetricFamily(
        "bgpd_unknown_connections",
        "TCP connections refused because no peer or dynamic neighbour range matches the "
        "remote address.",
        value=snap.unknown_connections_total,
    )
    dropped = CounterMetricFamily(
        "bgpd_bfd_packets_dropped",
        "BFD packets not taken, by reason: ttl (single hop, not 255: RFC 5881 GTSM), "
        "no_session, address_mismatch, and the RFC 5880 6.8.6 checks.",
        labels=["reason"],
    )
    for reason, n in snap.bfd_packets_dropped:
        dropped.add_metric([reason], n)
    yield dropped
    yield CounterMetricFamily(
        "bgpd_bfd_process_restarts",
        "Times the BFD process died and was started again (its sessions restart from Down).",
        value=snap.bfd_process_restarts,
    )
    yield GaugeMetricFamily(
        "bgpd_graceful_restart_in_progress",
        "1 while our own graceful restart (RFC 4724 R bit) is not finished.",
        value=1 if snap.graceful_restart_in_progress else 0,
    )


class SnapshotCollector(Collector):
    """Builds one snapshot per scrape (on the calling thread: the loop) and renders it."""

    def __init__(self, source: Callable[[], MetricsSnapshot]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return snapshot_metrics(self._source())


def new_registry(
    source: Callable[[], MetricsSnapshot], *, process: bool = True
) -> CollectorRegistry:
    """An explicit registry holding the snapshot collector (and process_* metrics)."""
    # auto_describe=False: describing would call collect() (a snapshot) at registration.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(source))
    if process:
        ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """(body, content type) for a scrape with this Accept header (OpenMetrics when asked)."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type

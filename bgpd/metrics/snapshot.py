"""What one scrape sees: an immutable snapshot of the speaker's observable state.

Role: `SnapshotSource.snapshot()` reads the speaker (and the kernel, reload and confd inputs the
daemon hands in) and returns a `MetricsSnapshot`, a tree of frozen values. The Prometheus
collector (`bgpd.metrics.collector`) and the readiness rules (`bgpd.metrics.health`) only ever
look at such a snapshot.

Invariants:
- A snapshot is built on the asyncio loop thread, the only thread that touches the speaker, at
  scrape time; it holds no reference to live state, so it can be rendered anywhere afterwards.
- Only peers configured at that instant appear: a removed peer is simply absent from the next
  snapshot, so no series of a removed peer survives (no labelled-gauge leak).
- Nothing here imports prometheus_client, asyncio or another edge: the module is plain data plus
  one builder, testable with a `Speaker` and a fake clock.
- Counters come from the speaker's own counters (`PeerCounters`, `KernelStats`, `ReloadStats`),
  which only grow; the snapshot copies them, it never counts anything itself.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bgpd import __version__
from bgpd.net import FAMILY_NAMES, Family
from bgpd.policy.next_hop import REASONS as NEXT_HOP_REASONS
from bgpd.session.events import SessionState
from bgpd.wire.constants import MessageType

if TYPE_CHECKING:
    from bgpd.session.fsm import Session
    from bgpd.speaker import Speaker
    from bgpd.speaker.peer_counts import PeerCounts

__all__ = [
    "STATE_CODES",
    "ConfdStatus",
    "FamilyCount",
    "KernelMetrics",
    "KernelStatsLike",
    "MetricsSnapshot",
    "PeerMetrics",
    "ReloadMetrics",
    "ReloadStats",
    "SnapshotSource",
    "build_version",
    "family_labels",
]

# BGP4-MIB bgpPeerState (RFC 4273): the number operators already graph for other speakers.
STATE_CODES: dict[SessionState, int] = {
    SessionState.IDLE: 1,
    SessionState.CONNECT: 2,
    SessionState.ACTIVE: 3,
    SessionState.OPEN_SENT: 4,
    SessionState.OPEN_CONFIRM: 5,
    SessionState.ESTABLISHED: 6,
}


def family_labels(family: Family) -> tuple[str, str]:
    """("ipv4", "unicast") for IPv4 unicast: the `afi` and `safi` label values."""
    return family.afi.name.lower(), family.safi.name.lower()


def build_version() -> str:
    """The running code's version (`bgpd.__version__`, the one place it is written)."""
    return __version__


# --------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True, kw_only=True)
class FamilyCount:
    """A count for one address family (`afi`, `safi` label values)."""

    afi: str
    safi: str
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerMetrics:
    """One configured peer at scrape time."""

    name: str
    address: str
    state: SessionState
    uptime_seconds: float  # 0 while not Established
    established_transitions: int  # flaps: how many times the session came up
    # per configured family: accepted + rejected by the loop checks and import rules;
    # held in the Loc-RIB; held in the Adj-RIB-Out toward the peer
    prefixes_received: tuple[FamilyCount, ...]
    prefixes_accepted: tuple[FamilyCount, ...]
    prefixes_advertised: tuple[FamilyCount, ...]
    messages_received: tuple[tuple[str, int], ...]  # (message type name, count)
    messages_sent: tuple[tuple[str, int], ...]
    prefix_announcements_received: int  # NLRI announced to us, summed over UPDATEs
    prefix_withdrawals_received: int
    prefix_announcements_sent: int = 0  # NLRI we announced to the peer, summed over UPDATEs
    prefix_withdrawals_sent: int = 0
    prefixes_withheld_too_big: int = 0  # announcements not sent: larger than its messages
    last_error_code: int  # RFC 4271 §4.5 code of the last NOTIFICATION (0 = none)
    last_error_subcode: int
    restarting: bool  # we announce RFC 4724 restart state (R bit) to this peer
    # per configured family: 1 when it is negotiated but has no next hop of ours
    without_next_hop: tuple[FamilyCount, ...] = ()
    # RFC 7606 §8: (action, times applied) for every softer action; RFC 4271 §6.3:
    # (reason, prefixes refused) for every next hop reason.
    rfc7606_actions: tuple[tuple[str, int], ...] = ()
    next_hop_refused: tuple[tuple[str, int], ...] = ()
    # held down: the password it should have could not be had (a missing Secret or key)
    password_unavailable: bool = False
    # None: the peer runs no BFD; else whether its BFD session is Up
    bfd_up: bool | None = None
    bfd_failures: int = 0  # BFD-detected failures that closed the session
    # bgpd_peer_info's labels: the peer's AS (negotiated once up), ours, "ibgp" or "ebgp",
    # whether it is our route reflector client
    peer_asn: int = 0
    local_asn: int = 0
    peer_type: str = "ibgp"
    rr_client: bool = False

    @property
    def state_code(self) -> int:
        return STATE_CODES[self.state]

    @property
    def up(self) -> bool:
        return self.state is SessionState.ESTABLISHED


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelMetrics:
    """The kernel sync's counters (a copy of `bgpd.kernel.sync.KernelStats`)."""

    installed: int
    learned: int
    desired: int
    converged: bool
    operations_total: int
    errors_total: int
    resyncs_total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadMetrics:
    success_total: int
    failure_total: int
    last_success_timestamp: float  # wall clock, Unix seconds; start time before any reload
    last_successful: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfdStatus:
    """What an in-process confd watcher reports; the daemon translates its own view into this.

    `datastores` holds (kind, connected) per datastore the watcher reads ("etcd",
    "kubernetes"; none for a file backend). `etcd_connected` is the etcd one, None without
    etcd (no etcd series then). `stopped` says why the watcher stopped (bgpd is then exiting),
    None while it runs. `unsupported_fields` holds (kind, field, resources setting it) for the
    datastore fields bgpd refuses (bgpd.confd.model.field_ledger).
    """

    renders_total: int = 0
    render_failures_total: int = 0
    check_failures_total: int = 0
    etcd_connected: bool | None = None
    datastores: tuple[tuple[str, bool], ...] = ()
    stopped: str | None = None
    unsupported_fields: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSnapshot:
    version: str
    python_version: str
    start_time: float  # wall clock, Unix seconds
    peers: tuple[PeerMetrics, ...]
    rib_prefixes: tuple[FamilyCount, ...]
    rib_paths: tuple[FamilyCount, ...]
    update_group_sizes: tuple[int, ...]
    kernel: KernelMetrics | None  # None: kernel sync is off
    reloads: ReloadMetrics
    confd: ConfdStatus | None  # None: no watcher in this process
    graceful_restart_in_progress: bool  # our own restart (RFC 4724 §3 R bit) not finished
    uptime_seconds: float  # since the daemon started (monotonic)
    unknown_connections_total: int = 0  # refused: no peer or dynamic range for the address
    # BFD packets not taken, by reason (RFC 5880 §6.8.6 checks, GTSM, no session)
    bfd_packets_dropped: tuple[tuple[str, int], ...] = ()
    bfd_process_restarts: int = 0  # the BFD process died and was started again


# -------------------------------------------------------------------------------- inputs


class KernelStatsLike(Protocol):
    """The fields of `bgpd.kernel.sync.KernelStats` read here (no import across edges)."""

    @property
    def installed(self) -> int: ...
    @property
    def learned(self) -> int: ...
    @property
    def desired(self) -> int: ...
    @property
    def converged(self) -> bool: ...
    @property
    def ops_total(self) -> int: ...
    @property
    def errors_total(self) -> int: ...
    @property
    def resyncs_total(self) -> int: ...


class ReloadStats:
    """Config reload outcomes; the daemon records every reload, metrics read them."""

    __slots__ = ("failure_total", "last_success_timestamp", "last_successful", "success_total")

    def __init__(self, start_wall: float) -> None:
        self.success_total = 0
        self.failure_total = 0
        # The config loaded at start is the last good one until a reload succeeds (as
        # Prometheus' own prometheus_config_last_reload_success_timestamp_seconds does).
        self.last_success_timestamp = start_wall
        self.last_successful = True

    def succeeded(self, wall: float) -> None:
        self.success_total += 1
        self.last_success_timestamp = wall
        self.last_successful = True

    def failed(self) -> None:
        self.failure_total += 1
        self.last_successful = False

    def metrics(self) -> ReloadMetrics:
        return ReloadMetrics(
            success_total=self.success_total,
            failure_total=self.failure_total,
            last_success_timestamp=self.last_success_timestamp,
            last_successful=self.last_successful,
        )


def _session(speaker: Speaker, name: str) -> Session:
    session = speaker.peer_session(name)
    assert session is not None  # names come from the speaker's own views
    return session


def _per_family(counts: PeerCounts, field: str) -> tuple[FamilyCount, ...]:
    """One of `FamilyPrefixes`' counts ("received", ...) for each of the peer's families."""
    return tuple(
        FamilyCount(afi=afi, safi=safi, value=getattr(f, field))
        for f in counts.families
        for afi, safi in (family_labels(f.family),)
    )


def _messages(counts: Mapping[int, int]) -> tuple[tuple[str, int], ...]:
    return tuple((MessageType(t).name.lower(), n) for t, n in sorted(counts.items()))


class SnapshotSource:
    """Builds snapshots from the live daemon state; called on the loop thread only.

    `clock` is monotonic (the loop's time, as the speaker's `now`), `wall` is Unix time.
    """

    __slots__ = (
        "_bfd_drops",
        "_bfd_restarts",
        "_clock",
        "_confd",
        "_kernel",
        "_speaker",
        "_start_wall",
        "_started_at",
        "_unknown_connections",
        "_version",
        "_wall",
        "reloads",
    )

    def __init__(
        self,
        speaker: Speaker,
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        kernel: Callable[[], KernelStatsLike | None] = lambda: None,
        confd: Callable[[], ConfdStatus | None] = lambda: None,
        reloads: ReloadStats | None = None,
        unknown_connections: Callable[[], int] = lambda: 0,
        bfd_drops: Callable[[], Mapping[str, int]] = dict,
        bfd_restarts: Callable[[], int] = lambda: 0,
    ) -> None:
        self._speaker = speaker
        self._bfd_drops = bfd_drops
        self._bfd_restarts = bfd_restarts
        self._unknown_connections = unknown_connections
        self._clock = clock
        self._wall = wall
        self._kernel = kernel
        self._confd = confd
        self._started_at = clock()
        self._start_wall = wall()
        self._version = build_version()
        self.reloads = reloads if reloads is not None else ReloadStats(self._start_wall)

    @property
    def started_at(self) -> float:
        """Monotonic time the daemon started (the readiness threshold counts from here)."""
        return self._started_at

    def now(self) -> float:
        return self._clock()

    def snapshot(self) -> MetricsSnapshot:
        now = self._clock()
        speaker = self._speaker
        rib = speaker.rib
        peers: list[PeerMetrics] = []
        for view in speaker.peer_views(now):
            name = view.name
            session = _session(speaker, name)
            counters = session.counters
            err = counters.last_error
            counts = speaker.peer_counts(name)
            assert counts is not None  # names come from the speaker's own views

            missing = set(view.families_without_next_hop)
            without_next_hop = tuple(
                FamilyCount(afi=afi, safi=safi, value=1 if str(family) in missing else 0)
                for family in sorted(session.settings.families)
                for afi, safi in (family_labels(family),)
            )
            peers.append(
                PeerMetrics(
                    name=name,
                    address=view.address,
                    state=session.state,
                    uptime_seconds=float(view.uptime_s or 0.0),
                    established_transitions=counters.established_transitions,
                    prefixes_received=_per_family(counts, "received"),
                    prefixes_accepted=_per_family(counts, "accepted"),
                    prefixes_advertised=_per_family(counts, "advertised"),
                    messages_received=_messages(counters.messages_in),
                    messages_sent=_messages(counters.messages_out),
                    prefix_announcements_received=counters.prefixes_announced_in,
                    prefix_withdrawals_received=counters.prefixes_withdrawn_in,
                    prefix_announcements_sent=counters.prefixes_announced_out,
                    prefix_withdrawals_sent=counters.prefixes_withdrawn_out,
                    prefixes_withheld_too_big=counters.prefixes_withheld_too_big,
                    last_error_code=0 if err is None else err.code,
                    last_error_subcode=0 if err is None else err.subcode,
                    restarting=session.settings.restarting,
                    without_next_hop=without_next_hop,
                    rfc7606_actions=tuple(sorted(counters.rfc7606_actions.items())),
                    next_hop_refused=tuple(
                        (reason, counters.next_hop_refused.get(reason, 0))
                        for reason in NEXT_HOP_REASONS
                    ),
                    password_unavailable=view.down_reason is not None and not view.disabled,
                    bfd_up=None if view.bfd is None else view.bfd == "Up",
                    bfd_failures=view.bfd_failures,
                    peer_asn=counts.peer_asn,
                    local_asn=counts.local_asn,
                    peer_type="ibgp" if counts.ibgp else "ebgp",
                    rr_client=counts.rr_client,
                )
            )
        prefixes: list[FamilyCount] = []
        paths: list[FamilyCount] = []
        for family in sorted(FAMILY_NAMES):
            afi, safi = family_labels(family)
            n_prefixes, n_paths = rib.count(family)
            prefixes.append(FamilyCount(afi=afi, safi=safi, value=n_prefixes))
            paths.append(FamilyCount(afi=afi, safi=safi, value=n_paths))
        stats = self._kernel()
        kernel = (
            None
            if stats is None
            else KernelMetrics(
                installed=stats.installed,
                learned=stats.learned,
                desired=stats.desired,
                converged=stats.converged,
                operations_total=stats.ops_total,
                errors_total=stats.errors_total,
                resyncs_total=stats.resyncs_total,
            )
        )
        return MetricsSnapshot(
            version=self._version,
            python_version=platform.python_version(),
            start_time=self._start_wall,
            peers=tuple(peers),
            rib_prefixes=tuple(prefixes),
            rib_paths=tuple(paths),
            update_group_sizes=tuple(speaker.update_group_sizes()),
            kernel=kernel,
            reloads=self.reloads.metrics(),
            confd=self._confd(),
            graceful_restart_in_progress=any(p.restarting for p in peers),
            uptime_seconds=max(0.0, now - self._started_at),
            unknown_connections_total=self._unknown_connections(),
            bfd_packets_dropped=tuple(sorted(self._bfd_drops().items())),
            bfd_process_restarts=self._bfd_restarts(),
        )

"""Kernel sync: keep the kernel table equal to bgpd's desired routes, and learn alien routes.

Role: the asyncio service the daemon runs next to the BGP speaker. It holds two views:
*desired* (one route per destination, set by the daemon from the Loc-RIB through the
programming rules) and *observed* (every route of the table, from an initial dump, then the
netlink monitor). A worker task turns the difference into batched kernel operations
(`bgpd.kernel.reconcile.plan`); a monitor task applies notifications to the observed view and
reports learned routes (`bgpd.kernel.learn.LearnRules`) through ``on_learned``.

Behaviour (calico-bgp.md §2.7, §4.2, BIRD's kernel protocol with ``persist`` and graceful
restart):
- Start: dump, then ADOPT the routes of our protocol already in the kernel (a previous run's):
  nothing is flushed, and a desired route equal to an adopted one costs no operation. Adopted
  routes that are not desired are deleted only once `converged()` is called (every peer sent
  End-of-RIB, or the daemon's timeout), or after ``converge_timeout`` if one is given.
- No polling: the monitor drives everything. A full re-dump happens when the monitor socket
  overflows, when an address is removed or a non-workload interface goes down (the kernel
  flushes IPv4 routes then without a notification), and every ``resync_interval`` seconds as a
  safety net; re-dumps are at least ``min_resync_interval`` apart.
- A failed operation (missing device, unreachable gateway, ...) is logged, counted and retried
  with exponential backoff (``retry_initial`` doubling to ``retry_max``); an interface coming
  up or an address appearing retries everything pending at once. Failures never stop the
  service.
- Stop: `close(persist=True)` leaves the routes in place (BIRD ``persist``); ``persist=False``
  deletes every route of our protocol.

Invariants:
- Only routes of ``protocol`` in ``table`` are ever written or deleted (see reconcile.py);
  routes of other protocols are never touched, and learned routes never include ours.
- After a successful operation the observed view is updated at once; the kernel's
  notification of our own change is not delivered back (netlink.py), so there is no echo loop.
- ``on_learned`` is called with the changes since the last call, coalesced per destination:
  ``added`` holds new or changed learned routes (replace by key), ``removed`` the ones gone.
  `learned` always equals the sum of everything reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from bgpd.kernel.kernel_route import (
    RT_TABLE_MAIN,
    RTPROT_BIRD,
    RTPROT_KERNEL,
    KernelRoute,
    RouteId,
    RouteKey,
)
from bgpd.kernel.learn import LearnRules
from bgpd.kernel.netlink import (
    AddressEvent,
    Event,
    LinkEvent,
    Netlink,
    OpError,
    Overflow,
    RouteEvent,
)
from bgpd.kernel.reconcile import ObservedEntry, Op, matches, plan, routes_of
from bgpd.kernel.rtnl import LinkInfo
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family

__all__ = ["KernelStats", "KernelSync", "LearnedCallback", "RouteSocket"]

logger = logging.getLogger(__name__)

LearnedCallback = Callable[[list[KernelRoute], list[KernelRoute]], None]
"""``on_learned(added, removed)``: see the module invariants."""

_WARNINGS_PER_BATCH = 10  # per-route failure lines at warning level per batch; then a summary
_RETRY_NOW_ERRORS = frozenset((errno.ENOBUFS, errno.ETIMEDOUT))
_PLAN_SLICE = 2048  # destinations planned and written per worker step (4 netlink batches)


class RouteSocket(Protocol):
    """What `KernelSync` needs from the netlink edge (`bgpd.kernel.netlink.Netlink`)."""

    def open(self) -> None: ...

    def close(self) -> None: ...

    async def dump_links(self) -> list[LinkInfo]: ...

    async def dump_routes(self, family: Family) -> list[KernelRoute]: ...

    async def events(self) -> list[Event]: ...

    async def apply(self, ops: Sequence[Op]) -> list[OpError]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelStats:
    """A snapshot for bgpctl and metrics. Counters only grow."""

    desired: int
    installed: int
    learned: int
    blocked: int  # desired destinations held by another protocol's route (Felix wins)
    pending: int  # destinations waiting for a retry after a failure
    converged: bool
    ops_total: int
    errors_total: int
    errors_by_reason: Mapping[str, int]
    resyncs_total: int
    overflows_total: int


class KernelSync:
    """Kernel route synchronisation service (see the module docstring).

    ``on_learned(added, removed)`` is called from the event loop; keep it short (hand the
    routes to the RIB). ``families`` limits what is dumped and planned. ``netlink`` replaces
    the real socket (tests); by default a `Netlink` for ``table`` is made with ``rcvbuf`` and
    ``batch``.
    """

    __slots__ = (
        "_closing",
        "_converge_deadline",
        "_converged",
        "_desired",
        "_dirty",
        "_errors_by_reason",
        "_families",
        "_full_plan",
        "_idle",
        "_keep",
        "_last_resync",
        "_learn",
        "_learn_before",
        "_learned",
        "_links_up",
        "_lock",
        "_next_periodic",
        "_nl",
        "_observed",
        "_on_learned",
        "_resync_reason",
        "_retry",
        "_started",
        "_tasks",
        "_wake",
        "converge_timeout",
        "errors_total",
        "min_resync_interval",
        "ops_total",
        "overflows_total",
        "protocol",
        "resync_interval",
        "resyncs_total",
        "retry_initial",
        "retry_max",
        "table",
    )

    def __init__(
        self,
        *,
        on_learned: LearnedCallback,
        learn_rules: LearnRules | None = None,
        families: Iterable[Family] = (IPV4_UNICAST, IPV6_UNICAST),
        protocol: int = RTPROT_BIRD,
        table: int = RT_TABLE_MAIN,
        resync_interval: float = 300.0,
        min_resync_interval: float = 1.0,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        converge_timeout: float | None = None,
        rcvbuf: int = 8 << 20,
        batch: int = 512,
        netlink: RouteSocket | None = None,
    ) -> None:
        if not 0 < retry_initial <= retry_max or resync_interval <= 0:
            raise ValueError("need 0 < retry_initial <= retry_max and resync_interval > 0")
        self._on_learned = on_learned
        self._learn = learn_rules if learn_rules is not None else LearnRules(own_protocol=protocol)
        if self._learn.own_protocol != protocol:
            raise ValueError("learn_rules.own_protocol must be the protocol bgpd installs with")
        self._families = tuple(families)
        self.protocol = protocol
        self.table = table
        self.resync_interval = resync_interval
        self.min_resync_interval = min_resync_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.converge_timeout = converge_timeout
        self._nl: RouteSocket = (
            netlink if netlink is not None else Netlink(table=table, rcvbuf=rcvbuf, batch=batch)
        )
        self._desired: dict[RouteKey, KernelRoute] = {}
        self._observed: dict[RouteKey, ObservedEntry] = {}  # see ObservedEntry
        self._learned: dict[RouteKey, KernelRoute] = {}
        self._learn_before: dict[RouteKey, KernelRoute | None] = {}
        self._links_up: dict[int, bool] = {}  # interface index -> up, as last seen
        # Destinations to plan, in the order they changed (a dict: ordered, unlike a set), so a
        # slice holds a best path's prefixes together (RouteEncoder's shapes repeat).
        self._dirty: dict[RouteKey, None] = {}
        self._full_plan = False
        self._retry: dict[RouteKey, tuple[float, float]] = {}  # key -> (due, current delay)
        self._keep: frozenset[RouteId] = frozenset()
        self._converged = False
        self._converge_deadline: float | None = None
        self._resync_reason: str | None = None
        self._last_resync = float("-inf")
        self._next_periodic = float("inf")
        self._started = False
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._lock = asyncio.Lock()
        self.ops_total = 0
        self.errors_total = 0
        self._errors_by_reason: Counter[str] = Counter()
        self.resyncs_total = 0
        self.overflows_total = 0

    # -- the daemon's API ----------------------------------------------------------------

    async def start(self) -> None:
        """Open netlink, dump and adopt, report the learned routes, start the tasks."""
        if self._started:
            return
        self._nl.open()
        try:
            await self._resync("start")
        except BaseException:
            self._nl.close()
            raise
        self._started = True
        loop = asyncio.get_running_loop()
        ours = [r for e in self._observed.values() for r in routes_of(e) if self._ours(r)]
        if not self._converged:
            self._keep = frozenset(r.id for r in ours)
            if self.converge_timeout is not None:
                self._converge_deadline = loop.time() + self.converge_timeout
        logger.info(
            "kernel.started table=%d adopted=%d learned=%d desired=%d",
            self.table,
            len(ours),
            len(self._learned),
            len(self._desired),
        )
        self._tasks = [
            asyncio.create_task(self._monitor_loop(), name="kernel-monitor"),
            asyncio.create_task(self._worker_loop(), name="kernel-worker"),
        ]
        for task in self._tasks:
            task.add_done_callback(_log_crash)

    def set_desired(self, changes: Iterable[tuple[Family, str, KernelRoute | None]]) -> None:
        """Set (route) or clear (None) the desired route of each destination.

        May be called before `start()`. A route must have this service's protocol and table.
        """
        marked = False
        desired, dirty, retry = self._desired, self._dirty, self._retry
        for family, prefix, route in changes:
            if route is None:
                key = (family, prefix)
                if desired.pop(key, None) is None:
                    continue
            else:
                self._check(family, prefix, route)
                key = route.key  # shared by both views (see KernelRoute.key)
                if desired.get(key) == route:
                    continue
                desired[key] = route
            if key in retry:
                self._mark(key)
            else:
                dirty[key] = None
            marked = True
        if marked:
            self._kick()

    def set_learn_rules(self, rules: LearnRules) -> None:
        """New learning rules (a reload): every destination is judged again and the learned
        routes that came or went are reported through ``on_learned``."""
        if rules.own_protocol != self.protocol:
            raise ValueError("learn_rules.own_protocol must be the protocol bgpd installs with")
        if rules == self._learn:
            return
        self._learn = rules
        for key in self._observed.keys() | self._learned.keys():
            self._relearn(key)
        self._report_learned()

    def replace_desired(self, routes: Iterable[KernelRoute]) -> None:
        """Make ``routes`` the whole desired set (after a reload changed the rules)."""
        new = {route.key: route for route in routes}
        changes: list[tuple[Family, str, KernelRoute | None]] = [
            (key[0], key[1], None) for key in self._desired if key not in new
        ]
        changes.extend((key[0], key[1], route) for key, route in new.items())
        self.set_desired(changes)

    def converged(self) -> None:
        """The peers have converged: routes of ours that are not desired may now go."""
        if self._converged:
            return
        self._converged = True
        self._converge_deadline = None
        stale = 0
        for key, entry in self._observed.items():
            want = self._desired.get(key)
            for route in routes_of(entry):
                if route.id in self._keep and (want is None or want.metric != route.metric):
                    stale += 1
        logger.info("kernel.converged stale_adopted=%d", stale)
        self._keep = frozenset()
        self._full_plan = True
        self._kick()

    async def wait_idle(self) -> None:
        """Returns once the worker has nothing left to do right now (retries may be pending)."""
        await self._idle.wait()

    async def close(self, persist: bool = True) -> None:
        """Stop; with ``persist=False`` first delete every route of our protocol.

        With ``persist`` nothing is written: changes not yet applied stay unapplied (the
        kernel keeps what it holds, BIRD's ``persist``), so a stop costs the same whatever the
        table's size.
        """
        # The flag ends the worker even if its cancellation is lost: a wake-up that completes
        # in the same loop turn as `cancel()` can swallow it (asyncio.wait_for before 3.12).
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        self._wake.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if not persist and self._started:
                await self._resync("close")
                ours = [r for e in self._observed.values() for r in routes_of(e) if self._ours(r)]
                errors = await self._nl.apply([Op(kind="delete", route=r) for r in ours])
                logger.info("kernel.flushed routes=%d failed=%d", len(ours), len(errors))
        finally:
            self._started = False
            self._nl.close()

    @property
    def desired(self) -> Mapping[RouteKey, KernelRoute]:
        return MappingProxyType(self._desired)

    @property
    def learned(self) -> Mapping[RouteKey, KernelRoute]:
        """Learned alien routes, one per destination (the lowest metric one)."""
        return MappingProxyType(self._learned)

    @property
    def installed(self) -> dict[RouteKey, KernelRoute]:
        """Routes of our protocol in the kernel now, as last observed (a fresh dict)."""
        return {
            key: route
            for key, entry in self._observed.items()
            for route in routes_of(entry)
            if self._ours(route)
        }

    @property
    def is_converged(self) -> bool:
        return self._converged

    def stats(self) -> KernelStats:
        blocked = 0
        for key, want in self._desired.items():
            for route in routes_of(self._observed.get(key)):
                if route.metric == want.metric and not self._ours(route):
                    blocked += 1
        return KernelStats(
            desired=len(self._desired),
            installed=len(self.installed),
            learned=len(self._learned),
            blocked=blocked,
            pending=len(self._retry),
            converged=self._converged,
            ops_total=self.ops_total,
            errors_total=self.errors_total,
            errors_by_reason=dict(self._errors_by_reason),
            resyncs_total=self.resyncs_total,
            overflows_total=self.overflows_total,
        )

    # -- monitor -------------------------------------------------------------------------

    async def _monitor_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                events = await self._nl.events()
            except OSError as exc:
                # Not an overflow (those are events): the socket itself failed. Re-dump
                # and keep listening; the next call raises again if it is really broken.
                logger.error("kernel.monitor_error error=%s", exc)
                self._request_resync("monitor error")
                await asyncio.sleep(self.min_resync_interval)
                continue
            async with self._lock:
                self._handle_events(events, loop.time())
            self._report_learned()

    def _handle_events(self, events: list[Event], now: float) -> None:
        for event in events:
            if isinstance(event, RouteEvent):
                route = event.route
                key = route.key
                self._observe(route, removed=event.removed)
                if key in self._learned or self._learn.learnable(route):
                    self._relearn(key)
                if key in self._desired or self._ours(route):
                    self._mark(key, now)
                if route.protocol == RTPROT_KERNEL and not event.removed:
                    self._retry_all_now(now)  # a connected subnet (re)appeared: new gateways
            elif isinstance(event, LinkEvent):
                self._link_changed(event.link, event.removed, now)
            elif isinstance(event, AddressEvent):
                if event.removed:
                    # IPv4 routes through gateways of a removed subnet vanish silently.
                    self._request_resync("address removed")
                else:
                    self._retry_all_now(now)
            elif isinstance(event, Overflow):
                self.overflows_total += 1
                logger.warning("kernel.monitor_overflow action=resync")
                self._request_resync("overflow")
        if self._dirty:
            self._kick()

    def _link_changed(self, link: LinkInfo, removed: bool, now: float) -> None:
        # A link unknown so far is new: no route can go through it yet.
        was_up = self._links_up.get(link.index, False)
        if removed:
            self._links_up.pop(link.index, None)
        else:
            self._links_up[link.index] = link.up
        if removed or not link.up:
            if not was_up:
                return  # handled when it went down (links repeat notifications while down)
            # The kernel drops IPv4 routes out of a device that goes down or away without
            # any notification (IPv6 notifies). Drop those we know went through it...
            purged = 0
            for key, entry in list(self._observed.items()):
                if key[0] != IPV4_UNICAST:
                    continue
                for route in routes_of(entry):
                    hops = route.nexthops
                    if hops and all(h.ifname == link.name for h in hops):
                        self._observe(route, removed=True)
                        purged += 1
                        if key in self._learned or self._learn.learnable(route):
                            self._relearn(key)
                        if key in self._desired or self._ours(route):
                            self._mark(key, now)
            logger.debug("kernel.link_down name=%s purged=%d", link.name, purged)
            # ...and re-dump for the routes whose device we did not record (ours, installed
            # with the device left to the kernel), unless it is a workload interface, which
            # never carries them: pods come and go all the time.
            if not link.name.startswith(self._learn.interface_prefixes):
                self._request_resync(f"link {link.name} down")
        else:
            self._retry_all_now(now)

    # -- worker --------------------------------------------------------------------------

    async def _worker_loop(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_periodic = loop.time() + self.resync_interval
        while not self._closing:
            now = loop.time()
            if not self._has_work(now):
                self._idle.set()
                timeout = max(0.0, self._next_deadline() - now)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
            else:
                await asyncio.sleep(0)  # never starve the loop, whatever `_has_work` says
            if self._closing:
                return
            self._wake.clear()
            try:
                await self._step(loop.time())
            except OSError as exc:
                # A dump failed (the apply path reports errors per operation instead).
                logger.error("kernel.resync_failed error=%s", exc)
                self._resync_reason = self._resync_reason or "retry after error"
                self._last_resync = loop.time()

    def _has_work(self, now: float) -> bool:
        if self._full_plan or self._dirty:
            return True
        if self._resync_reason is not None and now >= self._last_resync + self.min_resync_interval:
            return True
        return self._next_deadline() <= now

    def _next_deadline(self) -> float:
        deadline = self._next_periodic
        if self._retry:
            deadline = min(deadline, *(due for due, _ in self._retry.values()))
        if self._converge_deadline is not None:
            deadline = min(deadline, self._converge_deadline)
        if self._resync_reason is not None:
            deadline = min(deadline, self._last_resync + self.min_resync_interval)
        return deadline

    async def _step(self, now: float) -> None:
        if self._converge_deadline is not None and now >= self._converge_deadline:
            logger.info("kernel.converge_timeout seconds=%s", self.converge_timeout)
            self.converged()
        if now >= self._next_periodic:
            self._request_resync("periodic")
        if self._resync_reason is not None and now >= self._last_resync + self.min_resync_interval:
            await self._resync(self._resync_reason)
        for key, (due, _delay) in self._retry.items():
            if due <= now:
                self._dirty[key] = None
        planned: Collection[RouteKey] | None = None  # None: every destination
        if self._full_plan:
            self._full_plan = False
            self._dirty.clear()
            ops = plan(self._desired, self._observed, protocol=self.protocol, keep=self._keep)
            ops = [op for op in ops if not self._backing_off(op.route.key, now)]
        elif self._dirty:
            # A slice at a time: the first routes reach the kernel while the sessions are
            # still delivering the rest (the worker loops, yielding, while keys are dirty).
            dirty = self._dirty
            if len(dirty) <= _PLAN_SLICE:
                planned, self._dirty = dirty.keys(), {}
            else:
                planned = list(itertools.islice(dirty, _PLAN_SLICE))
                for key in planned:
                    del dirty[key]
            keys: Collection[RouteKey] = planned
            if self._retry:
                keys = [key for key in planned if not self._backing_off(key, now)]
            ops = plan(
                self._desired, self._observed, protocol=self.protocol, keys=keys, keep=self._keep
            )
        else:
            return
        if self._retry:
            # A due retry whose destination needs nothing any more (withdrawn, taken by an
            # alien, fixed by someone else) is over; keeping it would make it due forever.
            op_keys = {op.route.key for op in ops}
            if planned is not None:
                planned = set(planned)
            for key in [
                k
                for k, (due, _) in self._retry.items()
                if due <= now and k not in op_keys and (planned is None or k in planned)
            ]:
                del self._retry[key]
        if ops:
            await self._apply(ops)

    def _backing_off(self, key: RouteKey, now: float) -> bool:
        entry = self._retry.get(key)
        return entry is not None and entry[0] > now

    async def _apply(self, ops: list[Op]) -> None:
        if self._closing:
            return
        self.ops_total += len(ops)
        errors = await self._nl.apply(ops)
        loop = asyncio.get_running_loop()
        failed: dict[int, OpError] = {id(e.op): e for e in errors}
        for op in ops:
            error = failed.get(id(op))
            if error is not None and not (op.kind == "delete" and error.errno == errno.ESRCH):
                continue
            # Success (a delete of a route already gone counts as one).
            self._retry.pop(op.route.key, None)
            self._observe(op.route, removed=op.kind == "delete")
        now = loop.time()
        warned = 0
        for error in errors:
            if error.op.kind == "delete" and error.errno == errno.ESRCH:
                continue
            warned += self._failed(error, now, warn=warned < _WARNINGS_PER_BATCH)
        if warned > _WARNINGS_PER_BATCH:
            logger.error("kernel.op_failed_more count=%d", warned - _WARNINGS_PER_BATCH)
        logger.debug("kernel.applied ops=%d failed=%d", len(ops), len(errors))

    def _failed(self, error: OpError, now: float, *, warn: bool) -> int:
        """Counts, schedules the retry, logs; returns 1 if this failure is a new one."""
        self.errors_total += 1
        self._errors_by_reason[error.reason] += 1
        key = error.op.route.key
        previous = self._retry.get(key)
        delay = self.retry_initial if previous is None else min(previous[1] * 2.0, self.retry_max)
        self._retry[key] = (now + delay, delay)
        if error.errno in _RETRY_NOW_ERRORS or (
            error.errno == errno.EEXIST and error.op.kind == "add"
        ):
            # Lost answers, or a slot taken by a route we never saw: our view is off.
            self._request_resync(f"op failed with {error.reason}")
        if previous is None:
            if warn:
                logger.error("kernel.op_failed error=%s retry_in=%.0fs", error, delay)
            return 1
        logger.debug("kernel.op_failed_again error=%s retry_in=%.0fs", error, delay)
        return 0

    async def _resync(self, reason: str) -> None:
        """Re-dump links and routes, replace the observed view, plan everything."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            self._resync_reason = None
            self._last_resync = loop.time()
            self._links_up = {link.index: link.up for link in await self._nl.dump_links()}
            observed: dict[RouteKey, ObservedEntry] = {}
            desired = self._desired
            for family in self._families:
                for dumped in await self._nl.dump_routes(family):
                    # A route of ours that is what we want is recorded as the desired object:
                    # one route, prefix, key and next hops per destination, not two.
                    want = desired.get(dumped.key)
                    route = dumped
                    if want is not None and want.metric == dumped.metric and matches(want, dumped):
                        route = want
                    _observe(observed, route, removed=False)
            self._observed = observed
            learnable = self._learn.learnable
            for key in set(self._learned).union(
                key for key, entry in observed.items() if any(map(learnable, routes_of(entry)))
            ):
                self._relearn(key)
            self._full_plan = True
            self.resyncs_total += 1
            self._next_periodic = self._last_resync + self.resync_interval
        self._report_learned()
        logger.info(
            "kernel.resync reason=%s routes=%d learned=%d",
            reason,
            sum(len(routes_of(e)) for e in observed.values()),
            len(self._learned),
        )

    # -- state helpers -------------------------------------------------------------------

    def _ours(self, route: KernelRoute) -> bool:
        return route.protocol == self.protocol

    def _check(self, family: Family, prefix: str, route: KernelRoute) -> None:
        if route.prefix != prefix or route.family != family:
            raise ValueError(f"route {route} given for {prefix}")
        if route.protocol != self.protocol or route.table != self.table:
            raise ValueError(f"route {route} is not protocol {self.protocol} table {self.table}")
        if route.family not in self._families:
            raise ValueError(f"route {route}: family {route.family} is not synchronised")

    def _observe(self, route: KernelRoute, *, removed: bool) -> None:
        _observe(self._observed, route, removed=removed)

    def _relearn(self, key: RouteKey) -> None:
        best: KernelRoute | None = None
        for route in routes_of(self._observed.get(key)):
            if self._learn.learnable(route) and (best is None or route.metric < best.metric):
                best = route
        old = self._learned.get(key)
        if best == old:
            return
        if key not in self._learn_before:
            self._learn_before[key] = old
        if best is None:
            del self._learned[key]
        else:
            self._learned[key] = best

    def _report_learned(self) -> None:
        if not self._learn_before:
            return
        before, self._learn_before = self._learn_before, {}
        added: list[KernelRoute] = []
        removed: list[KernelRoute] = []
        for key, old in before.items():
            new = self._learned.get(key)
            if new is not None and new != old:
                added.append(new)
            elif new is None and old is not None:
                removed.append(old)
        if added or removed:
            logger.debug("kernel.learned added=%d removed=%d", len(added), len(removed))
            try:
                self._on_learned(added, removed)
            except Exception:  # the consumer's bug must not stop route synchronisation
                logger.exception(
                    "kernel.on_learned_failed added=%d removed=%d", len(added), len(removed)
                )

    def _mark(self, key: RouteKey, now: float | None = None) -> None:
        self._dirty[key] = None
        if key in self._retry:
            # Something changed for this destination: worth trying again at once.
            _due, delay = self._retry[key]
            self._retry[key] = (float("-inf") if now is None else now, delay)

    def _retry_all_now(self, now: float) -> None:
        if self._retry:
            for key, (_due, delay) in self._retry.items():
                self._retry[key] = (now, delay)
            self._kick()

    def _request_resync(self, reason: str) -> None:
        if self._resync_reason is None:
            self._resync_reason = reason
        self._kick()

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()


def _observe(observed: dict[RouteKey, ObservedEntry], route: KernelRoute, *, removed: bool) -> None:
    """Records that ``route`` is now in the table (or gone from it) in ``observed``."""
    key = route.key
    here = observed.get(key)
    if here is None:  # the common case: nothing else at this destination
        if not removed:
            observed[key] = route
        return
    rest = tuple(r for r in routes_of(here) if r.metric != route.metric)
    new = rest if removed else (*rest, route)
    if len(new) > 1:
        observed[key] = new
    elif new:
        observed[key] = new[0]
    else:
        observed.pop(key, None)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("kernel.task_crashed task=%s", task.get_name(), exc_info=task.exception())

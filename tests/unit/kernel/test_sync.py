"""KernelSync's bookkeeping against a simulated kernel (the real one: tests/integration).

The fake implements `RouteSocket` with the kernel's semantics for our operations; failures are
injected per destination. These tests check what is awkward to provoke in a real kernel: the
backoff schedule, coalescing of learned changes, a broken consumer callback.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from bgpd.kernel import KernelRoute, KernelSync, NextHop, Op, OpError
from bgpd.kernel.netlink import Event, RouteEvent
from bgpd.kernel.rtnl import LinkInfo
from bgpd.net import IPV4_UNICAST, Family

T = TypeVar("T")


class FakeKernel:
    """One routing table; `push()` delivers notifications as another program's changes."""

    def __init__(self, routes: Sequence[KernelRoute] = ()) -> None:
        self.table = {route.id: route for route in routes}
        self.fail: dict[str, int] = {}  # prefix -> errno
        self.attempts: list[tuple[float, Op]] = []
        self.queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    async def dump_links(self) -> list[LinkInfo]:
        return [LinkInfo(index=1, name="eth0", up=True)]

    async def dump_routes(self, family: Family) -> list[KernelRoute]:
        return [r for r in self.table.values() if r.family == family]

    async def events(self) -> list[Event]:
        return await self.queue.get()

    async def apply(self, ops: Sequence[Op]) -> list[OpError]:
        errors = []
        now = asyncio.get_running_loop().time()
        for op in ops:
            self.attempts.append((now, op))
            code = self.fail.get(op.route.prefix)
            if code is None and op.kind == "add" and op.route.id in self.table:
                code = errno.EEXIST
            if code is None and op.kind == "delete" and op.route.id not in self.table:
                code = errno.ESRCH
            if code:
                errors.append(OpError(op=op, errno=code))
            elif op.kind == "delete":
                del self.table[op.route.id]
            else:
                self.table[op.route.id] = op.route
        return errors

    def push(self, route: KernelRoute, removed: bool = False) -> None:
        if removed:
            self.table.pop(route.id, None)
        else:
            self.table[route.id] = route
        self.queue.put_nowait([RouteEvent(route=route, removed=removed)])


def via(prefix: str, gateway: str = "10.0.0.2", proto: int = 12) -> KernelRoute:
    return KernelRoute(
        family=IPV4_UNICAST, prefix=prefix, nexthops=(NextHop(gateway=gateway),), protocol=proto
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 10))


async def until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.005)


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    async def scenario() -> tuple[list[float], dict[str, int]]:
        kernel = FakeKernel()
        kernel.fail["10.1.0.0/24"] = errno.ENETUNREACH
        sync = KernelSync(
            on_learned=lambda a, r: None, netlink=kernel, retry_initial=0.02, retry_max=0.08
        )
        sync.set_desired([(IPV4_UNICAST, "10.1.0.0/24", via("10.1.0.0/24"))])
        await sync.start()
        await until(lambda: len(kernel.attempts) >= 6)
        delays = [sync._retry[(IPV4_UNICAST, "10.1.0.0/24")][1]]
        gaps = [b[0] - a[0] for a, b in zip(kernel.attempts, kernel.attempts[1:], strict=False)]
        # Recovery: the next attempt succeeds and clears the pending entry.
        del kernel.fail["10.1.0.0/24"]
        await until(lambda: sync.stats().pending == 0)
        stats = sync.stats()
        await sync.close()
        assert delays == [0.08]
        assert stats.installed == 1 and stats.errors_by_reason["ENETUNREACH"] >= 6
        return gaps, dict(stats.errors_by_reason)

    gaps, _ = run(scenario())
    # Each retry waits at least the current delay: 0.02, 0.04, 0.08, 0.08, ...
    for gap, minimum in zip(gaps, [0.02, 0.04, 0.08, 0.08, 0.08], strict=False):
        assert gap >= minimum * 0.99


def test_learned_changes_are_coalesced_and_a_broken_consumer_is_survived() -> None:
    calls: list[tuple[list[str], list[str]]] = []

    def on_learned(added: list[KernelRoute], removed: list[KernelRoute]) -> None:
        calls.append(([r.prefix for r in added], [r.prefix for r in removed]))
        if len(calls) == 2:
            raise RuntimeError("consumer bug")

    async def scenario() -> None:
        felix = via("10.66.0.0/26", proto=80)
        kernel = FakeKernel([felix, via("10.9.0.0/24", proto=12)])
        sync = KernelSync(on_learned=on_learned, netlink=kernel)
        await sync.start()
        assert calls == [(["10.66.0.0/26"], [])]
        # Within one batch: added then removed = nothing to report; a change = one "added".
        transient = via("10.67.0.0/26", proto=80)
        kernel.queue.put_nowait(
            [
                RouteEvent(route=transient, removed=False),
                RouteEvent(route=transient, removed=True),
                RouteEvent(route=via("10.66.0.0/26", "10.0.0.3", proto=80), removed=False),
            ]
        )
        await until(lambda: len(calls) == 2)
        kernel.push(felix, removed=True)  # the consumer raised last time: still delivered
        await until(lambda: len(calls) == 3)
        assert calls[1:] == [(["10.66.0.0/26"], []), ([], ["10.66.0.0/26"])]
        assert dict(sync.learned) == {}
        await sync.close()

    run(scenario())


def test_adopted_routes_wait_for_convergence_and_alien_slots_are_respected() -> None:
    async def scenario() -> None:
        stale = via("10.9.0.0/24")
        kept = via("10.8.0.0/24")
        felix = via("10.7.0.0/24", proto=80)
        kernel = FakeKernel([stale, kept, felix])
        sync = KernelSync(on_learned=lambda a, r: None, netlink=kernel)
        sync.set_desired([(IPV4_UNICAST, p, via(p)) for p in ("10.8.0.0/24", "10.7.0.0/24")])
        await sync.start()
        await sync.wait_idle()
        assert kernel.attempts == []  # adopted as is, Felix's slot left alone, stale kept
        assert sync.stats().blocked == 1
        sync.replace_desired([via("10.8.0.0/24"), via("10.6.0.0/24")])
        await sync.wait_idle()
        assert [(op.kind, op.route.prefix) for _, op in kernel.attempts] == [("add", "10.6.0.0/24")]
        sync.converged()
        await sync.wait_idle()
        assert [(op.kind, op.route.prefix) for _, op in kernel.attempts[1:]] == [
            ("delete", "10.9.0.0/24")
        ]
        assert set(sync.installed) == {(IPV4_UNICAST, "10.8.0.0/24"), (IPV4_UNICAST, "10.6.0.0/24")}
        await sync.close(persist=False)
        assert list(kernel.table.values()) == [felix] and kernel.closed

    run(scenario())


def test_desired_routes_must_be_ours() -> None:
    sync = KernelSync(on_learned=lambda a, r: None, netlink=FakeKernel())
    for bad in (
        (IPV4_UNICAST, "10.1.0.0/24", via("10.2.0.0/24")),  # wrong key
        (IPV4_UNICAST, "10.1.0.0/24", via("10.1.0.0/24", proto=80)),  # not our protocol
    ):
        try:
            sync.set_desired([bad])
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


def test_a_pending_retry_ends_when_the_destination_needs_nothing_more() -> None:
    async def scenario() -> None:
        kernel = FakeKernel()
        kernel.fail["10.1.0.0/24"] = errno.ENETUNREACH
        sync = KernelSync(
            on_learned=lambda a, r: None, netlink=kernel, retry_initial=0.01, retry_max=0.01
        )
        sync.set_desired([(IPV4_UNICAST, "10.1.0.0/24", via("10.1.0.0/24"))])
        await sync.start()
        await until(lambda: len(kernel.attempts) >= 2)
        sync.set_desired([(IPV4_UNICAST, "10.1.0.0/24", None)])  # withdrawn while failing
        await until(lambda: sync.stats().pending == 0)
        attempts = len(kernel.attempts)
        await sync.wait_idle()  # would never return if the stale retry stayed due
        assert len(kernel.attempts) == attempts
        await sync.close()

    run(scenario())


def test_new_learn_rules_judge_every_destination_again() -> None:
    # [kernel] ignored_interfaces changed by a reload: the subnet of an ignored interface goes,
    # one no longer ignored comes, each reported once.
    from bgpd.kernel import LearnRules

    eth9 = KernelRoute(
        family=IPV4_UNICAST, prefix="10.9.0.0/24", nexthops=(NextHop(ifname="eth9"),), protocol=2
    )
    eth8 = KernelRoute(
        family=IPV4_UNICAST, prefix="10.8.0.0/24", nexthops=(NextHop(ifname="eth8"),), protocol=2
    )
    kernel = FakeKernel([eth9, eth8])
    reports: list[tuple[list[str], list[str]]] = []

    def learned(added: list[KernelRoute], removed: list[KernelRoute]) -> None:
        reports.append((sorted(r.prefix for r in added), sorted(r.prefix for r in removed)))

    async def scenario() -> None:
        sync = KernelSync(
            on_learned=learned,
            learn_rules=LearnRules(ignored_interfaces=("eth8",)),
            netlink=kernel,
        )
        await sync.start()
        assert reports == [(["10.9.0.0/24"], [])]
        sync.set_learn_rules(LearnRules(ignored_interfaces=("eth9*",)))
        assert reports[-1] == (["10.8.0.0/24"], ["10.9.0.0/24"])
        assert set(sync.learned) == {(IPV4_UNICAST, "10.8.0.0/24")}
        sync.set_learn_rules(LearnRules(ignored_interfaces=("eth9*",)))  # unchanged: nothing
        assert len(reports) == 2
        await sync.close()

    run(scenario())


def test_a_stop_right_after_a_change_writes_nothing_and_ends_at_once() -> None:
    """The daemon stops (persist) in the same loop turn as a change wakes the worker (a link
    went away, a session's withdrawals): the worker's wake-up must not swallow its cancellation
    and carry on (planning, writing, then sleeping until the periodic resync), and a stop with
    persist leaves the kernel as it is: no write at all, whatever the table's size."""

    async def scenario() -> None:
        kernel = FakeKernel()
        sync = KernelSync(on_learned=lambda a, r: None, netlink=kernel)
        routes = [via(f"10.{i // 256}.{i % 256}.0/24") for i in range(300)]
        sync.set_desired((r.family, r.prefix, r) for r in routes)
        await sync.start()
        await until(lambda: len(kernel.table) == 300)
        await sync.wait_idle()
        written = len(kernel.attempts)
        tasks = list(sync._tasks)
        sync.set_desired((r.family, r.prefix, None) for r in routes)  # wakes the worker
        await sync.close(persist=True)
        assert all(task.done() for task in tasks)
        assert len(kernel.attempts) == written
        assert len(kernel.table) == 300 and kernel.closed

    run(scenario())


def test_a_large_change_is_planned_and_written_in_bounded_slices() -> None:
    """Thousands of destinations changed at once (a reflector's table arriving) go to the
    kernel a slice per worker step, so the first routes are written before the rest is even
    planned, and the loop gets a turn between slices."""
    from bgpd.kernel import sync as sync_module

    slice_size = sync_module._PLAN_SLICE
    calls: list[int] = []

    class CountingKernel(FakeKernel):
        async def apply(self, ops: Sequence[Op]) -> list[OpError]:
            calls.append(len(ops))
            return await super().apply(ops)

    async def scenario() -> None:
        kernel = CountingKernel()
        sync = KernelSync(on_learned=lambda a, r: None, netlink=kernel)
        await sync.start()
        await sync.wait_idle()  # the start's full plan is done: what follows is a change
        count = 2 * slice_size + 100
        routes = [via(f"10.{i // 256}.{i % 256}.0/24") for i in range(count)]
        sync.set_desired((r.family, r.prefix, r) for r in routes)
        await until(lambda: len(kernel.table) == count)
        await sync.close()

    run(scenario())
    assert calls == [slice_size, slice_size, 100]


def test_a_resync_records_our_matching_routes_as_the_desired_objects() -> None:
    """After a dump (start, periodic resync), a route of ours that is the desired one is held
    once: the observed view keeps the desired object, not the dumped copy (the node would
    otherwise hold every route, prefix text and key twice from the first resync on). What
    differs, or is someone else's, is kept as dumped."""

    async def scenario() -> None:
        same = via("10.1.0.0/24")
        other_hop = via("10.2.0.0/24", "10.0.0.3")
        felix = via("10.3.0.0/24", proto=80)
        kernel = FakeKernel([via("10.1.0.0/24"), other_hop, felix])
        sync = KernelSync(on_learned=lambda a, r: None, netlink=kernel)
        wanted = [same, via("10.2.0.0/24"), via("10.3.0.0/24")]
        sync.set_desired((r.family, r.prefix, r) for r in wanted)
        await sync.start()
        installed = sync.installed
        assert installed[same.key] is sync.desired[same.key]
        assert installed[other_hop.key] is not sync.desired[other_hop.key]
        assert installed[other_hop.key] == other_hop
        assert felix.key not in installed
        await sync.close()

    run(scenario())

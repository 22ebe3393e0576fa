"""Kernel sync against the real kernel routing table, inside network namespaces the tests create.

`KernelSync` runs on an asyncio loop in a thread that has entered the test's namespace
(`Namespace.entered()`), so its netlink sockets belong to that namespace for their whole life;
the test thread drives it through `SyncDriver` and inspects the namespace's table with `ip`.
Devices are veth pairs standing in for Felix's ``cali…`` interfaces and for ``tunl0`` (this
kernel has no dummy/ipip link types). Waiting is done by polling with deadlines, or by
`KernelSync.wait_idle()` when the question is "has the worker applied everything".
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bgpd.kernel import KernelRoute, KernelSync, LearnRules, NextHop, ProgrammingRules
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, IPNetwork

from .peers.netns import Namespace
from .peers.poll import wait_until

T = TypeVar("T")

CALI = "cali1234567890a"


@dataclass(frozen=True)
class _Pool:
    cidr: IPNetwork
    ipip: str = "never"
    vxlan: str = "never"
    disabled: bool = False


class SyncDriver:
    """A `KernelSync` on its own event loop, in a thread that lives inside ``ns``."""

    def __init__(self, ns: Namespace, **kwargs: Any) -> None:
        self.ns = ns
        self.closed = False
        self.learned_calls: list[tuple[list[KernelRoute], list[KernelRoute]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._loop is None:
            raise RuntimeError(f"driver thread did not start: {self._failure!r}")

        # These tests are about alien (Felix) routes; interface subnets (connected routes) are
        # covered by tests/unit/kernel and the real-kernel mesh test.
        kwargs.setdefault("learn_rules", LearnRules(connected=False))

        async def make() -> KernelSync:
            return KernelSync(on_learned=self._on_learned, **kwargs)

        self.sync: KernelSync = self.run(make())

    def _main(self, ready: threading.Event) -> None:
        try:
            with self.ns.entered():
                loop = asyncio.new_event_loop()
                self._loop = loop
                ready.set()
                try:
                    loop.run_forever()
                finally:
                    loop.close()
        except BaseException as exc:
            self._failure = exc
            ready.set()

    def _on_learned(self, added: list[KernelRoute], removed: list[KernelRoute]) -> None:
        self.learned_calls.append((list(added), list(removed)))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Runs ``fn`` on the loop thread (the sync's state is only touched from there)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def start(self) -> None:
        self.run(self.sync.start())

    def idle(self) -> None:
        self.run(self.sync.wait_idle())

    def set_desired(self, routes: list[tuple[Family, str, KernelRoute | None]]) -> None:
        self.call(lambda: self.sync.set_desired(routes))

    def learned(self) -> dict[str, KernelRoute]:
        return self.call(lambda: {key[1]: route for key, route in self.sync.learned.items()})

    def replayed_learned(self) -> dict[str, KernelRoute]:
        """What a consumer of ``on_learned`` holds after applying every call in order."""

        def replay() -> dict[str, KernelRoute]:
            state: dict[str, KernelRoute] = {}
            for added, removed in self.learned_calls:
                for route in removed:
                    del state[route.prefix]
                for route in added:
                    state[route.prefix] = route
            return state

        return self.call(replay)

    def close(self, persist: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.run(self.sync.close(persist=persist))
        finally:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@pytest.fixture
def driver_factory() -> Iterator[Callable[..., SyncDriver]]:
    made: list[SyncDriver] = []

    def make(ns: Namespace, **kwargs: Any) -> SyncDriver:
        driver = SyncDriver(ns, **kwargs)
        made.append(driver)
        return driver

    yield make
    for driver in reversed(made):
        driver.close()


@pytest.fixture
def node(netns_factory: Callable[..., Namespace]) -> Namespace:
    """A namespace with ``eth0`` (10.0.0.1/24, fd00:99::1/64) on a veth whose peer stays in it."""
    ns = netns_factory()
    ns.ip_batch(
        [
            "link add eth0 type veth peer name eth0p",
            "link set eth0 up",
            "link set eth0p up",
            "addr add 10.0.0.1/24 dev eth0",
            "addr add fd00:99::1/64 dev eth0 nodad",
        ]
    )
    return ns


def add_veth(ns: Namespace, name: str, up: bool = True) -> None:
    ns.ip("link", "add", name, "type", "veth", "peer", "name", f"{name[:10]}p")
    if up:
        ns.ip_batch([f"link set {name} up", f"link set {name[:10]}p up"])


def ours(ns: Namespace) -> dict[str, dict[str, Any]]:
    """Our routes (protocol 12) in both families, by destination, as `ip -j route` shows them."""
    routes = ns.kernel_routes(4, protocol="12") + ns.kernel_routes(6, protocol="12")
    return {r["dst"]: r for r in routes}


def hops(entry: dict[str, Any]) -> set[tuple[str | None, str | None, bool]]:
    """(gateway, dev, onlink) of each next hop of an `ip -j route` entry."""
    parts = entry.get("nexthops") or [entry]
    return {(p.get("gateway"), p.get("dev"), "onlink" in p.get("flags", [])) for p in parts}


def v4(prefix: str, *gateways: str, dev: str | None = None, onlink: bool = False) -> KernelRoute:
    return KernelRoute(
        family=IPV4_UNICAST,
        prefix=prefix,
        nexthops=tuple(NextHop(gateway=g, ifname=dev, onlink=onlink) for g in gateways),
    )


class Monitor:
    """``ip monitor route`` in the namespace; `mark()` proves it has caught up."""

    def __init__(self, ns: Namespace, log_dir: Path) -> None:
        self.ns = ns
        self.proc = ns.spawn(["ip", "monitor", "route"], name="ip-monitor", log_dir=log_dir)
        self._marks = 0
        self.mark()  # also waits until it listens

    def text(self) -> str:
        return self.proc.stdout_path.read_text()

    def mark(self) -> int:
        """Adds a fresh marker route and waits until the monitor printed it; returns the offset
        of the monitor's output just after it (everything the kernel did before is printed)."""

        def add_marker() -> str:
            self._marks += 1
            dst = f"10.250.{self._marks // 250}.{self._marks % 250 + 1}"
            self.ns.ip("route", "add", f"{dst}/32", "dev", "lo", "proto", "static")
            return dst

        def end_of_line(text: str, at: int) -> int:
            end = text.find("\n", at)
            return end + 1 if end >= 0 else 0

        if self._marks == 0:
            # `ip monitor` may not be listening yet: add markers until one shows up.
            def probe() -> int:
                add_marker()
                text = self.text()
                at = text.rfind("10.250.")
                return end_of_line(text, at) if at >= 0 else 0

            return wait_until(probe, 10, 0.05, "ip monitor listening")
        dst = add_marker()

        def seen() -> int:
            text = self.text()
            at = text.find(f"{dst} dev lo")
            return end_of_line(text, at) if at >= 0 else 0

        return wait_until(seen, 10, 0.02, f"ip monitor saw {dst}")

    def between(self, start: int, end: int) -> list[str]:
        """Monitor lines in [start, end), without marker routes."""
        return [ln for ln in self.text()[start:end].splitlines() if not ln.startswith("10.250.")]


# -- learning ---------------------------------------------------------------------------------


def test_learns_felix_routes_and_blackholes_never_our_own(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    add_veth(node, CALI)
    node.ip_batch(
        [
            f"route add 10.65.0.5/32 dev {CALI} proto 3",  # workload route: learned
            "route add 10.66.0.0/26 via 10.0.0.2 proto 80",  # Felix no-encap: learned
            "route add blackhole 10.67.0.0/26 proto 80",  # Felix IPAM-block drop: learned
            "route add 10.69.0.0/24 via 10.0.0.2 proto 12",  # ours: never
            "route add 10.70.0.0/24 via 10.0.0.2 proto 3",  # an admin's route: not learned
            "route add 10.65.0.6/32 dev eth0 proto 3",  # a /32 not on a workload interface
            "route add 10.71.0.0/24 via 10.0.0.2 proto static",  # protocol not in the list
        ]
    )
    driver = driver_factory(node)
    driver.start()
    initial = {"10.65.0.5/32", "10.66.0.0/26", "10.67.0.0/26"}
    assert set(driver.learned()) == initial
    assert {r.prefix for r in driver.learned_calls[0][0]} == initial
    workload = driver.learned()["10.65.0.5/32"]
    assert (workload.protocol, workload.ifname) == (3, CALI)
    assert driver.learned()["10.67.0.0/26"].kind == "blackhole"

    # Live changes through the monitor.
    node.ip_batch(
        [
            "route add blackhole 10.68.0.0/26",  # a blackhole of another protocol (boot)
            f"route add fd00:65::5/128 dev {CALI} proto 3",
            "route add 10.72.0.0/24 via 10.0.0.2 proto 12",  # ours: never
            "route del 10.66.0.0/26 proto 80",
        ]
    )
    live = {"10.65.0.5/32", "10.67.0.0/26", "10.68.0.0/26", "fd00:65::5/128"}
    wait_until(
        lambda: set(driver.learned()) == live, 10, 0.02, "live learning", describe=driver.learned
    )

    # The kernel drops IPv4 routes of a deleted device without telling anyone; IPv6 notifies.
    node.ip("link", "del", CALI)
    gone = {"10.67.0.0/26", "10.68.0.0/26"}
    wait_until(lambda: set(driver.learned()) == gone, 10, 0.02, "workload routes gone")
    assert driver.replayed_learned() == driver.learned()
    assert not any(r.protocol == 12 for added, _ in driver.learned_calls for r in added)


# -- programming ------------------------------------------------------------------------------


def test_installs_calico_programmed_routes(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    add_veth(node, "tunl0")
    rules = ProgrammingRules(
        pools=(
            _Pool(cidr=ipaddress.ip_network("10.200.0.0/16"), ipip="always"),
            _Pool(cidr=ipaddress.ip_network("10.201.0.0/16"), ipip="cross-subnet"),
            _Pool(cidr=ipaddress.ip_network("10.202.0.0/16"), vxlan="always"),
            _Pool(cidr=ipaddress.ip_network("10.203.0.0/16")),
            _Pool(cidr=ipaddress.ip_network("fd00:102::/48"), vxlan="always"),
        ),
        reject_cidrs=(ipaddress.ip_network("10.96.0.0/12"),),
        node_network_v4=ipaddress.IPv4Network("10.0.0.0/24"),
    )
    best = [
        (IPV4_UNICAST, "10.200.1.0/26", ("192.168.50.2",)),
        (IPV4_UNICAST, "10.201.1.0/26", ("10.0.0.2",)),
        (IPV4_UNICAST, "10.201.2.0/26", ("192.168.50.3",)),
        (IPV4_UNICAST, "10.202.1.0/26", ("10.0.0.2",)),
        (IPV4_UNICAST, "10.96.0.0/12", ("10.0.0.2",)),
        (IPV4_UNICAST, "10.100.0.0/24", ("10.0.0.2",)),  # inside the reject CIDR
        (IPV4_UNICAST, "10.203.1.0/26", ("10.0.0.2", "10.0.0.3")),
        (IPV4_UNICAST, "10.204.0.0/26", ("10.0.0.2",)),
        (IPV6_UNICAST, "fd00:103::/64", ("fd00:99::2", "fd00:99::3")),
        (IPV6_UNICAST, "fd00:102:0:1::/64", ("fd00:99::2",)),
    ]
    changes: list[tuple[Family, str, KernelRoute | None]] = [
        (fam, prefix, rules.program(fam, prefix, nh)) for fam, prefix, nh in best
    ]
    blocks = ["10.200.5.0/26", "10.200.6.7/32", "10.202.5.0/26"]
    changes += [(r.family, r.prefix, r) for r in rules.blackholes(blocks)]
    # Felix already routes 10.204.0.0/26: bgpd must not fight it.
    node.ip("route", "add", "10.204.0.0/26", "via", "10.0.0.3", "proto", "80")

    driver = driver_factory(node)
    driver.set_desired([c for c in changes if c[2] is not None])
    driver.start()
    driver.idle()
    table = ours(node)
    assert set(table) == {
        "10.200.1.0/26",
        "10.201.1.0/26",
        "10.201.2.0/26",
        "10.203.1.0/26",
        "fd00:103::/64",
        "10.200.5.0/26",
    }
    assert hops(table["10.200.1.0/26"]) == {("192.168.50.2", "tunl0", True)}
    assert hops(table["10.201.1.0/26"]) == {("10.0.0.2", "eth0", False)}  # CrossSubnet, same net
    assert hops(table["10.201.2.0/26"]) == {("192.168.50.3", "tunl0", True)}
    assert hops(table["10.203.1.0/26"]) == {
        ("10.0.0.2", "eth0", False),
        ("10.0.0.3", "eth0", False),
    }
    assert hops(table["fd00:103::/64"]) == {
        ("fd00:99::2", "eth0", False),
        ("fd00:99::3", "eth0", False),
    }
    assert table["10.200.5.0/26"].get("type") == "blackhole"
    felix = node.kernel_routes(4, protocol="80")
    assert [(r["dst"], r["gateway"]) for r in felix] == [("10.204.0.0/26", "10.0.0.3")]
    stats = driver.call(driver.sync.stats)
    assert (stats.blocked, stats.errors_total) == (1, 0)

    # Replace and withdraw.
    driver.set_desired(
        [
            (
                IPV4_UNICAST,
                "10.201.1.0/26",
                rules.program(IPV4_UNICAST, "10.201.1.0/26", ("10.0.0.3",)),
            ),
            (IPV4_UNICAST, "10.203.1.0/26", None),
            (IPV6_UNICAST, "fd00:103::/64", None),
        ]
    )
    driver.idle()
    table = ours(node)
    assert hops(table["10.201.1.0/26"]) == {("10.0.0.3", "eth0", False)}
    assert "10.203.1.0/26" not in table and "fd00:103::/64" not in table

    # Felix's route goes away: ours takes the destination.
    node.ip("route", "del", "10.204.0.0/26", "proto", "80")
    wait_until(lambda: "10.204.0.0/26" in ours(node), 10, 0.02, "our route after Felix's left")
    assert hops(ours(node)["10.204.0.0/26"]) == {("10.0.0.2", "eth0", False)}

    # Someone deletes one of our routes behind our back: it comes back.
    node.ip("route", "del", "10.200.1.0/26", "proto", "12")
    wait_until(lambda: "10.200.1.0/26" in ours(node), 10, 0.02, "our route restored")


# -- adoption, convergence, persist -----------------------------------------------------------


def test_adopts_existing_routes_without_churn_and_removes_stale_after_convergence(
    node: Namespace, driver_factory: Callable[..., SyncDriver], tmp_path: Path
) -> None:
    node.ip_batch(
        [
            "route add 10.110.0.0/26 via 10.0.0.2 proto 12",  # desired as is
            "route add 10.111.0.0/26 via 10.0.0.2 proto 12",  # desired via another next hop
            "route add 10.112.0.0/26 via 10.0.0.2 proto 12",  # stale
            "route add blackhole 10.113.0.0/26 proto 12",  # desired as is
            "route add fd00:110::/64 via fd00:99::2 proto 12",  # desired as is
        ]
    )
    monitor = Monitor(node, tmp_path)
    start = monitor.mark()
    driver = driver_factory(node)
    driver.set_desired(
        [
            (IPV4_UNICAST, "10.110.0.0/26", v4("10.110.0.0/26", "10.0.0.2")),
            (IPV4_UNICAST, "10.111.0.0/26", v4("10.111.0.0/26", "10.0.0.3")),
            (
                IPV4_UNICAST,
                "10.113.0.0/26",
                KernelRoute(family=IPV4_UNICAST, prefix="10.113.0.0/26", kind="blackhole"),
            ),
            (
                IPV6_UNICAST,
                "fd00:110::/64",
                KernelRoute(
                    family=IPV6_UNICAST,
                    prefix="fd00:110::/64",
                    nexthops=(NextHop(gateway="fd00:99::2"),),
                ),
            ),
        ]
    )
    driver.start()
    driver.idle()
    end = monitor.mark()
    # Only the changed route was written; the stale one waits for convergence.
    assert monitor.between(start, end) == ["10.111.0.0/26 via 10.0.0.3 dev eth0 proto bird "], (
        monitor.text()
    )
    assert set(ours(node)) == {
        "10.110.0.0/26",
        "10.111.0.0/26",
        "10.112.0.0/26",
        "10.113.0.0/26",
        "fd00:110::/64",
    }
    assert driver.call(lambda: driver.sync.ops_total) == 1

    driver.call(driver.sync.converged)
    driver.idle()
    after = monitor.mark()
    assert monitor.between(end, after) == [
        "Deleted 10.112.0.0/26 via 10.0.0.2 dev eth0 proto bird "
    ]
    assert "10.112.0.0/26" not in ours(node)

    # BIRD's `persist`: stopping leaves the routes; persist=False removes ours only.
    node.ip("route", "add", "10.66.0.0/26", "via", "10.0.0.2", "proto", "80")
    driver.close(persist=True)
    assert len(ours(node)) == 4
    again = driver_factory(node)
    again.start()
    again.close(persist=False)
    assert ours(node) == {}
    assert [r["dst"] for r in node.kernel_routes(4, protocol="80")] == ["10.66.0.0/26"]


def test_converge_timeout_removes_stale_routes(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    node.ip("route", "add", "10.112.0.0/26", "via", "10.0.0.2", "proto", "12")
    driver = driver_factory(node, converge_timeout=0.2)
    driver.start()
    assert "10.112.0.0/26" in ours(node)
    wait_until(lambda: not ours(node), 10, 0.02, "stale route removed after the timeout")
    assert driver.call(lambda: driver.sync.is_converged)


# -- errors and retries -----------------------------------------------------------------------


def test_kernel_errors_are_counted_and_retried_when_the_cause_goes_away(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    # A long backoff: whatever happens within the test is triggered by the link and address
    # notifications, not by the retry timer.
    driver = driver_factory(node, retry_initial=600.0, retry_max=600.0)
    driver.set_desired(
        [
            (
                IPV4_UNICAST,
                "10.120.0.0/26",
                v4("10.120.0.0/26", "192.168.50.2", dev="tunl0", onlink=True),
            ),
            (IPV4_UNICAST, "10.121.0.0/26", v4("10.121.0.0/26", "10.55.0.1")),
        ]
    )
    driver.start()
    driver.idle()
    stats = driver.call(driver.sync.stats)
    assert stats.errors_by_reason == {"ENODEV": 1, "ENETUNREACH": 1}
    assert (stats.errors_total, stats.pending) == (2, 2)
    assert ours(node) == {}

    add_veth(node, "tunl0", up=False)  # a device that is down cannot carry the route yet
    node.ip_batch(["link set tunl0 up", "link set tunl0p up"])
    wait_until(lambda: "10.120.0.0/26" in ours(node), 10, 0.02, "route through tunl0")
    assert hops(ours(node)["10.120.0.0/26"]) == {("192.168.50.2", "tunl0", True)}

    node.ip("addr", "add", "10.55.0.2/24", "dev", "eth0")
    wait_until(lambda: "10.121.0.0/26" in ours(node), 10, 0.02, "route once reachable")
    wait_until(lambda: driver.call(driver.sync.stats).pending == 0, 10, 0.02, "nothing pending")


def test_failed_operations_back_off_and_keep_retrying(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    driver = driver_factory(node, retry_initial=0.02, retry_max=0.08)
    driver.set_desired([(IPV4_UNICAST, "10.121.0.0/26", v4("10.121.0.0/26", "10.55.0.1"))])
    driver.start()
    wait_until(
        lambda: driver.call(driver.sync.stats).errors_total >= 5, 10, 0.02, "repeated retries"
    )
    assert driver.call(driver.sync.stats).pending == 1 and ours(node) == {}
    node.ip("addr", "add", "10.55.0.2/24", "dev", "eth0")
    wait_until(lambda: "10.121.0.0/26" in ours(node), 10, 0.02, "route once reachable")


def test_routes_flushed_with_a_link_are_restored_when_it_comes_back(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    add_veth(node, "eth1")
    node.ip("addr", "add", "10.1.0.1/24", "dev", "eth1")
    driver = driver_factory(node, retry_initial=600.0, retry_max=600.0)
    driver.set_desired([(IPV4_UNICAST, "10.122.0.0/26", v4("10.122.0.0/26", "10.1.0.2"))])
    driver.start()
    driver.idle()
    assert hops(ours(node)["10.122.0.0/26"]) == {("10.1.0.2", "eth1", False)}
    # The kernel flushes IPv4 routes of a device going down without any notification.
    node.ip("link", "set", "eth1", "down")
    wait_until(lambda: driver.call(driver.sync.stats).installed == 0, 10, 0.02, "flush noticed")
    assert ours(node) == {}
    node.ip("link", "set", "eth1", "up")
    wait_until(lambda: "10.122.0.0/26" in ours(node), 10, 0.02, "route back with the link")


# -- overflow ---------------------------------------------------------------------------------


def test_monitor_overflow_triggers_a_full_redump(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    driver = driver_factory(node, rcvbuf=4096)
    driver.start()
    prefixes = [f"10.{130 + i // 65536}.{i // 256 % 256}.{i % 256}/32" for i in range(20_000)]
    node.ip_batch([f"route add {p} via 10.0.0.2 proto 80" for p in prefixes])
    wait_until(
        lambda: len(driver.learned()) == 20_000,
        30,
        0.1,
        "all 20k routes learned",
        describe=lambda: driver.call(driver.sync.stats),
    )
    stats = driver.call(driver.sync.stats)
    assert stats.overflows_total >= 1 and stats.resyncs_total >= 2
    node.ip("route", "flush", "proto", "80")
    wait_until(lambda: not driver.learned(), 30, 0.1, "all learned routes withdrawn")
    assert driver.replayed_learned() == {}


def test_own_writes_do_not_echo_into_the_monitor(
    node: Namespace, driver_factory: Callable[..., SyncDriver]
) -> None:
    # A tiny monitor buffer: 5,000 echoes of our own writes would overflow it at once. The
    # kernel-side filter drops them, so a bulk install causes no overflow and no re-dump.
    driver = driver_factory(node, rcvbuf=4096)
    driver.start()
    prefixes = [f"10.{140 + i // 65536}.{i // 256 % 256}.{i % 256}/32" for i in range(5_000)]
    driver.set_desired([(IPV4_UNICAST, p, v4(p, "10.0.0.2")) for p in prefixes])
    driver.idle()
    assert len(ours(node)) == 5_000
    stats = driver.call(driver.sync.stats)
    assert (stats.overflows_total, stats.resyncs_total, stats.installed) == (0, 1, 5_000)
    # Someone else's change still comes through.
    node.ip("route", "add", "10.66.0.0/26", "via", "10.0.0.2", "proto", "80")
    wait_until(lambda: "10.66.0.0/26" in driver.learned(), 10, 0.02, "foreign route learned")

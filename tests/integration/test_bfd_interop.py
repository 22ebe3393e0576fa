"""BFD interop with BIRD 2 (`protocol bfd`, `bfd on`) and FRR (`bfdd`, `neighbor X bfd`):
bgpd and the other daemon bring the session Up over a veth, and each detects the other frozen
(SIGSTOP) within multiplier x interval: the BGP routes leave the detecting side's kernel then,
long before any hold timer (90 s here).

Topology: a (bgpd, 10.0.0.1, originates 10.40.0.0/24) -- veth -- b (BIRD 2 or FRR, 10.0.0.2,
originates 10.50.0.0/24 and installs what BGP gives it in its kernel).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import BgpPeer, BirdConfig, Namespace, veth
from .peers.bird import BirdDaemon, StaticRoute
from .peers.fixtures import BirdFactory
from .peers.frr_bfd import FrrBfdSuite
from .peers.poll import wait_until

OURS, THEIRS = "10.40.0.0/24", "10.50.0.0/24"
BUDGET_S = 1.5  # detection is 0.3 s (100 ms x 3); the rest is teardown and netlink

BGPD = """
[bgp]
asn = 64512
router_id = "10.0.0.1"
listen = ["10.0.0.1"]
hold_time = 90

[control]
socket = "@SOCKET@"

[kernel]
enabled = true

[bfd]
min_rx_ms = 100
min_tx_ms = 100
multiplier = 3

[[static]]
prefix = "10.40.0.0/24"

[[peer]]
name = "bird"
address = "10.0.0.2"
asn = 64513
local_address = "10.0.0.1"
families = ["ipv4-unicast"]
bfd = true
"""

BIRD_BFD = """
protocol bfd {
  interface "*" {
    min rx interval 100 ms;
    min tx interval 100 ms;
    multiplier 3;
  };
}
protocol kernel {
  ipv4 { export all; };
}
"""


@pytest.fixture
def pair(
    netns_factory: Callable[..., Namespace],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
) -> Iterator[tuple[Namespace, BgpdProcess, Namespace, BirdDaemon]]:
    a, b = netns_factory(), netns_factory()
    veth(a, b, a_addresses=["10.0.0.1/24"], b_addresses=["10.0.0.2/24"])
    bird = bird_factory(
        BirdConfig(
            router_id="10.0.0.2",
            peers=(
                BgpPeer(
                    name="bgpd",
                    local_as=64513,
                    neighbor_address="10.0.0.1",
                    neighbor_as=64512,
                    local_address="10.0.0.2",
                    hold_time=90,
                    extra="bfd on;",
                ),
            ),
            static_routes=(StaticRoute(prefix=THEIRS, via=None),),
            extra=BIRD_BFD,
        ),
        netns=b,
    )
    bgpd = bgpd_factory(a, BGPD)
    yield a, bgpd, b, bird
    bgpd.thaw()  # a stopped process cannot take SIGTERM
    os.kill(bird.pid, signal.SIGCONT)


def in_kernel(ns: Namespace, prefix: str, protocol: str) -> bool:
    return any(r["dst"] == prefix for r in ns.kernel_routes(4, protocol=protocol))


def bird_bfd_state(bird: BirdDaemon) -> str:
    match = re.search(r"^10\.0\.0\.1\s+\S+\s+(\S+)", bird.birdc("show bfd sessions"), re.M)
    return match[1] if match else ""


def wait_up(a: Namespace, bgpd: BgpdProcess, b: Namespace, bird: BirdDaemon) -> None:
    bgpd.wait_established("bird")
    bird.wait_established("bgpd")
    wait_until(lambda: bgpd.peers()["bird"]["bfd"] == "Up", 15, message="bgpd BFD Up")
    wait_until(lambda: bird_bfd_state(bird) == "Up", 15, message="BIRD BFD Up")
    wait_until(lambda: in_kernel(a, THEIRS, "12"), 15, message="BIRD's route in a's kernel")
    wait_until(lambda: in_kernel(b, OURS, "bird"), 15, message="our route in b's kernel")


def time_until_gone(ns: Namespace, prefix: str, protocol: str) -> float:
    start = time.monotonic()
    wait_until(lambda: not in_kernel(ns, prefix, protocol), 10, 0.01, message=f"{prefix} gone")
    return time.monotonic() - start


def test_bgpd_detects_a_frozen_bird(
    pair: tuple[Namespace, BgpdProcess, Namespace, BirdDaemon],
) -> None:
    a, bgpd, b, bird = pair
    wait_up(a, bgpd, b, bird)
    os.kill(bird.pid, signal.SIGSTOP)
    elapsed = time_until_gone(a, THEIRS, "12")
    assert elapsed < BUDGET_S, elapsed
    assert bgpd.peers()["bird"]["last_error"].startswith("BFD session down")
    os.kill(bird.pid, signal.SIGCONT)
    wait_up(a, bgpd, b, bird)


def test_bird_detects_a_frozen_bgpd(
    pair: tuple[Namespace, BgpdProcess, Namespace, BirdDaemon],
) -> None:
    a, bgpd, b, bird = pair
    wait_up(a, bgpd, b, bird)
    bgpd.freeze()  # the daemon and its BFD process
    elapsed = time_until_gone(b, OURS, "bird")
    assert elapsed < BUDGET_S, elapsed
    bgpd.thaw()
    wait_up(a, bgpd, b, bird)


def test_our_show_bfd_sessions_heading_is_birds(
    pair: tuple[Namespace, BgpdProcess, Namespace, BirdDaemon],
) -> None:
    from bgpd.control.bird_replies import BFD_HEADING

    a, bgpd, b, bird = pair
    wait_up(a, bgpd, b, bird)
    text = bird.birdc("show bfd sessions")
    assert BFD_HEADING in text.splitlines(), text
    # the row: "%-25I %-10s %-10s %-12s  %7t  %7t", Since with milliseconds (BIRD 2)
    row = next(line for line in text.splitlines() if line.startswith("10.0.0.1 "))
    assert re.fullmatch(
        r"10\.0\.0\.1 {18}eth0 {7}Up {9}\d\d:\d\d:\d\d\.\d{3}    0\.100    0\.300", row
    )


# -- FRR ------------------------------------------------------------------------------------


@pytest.fixture
def frr_pair(
    netns_factory: Callable[..., Namespace], bgpd_factory: BgpdFactory
) -> Iterator[tuple[Namespace, BgpdProcess, Namespace, FrrBfdSuite]]:
    a, b = netns_factory(), netns_factory()
    veth(a, b, a_addresses=["10.0.0.1/24"], b_addresses=["10.0.0.2/24"])
    frr = FrrBfdSuite(
        b,
        asn=64513,
        router_id="10.0.0.2",
        neighbor="10.0.0.1",
        neighbor_as=64512,
        networks=(THEIRS,),
    )
    pids: list[int] = []
    try:
        frr.start()
        pids += frr.pids
        b.ip("route", "add", "blackhole", THEIRS)  # what FRR's network statement announces
        bgpd = bgpd_factory(a, BGPD.replace('name = "bird"', 'name = "frr"'))
        yield a, bgpd, b, frr
        bgpd.thaw()  # a stopped process cannot take SIGTERM
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        frr.close()


def frr_up(a: Namespace, bgpd: BgpdProcess, b: Namespace, frr: FrrBfdSuite) -> None:
    bgpd.wait_established("frr")
    wait_until(lambda: frr.bgp_state() == "Established", 30, message="FRR Established")
    wait_until(lambda: bgpd.peers()["frr"]["bfd"] == "Up", 15, message="bgpd BFD Up")
    wait_until(lambda: frr.bfd_status() == "up", 15, message="FRR BFD up")
    wait_until(lambda: in_kernel(a, THEIRS, "12"), 15, message="FRR's route in a's kernel")
    wait_until(lambda: in_kernel(b, OURS, "bgp"), 15, message="our route in b's kernel")


def test_bgpd_detects_a_frozen_frr(
    frr_pair: tuple[Namespace, BgpdProcess, Namespace, FrrBfdSuite],
) -> None:
    a, bgpd, b, frr = frr_pair
    frr_up(a, bgpd, b, frr)
    for pid in frr.pids:
        os.kill(pid, signal.SIGSTOP)
    elapsed = time_until_gone(a, THEIRS, "12")
    assert elapsed < BUDGET_S, elapsed
    for pid in frr.pids:
        os.kill(pid, signal.SIGCONT)
    frr_up(a, bgpd, b, frr)


def test_frr_detects_a_frozen_bgpd(
    frr_pair: tuple[Namespace, BgpdProcess, Namespace, FrrBfdSuite],
) -> None:
    a, bgpd, b, frr = frr_pair
    frr_up(a, bgpd, b, frr)
    bgpd.freeze()  # the daemon and its BFD process
    elapsed = time_until_gone(b, OURS, "bgp")
    assert elapsed < BUDGET_S, elapsed
    bgpd.thaw()
    frr_up(a, bgpd, b, frr)

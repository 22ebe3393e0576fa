"""BFD between two bgpd speakers in namespaces (RFC 5880/5881 over a veth): sessions come up,
a frozen peer (SIGSTOP) or a cut link is detected within multiplier x interval, and the BGP
routes leave the kernel then, long before the hold timer; BFD Up again brings them back.
Multihop BFD (RFC 5883) across a router comes up and detects a frozen peer too.

Topology: a (10.0.0.1) -- veth -- b (10.0.0.2); b originates 10.40.0.0/24, a installs it.
BFD at 100 ms x 3: a 300 ms detection time. The hold time is 240 s, so the route leaving a's
kernel within ~1 s can only be BFD's doing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import Namespace, veth
from .peers.poll import wait_until

PREFIX = "10.40.0.0/24"
DETECT_S = 0.3  # 3 x 100 ms
# detection, then the session teardown and a netlink write, on a shared 2-core machine
BUDGET_S = 1.5


def config(me: str, other: str, asn: int, other_asn: int, extra: str = "") -> str:
    return f"""
[bgp]
asn = {asn}
router_id = "{me}"
listen = ["{me}"]
hold_time = 240

[control]
socket = "@SOCKET@"

[kernel]
enabled = true

[bfd]
min_rx_ms = 100
min_tx_ms = 100
multiplier = 3

{extra}
[[peer]]
name = "other"
address = "{other}"
asn = {other_asn}
local_address = "{me}"
families = ["ipv4-unicast"]
bfd = true
"""


@pytest.fixture
def pair(
    netns_factory: Callable[..., Namespace], bgpd_factory: BgpdFactory
) -> Iterator[tuple[Namespace, BgpdProcess, Namespace, BgpdProcess]]:
    a, b = netns_factory(), netns_factory()
    veth(a, b, a_addresses=["10.0.0.1/24"], b_addresses=["10.0.0.2/24"])
    speaker_a = bgpd_factory(a, config("10.0.0.1", "10.0.0.2", 64512, 64513))
    static = f'[[static]]\nprefix = "{PREFIX}"\n'
    speaker_b = bgpd_factory(b, config("10.0.0.2", "10.0.0.1", 64513, 64512, static))
    yield a, speaker_a, b, speaker_b
    speaker_b.thaw()  # a stopped process cannot take SIGTERM


def bfd_state(speaker: BgpdProcess) -> str | None:
    return speaker.peers()["other"].get("bfd")


def in_kernel(ns: Namespace) -> bool:
    return any(r["dst"] == PREFIX for r in ns.kernel_routes(4, protocol="12"))


def wait_up(a: Namespace, speaker_a: BgpdProcess, speaker_b: BgpdProcess) -> None:
    for speaker in (speaker_a, speaker_b):
        speaker.wait_established("other")
        wait_until(lambda s=speaker: bfd_state(s) == "Up", 15, message="BFD Up")
    wait_until(lambda: in_kernel(a), 15, message=f"{PREFIX} in a's kernel")


def time_until_gone(a: Namespace) -> float:
    start = time.monotonic()
    wait_until(lambda: not in_kernel(a), 10, 0.01, message=f"{PREFIX} out of a's kernel")
    return time.monotonic() - start


def test_a_frozen_peer_is_detected_and_its_routes_leave_the_kernel(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    speaker_b.freeze()  # the daemon and its BFD process
    elapsed = time_until_gone(a)
    assert DETECT_S * 0.5 < elapsed < BUDGET_S, elapsed
    peer = speaker_a.peers()["other"]
    assert peer["state"] != "Established"
    assert peer["bfd"] == "Down"
    assert peer["last_error"].startswith("BFD session down: control detection time expired")
    assert re.search(r"bfd state peer=other address=\S+ old=Up new=Down", speaker_a.output())
    speaker_b.thaw()
    # BFD Up again releases the hold: the session and the route come back
    wait_up(a, speaker_a, speaker_b)


def test_a_cut_link_is_detected_and_the_session_held_until_bfd_is_up(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, b, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    b.ip("link", "set", "eth0", "down")
    elapsed = time_until_gone(a)
    assert elapsed < BUDGET_S, elapsed
    assert speaker_a.peers()["other"]["state"] != "Established"
    b.ip("link", "set", "eth0", "up")
    wait_up(a, speaker_a, speaker_b)


def test_a_reload_that_turns_bfd_off_is_no_failure_for_the_peer(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    speaker_a.write_config(config("10.0.0.1", "10.0.0.2", 64512, 64513).replace("bfd = true", ""))
    speaker_a.reload()
    # a says AdminDown as its session goes (RFC 5880 §6.8.16): b's BFD goes Down, its BGP stays
    wait_until(lambda: bfd_state(speaker_b) == "Down", 10, message="b's BFD Down")
    assert bfd_state(speaker_a) is None
    assert speaker_b.peers()["other"]["bfd_failures"] == 0
    assert speaker_b.state("other") == "Established"
    assert in_kernel(a)


def test_multihop_bfd_across_a_router_comes_up_and_detects_a_frozen_peer(
    netns_factory: Callable[..., Namespace], bgpd_factory: BgpdFactory
) -> None:
    # a (10.0.1.1) -- r -- b (10.0.2.1): RFC 5883 on UDP 4784, packets arrive with TTL 254 (the
    # route to b's prefix is not checked: a multihop next hop is not on-link for the kernel)
    a, r, b = netns_factory(), netns_factory(), netns_factory()
    veth(a, r, a_addresses=["10.0.1.1/24"], b_addresses=["10.0.1.254/24"], b_ifname="eth1")
    veth(b, r, a_addresses=["10.0.2.1/24"], b_addresses=["10.0.2.254/24"], b_ifname="eth2")
    r.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    a.ip("route", "add", "10.0.2.0/24", "via", "10.0.1.254")
    b.ip("route", "add", "10.0.1.0/24", "via", "10.0.2.254")

    def multihop(text: str) -> str:
        return text.replace("bfd = true\n", "bfd = true\nmultihop = 2\n")  # the peer's

    speaker_a = bgpd_factory(a, multihop(config("10.0.1.1", "10.0.2.1", 64512, 64513)))
    speaker_b = bgpd_factory(b, multihop(config("10.0.2.1", "10.0.1.1", 64513, 64512)))
    try:
        for speaker in (speaker_a, speaker_b):
            speaker.wait_established("other")
            wait_until(lambda s=speaker: bfd_state(s) == "Up", 15, message="BFD Up")
        speaker_b.freeze()
        # within a few seconds, where the hold time is 240 s: only BFD can have done it
        wait_until(
            lambda: speaker_a.peers()["other"]["last_error"].startswith("BFD session down"),
            5,
            message="BFD Down",
        )
        assert speaker_a.state("other") != "Established"
    finally:
        speaker_b.thaw()

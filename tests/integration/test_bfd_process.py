"""The BFD process (bgpd.runtime.bfd_child): the daemon's BFD sessions run in a child process of
their own. Killed, it is noticed, logged, counted and started again, and its sessions come back
Up; hung (stopped), it is killed and replaced; the daemon killed (SIGKILL, no shutdown of its
own) leaves no BFD process behind; the daemon stopped says AdminDown through it, which the
neighbour does not count as a failure; GTSM and the packet checks hold in it and its drop
counters reach the metrics; a process that keeps dying young is started again after a doubling
delay.

Topology and config: those of test_bfd.py (a -- veth -- b, BFD 100 ms x 3), with a's metrics
on 127.0.0.1 inside its namespace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bgpd.config import parse_config
from bgpd.runtime.bfd_process import SILENT_S, BfdProcess

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import Namespace, veth
from .peers.poll import wait_until
from .test_bfd import PREFIX, bfd_state, config, wait_up
from .test_metrics import scrape

METRICS_PORT = 9179


@pytest.fixture
def pair(
    netns_factory: Callable[..., Namespace], bgpd_factory: BgpdFactory
) -> Iterator[tuple[Namespace, BgpdProcess, Namespace, BgpdProcess]]:
    a, b = netns_factory(), netns_factory()
    veth(a, b, a_addresses=["10.0.0.1/24"], b_addresses=["10.0.0.2/24"])
    metrics = f'[metrics]\nlisten = "127.0.0.1:{METRICS_PORT}"\n'
    speaker_a = bgpd_factory(a, config("10.0.0.1", "10.0.0.2", 64512, 64513, metrics))
    static = f'[[static]]\nprefix = "{PREFIX}"\n'
    speaker_b = bgpd_factory(b, config("10.0.0.2", "10.0.0.1", 64513, 64512, static))
    yield a, speaker_a, b, speaker_b


def gone(pid: int) -> bool:
    """No such process, or a zombie (dead; reaping it is the business of its new parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def restarts_metric(ns: Namespace) -> float:
    with ns.entered():
        samples = scrape("127.0.0.1", METRICS_PORT)
    return samples[("bgpd_bfd_process_restarts_total", frozenset())]


def bfd_process(speaker: BgpdProcess) -> int:
    children = speaker.children()
    assert len(children) == 1, children
    return children[0]


def test_a_killed_bfd_process_is_restarted_and_its_sessions_come_back(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    assert restarts_metric(a) == 0
    child = bfd_process(speaker_a)
    os.kill(child, signal.SIGKILL)
    wait_until(
        lambda: re.search(
            rf"bfd process exited pid={child} status=-9 reason=\"?end of file\"? restarts=1 "
            r"action=restart",
            speaker_a.output(),
        ),
        10,
        message="the death logged",
        describe=speaker_a.output,
    )
    # its sessions are Down for the speaker (no failure: nobody saw the path fail)
    assert re.search(
        r"bfd state peer=other address=\S+ old=Up new=Down diag=bfd_process_restarted",
        speaker_a.output(),
    ), speaker_a.output()
    wait_until(lambda: speaker_a.children() not in ([], [child]), 10, message="a new process")
    assert restarts_metric(a) == 1
    # its sessions start again and come Up, and so does everything else
    wait_up(a, speaker_a, speaker_b)
    assert bfd_state(speaker_a) == "Up"
    assert speaker_a.peers()["other"]["bfd_failures"] == 0  # our side saw no path failure
    # the neighbour saw one (our silence, or our new session's Down: docs/config.md says so)
    assert speaker_b.peers()["other"]["bfd_failures"] == 1


def test_a_hung_bfd_process_is_killed_and_replaced(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    child = bfd_process(speaker_a)
    os.kill(child, signal.SIGSTOP)  # alive, its channel open, and silent
    wait_until(
        lambda: re.search(
            rf"bfd process exited pid={child} status=-9 reason=\"silent for 1\d s\" restarts=1",
            speaker_a.output(),
        ),
        25,  # SILENT_S + STALL_S: 13 s
        message="the hung process replaced",
        describe=speaker_a.output,
    )
    assert gone(child)
    wait_up(a, speaker_a, speaker_b)


def test_a_whole_speaker_stopped_longer_than_the_watchdog_keeps_its_bfd_process(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    # The daemon stopped with its process (SIGSTOP to the group, a paused VM) must not take the
    # process's silence, which was its own, for a hang once both run again.
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    child = bfd_process(speaker_a)
    speaker_a.freeze()
    time.sleep(SILENT_S + 2)  # the stimulus: stopped for longer than the watchdog allows
    speaker_a.thaw()
    wait_up(a, speaker_a, speaker_b)
    assert speaker_a.children() == [child]
    assert "bfd process exited" not in speaker_a.output()


def test_killing_the_daemon_leaves_no_bfd_process(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    child = bfd_process(speaker_a)
    speaker_a.kill()  # SIGKILL: the daemon runs no shutdown code
    wait_until(lambda: gone(child), 5, message=f"BFD process {child} gone")


def test_a_stopped_daemon_says_admin_down_through_its_bfd_process(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, _, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    child = bfd_process(speaker_a)
    assert speaker_a.stop() == 0
    assert gone(child)
    wait_until(lambda: bfd_state(speaker_b) == "Down", 10, message="b's BFD Down")
    assert speaker_b.peers()["other"]["bfd_failures"] == 0  # AdminDown: RFC 5882 §3.2
    assert re.search(
        r"bfd state peer=other address=\S+ old=Up new=Down diag=neighbor_signaled_session_down",
        speaker_b.output(),
    ), speaker_b.output()


def dropped(ns: Namespace, reason: str) -> float:
    with ns.entered():
        samples = scrape("127.0.0.1", METRICS_PORT)
    return samples.get(("bgpd_bfd_packets_dropped_total", frozenset({("reason", reason)})), 0.0)


def test_gtsm_and_the_packet_checks_hold_in_the_process_and_their_drops_reach_the_metrics(
    pair: tuple[Namespace, BgpdProcess, Namespace, BgpdProcess],
) -> None:
    a, speaker_a, b, speaker_b = pair
    wait_up(a, speaker_a, speaker_b)
    with b.entered():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 254)  # one router on the way
        sock.sendto(bytes(24), ("10.0.0.1", 3784))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)  # on-link, but BFD version 0
        sock.sendto(bytes(24), ("10.0.0.1", 3784))
    # the process's counters reach the daemon within its status period (a second)
    wait_until(lambda: dropped(a, "ttl") == 1 and dropped(a, "version") == 1, 10, message="drops")
    assert bfd_state(speaker_a) == "Up"


def test_a_process_that_keeps_dying_young_is_restarted_ever_more_slowly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No namespace needed: a stand-in that exits at once with status 3, never a BFD session.
    config = parse_config(
        '[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\n'
        '[[peer]]\nname = "p"\naddress = "10.0.0.2"\nasn = 64513\nbfd = true\n'
    )

    async def run() -> BfdProcess:
        loop = asyncio.get_running_loop()
        bfd = BfdProcess(
            loop, lambda _: None, argv=lambda _fd: [sys.executable, "-c", "raise SystemExit(3)"]
        )
        assert bfd.configure(config) == ["p"]
        deadline = loop.time() + 20
        while bfd.restarts < 4 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await bfd.close()
        return bfd

    with caplog.at_level(logging.ERROR, logger="bgpd.runtime.bfd_process"):
        bfd = asyncio.run(run())
    assert bfd.restarts >= 4
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bfd process")]
    assert all(" status=3 " in line for line in lines), lines
    delays = [line.rsplit("delay_s=", 1)[1] for line in lines[:4]]
    assert delays == ["0.1", "0.2", "0.4", "0.8"], lines

"""RFC 4271 §6.3 next hop sanity, end to end through one speaker: crafted UPDATEs whose next hop
is unusable (unspecified, loopback, multicast, broadcast, ours, a misplaced link-local) are
treat-as-withdraw: not in the Loc-RIB, not passed on to a third peer, counted per reason,
logged (rate-limited). Issue 11 point 4: bgpd used to select, install and re-advertise them."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from bgpd.config import diff_configs, parse_config
from bgpd.net import pack_prefix
from bgpd.policy.next_hop import REASONS
from bgpd.wire.constants import MessageType
from tests.unit.wire.helpers import h, message, update_body

from .raw_peer import Bench, RawPeer

CONFIG = """
[bgp]
asn = 64512
router_id = "10.0.0.1"

[control]
socket = "/tmp/unused-nh.ctl"

[node]
name = "a"
ipv4 = "10.0.0.1/24"
ipv6 = "fd00::1/64"

[[peer]]
name = "x"
address = "10.0.0.2"
asn = 65002
passive = true

[[peer]]
name = "c"
address = "10.0.0.3"
asn = 64512
passive = true
"""

ORIGIN = "40 01 01 00"
AS_PATH = "40 02 06 02 01 0000fdea"  # AS_SEQUENCE 65002
V4_PREFIX = "10.20.0.0/24"
V6_PREFIX = "fd00:20::/64"


def v4_update(next_hop: str, prefix: str = V4_PREFIX) -> bytes:
    net = ipaddress.ip_network(prefix)
    nlri = bytes((net.prefixlen,)) + net.network_address.packed[: (net.prefixlen + 7) // 8]
    hop = ipaddress.IPv4Address(next_hop).packed.hex()
    return update_body("", ORIGIN + AS_PATH + "40 03 04" + hop, nlri.hex())


def v6_update(*hops: str, prefix: str = V6_PREFIX) -> bytes:
    """MP_REACH_NLRI with a 16-octet (one address) or 32-octet (two) next hop (RFC 2545 §3)."""
    net = ipaddress.ip_network(prefix)
    nlri = bytes((net.prefixlen,)) + net.network_address.packed[: (net.prefixlen + 7) // 8]
    nh = b"".join(ipaddress.IPv6Address(a).packed for a in hops)
    value = h("0002 01") + bytes((len(nh),)) + nh + b"\x00" + nlri
    mp = h("90 0e") + len(value).to_bytes(2, "big") + value
    return update_body("", mp.hex() + ORIGIN + AS_PATH, "")


@pytest.fixture
def bench() -> Bench:
    b = Bench(CONFIG)
    b.peer("x", 65002, "10.0.0.2", "10.0.0.1")
    b.peer("c", 64512, "10.0.0.3", "10.0.0.1")
    return b


def refused(b: Bench, peer: str = "x") -> dict[str, int]:
    session = b.speaker.peer_session(peer)
    assert session is not None
    return {r: n for r, n in session.counters.next_hop_refused.items() if n}


def assert_refused(b: Bench, prefix: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    assert b.loc_rib(prefix) == []
    assert pack_prefix(prefix) not in b.peers["c"].announced()
    assert refused(b) == {reason: 1}
    lines = [r.getMessage() for r in caplog.records if "route next hop refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert f"reason={reason}" in lines[0] and "peer=x" in lines[0]
    assert caplog.records[-1].levelno == logging.WARNING
    view = b.speaker.peer_view("x", b.now)
    assert view is not None and dict(view.detail.input_problems.next_hop_refused) == {reason: 1}
    assert "refused" in view.detail.input_problems.last_input_problem
    assert view.prefixes_received == 1 and view.prefixes_accepted == 0


@pytest.mark.parametrize(
    ("next_hop", "reason"),
    [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("224.0.0.5", "multicast"),
        ("239.255.255.255", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("10.0.0.1", "own_address"),  # the session's local address and [node] ipv4
    ],
)
def test_bad_ipv4_next_hop_is_treat_as_withdraw(
    bench: Bench, next_hop: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bench.peers["x"].send_update(v4_update(next_hop))
    assert_refused(bench, V4_PREFIX, reason, caplog)


@pytest.mark.parametrize(
    ("hops", "reason"),
    [
        (("::",), "unspecified"),
        (("::1",), "loopback"),
        (("ff02::1",), "multicast"),
        (("ff0e::1",), "multicast"),
        (("fd00::1",), "own_address"),  # [node] ipv6
        (("fe80::2",), "link_local"),  # a link-local address only as the second next hop
        (("fe80::2", "fe80::3"), "link_local"),
        (("::", "fe80::2"), "unspecified"),
        (("fd00::2", "fd00::3"), "second_not_link_local"),
        (("fd00::1", "fe80::2"), "own_address"),
        (("::ffff:127.0.0.1",), "loopback"),  # IPv4-mapped: judged by its IPv4 address
        (("::ffff:10.0.0.1",), "own_address"),
    ],
)
def test_bad_ipv6_next_hop_is_treat_as_withdraw(
    bench: Bench, hops: tuple[str, ...], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bench.peers["x"].send_update(v6_update(*hops))
    assert_refused(bench, V6_PREFIX, reason, caplog)


@pytest.mark.parametrize(
    "update",
    [
        v4_update("10.0.0.2"),  # the peer itself
        v4_update("10.0.0.9"),  # another host on the subnet (next hop keep, a route server)
        v4_update("240.0.0.1"),  # reserved, but unicast to BIRD and Linux
        v6_update("fd00::2"),
        v6_update("fd00::2", "fe80::2"),  # global + link-local (RFC 2545 §3)
        v6_update("fd00::2", "::"),
    ],
)
def test_usable_next_hops_are_accepted_and_passed_on(bench: Bench, update: bytes) -> None:
    bench.peers["x"].send_update(update)
    prefix = V4_PREFIX if len(bench.loc_rib(V4_PREFIX)) else V6_PREFIX
    assert len(bench.loc_rib(prefix)) == 1
    assert pack_prefix(prefix) in bench.peers["c"].announced()
    assert refused(bench) == {}


def test_a_route_re_announced_with_a_bad_next_hop_is_withdrawn_everywhere(bench: Bench) -> None:
    x, c = bench.peers["x"], bench.peers["c"]
    x.send_update(v4_update("10.0.0.2"))
    assert pack_prefix(V4_PREFIX) in c.announced()
    x.send_update(v4_update("127.0.0.1"))
    assert bench.loc_rib(V4_PREFIX) == []
    assert pack_prefix(V4_PREFIX) not in c.announced()  # withdrawn from the third peer
    x.send_update(v4_update("10.0.0.2"))  # and usable again when fixed
    assert pack_prefix(V4_PREFIX) in c.announced()
    view = bench.speaker.peer_view("x", bench.now)
    assert view is not None and view.prefixes_received == view.prefixes_accepted == 1


def test_a_refused_route_fixed_in_the_same_read_is_counted_once(bench: Bench) -> None:
    """The bulk path (`UpdateIngest._take_events`) is left for the rest of a read once a
    prefix was refused: the next UPDATE clears the refusal, whatever read it comes in."""
    x, c = bench.peers["x"], bench.peers["c"]
    x.send(
        message(MessageType.UPDATE, v4_update("127.0.0.1"))
        + message(MessageType.UPDATE, v4_update("10.0.0.2"))
    )
    assert pack_prefix(V4_PREFIX) in c.announced()
    view = bench.speaker.peer_view("x", bench.now)
    assert view is not None and view.prefixes_received == view.prefixes_accepted == 1


def test_the_verdict_is_taken_once_per_attribute_set_and_counted_per_prefix(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    x = bench.peers["x"]
    for _ in range(3):  # the same bytes: one cached attribute set, one cached verdict
        x.send_update(v4_update("0.0.0.0"))
    x.send_update(v4_update("0.0.0.0", "10.30.0.0/16"))
    assert refused(bench) == {"unspecified": 4}
    lines = [r for r in caplog.records if "route next hop refused" in r.getMessage()]
    assert len(lines) == 4  # within the per-peer burst


def test_warnings_are_rate_limited_per_peer_and_count_what_they_held_back(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    x = bench.peers["x"]
    for i in range(20):
        x.send_update(v4_update("224.0.0.1", f"10.40.{i}.0/24"))
    lines = [r.getMessage() for r in caplog.records if "route next hop refused" in r.getMessage()]
    assert len(lines) == 5
    assert refused(bench) == {"multicast": 20}  # counting never depends on the limit
    bench.advance(61)
    x.send_update(v4_update("224.0.0.1", "10.41.0.0/24"))
    lines = [r.getMessage() for r in caplog.records if "route next hop refused" in r.getMessage()]
    assert len(lines) == 6
    assert "suppressed=15" in lines[-1]


def test_loopback_next_hops_are_fine_on_a_session_over_loopback() -> None:
    """Speakers tested or demonstrated on one host (bgpd/demo, the integration tests) peer over
    127.0.0.x and announce 127.0.0.x next hops; our own loopback address is still refused."""
    b = Bench(CONFIG.replace("10.0.0.2", "127.0.0.2").replace('ipv4 = "10.0.0.1/24"\n', ""))
    x = b.peer("x", 65002, "127.0.0.2", "127.0.0.1")
    x.send_update(v4_update("127.0.0.5"))
    assert len(b.loc_rib(V4_PREFIX)) == 1
    x.send_update(v6_update("::1"))
    assert len(b.loc_rib(V6_PREFIX)) == 1
    x.send_update(v4_update("127.0.0.1", "10.50.0.0/24"))  # our end of the session
    assert b.loc_rib("10.50.0.0/24") == []
    assert refused(b) == {"own_address": 1}


def test_a_reload_changing_our_node_address_rechecks_next_hops(bench: Bench) -> None:
    x = bench.peers["x"]
    x.send_update(v4_update("10.0.0.7", "10.60.0.0/24"))
    assert len(bench.loc_rib("10.60.0.0/24")) == 1
    new = CONFIG.replace('ipv4 = "10.0.0.1/24"', 'ipv4 = "10.0.0.7/24"').replace(
        'router_id = "10.0.0.1"', 'router_id = "10.0.0.1"\nlisten = ["10.0.0.1"]'
    )
    moved = parse_config(new)
    bench.speaker.apply_config(moved, diff_configs(bench.speaker.config, moved), bench.now)
    bench.pump()
    x.send_update(v4_update("10.0.0.7", "10.60.0.0/24"))  # now an address of ours
    assert bench.loc_rib("10.60.0.0/24") == []
    assert refused(bench) == {"own_address": 1}


def test_every_reason_is_a_documented_metric_label() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "metrics.md").read_text()
    row = next(line for line in text.splitlines() if "bgpd_peer_next_hop_refused" in line)
    for reason in REASONS:
        assert f"`{reason}`" in row


def test_refused_prefixes_keep_the_session_up(bench: Bench) -> None:
    x: RawPeer = bench.peers["x"]
    x.send_update(v4_update("0.0.0.0"))
    session = bench.speaker.peer_session("x")
    assert session is not None and session.state.value == "Established"

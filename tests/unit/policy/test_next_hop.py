"""The next hop rules alone (bgpd.policy.next_hop) and their memo in the import cache."""

from __future__ import annotations

import ipaddress

import pytest

from bgpd.policy.next_hop import NextHopCheck, packed_address
from bgpd.rib import Candidate, CandidateCache, NextHopRefused, Source, SourceKind
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.constants import Origin


def p(*addresses: str) -> bytes:
    return b"".join(ipaddress.ip_address(a).packed for a in addresses)


CHECK = NextHopCheck.for_session(p("10.0.0.1"), p("10.0.0.2"), (p("10.0.0.1"), p("fd00::1")))
LOOPBACK = NextHopCheck.for_session(p("127.0.0.1"), p("127.0.0.2"))


@pytest.mark.parametrize(
    ("check", "hop", "verdict"),
    [
        (CHECK, p("10.0.0.2"), None),
        (CHECK, p("192.0.2.1"), None),
        (CHECK, p("240.0.0.1"), None),
        (CHECK, p("223.255.255.255"), None),
        (CHECK, p("0.0.0.0"), "unspecified"),
        (CHECK, p("127.0.0.2"), "loopback"),
        (CHECK, p("224.0.0.0"), "multicast"),
        (CHECK, p("255.255.255.255"), "broadcast"),
        (CHECK, p("10.0.0.1"), "own_address"),
        (CHECK, p("fd00::1"), "own_address"),
        (CHECK, p("fd00::1", "fe80::1"), "own_address"),
        (CHECK, p("2001:db8::1", "fe80::1"), None),
        (CHECK, p("2001:db8::1", "ff02::1"), "second_not_link_local"),
        (CHECK, p("fe80::1", "fe80::2"), "link_local"),
        (CHECK, p("febf::1"), "link_local"),  # fe80::/10 ends at febf
        (CHECK, p("fec0::1"), None),
        (CHECK, p("::2"), "unspecified"),  # IPv4-compatible 0.0.0.2
        (CHECK, p("::ffff:10.0.0.2"), None),  # the peer, IPv4-mapped
        (CHECK, p("::ffff:224.1.1.1"), "multicast"),
        (LOOPBACK, p("127.0.0.2"), None),
        (LOOPBACK, p("127.0.0.9"), None),
        (LOOPBACK, p("::1"), None),
        (LOOPBACK, p("127.0.0.1"), "own_address"),
        (LOOPBACK, p("0.0.0.0"), "unspecified"),
        # Both ends of a test session on one address: the peer's address is the peer's.
        (NextHopCheck.for_session(p("127.0.0.1"), p("127.0.0.1")), p("127.0.0.1"), None),
    ],
)
def test_next_hop_verdicts(check: NextHopCheck, hop: bytes, verdict: str | None) -> None:
    assert check(hop) == verdict


def test_a_dual_stack_socket_address_is_the_ipv4_one() -> None:
    assert packed_address("::ffff:10.0.0.1") == p("10.0.0.1")
    assert packed_address("fd00::1") == p("fd00::1")


def test_the_import_cache_asks_once_per_attribute_set_and_next_hop() -> None:
    asked: list[bytes] = []

    def check(hop: bytes) -> str | None:
        asked.append(hop)
        return CHECK(hop)

    source = Source(name="x", kind=SourceKind.EBGP, peer_asn=65002, address=p("10.0.0.2"))
    cache = CandidateCache(source, next_hop_problem=check)
    attrs = PathAttributes(origin=Origin.IGP)
    bad = cache.candidate(attrs, p("0.0.0.0"))
    assert isinstance(bad, NextHopRefused) and bad.reason == "unspecified"
    assert cache.candidate(attrs, p("0.0.0.0")) is bad
    good = cache.candidate(attrs, p("10.0.0.2"))
    assert isinstance(good, Candidate)
    assert cache.candidate(attrs, p("10.0.0.2")) is good
    assert asked == [p("0.0.0.0"), p("10.0.0.2")]


def test_a_looping_path_is_not_reported_for_its_next_hop() -> None:
    source = Source(name="x", kind=SourceKind.EBGP, peer_asn=65002)
    cache = CandidateCache(source, lambda _a: True, next_hop_problem=CHECK)
    assert cache.candidate(PathAttributes(origin=Origin.IGP), p("0.0.0.0")) is None

"""The Long-Lived Graceful Restart capability (RFC 9494 §3): codec and negotiation.

Golden bytes: the RFC 9494 §3 layout (AFI 2 octets, SAFI 1, flags 1 with F = 0x80, stale time
3 octets), as BIRD 2 (`bgp_write_capabilities`: put_u16 afi, safi, flags, put_u24 time) and
GoBGP (`LongLivedGracefulRestartTuple`) write it; the integration tests against both daemons
check that they read ours.
"""

from __future__ import annotations

import pytest

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.wire.capabilities import (
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedFamily,
    LongLivedGracefulRestart,
    UnknownCapability,
    capability_code,
    decode_capabilities,
    encode_capability,
)
from bgpd.wire.messages import OpenMessage
from bgpd.wire.negotiated import negotiate
from tests.unit.wire.helpers import h

V4_V6 = LongLivedGracefulRestart(
    families=(
        LongLivedFamily(family=IPV4_UNICAST, forwarding_preserved=True, stale_time=3600),
        LongLivedFamily(family=IPV6_UNICAST, forwarding_preserved=False, stale_time=0xFFFFFF),
    )
)
V4_V6_BYTES = h("47 0e 0001 01 80 000e10 0002 01 00 ffffff")


def test_golden_bytes_both_ways() -> None:
    assert capability_code(V4_V6) == 71
    assert encode_capability(V4_V6) == V4_V6_BYTES
    assert decode_capabilities(V4_V6_BYTES) == [V4_V6]


def test_empty_capability_is_valid() -> None:
    # RFC 9494 §3: a speaker may send it with no tuple (it helps, it preserves nothing).
    assert decode_capabilities(h("47 00")) == [LongLivedGracefulRestart()]
    assert encode_capability(LongLivedGracefulRestart()) == h("47 00")


def test_unknown_family_is_ignored_and_last_entry_wins() -> None:
    (cap,) = decode_capabilities(h("47 15 0001 80 80 000001 0001 01 80 000002 0001 01 00 000003"))
    assert cap == LongLivedGracefulRestart(
        families=(LongLivedFamily(family=IPV4_UNICAST, forwarding_preserved=False, stale_time=3),)
    )


@pytest.mark.parametrize("value", [h("47 06 0001 01 80 0000"), h("47 08 0001 01 80 00000000")])
def test_length_not_a_multiple_of_seven_is_malformed(value: bytes) -> None:
    with pytest.raises(WireError) as info:
        decode_capabilities(value)
    assert (info.value.code, info.value.subcode) == (2, 0)


def test_stale_time_is_24_bits() -> None:
    with pytest.raises(ValueError, match="stale time"):
        LongLivedFamily(family=IPV4_UNICAST, forwarding_preserved=False, stale_time=1 << 24)


def test_not_unknown_any_more() -> None:
    (cap,) = decode_capabilities(h("47 07 0001 01 00 00003c"))
    assert not isinstance(cap, UnknownCapability)


GR = GracefulRestart(
    restart_state=False,
    notification=True,
    restart_time=3,
    families=(GracefulRestartFamily(family=IPV4_UNICAST, forwarding_preserved=True),),
)


def _open(*caps: object) -> OpenMessage:
    return OpenMessage(asn=65001, hold_time=90, router_id=1, capabilities=caps)  # type: ignore[arg-type]


def test_negotiated_stale_times_are_the_peers_for_common_families() -> None:
    mine = LongLivedGracefulRestart(
        families=(LongLivedFamily(family=IPV4_UNICAST, forwarding_preserved=True, stale_time=60),)
    )
    n = negotiate(_open(GR, mine), _open(GR, V4_V6))
    assert n.peer_long_lived == V4_V6
    # IPv6 is in the peer's capability but not a negotiated family (no Multiprotocol: v4 only).
    assert n.long_lived_stale_times() == {IPV4_UNICAST: 3600}


def test_one_side_without_the_capability_negotiates_nothing() -> None:
    assert negotiate(_open(GR), _open(GR, V4_V6)).long_lived_stale_times() == {}
    assert negotiate(_open(GR, V4_V6), _open(GR)).long_lived_stale_times() == {}


def test_without_graceful_restart_the_capability_is_ignored() -> None:
    # RFC 9494 §3: LLGR is sent together with the GR capability; alone it does not count.
    n = negotiate(_open(GR, V4_V6), _open(V4_V6))
    assert n.peer_long_lived is None
    assert n.long_lived_stale_times() == {}


def test_last_instance_wins() -> None:
    first = LongLivedGracefulRestart()
    n = negotiate(_open(GR, V4_V6), _open(GR, first, V4_V6))
    assert n.peer_long_lived == V4_V6

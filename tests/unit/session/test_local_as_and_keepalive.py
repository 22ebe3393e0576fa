"""A session's own AS (a peer's `local_asn`, BIRD's `local as`) in its OPEN, and a keepalive
change taken by a running session without a reset (RFC 4271 §4.4: ours to choose)."""

from __future__ import annotations

import itertools
from dataclasses import replace

from bgpd.net import AS_TRANS
from bgpd.session import SessionState
from bgpd.wire.capabilities import FourOctetAs
from bgpd.wire.codec import encode_open
from bgpd.wire.constants import MessageType
from tests.unit.session.session_harness import mirror, pair, settings


def test_the_open_carries_the_sessions_local_as_two_and_four_octets() -> None:
    two = settings(local_asn=65100, peer_asn=65000).build_open()
    assert two.asn == 65100
    assert [c.asn for c in two.capabilities if isinstance(c, FourOctetAs)] == [65100]
    four = settings(local_asn=4_200_000_100, peer_asn=65000).build_open()
    assert [c.asn for c in four.capabilities if isinstance(c, FourOctetAs)] == [4_200_000_100]
    # RFC 6793 §4.1: on the wire My AS is AS_TRANS, the real one in the capability
    wire = encode_open(four)
    assert int.from_bytes(wire[20:22], "big") == AS_TRANS
    assert int.from_bytes(encode_open(two)[20:22], "big") == 65100


def test_a_peer_expecting_the_local_as_establishes_as_ebgp() -> None:
    a = settings(local_asn=4_200_000_100, peer_asn=65000)
    net, pa, pb = pair(a, mirror(a, passive=True))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.state is SessionState.ESTABLISHED and pb.state is SessionState.ESTABLISHED
    assert pb.negotiated is not None and pb.negotiated.peer_asn == 4_200_000_100
    assert pa.negotiated is not None and not pa.negotiated.ibgp


def test_a_keepalive_change_applies_at_the_next_keepalive_without_a_reset() -> None:
    a = settings(hold_time=90)
    net, pa, pb = pair(a, mirror(a, passive=True, hold_time=90))
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.keepalive_interval == 30
    net.advance(100)
    changed_at = net.now
    pa.update_settings(replace(a, keepalive_time=5))
    assert pa.keepalive_interval == 5
    net.advance(100)
    assert pa.state is SessionState.ESTABLISHED and pb.state is SessionState.ESTABLISHED
    assert not net.sent("A", MessageType.NOTIFICATION)
    times = [s.at for s in net.sent("A", MessageType.KEEPALIVE) if s.at > changed_at]
    # the first one when it was due (at most 30 s on), then every 5 s * [0.75, 1]
    assert times[0] - changed_at <= 30
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) > 10 and all(3.75 - 1e-9 <= g <= 5 + 1e-9 for g in gaps), gaps
    # and back to a third of the hold time
    pa.update_settings(a)
    assert pa.keepalive_interval == 30

"""The speaker fuzz target (bench/fuzz_speaker.py) runs over its seed corpus without atheris,
so it cannot rot; and the regressions it found stay found."""

from __future__ import annotations

import pytest

from bench.fuzz_speaker import SEEDS, FindingError, check, fresh_net, run_one
from bgpd.net import pack_prefix
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.codec import encode_update
from bgpd.wire.constants import SegmentType
from bgpd.wire.messages import NlriBatch, UpdateMessage
from tests.unit.speaker.raw_peers import IPV4_UNICAST


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{i}" for i in range(len(SEEDS))])
def test_the_fuzz_target_passes_its_seeds(seed: bytes) -> None:
    run_one(seed)


def test_the_invariants_catch_a_session_that_went_down() -> None:
    """The check is not vacuous: a receiver's session ending is a finding."""
    net = fresh_net()
    check(net, "tor")
    net.speaker.reset_peer("mesh", net.now, soft=False)
    net.flush()
    with pytest.raises(FindingError, match="mesh"):
        check(net, "tor")


def test_confederation_segments_from_an_ibgp_peer_never_reach_an_ebgp_peer() -> None:
    """Found by the fuzzer: an iBGP peer's AS_CONFED_SEQUENCE was passed on to eBGP peers,
    which treat the route as withdrawn (RFC 7606 §7.2); it is removed (RFC 5065 §4.1)."""
    net = fresh_net()
    ibgp = net.peers["ibgp"]
    hop = bytes((10, 0, 0, 4))
    attrs = PathAttributes(
        as_path=(
            AsPathSegment(type=SegmentType.AS_CONFED_SEQUENCE, asns=(65100,)),
            AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(65200,)),
        ),
        next_hop=hop,
        local_pref=100,
    )
    batch = NlriBatch(family=IPV4_UNICAST, next_hop=hop, prefixes=(pack_prefix("10.5.0.0/16"),))
    message = UpdateMessage(attributes=attrs, announced=(batch,), withdrawn=())
    net.send("ibgp", encode_update(message, ibgp.ctx()))
    check(net, "ibgp")  # the raw peers decode every UPDATE: no RFC 7606 problem
    tor = net.peers["tor"]
    (update,) = [u for u in tor.updates if u.announced]
    assert update.attributes is not None
    assert update.attributes.as_path_asns() == (64512, 65200)
    assert "10.5.0.0/16" in tor.announced()

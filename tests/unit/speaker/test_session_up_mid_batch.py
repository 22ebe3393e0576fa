"""A session that comes up inside one batch of reads, between a prefix's announcement and its
withdrawal by another peer, is not left holding the prefix: a new group's whole table is the
Loc-RIB of the moment (complete, so End-of-RIB can follow it), and the prefixes that moved
since the last take are looked at again at the next one (which, seeing the prefix appear and
go again, reports nothing for it). The same under ADD-PATH send, every path of a prefix."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, parse_router_id
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    AddPathMode,
    Capability,
    FourOctetAs,
    Multiprotocol,
)
from bgpd.wire.codec import encode_keepalive, encode_open
from bgpd.wire.constants import MessageType
from bgpd.wire.messages import OpenMessage
from bgpd.wire.negotiated import Negotiated
from bgpd.wire.update import UpdateDecoder
from tests.unit.speaker.raw_peer import Bench, RawPeer
from tests.unit.wire.helpers import message, update_body

CONFIG = """
[bgp]
asn = 64512
router_id = "10.0.0.1"
cluster_id = "10.0.0.1"

[control]
socket = "/tmp/unused-mid-batch.ctl"

[[peer]]
name = "a"
address = "10.0.0.2"
asn = 64512
passive = true
rr_client = true

[[peer]]
name = "c"
address = "10.0.0.4"
asn = 64512
passive = true
rr_client = false
"""
ADD_PATH = 'add_path = "send"\n'
ATTRS = "40 01 01 00" + "40 02 00" + "40 03 04 0a000002" + "40 05 04 00000064"


@pytest.mark.parametrize("add_path", [False, True], ids=["best-path", "add-path"])
def test_a_prefix_that_comes_and_goes_around_a_session_coming_up_is_not_left_behind(
    add_path: bool,
) -> None:
    bench = Bench(CONFIG + ADD_PATH if add_path else CONFIG)
    a = bench.peer("a", 64512, "10.0.0.2", "10.0.0.1")
    c = bench.peers["c"] = RawPeer(bench, "c", 64512, "10.0.0.4", 2)
    bench.speaker.connection_made("c", 2, bench.now, outbound=False, local_address="10.0.0.1")
    c.decoder = UpdateDecoder(
        Negotiated(
            local_asn=64512,
            peer_asn=64512,
            peer_router_id=0,
            hold_time=240,
            as4=True,
            families=frozenset({IPV4_UNICAST}),
            add_path_receive=frozenset({IPV4_UNICAST}) if add_path else frozenset(),
        )
    )
    caps: tuple[Capability, ...] = (Multiprotocol(family=IPV4_UNICAST), FourOctetAs(asn=64512))
    if add_path:
        receive = AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.RECEIVE)
        caps += (AddPath(families=(receive,)),)
    opening = OpenMessage(
        asn=64512, hold_time=240, router_id=parse_router_id("10.0.0.4"), capabilities=caps
    )
    announce = message(MessageType.UPDATE, update_body("", ATTRS, "18 0a0100"))
    withdraw = message(MessageType.UPDATE, update_body("18 0a0100", "", ""))
    reads = [
        ("a", a.conn_id, announce),
        ("c", 2, encode_open(opening) + encode_keepalive()),
        ("a", a.conn_id, withdraw),
    ]
    bench.speaker.receive_batch(reads, bench.now)
    bench.pump()
    negotiated = bench.speaker.peer_session("c").negotiated
    assert negotiated is not None  # c came up in the batch
    assert (IPV4_UNICAST in negotiated.add_path_send) is add_path
    assert bench.speaker.route_views("10.1.0.0/24") == []
    assert not c.announced()


def test_what_a_take_withdrew_is_not_kept_alive_after_the_groups_applied_it() -> None:
    bench = Bench(CONFIG)
    a = bench.peer("a", 64512, "10.0.0.2", "10.0.0.1")
    bench.peer("c", 64512, "10.0.0.4", "10.0.0.1")
    a.send(message(MessageType.UPDATE, update_body("", ATTRS, "18 0a0100 18 0a0200")))
    a.send(message(MessageType.UPDATE, update_body("18 0a0100", "", "")))
    rib = bench.speaker._rib
    assert not rib.taken(IPV4_UNICAST)  # the withdrawn path and prefix are not held
    assert rib.best_before_take(IPV4_UNICAST, bytes.fromhex("180a0100")) is None

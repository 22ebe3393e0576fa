"""Route refresh through the speaker (RFC 2918, RFC 7313), against a raw peer whose bytes the
test writes and whose received bytes it reads one message at a time."""

from __future__ import annotations

import logging
import random

import pytest

from bgpd.config import parse_config
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, pack_prefix, parse_router_id
from bgpd.speaker import Send, Speaker
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.capabilities import (
    Capability,
    EnhancedRouteRefresh,
    FourOctetAs,
    Multiprotocol,
    RouteRefresh,
)
from bgpd.wire.codec import (
    UpdateDecoder,
    encode_keepalive,
    encode_open,
    encode_route_refresh,
    encode_update,
)
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MessageType, Origin
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import NlriBatch, OpenMessage, RouteRefreshMessage, UpdateMessage
from bgpd.wire.negotiated import EncodeContext, Negotiated

from .harness import config

V4 = IPV4_UNICAST
V6 = IPV6_UNICAST
STATICS = """
[[static]]
prefix = "10.10.1.0/24"

[[static]]
prefix = "10.10.2.0/24"

[[static]]
prefix = "fd00:10:1::/64"
next_hop = "fd00::a"
"""
ERR_CAPS: tuple[Capability, ...] = (
    Multiprotocol(family=V4),
    Multiprotocol(family=V6),
    RouteRefresh(),
    EnhancedRouteRefresh(),
    FourOctetAs(asn=64512),
)
PLAIN_CAPS = tuple(c for c in ERR_CAPS if not isinstance(c, EnhancedRouteRefresh))

# What a message the speaker sent is, for the assertions: ("BoRR", family), ("EoRR", family),
# ("request", family), ("update", family, announced prefixes), ("eor", family), ("keepalive",).
Seen = tuple[object, ...]


class RawPeer:
    """The far end of the speaker's session "p": its OPEN, its UPDATEs, its markers."""

    CONN = 7

    def __init__(self, caps: tuple[Capability, ...] = ERR_CAPS) -> None:
        text = config(64512, "127.0.0.1", [("p", "127.0.0.2", 64512)], STATICS)
        self.now = 1000.0
        self.speaker = Speaker(parse_config(text), random.Random(1))
        self.speaker.start(self.now)
        self.reader = MessageReader(MAX_EXTENDED_MESSAGE_LEN)
        self.speaker.connection_made(
            "p", self.CONN, self.now, outbound=False, local_address="127.0.0.1"
        )
        self.send(
            encode_open(
                OpenMessage(
                    asn=64512,
                    hold_time=240,
                    router_id=parse_router_id("127.0.0.2"),
                    capabilities=caps,
                )
            )
            + encode_keepalive()
        )
        session = self.speaker.peer_session("p")
        assert session is not None and session.negotiated is not None
        self.negotiated: Negotiated = session.negotiated
        self.decoder = UpdateDecoder(self.negotiated)
        self.initial = self.read()  # OPEN, KEEPALIVE, the table, End-of-RIB

    def send(self, data: bytes) -> None:
        self.speaker.receive_data("p", self.CONN, data, self.now)

    def read(self) -> list[Seen]:
        """What the speaker sent since the last read; consecutive UPDATEs announcing routes of
        one family are merged into one entry (one UPDATE per attribute set is an encoding
        detail)."""
        seen: list[Seen] = []
        for out in self.speaker.take_outputs():
            if not isinstance(out, Send) or out.conn_id != self.CONN:
                continue
            for msg_type, body in self.reader.feed(out.data):
                item = self._describe(msg_type, body)
                last = seen[-1] if seen else None
                if item[0] == "update" and last is not None and last[:2] == item[:2]:
                    merged = last[2] | item[2]  # type: ignore[operator]
                    seen[-1] = ("update", item[1], merged)
                else:
                    seen.append(item)
        return seen

    def _describe(self, msg_type: int, body: bytes) -> Seen:
        if msg_type == MessageType.ROUTE_REFRESH:
            afi, subtype, safi = body[0] << 8 | body[1], body[2], body[3]
            family = next(f for f in (V4, V6) if (f.afi, f.safi) == (afi, safi))
            return (("request", "BoRR", "EoRR")[subtype], family)
        if msg_type == MessageType.UPDATE:
            update = self.decoder.decode(body)
            if update.end_of_rib is not None:
                return ("eor", update.end_of_rib)
            (batch,) = update.announced
            return ("update", batch.family, frozenset(batch.prefixes))
        return (MessageType(msg_type).name.lower(),)

    def announce(self, family: Family, *prefixes: str) -> None:
        hop = bytes([127, 0, 0, 2]) if family == V4 else bytes.fromhex("fd00" + "00" * 13 + "02")
        update = UpdateMessage(
            attributes=PathAttributes(origin=Origin.IGP, as_path=(), local_pref=100),
            announced=(
                NlriBatch(
                    family=family, next_hop=hop, prefixes=tuple(pack_prefix(p) for p in prefixes)
                ),
            ),
            withdrawn=(),
        )
        self.send(encode_update(update, EncodeContext.from_negotiated(self.negotiated)))

    def wait_until(self, at: float) -> None:
        """Time passes (the peer keeps the session up with a KEEPALIVE a minute)."""
        while self.now < at:
            self.now = min(at, self.now + 60)
            self.send(encode_keepalive())
            self.speaker.handle_timer(self.now)

    def marker(self, family: Family, subtype: int) -> None:
        self.send(encode_route_refresh(RouteRefreshMessage(family=family, subtype=subtype)))

    def learned(self, prefix: str) -> list[bool]:
        """The stale flags of the speaker's routes for `prefix` from this peer."""
        return [bool(v.stale) for v in self.speaker.route_views(prefix, peer="p")]


V4_TABLE = frozenset({pack_prefix("10.10.1.0/24"), pack_prefix("10.10.2.0/24")})
V6_TABLE = frozenset({pack_prefix("fd00:10:1::/64")})


def test_the_initial_table_needs_no_markers() -> None:
    raw = RawPeer()
    assert raw.initial[:2] == [("open",), ("keepalive",)]
    assert ("update", V4, V4_TABLE) in raw.initial and ("update", V6, V6_TABLE) in raw.initial
    assert not [m for m in raw.initial if m[0] in ("BoRR", "EoRR")]


def test_a_refresh_request_gets_borr_that_familys_table_only_and_eorr() -> None:
    raw = RawPeer()
    raw.marker(V6, 0)
    assert raw.read() == [("BoRR", V6), ("update", V6, V6_TABLE), ("EoRR", V6)]
    raw.marker(V4, 0)
    assert raw.read() == [("BoRR", V4), ("update", V4, V4_TABLE), ("EoRR", V4)]


def test_without_enhanced_route_refresh_the_answer_is_the_family_alone() -> None:
    raw = RawPeer(PLAIN_CAPS)
    raw.marker(V6, 0)
    assert raw.read() == [("update", V6, V6_TABLE)]


def test_received_markers_are_not_refresh_requests() -> None:
    # The bug of issue 11: BoRR and EoRR were taken for requests, each resending the table.
    raw = RawPeer()
    raw.marker(V4, 1)
    raw.marker(V4, 2)
    raw.marker(V6, 1)
    raw.marker(V6, 2)
    assert raw.read() == []


def test_stale_at_borr_purged_at_eorr_and_reannounced_routes_kept() -> None:
    raw = RawPeer()
    raw.announce(V4, "10.20.1.0/24", "10.20.2.0/24")
    raw.announce(V6, "fd00:20::/64")
    assert raw.learned("10.20.2.0/24") == [False]
    raw.marker(V4, 1)
    assert raw.learned("10.20.1.0/24") == [True] and raw.learned("10.20.2.0/24") == [True]
    assert raw.learned("fd00:20::/64") == [False]  # another family: untouched
    raw.announce(V4, "10.20.1.0/24")  # the refresh re-announces one of them
    assert raw.learned("10.20.1.0/24") == [False]
    raw.marker(V4, 2)
    assert raw.learned("10.20.1.0/24") == [False]
    assert raw.learned("10.20.2.0/24") == []  # not re-announced: gone
    assert raw.learned("fd00:20::/64") == [False]
    assert raw.read() == []  # nothing changed for the peer itself: nothing sent back


def test_an_eorr_without_borr_removes_nothing() -> None:
    raw = RawPeer()
    raw.announce(V4, "10.20.1.0/24")
    raw.marker(V4, 2)
    assert raw.learned("10.20.1.0/24") == [False]


def test_a_missing_eorr_purges_after_the_stale_time() -> None:
    raw = RawPeer()
    raw.announce(V4, "10.20.1.0/24", "10.20.2.0/24")
    raw.marker(V4, 1)
    begun = raw.now
    raw.announce(V4, "10.20.1.0/24")
    raw.wait_until(begun + 359)
    assert raw.learned("10.20.2.0/24") == [True]
    raw.wait_until(begun + 360)
    assert raw.learned("10.20.2.0/24") == []
    assert raw.learned("10.20.1.0/24") == [False]


def test_a_refresh_asked_while_blocked_is_answered_when_the_peer_drains() -> None:
    raw = RawPeer()
    raw.speaker.set_writable("p", RawPeer.CONN, False, raw.now)
    raw.marker(V4, 0)
    assert raw.read() == []  # nothing encoded for a peer above its high-water mark
    raw.speaker.set_writable("p", RawPeer.CONN, True, raw.now)
    assert raw.read() == [("BoRR", V4), ("update", V4, V4_TABLE), ("EoRR", V4)]


@pytest.mark.parametrize("caps", [ERR_CAPS, PLAIN_CAPS], ids=["enhanced", "plain"])
def test_soft_reset_asks_the_peer_and_resends_our_table_bracketed(
    caps: tuple[Capability, ...],
) -> None:
    raw = RawPeer(caps)
    assert raw.speaker.reset_peer("p", raw.now, soft=True) is None  # nothing left undone
    seen = raw.read()
    assert sorted(m for m in seen if m[0] == "request") == [("request", V4), ("request", V6)]
    ours = [m for m in seen if m[0] != "request"]
    if caps is ERR_CAPS:
        assert ours == [
            ("BoRR", V4),
            ("update", V4, V4_TABLE),
            ("EoRR", V4),
            ("BoRR", V6),
            ("update", V6, V6_TABLE),
            ("EoRR", V6),
        ]
    else:
        assert ours == [("update", V4, V4_TABLE), ("update", V6, V6_TABLE)]


def test_soft_reset_of_a_peer_without_route_refresh_resends_ours_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # It used to raise SessionError out of the control command (no refresh to ask with).
    raw = RawPeer((Multiprotocol(family=V4), Multiprotocol(family=V6), FourOctetAs(asn=64512)))
    assert not raw.negotiated.route_refresh
    with caplog.at_level(logging.WARNING, logger="bgpd.speaker.core"):
        note = raw.speaker.reset_peer("p", raw.now, soft=True)
    # The operator's reply says so too (bgpctl prints the control command's "note").
    assert note == "peer did not negotiate route refresh: our routes resent, theirs not asked"
    assert raw.read() == [("update", V4, V4_TABLE), ("update", V6, V6_TABLE)]
    assert "peer soft reset inbound skipped peer=p reason=route_refresh_not_negotiated" in (
        caplog.text
    )

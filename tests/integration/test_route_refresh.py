"""Route refresh against real speakers: BIRD 2 with enhanced route refresh (RFC 7313) on a
two-host LAN, and a raw-socket peer on loopback for what BIRD cannot be made to send (a refresh
that leaves a route out, OPENs that break RFC 8654 and RFC 6793).

BIRD 2 negotiates enhanced route refresh by default. `birdc reload in` makes it send a
ROUTE-REFRESH per channel, which bgpd must answer with BoRR, that family's routes and EoRR; a
soft reset from bgpd makes BIRD answer with its own BoRR/EoRR, which bgpd must take as markers.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.capabilities import EnhancedRouteRefresh, FourOctetAs, Multiprotocol, RouteRefresh
from bgpd.wire.codec import encode_keepalive, encode_open, encode_route_refresh, encode_update
from bgpd.wire.constants import MessageType, Origin
from bgpd.wire.framing import MessageReader, frame
from bgpd.wire.messages import NlriBatch, OpenMessage, RouteRefreshMessage, UpdateMessage
from bgpd.wire.negotiated import EncodeContext, Negotiated

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import BgpPeer, BirdConfig, BirdDaemon, Lan, StaticRoute, free_tcp_ports, wait_until
from .peers.fixtures import BirdFactory

AS = 65001


def bgpd_lan_config(lan: Lan) -> str:
    a, b = lan.hosts
    return f"""
[bgp]
asn = {AS}
router_id = "{a.ipv4}"
listen = ["{a.ipv4}"]
log_level = "debug"

[control]
socket = "@SOCKET@"

[[static]]
prefix = "10.10.0.0/24"

[[static]]
prefix = "fd00:10::/64"
next_hop = "{a.ipv6}"

[[peer]]
name = "bird"
address = "{b.ipv4}"
asn = {AS}
local_address = "{a.ipv4}"
families = ["ipv4-unicast", "ipv6-unicast"]
"""


def counts(bgpd: BgpdProcess) -> tuple[dict[str, int], dict[str, int]]:
    view = bgpd.ctl("show peer", name="bird")
    return dict(view["messages_in"]), dict(view["messages_out"])


def delta(after: dict[str, int], before: dict[str, int], kind: str) -> int:
    return after.get(kind, 0) - before.get(kind, 0)


@pytest.fixture
def with_bird(
    lan: Lan, bgpd_factory: BgpdFactory, bird_factory: BirdFactory
) -> tuple[BgpdProcess, BirdDaemon]:
    a, b = lan.hosts
    bgpd = bgpd_factory(lan, bgpd_lan_config(lan))
    bird = bird_factory(
        BirdConfig(
            router_id=str(b.ipv4),
            debug=True,  # BIRD logs every BoRR/EoRR it receives ("Got BEGIN-OF-RR")
            static_routes=(StaticRoute(prefix="10.20.0.0/24"), StaticRoute(prefix="fd00:20::/64")),
            peers=(
                BgpPeer(
                    name="bgpd",
                    local_as=AS,
                    neighbor_address=str(a.ipv4),
                    neighbor_as=AS,
                    families=(4, 6),
                ),
            ),
        ),
        version="2",
        netns=b.ns,
    )
    bgpd.wait_established("bird")
    bird.wait_established("bgpd")
    bgpd.wait_route("10.20.0.0/24")
    bgpd.wait_route("fd00:20::/64")
    bird.wait_route("10.10.0.0/24")
    bird.wait_route("fd00:10::/64")
    assert bgpd.ctl("show peer", name="bird")["negotiated"]["enhanced_route_refresh"] is True
    return bgpd, bird


def test_bird_reload_in_gets_borr_each_familys_table_and_eorr(
    with_bird: tuple[BgpdProcess, BirdDaemon],
) -> None:
    bgpd, bird = with_bird
    before_in, before_out = counts(bgpd)
    bird.birdc("reload in bgpd")
    wait_until(
        lambda: delta(counts(bgpd)[1], before_out, "ROUTE_REFRESH") >= 4,
        timeout=20,
        message="bgpd answered both refreshes with BoRR and EoRR",
        describe=bgpd.output,
    )
    after_in, after_out = counts(bgpd)
    assert delta(after_in, before_in, "ROUTE_REFRESH") == 2  # one request per channel
    assert delta(after_out, before_out, "ROUTE_REFRESH") == 4
    # One table per family asked: our two statics, one UPDATE each, and nothing more.
    assert delta(after_out, before_out, "UPDATE") == 2
    logs = wait_until(
        lambda: (text := bird.logs()).count("Got END-OF-RR") >= 2 and text,
        timeout=10,
        message="BIRD received both EoRRs",
    )
    assert logs.count("Got BEGIN-OF-RR") >= 2
    # BIRD purged nothing of ours at its EoRR: the routes were inside the refresh.
    bird.wait_route("10.10.0.0/24")
    bird.wait_route("fd00:10::/64")


def test_soft_reset_markers_from_bird_are_not_refresh_requests(
    with_bird: tuple[BgpdProcess, BirdDaemon],
) -> None:
    bgpd, bird = with_bird
    before_in, before_out = counts(bgpd)
    bgpd.ctl("peer reset", name="bird", soft=True)
    wait_until(
        lambda: delta(counts(bgpd)[0], before_in, "ROUTE_REFRESH") >= 4,
        timeout=20,
        message="BIRD answered both requests with BoRR and EoRR",
        describe=bgpd.output,
    )
    after_in, after_out = counts(bgpd)
    assert delta(after_in, before_in, "ROUTE_REFRESH") == 4  # BoRR + EoRR per family
    # Two requests, and our own table (soft out) between BoRR and EoRR per family.
    assert delta(after_out, before_out, "ROUTE_REFRESH") == 2 + 4
    # Our table went out once (two statics): the markers BIRD sent resent nothing (before the
    # fix each of the four did, the whole table each time: 2 + 4 * 2 UPDATEs).
    assert delta(after_out, before_out, "UPDATE") == 2
    assert delta(after_in, before_in, "UPDATE") >= 2  # BIRD's routes, re-announced
    output = wait_until(
        lambda: (text := bgpd.output()).count("route refresh ended peer=bird") >= 2 and text,
        timeout=10,
        message="bgpd logged both refreshes ending",
    )
    assert "family=ipv4-unicast swept=0" in output and "family=ipv6-unicast swept=0" in output
    for prefix in ("10.20.0.0/24", "fd00:20::/64"):
        route = bgpd.learned(prefix)
        assert route is not None and route["stale"] is False, route
    # BIRD saw our requests, answered them with its markers, and took ours as markers too.
    logs = wait_until(
        lambda: (text := bird.logs()).count("Got END-OF-RR") >= 2 and text,
        timeout=10,
        message="BIRD received our EoRRs",
    )
    assert logs.count("Got ROUTE-REFRESH") >= 2 and logs.count("Sending BEGIN-OF-RR") >= 2, logs
    bird.wait_route("10.10.0.0/24")
    bird.wait_route("fd00:10::/64")


# ------------------------------------------------------------------------ raw-socket peer


class RawSession:
    """A hand-driven BGP peer over a real TCP connection to a real bgpd."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = MessageReader(65535)
        self.negotiated = Negotiated.default(AS, AS)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, msg_type: int, timeout: float = 10) -> list[tuple[int, bytes]]:
        """Messages up to and including the first of `msg_type` (or until the peer closes)."""
        got: list[tuple[int, bytes]] = []
        self.sock.settimeout(timeout)
        while not any(t == msg_type for t, _ in got):
            data = self.sock.recv(65536)
            if not data:
                break
            got += self.reader.feed(data)
        return got

    def announce(self, *prefixes: str) -> None:
        update = UpdateMessage(
            attributes=PathAttributes(origin=Origin.IGP, as_path=(), local_pref=100),
            announced=(
                NlriBatch(
                    family=IPV4_UNICAST,
                    next_hop=bytes((127, 0, 0, 32)),
                    prefixes=tuple(pack_prefix(p) for p in prefixes),
                ),
            ),
            withdrawn=(),
        )
        self.send(encode_update(update, EncodeContext.from_negotiated(self.negotiated)))

    def marker(self, subtype: int) -> None:
        self.send(encode_route_refresh(RouteRefreshMessage(family=IPV4_UNICAST, subtype=subtype)))


@pytest.fixture
def loopback_bgpd(bgpd_factory: BgpdFactory) -> Iterator[tuple[BgpdProcess, int]]:
    (port,) = free_tcp_ports(1, "127.0.0.31")
    config = f"""
[bgp]
asn = {AS}
router_id = "127.0.0.31"
listen = ["127.0.0.31"]
port = {port}

[control]
socket = "@SOCKET@"

[[peer]]
name = "raw"
address = "127.0.0.32"
asn = {AS}
passive = true
local_address = "127.0.0.31"
families = ["ipv4-unicast"]
"""
    yield bgpd_factory(None, config, name="refresh"), port


def connect(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.32", 0))
    sock.connect(("127.0.0.31", port))
    return sock


def stale_flags(bgpd: BgpdProcess, prefix: str) -> list[bool]:
    return [bool(r["stale"]) for r in bgpd.routes(prefix, peer="raw")]


def test_routes_left_out_of_a_refresh_are_purged_at_eorr(
    loopback_bgpd: tuple[BgpdProcess, int],
) -> None:
    bgpd, port = loopback_bgpd
    with connect(port) as sock:
        raw = RawSession(sock)
        caps = (Multiprotocol(family=IPV4_UNICAST), RouteRefresh(), EnhancedRouteRefresh())
        raw.send(
            encode_open(
                OpenMessage(
                    asn=AS,
                    hold_time=240,
                    router_id=0x7F000020,
                    capabilities=(*caps, FourOctetAs(asn=AS)),
                )
            )
            + encode_keepalive()
        )
        raw.read_until(MessageType.KEEPALIVE)
        bgpd.wait_established("raw")
        raw.announce("10.32.1.0/24", "10.32.2.0/24")
        bgpd.wait_route("10.32.2.0/24")
        raw.marker(1)  # BoRR
        wait_until(lambda: stale_flags(bgpd, "10.32.2.0/24") == [True], message="stale at BoRR")
        assert stale_flags(bgpd, "10.32.1.0/24") == [True]
        raw.announce("10.32.1.0/24")  # the refresh leaves 10.32.2.0/24 out
        raw.marker(2)  # EoRR
        bgpd.wait_no_route("10.32.2.0/24", timeout=10)
        assert stale_flags(bgpd, "10.32.1.0/24") == [False]
        assert bgpd.state("raw") == "Established"


def _crafted_open(my_as: int, as4: tuple[int, ...], extra_caps: bytes = b"") -> bytes:
    caps = b"".join(b"\x41\x04" + a.to_bytes(4, "big") for a in as4) + extra_caps
    param = bytes((2, len(caps))) + caps
    body = struct.pack("!BHHIB", 4, my_as, 90, 0x7F000020, len(param)) + param
    return frame(MessageType.OPEN, body)


def _notification(sock: socket.socket) -> tuple[int, int, bytes]:
    raw = RawSession(sock)
    messages = raw.read_until(MessageType.NOTIFICATION)
    notes = [body for t, body in messages if t == MessageType.NOTIFICATION]
    assert notes, messages
    return notes[0][0], notes[0][1], notes[0][2:]


@pytest.mark.parametrize(
    ("open_bytes", "expected", "logged"),
    [
        pytest.param(
            # The capability names the configured AS, My AS another one: both cannot be true.
            _crafted_open(AS + 1, (AS,)),
            (2, 2, AS.to_bytes(4, "big")),
            f"My AS {AS + 1} disagrees with the four-octet AS capability {AS}",
            id="my-as-disagrees-with-as4",
        ),
        pytest.param(
            _crafted_open(23456, (AS, AS + 1)),
            (2, 2, b""),
            "conflicting four-octet AS capabilities",
            id="two-as4-values",
        ),
    ],
)
def test_an_open_naming_two_ases_is_refused_with_bad_peer_as(
    loopback_bgpd: tuple[BgpdProcess, int],
    open_bytes: bytes,
    expected: tuple[int, int, bytes],
    logged: str,
) -> None:
    bgpd, port = loopback_bgpd
    with connect(port) as sock:
        sock.sendall(open_bytes)
        assert _notification(sock) == expected
    wait_until(lambda: logged in bgpd.output(), timeout=10, message="the reason in bgpd's log")
    assert bgpd.state("raw") != "Established"


def test_an_open_over_4096_octets_is_refused_despite_extended_messages(
    loopback_bgpd: tuple[BgpdProcess, int],
) -> None:
    bgpd, port = loopback_bgpd
    view: dict[str, Any] = bgpd.ctl("show peer", name="raw")
    assert view["state"] != "Established"
    # Extended messages offered, then unknown capabilities up to 5,000 octets (RFC 9072 form).
    caps = b"\x06\x00" + b"".join(b"\xc8\xf0" + bytes(240) for _ in range(20))
    params = b"".join(
        b"\x02" + len(chunk).to_bytes(2, "big") + chunk
        for chunk in (caps[i : i + 242] for i in range(0, len(caps), 242))
    )
    body = (
        struct.pack("!BHHI", 4, AS, 90, 0x7F000020) + b"\xff\xff" + len(params).to_bytes(2, "big")
    )
    data = frame(MessageType.OPEN, body + params)
    assert len(data) > 4096
    with connect(port) as sock:
        sock.sendall(data)
        assert _notification(sock) == (1, 2, len(data).to_bytes(2, "big"))
    assert bgpd.state("raw") != "Established"

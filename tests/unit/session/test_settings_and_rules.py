"""SessionSettings validation, our OPEN, and the pure rules (OPEN checks, keepalive, 2/7 data)."""

from __future__ import annotations

import dataclasses

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.session import InvalidSettingsError, add_path_modes
from bgpd.session.rules import check_open, keepalive_interval, refused_capability_codes
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    AddPathMode,
    CapabilityCode,
    EnhancedRouteRefresh,
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    Multiprotocol,
    RouteRefresh,
    capability_code,
    encode_capability,
)
from bgpd.wire.codec import decode_open, encode_open
from bgpd.wire.constants import OpenSubcode
from bgpd.wire.negotiated import Negotiated
from tests.unit.session.session_harness import peer_open, settings


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"hold_time": 2}, "hold time"),
        ({"hold_time": 70000}, "hold time"),
        ({"router_id": 0}, "router id"),
        ({"local_asn": 0}, "local AS"),
        ({"peer_asn": 0}, "peer AS"),
        ({"local_asn": 4_200_000_000, "four_octet_as": False}, "4-octet"),
        ({"connect_retry_time": 0}, "connect retry"),
        ({"error_wait_min": 40, "error_wait_max": 30}, "error wait"),
        ({"families": frozenset()}, "family"),
        ({"graceful_restart_time": 5000}, "graceful restart time"),
        ({"keepalive_time": 0}, "keepalive"),
        ({"add_path": AddPathMode.BOTH}, "pairs"),
        (
            {"add_path": ((IPV4_UNICAST, AddPathMode.BOTH), (IPV4_UNICAST, AddPathMode.SEND))},
            "twice",
        ),
    ],
)
def test_invalid_settings_are_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidSettingsError, match=problem):
        settings(**changes)


def test_defaults_are_calicos() -> None:
    s = settings()
    assert (s.hold_time, s.keepalive_time, s.connect_retry_time) == (240, None, 5.0)
    assert (s.error_wait_min, s.error_wait_max, s.error_forget_time) == (5.0, 30.0, 300.0)
    assert s.graceful_restart and s.graceful_restart_time == 120
    assert s.route_refresh and s.enhanced_route_refresh and s.extended_message
    assert s.four_octet_as and not s.passive and not s.restarting
    assert hash(s) == hash(settings())  # a hashable value, for config diffs


def test_our_open_carries_every_capability_and_round_trips() -> None:
    s = settings(
        local_asn=4_200_000_001,
        peer_asn=64512,
        families=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
        add_path=add_path_modes(
            {IPV6_UNICAST: AddPathMode.RECEIVE, IPV4_UNICAST: AddPathMode.BOTH}
        ),
    )
    message = s.build_open()
    assert message.asn == 4_200_000_001 and message.hold_time == 240
    codes = [capability_code(c) for c in message.capabilities]
    assert codes == [1, 1, 2, 6, 64, 65, 69, 70]
    assert message.capability(FourOctetAs) == FourOctetAs(asn=4_200_000_001)
    assert message.capability(AddPath) == AddPath(
        families=(
            AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.BOTH),
            AddPathFamily(family=IPV6_UNICAST, mode=AddPathMode.RECEIVE),
        )
    )
    gr = message.capability(GracefulRestart)
    assert gr is not None and not gr.restart_state and gr.restart_time == 120
    assert decode_open(encode_open(message)[19:]) == message


def test_our_open_without_refused_or_any_capabilities() -> None:
    s = settings()
    refused = frozenset({CapabilityCode.GRACEFUL_RESTART, CapabilityCode.EXTENDED_MESSAGE})
    caps = s.build_open(refused=refused).capabilities
    assert caps == (
        Multiprotocol(family=IPV4_UNICAST),
        RouteRefresh(),
        FourOctetAs(asn=64512),
        EnhancedRouteRefresh(),
    )
    assert s.build_open(no_capabilities=True).capabilities == ()
    minimal = settings(
        route_refresh=False, extended_message=False, graceful_restart=False, four_octet_as=False
    )
    assert minimal.build_open().capabilities == (Multiprotocol(family=IPV4_UNICAST),)
    assert ExtendedMessage not in {type(c) for c in minimal.build_open().capabilities}


def test_check_open() -> None:
    s = settings()
    assert check_open(s, peer_open()) is None
    bad_as = check_open(s, peer_open(asn=1))
    assert bad_as is not None and bad_as.notification.subcode == OpenSubcode.BAD_PEER_AS
    assert bad_as.reason == f"AS 1 is not the configured AS {s.peer_asn}"
    anyone = settings(peer_asn=None)
    assert check_open(anyone, peer_open(asn=1)) is None
    zero = check_open(anyone, peer_open(asn=0))
    assert zero is not None and zero.notification.subcode == OpenSubcode.BAD_PEER_AS  # RFC 7607
    assert zero.reason == "AS 0 is never a peer's AS"


def test_keepalive_interval() -> None:
    n = Negotiated.default(64512, 64512)  # hold 90
    assert keepalive_interval(settings(), n) == 30
    assert keepalive_interval(settings(keepalive_time=10), n) == 10
    assert keepalive_interval(settings(keepalive_time=90), n) == 30
    assert keepalive_interval(settings(), dataclasses.replace(n, hold_time=0)) is None
    assert (
        keepalive_interval(settings(keepalive_time=5), dataclasses.replace(n, hold_time=0)) is None
    )


def test_refused_capability_codes() -> None:
    data = encode_capability(
        GracefulRestart(restart_state=False, notification=False, restart_time=1)
    )
    data += encode_capability(FourOctetAs(asn=1))
    assert refused_capability_codes(data) == {64, 65}
    assert refused_capability_codes(b"") == frozenset()
    assert refused_capability_codes(b"\x45\x10\x00") == frozenset()  # truncated value
    assert refused_capability_codes(b"\x02\x00\x45") == {2}  # truncated tail ignored

"""OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH codecs and capability negotiation."""

from __future__ import annotations

import pytest

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.wire.capabilities import (
    AddPath,
    AddPathFamily,
    AddPathMode,
    EnhancedRouteRefresh,
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    Multiprotocol,
    RouteRefresh,
    UnknownCapability,
    capability_code,
    decode_capabilities,
)
from bgpd.wire.codec import (
    decode_keepalive,
    decode_message,
    decode_notification,
    decode_open,
    decode_route_refresh,
    encode_keepalive,
    encode_message,
    encode_notification,
    encode_open,
    encode_route_refresh,
)
from bgpd.wire.constants import CeaseSubcode, ErrorCode
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import (
    KeepaliveMessage,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
)
from bgpd.wire.negotiated import Negotiated, negotiate
from tests.unit.wire.helpers import h, message

ALL_CAPS = (
    Multiprotocol(family=IPV4_UNICAST),
    Multiprotocol(family=IPV6_UNICAST),
    RouteRefresh(),
    EnhancedRouteRefresh(),
    ExtendedMessage(),
    FourOctetAs(asn=4200000001),
    GracefulRestart(
        restart_state=True,
        notification=True,
        restart_time=300,
        families=(
            GracefulRestartFamily(family=IPV4_UNICAST, forwarding_preserved=True),
            GracefulRestartFamily(family=IPV6_UNICAST, forwarding_preserved=False),
        ),
    ),
    AddPath(
        families=(
            AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.BOTH),
            AddPathFamily(family=IPV6_UNICAST, mode=AddPathMode.SEND),
        )
    ),
    UnknownCapability(code=73, value=b"\x05host1\x00"),  # FQDN, kept raw
)


def _body(data: bytes) -> bytes:
    ((_, body),) = MessageReader().feed(data)
    return body


def test_open_round_trip_with_every_capability() -> None:
    msg = OpenMessage(asn=4200000001, hold_time=90, router_id=0x0A000001, capabilities=ALL_CAPS)
    data = encode_open(msg)
    assert data[19 + 1 : 19 + 3] == h("5ba0")  # AS_TRANS in My Autonomous System
    decoded = decode_open(_body(data))
    assert decoded == msg
    assert decoded.capability(GracefulRestart) == ALL_CAPS[6]
    assert decoded.capability(Multiprotocol) == ALL_CAPS[0]


def test_open_two_octet_as_without_capability() -> None:
    body = h("04 fde9 005a 0a000001 00")  # version 4, AS 65001, hold 90, id, no parameters
    msg = decode_open(body)
    assert (msg.asn, msg.hold_time, msg.capabilities) == (65001, 90, ())


def test_open_with_many_capabilities_uses_several_parameters() -> None:
    caps = tuple(UnknownCapability(code=200, value=bytes(100)) for _ in range(4))
    msg = OpenMessage(asn=65001, hold_time=90, router_id=1, capabilities=caps)
    assert decode_open(_body(encode_open(msg))) == msg


def test_open_rfc9072_extended_parameters() -> None:
    caps = tuple(UnknownCapability(code=200, value=bytes(200)) for _ in range(3))
    msg = OpenMessage(asn=65001, hold_time=90, router_id=1, capabilities=caps)
    data = encode_open(msg)
    assert data[19 + 9 : 19 + 11] == h("ff ff")  # Non-Ext OP Len 255, Non-Ext OP Type 255
    assert decode_open(_body(data)) == msg


@pytest.mark.parametrize(
    ("body", "subcode", "data"),
    [
        (h("03 fde9 005a 0a000001 00"), 1, h("0004")),  # version 3: we support 4
        (h("04 fde9 0001 0a000001 00"), 6, b""),  # hold time 1
        (h("04 fde9 0002 0a000001 00"), 6, b""),  # hold time 2
        (h("04 fde9 005a 00000000 00"), 3, b""),  # BGP identifier 0 (RFC 6286)
        (h("04 fde9 005a 0a000001 04 01 02 0000"), 4, b""),  # parameter type 1 (authentication)
        (h("04 fde9 005a 0a000001 05 02 02 0200"), 0, b""),  # parameters length 5, 4 present
        (h("04 fde9 005a 0a000001 03 02 03 0200"), 0, b""),  # parameter overruns
        (h("04 fde9 005a 0a000001 04 02 02 4102"), 0, b""),  # 4-octet AS capability of length 2
        (h("04 fde9 005a"), None, b""),  # truncated
    ],
)
def test_open_errors(body: bytes, subcode: int | None, data: bytes) -> None:
    with pytest.raises(WireError) as info:
        decode_open(body)
    if subcode is None:
        assert (info.value.code, info.value.subcode) == (1, 2)
    else:
        assert (info.value.code, info.value.subcode, info.value.data) == (2, subcode, data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (h("01 04 0001 00 80"), UnknownCapability(code=1, value=h("0001 00 80"))),  # SAFI 128
        (h("45 04 0001 01 07"), AddPath(families=())),  # mode 7 ignored (RFC 7911 §4)
        (h("40 02 c000"), GracefulRestart(restart_state=True, notification=True, restart_time=0)),
    ],
)
def test_capability_edge_cases(value: bytes, expected: object) -> None:
    assert decode_capabilities(value) == [expected]


@pytest.mark.parametrize("value", [h("01"), h("01 05 0001 0001"), h("40 03 000000"), h("02 01 00")])
def test_malformed_capabilities(value: bytes) -> None:
    with pytest.raises(WireError) as info:
        decode_capabilities(value)
    assert info.value.code == 2


def test_capability_codes() -> None:
    assert [capability_code(c) for c in ALL_CAPS] == [1, 1, 2, 70, 6, 65, 64, 69, 73]


def _open(*caps: object, asn: int = 65001, hold: int = 90) -> OpenMessage:
    return OpenMessage(asn=asn, hold_time=hold, router_id=1, capabilities=caps)  # type: ignore[arg-type]


def test_negotiate_intersects_everything() -> None:
    local = _open(*ALL_CAPS, asn=4200000001, hold=90)
    remote = _open(
        Multiprotocol(family=IPV4_UNICAST),
        Multiprotocol(family=IPV6_UNICAST),
        RouteRefresh(),
        FourOctetAs(asn=65002),
        AddPath(
            families=(
                AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.SEND),
                AddPathFamily(family=IPV6_UNICAST, mode=AddPathMode.BOTH),
            )
        ),
        asn=65002,
        hold=30,
    )
    n = negotiate(local, remote)
    assert (n.local_asn, n.peer_asn, n.hold_time, n.as4) == (4200000001, 65002, 30, True)
    assert n.families == {IPV4_UNICAST, IPV6_UNICAST}
    # We said v4 BOTH, v6 SEND; they said v4 SEND, v6 BOTH.
    assert n.add_path_receive == {IPV4_UNICAST}
    assert n.add_path_send == {IPV6_UNICAST}
    assert n.route_refresh and not n.enhanced_route_refresh and not n.extended_message
    assert n.max_message_len == 4096 and not n.ibgp
    assert n.peer_graceful_restart is None and n.local_graceful_restart == ALL_CAPS[6]


def test_negotiate_without_multiprotocol_means_ipv4_only() -> None:
    n = negotiate(
        _open(Multiprotocol(family=IPV6_UNICAST), Multiprotocol(family=IPV4_UNICAST)), _open()
    )
    assert n.families == {IPV4_UNICAST}
    assert not n.as4


def test_negotiate_extended_message_and_enhanced_refresh() -> None:
    caps = (RouteRefresh(), EnhancedRouteRefresh(), ExtendedMessage())
    n = negotiate(_open(*caps), _open(*caps))
    assert n.extended_message and n.max_message_len == 65535 and n.enhanced_route_refresh
    assert n.ibgp


def test_default_negotiated() -> None:
    n = Negotiated.default(65000, 65001)
    assert n.as4 and n.families == {IPV4_UNICAST} and not n.ibgp


def test_notification_round_trip_and_text() -> None:
    msg = NotificationMessage.shutdown(CeaseSubcode.ADMIN_RESET, "upgrade to 2.0")
    assert msg.data == b"\x0eupgrade to 2.0"
    decoded = decode_notification(_body(encode_notification(msg)))
    assert decoded == msg
    assert decoded.shutdown_text == "upgrade to 2.0"
    assert str(decoded) == "Cease/Administrative Reset: upgrade to 2.0"


def test_shutdown_text_is_cut_on_a_utf8_boundary() -> None:
    msg = NotificationMessage.shutdown(CeaseSubcode.ADMIN_SHUTDOWN, "é" * 200)  # 400 octets
    assert msg.data[0] == 254  # 127 two-octet characters; the 128th would pass 255
    assert msg.shutdown_text == "é" * 127


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", None),  # no communication
        (b"\x05abc", None),  # length says 5, 3 present
        (b"\x02\xff\xfe", None),  # not UTF-8
    ],
)
def test_malformed_shutdown_text(data: bytes, text: str | None) -> None:
    msg = NotificationMessage(code=6, subcode=2, data=data)
    assert msg.shutdown_text == text
    assert str(msg).startswith("Cease/Administrative Shutdown")


def test_notification_descriptions() -> None:
    assert str(NotificationMessage(code=4, subcode=0)) == "Hold Timer Expired/subcode 0"
    assert str(NotificationMessage(code=1, subcode=2, data=h("0fff"))) == (
        "Message Header Error/Bad Message Length (data 0fff)"
    )
    assert NotificationMessage(code=6, subcode=6, data=b"\x01x").shutdown_text is None


def test_notification_too_short() -> None:
    with pytest.raises(WireError):
        decode_notification(b"\x06")


def test_keepalive() -> None:
    assert decode_keepalive(_body(encode_keepalive())) == KeepaliveMessage()
    with pytest.raises(WireError):
        decode_keepalive(b"\x00")


@pytest.mark.parametrize("subtype", [0, 1, 2])
def test_route_refresh_round_trip(subtype: int) -> None:
    msg = RouteRefreshMessage(family=IPV6_UNICAST, subtype=subtype)
    data = encode_route_refresh(msg)
    assert data[19:] == h("0002") + bytes((subtype,)) + h("01")
    assert decode_route_refresh(_body(data)) == msg


@pytest.mark.parametrize(
    "body",
    [
        h("0001 03 01"),  # subtype 3: ignored (RFC 7313 §5)
        h("0003 00 01"),  # AFI 3: ignored (RFC 2918 §4)
        h("0001 00 80"),  # SAFI 128: ignored
    ],
)
def test_route_refresh_to_ignore(body: bytes) -> None:
    assert decode_route_refresh(body) is None


@pytest.mark.parametrize("subtype", [0, 1, 2])
def test_route_refresh_bad_length(subtype: int) -> None:
    # RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data the whole message.
    body = h("0001") + bytes((subtype,)) + h("01 00")
    with pytest.raises(WireError) as info:
        decode_route_refresh(body)
    assert (info.value.code, info.value.subcode) == (ErrorCode.ROUTE_REFRESH, 1)
    assert info.value.data == message(5, body)


def test_route_refresh_error_data_fits_a_notification() -> None:
    body = h("0001 01 01") + b"\0" * 60000  # possible once extended messages are agreed
    with pytest.raises(WireError) as info:
        decode_route_refresh(body)
    assert len(info.value.data) == 4096 - 21
    assert info.value.data == message(5, body)[: 4096 - 21]


def test_route_refresh_of_unknown_subtype_is_ignored_whatever_its_length() -> None:
    assert decode_route_refresh(h("0001 07 01 0000")) is None


def test_route_refresh_too_short_is_a_header_error() -> None:
    with pytest.raises(WireError) as info:
        decode_route_refresh(h("0001 00"))
    assert (info.value.code, info.value.subcode, info.value.data) == (1, 2, h("0016"))


def test_decode_message_dispatch() -> None:
    assert decode_message(4, b"", None) == KeepaliveMessage()
    assert decode_message(3, h("0602"), None) == NotificationMessage(code=6, subcode=2)
    with pytest.raises(WireError) as info:
        decode_message(2, h("00000000"), None)  # UPDATE without a session decoder
    assert info.value.code == ErrorCode.FSM
    with pytest.raises(WireError) as info:
        decode_message(9, b"", None)
    assert (info.value.code, info.value.subcode) == (1, 3)


def test_encode_message_dispatch() -> None:
    assert encode_message(KeepaliveMessage()) == encode_keepalive()
    refresh = RouteRefreshMessage(family=IPV4_UNICAST)
    assert encode_message(refresh) == encode_route_refresh(refresh)
    with pytest.raises(TypeError):
        encode_message("hello")  # type: ignore[arg-type]


def test_invalid_values_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="AS number"):
        OpenMessage(asn=-1, hold_time=90, router_id=1)
    with pytest.raises(ValueError, match="graceful restart time"):
        GracefulRestart(restart_state=False, notification=False, restart_time=4096)
    with pytest.raises(ValueError, match="AS number"):
        FourOctetAs(asn=1 << 32)


# My AS 65001 (fde9) or AS_TRANS (5ba0), hold 90, id 10.0.0.1, then one Capabilities parameter.
def _open_body(my_as: str, caps: str) -> bytes:
    cap_bytes = h(caps)
    param = bytes((2, len(cap_bytes))) + cap_bytes
    return h(f"04 {my_as} 005a 0a000001") + bytes((len(param),)) + param


@pytest.mark.parametrize(
    ("my_as", "caps", "data", "why"),
    [
        ("fde9", "4104 0000fdea", h("0000fdea"), "My AS 65001, capability 65002"),
        ("fde9", "4104 fa56ea01", h("fa56ea01"), "My AS 65001, capability 4200000001"),
        ("5ba0", "4104 00005ba0", h("00005ba0"), "AS_TRANS in both fields"),
        ("5ba0", "4104 fa56ea01 4104 fa56ea02", b"", "two different four-octet AS capabilities"),
        ("fde9", "4104 0000fde9 4104 0000fdea", b"", "the second capability disagrees"),
    ],
)
def test_open_naming_two_ases_is_bad_peer_as(my_as: str, caps: str, data: bytes, why: str) -> None:
    # RFC 6793 §4.1 says how My AS is filled; an OPEN contradicting itself is refused (FRR).
    with pytest.raises(WireError) as info:
        decode_open(_open_body(my_as, caps))
    assert (info.value.code, info.value.subcode, info.value.data) == (2, 2, data), why


@pytest.mark.parametrize(
    ("my_as", "caps", "asn"),
    [
        ("5ba0", "4104 fa56ea01", 4200000001),  # the usual NEW speaker with a 4-octet AS
        ("fde9", "4104 0000fde9", 65001),  # a 2-octet AS in both fields
        ("fde9", "4104 0000fde9 4104 0000fde9", 65001),  # the same capability twice
        ("5ba0", "4104 0000fde9", 65001),  # AS_TRANS though it fits: odd, not contradictory
        ("fde9", "", 65001),  # an OLD speaker
    ],
)
def test_open_as4_consistent_forms_are_accepted(my_as: str, caps: str, asn: int) -> None:
    assert decode_open(_open_body(my_as, caps)).asn == asn


def test_graceful_restart_last_instance_wins() -> None:
    # RFC 4724 §3: "the receiver ... MUST ignore all but the last instance".
    first = GracefulRestart(restart_state=False, notification=False, restart_time=120)
    last = GracefulRestart(
        restart_state=True,
        notification=False,
        restart_time=30,
        families=(GracefulRestartFamily(family=IPV4_UNICAST, forwarding_preserved=True),),
    )
    n = negotiate(_open(RouteRefresh()), _open(first, last))
    assert n.peer_graceful_restart == last


def test_repeated_families_in_one_capability_keep_the_last_entry() -> None:
    # A family listed twice in one GR or ADD-PATH capability: the last entry counts, as BIRD
    # reads them (each entry overwrites the family's state).
    (gr,) = decode_capabilities(h("40 0a 0078 0001 01 80 0001 01 00"))
    assert gr == GracefulRestart(
        restart_state=False,
        notification=False,
        restart_time=120,
        families=(GracefulRestartFamily(family=IPV4_UNICAST, forwarding_preserved=False),),
    )
    (ap,) = decode_capabilities(h("45 08 0001 01 01 0001 01 03"))
    assert ap == AddPath(families=(AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.BOTH),))


def test_add_path_repeated_across_capabilities_keeps_the_last_mode() -> None:
    local = _open(AddPath(families=(AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.BOTH),)))
    remote = _open(
        AddPath(families=(AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.SEND),)),
        AddPath(families=(AddPathFamily(family=IPV4_UNICAST, mode=AddPathMode.RECEIVE),)),
    )
    n = negotiate(local, remote)
    assert n.add_path_send == {IPV4_UNICAST} and n.add_path_receive == frozenset()

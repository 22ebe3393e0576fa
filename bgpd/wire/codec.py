"""Message codec: OPEN, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH, plus the UPDATE entry points.

Role: the one import for users of the wire format. Bodies come from `framing.MessageReader`
(header stripped); encoders return complete messages (header included).

Invariants: every `decode_*` raises nothing but `WireError`, whatever the bytes, with the
code/subcode/data RFC 4271 §6 (and its updates) prescribe. `decode_route_refresh` and
`decode_message` return None for a ROUTE-REFRESH the RFCs say to ignore (an AFI/SAFI bgpd does
not know, RFC 2918 §4; an unknown subtype, RFC 7313 §5); the caller then does nothing.
"""

from __future__ import annotations

import struct

from bgpd.errors import WireError
from bgpd.net import AS_TRANS, Afi, Family, Safi
from bgpd.wire.capabilities import (
    Capability,
    FourOctetAs,
    decode_capabilities,
    encode_capability,
)
from bgpd.wire.constants import (
    BGP_VERSION,
    HEADER_LEN,
    MAX_MESSAGE_LEN,
    ErrorCode,
    HeaderSubcode,
    MessageType,
    OpenSubcode,
    RouteRefreshSubcode,
)
from bgpd.wire.framing import frame
from bgpd.wire.messages import (
    KeepaliveMessage,
    Message,
    NotificationMessage,
    OpenMessage,
    RouteRefreshMessage,
    UpdateMessage,
)
from bgpd.wire.negotiated import EncodeContext, Negotiated
from bgpd.wire.update import UpdateDecoder
from bgpd.wire.update_encode import (
    encode_end_of_rib,
    encode_path_attributes,
    encode_update,
    ipv4_head,
    pack_announcements,
    pack_ipv4_announcements,
    pack_withdrawals,
)

__all__ = [
    "EncodeContext",
    "UpdateDecoder",
    "decode_keepalive",
    "decode_message",
    "decode_notification",
    "decode_open",
    "decode_route_refresh",
    "encode_end_of_rib",
    "encode_keepalive",
    "encode_message",
    "encode_notification",
    "encode_open",
    "encode_path_attributes",
    "encode_route_refresh",
    "encode_update",
    "ipv4_head",
    "pack_announcements",
    "pack_ipv4_announcements",
    "pack_withdrawals",
]

_OPEN_FIXED = struct.Struct("!BHHIB")
_CAPABILITIES_PARAM = 2  # RFC 5492 §4
_EXTENDED_PARAMS = 255  # RFC 9072 §2: Non-Ext OP Type marking the extended encoding
_KEEPALIVE = frame(MessageType.KEEPALIVE, b"")


def _open_error(subcode: int, message: str, data: bytes = b"") -> WireError:
    return WireError(ErrorCode.OPEN_MESSAGE, subcode, data, message)


def decode_open(body: bytes) -> OpenMessage:
    """RFC 4271 §4.2 with RFC 5492 capabilities and RFC 9072 extended parameter lengths."""
    if len(body) < _OPEN_FIXED.size:
        raise WireError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            (HEADER_LEN + len(body)).to_bytes(2, "big"),
            "OPEN too short",
        )
    version, my_as, hold_time, router_id, opt_len = _OPEN_FIXED.unpack_from(body)
    if version != BGP_VERSION:
        # RFC 4271 §6.2: the data is the largest supported version, in two octets.
        raise _open_error(
            OpenSubcode.UNSUPPORTED_VERSION, f"version {version}", BGP_VERSION.to_bytes(2, "big")
        )
    if hold_time in (1, 2):  # RFC 4271 §6.2: zero or at least three seconds
        raise _open_error(OpenSubcode.UNACCEPTABLE_HOLD_TIME, f"hold time {hold_time}")
    if router_id == 0:  # RFC 6286 §2.2
        raise _open_error(OpenSubcode.BAD_BGP_IDENTIFIER, "BGP identifier 0")
    pos = _OPEN_FIXED.size
    extended = opt_len == 255 and len(body) > pos and body[pos] == _EXTENDED_PARAMS
    if extended:
        if len(body) < pos + 3:
            raise _open_error(0, "truncated extended optional parameters length")
        opt_len = int.from_bytes(body[pos + 1 : pos + 3], "big")
        pos += 3
    if pos + opt_len != len(body):
        raise _open_error(0, "optional parameters length does not match the message")
    caps: list[Capability] = []
    while pos < len(body):
        head = 3 if extended else 2
        if pos + head > len(body):
            raise _open_error(0, "truncated optional parameter")
        param_type = body[pos]
        length = int.from_bytes(body[pos + 1 : pos + 3], "big") if extended else body[pos + 1]
        pos += head
        if pos + length > len(body):
            raise _open_error(0, "optional parameter overruns the message")
        if param_type != _CAPABILITIES_PARAM:
            raise _open_error(
                OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, f"optional parameter {param_type}"
            )
        caps.extend(decode_capabilities(body[pos : pos + length]))
        pos += length
    asn = _peer_asn(my_as, caps)
    return OpenMessage(
        version=version,
        asn=asn,
        hold_time=hold_time,
        router_id=router_id,
        capabilities=tuple(caps),
    )


def _peer_asn(my_as: int, caps: list[Capability]) -> int:
    """The sender's AS from My AS and its four-octet AS capabilities (RFC 6793 §4.1).

    RFC 6793 says how a NEW speaker fills My AS (its AS when it fits in two octets, AS_TRANS
    otherwise) but not what to do with an OPEN that contradicts itself; like FRR, an OPEN that
    names two different ASes is refused with Bad Peer AS (the data is the capability's AS), since
    no choice between them is safe:
    - two four-octet AS capabilities with different values;
    - My AS neither AS_TRANS nor the capability's AS;
    - AS_TRANS in both fields (RFC 6793 §9: AS_TRANS is no speaker's AS).
    My AS = AS_TRANS with a capability AS that would have fit in two octets is odd but not
    contradictory: the capability decides, as BIRD and FRR do.
    """
    four_octet = {cap.asn for cap in caps if isinstance(cap, FourOctetAs)}
    if not four_octet:
        return my_as
    if len(four_octet) > 1:
        values = ",".join(str(a) for a in sorted(four_octet))
        raise _open_error(
            OpenSubcode.BAD_PEER_AS, f"conflicting four-octet AS capabilities ({values})"
        )
    (asn,) = four_octet
    data = asn.to_bytes(4, "big")
    if my_as not in (AS_TRANS, asn):
        raise _open_error(
            OpenSubcode.BAD_PEER_AS,
            f"My AS {my_as} disagrees with the four-octet AS capability {asn}",
            data,
        )
    if asn == AS_TRANS:
        raise _open_error(OpenSubcode.BAD_PEER_AS, "AS_TRANS as the four-octet AS", data)
    return asn


def encode_open(msg: OpenMessage) -> bytes:
    my_as = msg.asn if msg.asn <= 0xFFFF else AS_TRANS  # RFC 6793 §4.1
    # One Capabilities parameter per 255 octets of capabilities (RFC 5492 §4 allows several).
    params: list[bytes] = []
    current = b""
    for cap in msg.capabilities:
        encoded = encode_capability(cap)
        if len(current) + len(encoded) > 255:
            params.append(current)
            current = b""
        current += encoded
    if current:
        params.append(current)
    opt = b"".join(bytes((_CAPABILITIES_PARAM, len(p))) + p for p in params)
    if len(opt) > 255:
        # RFC 9072 §2: extended encoding with 2-octet lengths.
        ext = b"".join(
            bytes((_CAPABILITIES_PARAM,)) + len(p).to_bytes(2, "big") + p for p in params
        )
        opt_head = bytes((255, _EXTENDED_PARAMS)) + len(ext).to_bytes(2, "big")
        opt = ext
    else:
        opt_head = bytes((len(opt),))
    body = struct.pack("!BHHI", msg.version, my_as, msg.hold_time, msg.router_id) + opt_head + opt
    return frame(MessageType.OPEN, body)


def decode_notification(body: bytes) -> NotificationMessage:
    if len(body) < 2:
        raise WireError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            (HEADER_LEN + len(body)).to_bytes(2, "big"),
            "NOTIFICATION too short",
        )
    return NotificationMessage(code=body[0], subcode=body[1], data=body[2:])


def encode_notification(msg: NotificationMessage) -> bytes:
    return frame(MessageType.NOTIFICATION, bytes((msg.code, msg.subcode)) + msg.data)


def decode_keepalive(body: bytes) -> KeepaliveMessage:
    if body:
        raise WireError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            (HEADER_LEN + len(body)).to_bytes(2, "big"),
            "KEEPALIVE with a body",
        )
    return KeepaliveMessage()


def encode_keepalive() -> bytes:
    return _KEEPALIVE


def decode_route_refresh(body: bytes) -> RouteRefreshMessage | None:
    """RFC 2918 §3 / RFC 7313 §3; None means "ignore this message" (see module docstring)."""
    if len(body) < 4:  # the framing refuses these already (RFC 4271 §6.1)
        raise WireError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_LENGTH,
            (HEADER_LEN + len(body)).to_bytes(2, "big"),
            "ROUTE-REFRESH too short",
        )
    afi, subtype, safi = struct.unpack_from("!HBB", body)
    if subtype > 2:
        return None  # RFC 7313 §5: an unknown subtype is ignored, whatever its length
    if len(body) != 4:
        # RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, the data the whole
        # message. bgpd negotiates no ORF (RFC 5291), so a normal request is 4 octets too (as
        # BIRD checks). The data is cut so the NOTIFICATION fits in 4,096 octets.
        whole = frame(MessageType.ROUTE_REFRESH, body)
        raise WireError(
            ErrorCode.ROUTE_REFRESH,
            RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
            whole[: MAX_MESSAGE_LEN - HEADER_LEN - 2],
            f"ROUTE-REFRESH length {len(whole)}",
        )
    try:
        family = Family(Afi(afi), Safi(safi))
    except ValueError:
        return None
    return RouteRefreshMessage(family=family, subtype=subtype)


def encode_route_refresh(msg: RouteRefreshMessage) -> bytes:
    body = struct.pack("!HBB", msg.family.afi, msg.subtype, msg.family.safi)
    return frame(MessageType.ROUTE_REFRESH, body)


def decode_message(msg_type: int, body: bytes, decoder: UpdateDecoder | None) -> Message | None:
    """Any message body; UPDATEs need the session's decoder (None before Established)."""
    if msg_type == MessageType.UPDATE:
        if decoder is None:
            raise WireError(
                ErrorCode.FSM, 0, message="UPDATE received before the session is established"
            )
        return decoder.decode(body)
    if msg_type == MessageType.KEEPALIVE:
        return decode_keepalive(body)
    if msg_type == MessageType.OPEN:
        return decode_open(body)
    if msg_type == MessageType.NOTIFICATION:
        return decode_notification(body)
    if msg_type == MessageType.ROUTE_REFRESH:
        return decode_route_refresh(body)
    raise WireError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.BAD_MESSAGE_TYPE,
        bytes((msg_type & 0xFF,)),
        f"bad message type {msg_type}",
    )


def encode_message(msg: Message, negotiated: Negotiated | None = None) -> bytes:
    """Any message; an UPDATE needs `negotiated` and must fit in one message."""
    if isinstance(msg, KeepaliveMessage):
        return _KEEPALIVE
    if isinstance(msg, OpenMessage):
        return encode_open(msg)
    if isinstance(msg, NotificationMessage):
        return encode_notification(msg)
    if isinstance(msg, RouteRefreshMessage):
        return encode_route_refresh(msg)
    if isinstance(msg, UpdateMessage):
        if negotiated is None:
            raise ValueError("encoding an UPDATE needs the negotiated session parameters")
        return encode_update(msg, EncodeContext.from_negotiated(negotiated))
    raise TypeError(f"not a BGP message: {msg!r}")

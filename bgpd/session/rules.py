"""Pure decision rules of the session layer: OPEN checks, timers, Cease, graceful downs.

Invariants: every function here is pure (no state, no clock, no I/O), so each RFC rule can be
tested on its own and the `Session` only sequences them.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from bgpd.session.errors import SessionError
from bgpd.session.settings import SessionSettings
from bgpd.wire.constants import HEADER_LEN, CeaseSubcode, ErrorCode, MessageType, OpenSubcode
from bgpd.wire.messages import NotificationMessage, OpenMessage
from bgpd.wire.negotiated import Negotiated

# RFC 4271 §10: ConnectRetry and Keepalive intervals are multiplied by a random factor in
# [0.75, 1.0] so that many sessions do not synchronise.
JITTER_MIN = 0.75
JITTER_MAX = 1.0


def cease(subcode: int, text: str = "") -> NotificationMessage:
    """A Cease NOTIFICATION, with `text` as its Shutdown Communication where one is allowed.

    RFC 8203/9003: only Administrative Shutdown and Reset carry one, and only when there is
    something to say (an empty one is legal but pointless).
    """
    if text and subcode in (CeaseSubcode.ADMIN_SHUTDOWN, CeaseSubcode.ADMIN_RESET):
        return NotificationMessage.shutdown(subcode, text)
    return NotificationMessage(code=ErrorCode.CEASE, subcode=subcode)


@dataclass(frozen=True, slots=True)
class OpenRefusal:
    """Why we refuse a peer's OPEN (for our log) and the NOTIFICATION that tells the peer."""

    reason: str
    notification: NotificationMessage


def check_open(settings: SessionSettings, message: OpenMessage) -> OpenRefusal | None:
    """Why an OPEN is unacceptable, with the NOTIFICATION it deserves (RFC 4271 §6.2), or
    None when it is fine.

    Version, optional parameters and capability syntax were already checked by the decoder.
    """
    # RFC 4271 §6.2; RFC 7607: AS 0 is never a valid peer AS.
    if message.asn == 0 or (settings.peer_asn is not None and message.asn != settings.peer_asn):
        reason = (
            "AS 0 is never a peer's AS"
            if message.asn == 0
            else f"AS {message.asn} is not the configured AS {settings.peer_asn}"
        )
        return OpenRefusal(reason, _open_error(OpenSubcode.BAD_PEER_AS))
    # RFC 4271 §6.2: a hold time of one or two seconds is refused.
    if message.hold_time in (1, 2):
        reason = f"hold time {message.hold_time} s (must be 0 or at least 3)"
        return OpenRefusal(reason, _open_error(OpenSubcode.UNACCEPTABLE_HOLD_TIME))
    # RFC 6286 §2.2: the identifier is non-zero, and differs from ours inside one AS.
    if message.router_id == 0:
        return OpenRefusal("router id 0.0.0.0", _open_error(OpenSubcode.BAD_BGP_IDENTIFIER))
    if message.router_id == settings.router_id and message.asn == settings.local_asn:
        reason = f"router id {IPv4Address(message.router_id)} is ours, in our AS"
        return OpenRefusal(reason, _open_error(OpenSubcode.BAD_BGP_IDENTIFIER))
    return None


def _open_error(subcode: int) -> NotificationMessage:
    return NotificationMessage(code=ErrorCode.OPEN_MESSAGE, subcode=subcode)


def keepalive_interval(settings: SessionSettings, negotiated: Negotiated) -> float | None:
    """Seconds between KEEPALIVEs, or None when the negotiated hold time is 0 (RFC 4271 §4.4)."""
    hold = negotiated.hold_time
    if hold == 0:
        return None
    configured = settings.keepalive_time
    # A configured keepalive that would let the peer's hold timer expire is not usable.
    if configured is not None and configured < hold:
        return configured
    return hold / 3


def graceful_down(negotiated: Negotiated, notification: NotificationMessage | None) -> bool:
    """Whether the peer's routes are kept as stale when the session ends (RFC 4724, RFC 8538)."""
    peer_gr = negotiated.peer_graceful_restart
    if peer_gr is None:
        return False
    if notification is None:
        return True  # RFC 4724 §4.2: the TCP session ended without a NOTIFICATION
    local_gr = negotiated.local_graceful_restart
    if not (peer_gr.notification and local_gr is not None and local_gr.notification):
        return False
    # RFC 8538 §4: with the N bit on both sides, only Cease/Hard Reset is a hard end.
    return not (
        notification.code == ErrorCode.CEASE and notification.subcode == CeaseSubcode.HARD_RESET
    )


def refused_capability_codes(data: bytes) -> frozenset[int]:
    """The capability codes listed in the data of an Unsupported Capability NOTIFICATION.

    RFC 5492 §5: the data lists the refused capabilities encoded as in an OPEN (code, length,
    value). Only the codes matter here, so values are not parsed (the peer refuses them anyway);
    a truncated tail is ignored. Unusable data gives an empty set.
    """
    codes: set[int] = set()
    off = 0
    end = len(data)
    while off + 2 <= end and off + 2 + data[off + 1] <= end:
        codes.add(data[off])
        off += 2 + data[off + 1]
    return frozenset(codes)


def capabilities_to_drop(
    sent: frozenset[int], notification: NotificationMessage
) -> frozenset[int] | None:
    """How to build the next OPEN after the peer answered ours with an OPEN error.

    Returns the capability codes to leave out, an empty set for "send no capabilities at all",
    or None when no change can help (the refusal is then an ordinary error). RFC 5492 §5: 2/7
    lists the capabilities concerned; 2/4 means the peer does not know capabilities at all
    (BIRD retries without any in both cases).
    """
    if notification.code != ErrorCode.OPEN_MESSAGE or not sent:
        return None
    if notification.subcode == OpenSubcode.UNSUPPORTED_CAPABILITY:
        listed = refused_capability_codes(notification.data)
        if listed & sent:
            return listed & sent
        if listed:
            # The peer lists capabilities it needs and we did not send: leaving ours out
            # would not help.
            return None
        return frozenset()
    if notification.subcode == OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER:
        return frozenset()
    return None


def count_updates(data: bytes, max_len: int) -> int:
    """How many whole UPDATE messages `data` holds; SessionError if it is anything else.

    A cheap header walk: pre-encoded bytes from the outbound layer are trusted for content, but a
    wrong type or an oversized message would cost the session, so those are refused here.
    """
    count = 0
    off = 0
    end = len(data)
    while off < end:
        if off + HEADER_LEN > end:
            raise SessionError("truncated UPDATE header")
        length = (data[off + 16] << 8) | data[off + 17]
        msg_type = data[off + 18]
        if msg_type != MessageType.UPDATE or not HEADER_LEN <= length <= max_len:
            raise SessionError(
                f"not an UPDATE of at most {max_len} octets (type {msg_type}, length {length})"
            )
        off += length
        count += 1
    if off != end:
        raise SessionError("UPDATE data does not end on a message boundary")
    return count

"""The OPEN exchange of one connection: our OPEN, the peer's OPEN taken, the next OPEN after a
refusal.

Role: the steps of RFC 4271 §8.2.2 from a confirmed TCP connection to OpenConfirm that concern
one connection only: it opens with our OPEN queued, built without what the peer refused before
(RFC 5492 §5); an acceptable OPEN from the peer is negotiated into it and arms its hold and
keepalive timers (RFC 4271 §4.2, §4.4, §10); an OPEN error answering ours tells what to leave
out of the next one. The `Session` checks the peer's OPEN (`rules.check_open`) and resolves
collisions (`collision`) before it confirms one, and logs what these steps decide.

Invariants: no state of its own, no clock, no I/O, no logging; randomness only through the
jitter the caller passes in.
"""

from __future__ import annotations

from collections.abc import Callable

from bgpd.session.connection import Connection
from bgpd.session.events import SessionState
from bgpd.session.rules import capabilities_to_drop, keepalive_interval
from bgpd.session.settings import SessionSettings
from bgpd.wire.capabilities import ExtendedMessage, capability_code
from bgpd.wire.codec import encode_open
from bgpd.wire.messages import NotificationMessage, OpenMessage
from bgpd.wire.negotiated import negotiate


def open_connection(
    settings: SessionSettings,
    conn_id: int,
    *,
    outbound: bool,
    now: float,
    refused: frozenset[int],
    no_capabilities: bool,
) -> Connection:
    """A new connection in OpenSent with our OPEN queued (RFC 4271 §8.2.2), left without the
    capability codes in `refused` (or any, with `no_capabilities`)."""
    local_open = settings.build_open(refused=refused, no_capabilities=no_capabilities)
    return Connection(
        conn_id,
        outbound=outbound,
        local_open=local_open,
        open_bytes=encode_open(local_open),
        extended_message=local_open.capability(ExtendedMessage) is not None,
        now=now,
    )


def confirm_open(
    conn: Connection,
    message: OpenMessage,
    settings: SessionSettings,
    now: float,
    jitter: Callable[[float], float],
) -> None:
    """OpenSent -> OpenConfirm on the peer's acceptable OPEN: what both OPENs negotiate, the
    framing limit narrowed to it (RFC 8654) and the hold and keepalive timers armed. The caller
    queues the KEEPALIVE that confirms the OPEN."""
    negotiated = negotiate(conn.local_open, message)
    conn.remote_open = message
    conn.negotiated = negotiated
    conn.reader.max_len = negotiated.max_message_len
    conn.state = SessionState.OPEN_CONFIRM
    hold = negotiated.hold_time
    conn.hold_interval = float(hold)
    # RFC 4271 §4.2: a negotiated hold time of zero stops both timers.
    conn.hold_deadline = now + hold if hold else None
    interval = keepalive_interval(settings, negotiated)
    conn.keepalive_interval = interval
    conn.keepalive_deadline = now + jitter(interval) if interval is not None else None


def capabilities_refused(
    local_open: OpenMessage, notification: NotificationMessage
) -> frozenset[int] | None:
    """What the peer's OPEN error says to leave out of our next OPEN: capability codes, an
    empty set for "no capabilities at all", None when no other OPEN can help (RFC 5492 §5)."""
    sent = frozenset(capability_code(c) for c in local_open.capabilities)
    return capabilities_to_drop(sent, notification)

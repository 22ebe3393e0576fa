"""Connection collisions: which of a peer's connections goes when two lead to the same neighbour.

Role: the rules of RFC 4271 §6.8 (the connection initiated by the side with the higher BGP
identifier survives; RFC 6286 §2.3 breaks ties by AS), RFC 4724 §4.2 (a new connection while
Established means the peer restarted) and the replacement of an inbound connection the peer
gave up. The `Session` asks at its three decision points (a new inbound connection, an OPEN
received, a connection Established) and closes what the answer names, in its order.

Invariants: every function here is pure (no state, no clock, no I/O, no logging): it reads the
connections it is given and never changes them, so each rule is tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.session.connection import Connection
from bgpd.session.events import SessionState
from bgpd.session.settings import SessionSettings
from bgpd.wire.constants import CeaseSubcode, ErrorCode
from bgpd.wire.messages import NotificationMessage, OpenMessage

# Cease/Connection Collision Resolution (RFC 4486 §4): what the losing connection is sent.
COLLISION = NotificationMessage(code=ErrorCode.CEASE, subcode=CeaseSubcode.CONNECTION_COLLISION)

_ESTABLISHED = SessionState.ESTABLISHED

# A connection made this soon after our session came up is the peer's side of a collision (both
# ends dialled at once; our accept of its dial ran just after our own dial's handshake), not a
# restarted peer: no speaker restarts and redials within a couple of seconds of establishing.
RESTART_MIN_UPTIME_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Loser:
    """A connection a collision closes, and how."""

    conn: Connection
    reason: str
    # The Cease we send; None closes it as if its TCP connection had ended (RFC 4724 §4.2).
    notification: NotificationMessage | None
    # The connection kept when two opening connections collided (worth a log line), else None.
    kept: int | None = None


def is_collision(notification: NotificationMessage) -> bool:
    """Whether `notification` is a Cease/Connection Collision Resolution (routine, no error)."""
    return (
        notification.code == ErrorCode.CEASE
        and notification.subcode == CeaseSubcode.CONNECTION_COLLISION
    )


def peer_is_dominant(
    local_router_id: int, local_asn: int, peer_router_id: int, peer_asn: int
) -> bool:
    """Whether the peer wins a connection collision (RFC 4271 §6.8).

    The higher BGP identifier wins; with equal identifiers (possible between ASes) the higher AS
    wins (RFC 6286 §2.3). The winner's connection is the one the winner initiated.
    """
    if local_router_id != peer_router_id:
        return local_router_id < peer_router_id
    return local_asn < peer_asn


def keeps_new_connection(*, peer_dominant: bool, new_is_inbound: bool) -> bool:
    """In a collision, whether the connection whose OPEN just arrived survives.

    The surviving connection is the one initiated by the dominant side: inbound when the peer
    dominates, outbound when we do.
    """
    return peer_dominant == new_is_inbound


def is_peer_restart(
    *, graceful_restart: bool, established_at: float | None, new_connection_at: float
) -> bool:
    """Whether an OPEN on a new connection while Established means the peer restarted (RFC 4724
    §4.2: the old session is closed as if its TCP had ended) rather than a collision, where
    RFC 4271 §6.8 keeps the Established session. Taking a collision for a restart drops the
    session the peer keeps: a flap at start whenever both ends dial at once (seen with BIRD)."""
    if not graceful_restart:
        return False
    return established_at is None or new_connection_at - established_at >= RESTART_MIN_UPTIME_S


def replaced_by_inbound(conns: Iterable[Connection]) -> list[Connection]:
    """The connections a new inbound connection replaces: a peer that connects again has given
    up its previous connection (its FIN may simply not have arrived yet), so the older inbound
    ones not yet Established go."""
    return [c for c in conns if c.inbound and c.state is not _ESTABLISHED]


def open_collisions(
    settings: SessionSettings,
    message: OpenMessage,
    conn: Connection,
    conns: Iterable[Connection],
    established_at: float | None,
) -> list[Loser]:
    """The connections an acceptable OPEN arriving on `conn` closes, in order (RFC 4271 §6.8
    collision detection against every other connection of `conns`). When `conn` itself loses
    it comes last and the OPEN goes no further. `established_at` is the session's."""
    dominant = peer_is_dominant(
        settings.router_id, settings.local_asn, message.router_id, message.asn
    )
    losers: list[Loser] = []
    for other in conns:
        if other is conn:
            continue
        if other.state is _ESTABLISHED:
            assert other.negotiated is not None
            if is_peer_restart(
                graceful_restart=other.negotiated.peer_graceful_restart is not None,
                established_at=established_at,
                new_connection_at=conn.made_at,
            ):
                # RFC 4724 §4.2: an OPEN on a new connection while the old session is still up
                # means the peer restarted: close the old one as if its TCP had ended.
                reason = "peer restarted (new connection while Established)"
                losers.append(Loser(conn=other, reason=reason, notification=None))
                continue
            reason = "connection collision with the Established session"
            losers.append(Loser(conn=conn, reason=reason, notification=COLLISION))
            return losers
        # OpenConfirm, or OpenSent: both connections lead to the same neighbour, so this OPEN
        # tells us the identifier of the other one too (the "means outside of the protocol" of
        # RFC 4271 §6.8). Deciding now, before our KEEPALIVE goes out on a connection that will
        # lose, keeps both ends' choices the same.
        if keeps_new_connection(peer_dominant=dominant, new_is_inbound=conn.inbound):
            losers.append(
                Loser(
                    conn=other,
                    reason="connection collision",
                    notification=COLLISION,
                    kept=conn.conn_id,
                )
            )
        else:
            losers.append(
                Loser(
                    conn=conn,
                    reason="connection collision",
                    notification=COLLISION,
                    kept=other.conn_id,
                )
            )
            return losers
    return losers

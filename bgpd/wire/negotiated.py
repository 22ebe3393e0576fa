"""What two OPENs agreed on (RFC 4271 §4.2, RFC 5492), and the encoder's view of it.

Invariants: `Negotiated` and `EncodeContext` are frozen values computed once per session from
both OPEN messages; the codec only reads them. Families and ADD-PATH directions are always
subsets of the families both sides announced.

Capabilities sent more than once: Multiprotocol, route refresh, enhanced route refresh and
extended message carry no value to disagree on; Graceful Restart keeps its last instance
(RFC 4724 §3), and so does Long-Lived Graceful Restart (RFC 9494 §3); ADD-PATH keeps
the last mode given for each family (as BIRD does; RFC 7911 is silent); two different four-octet AS
values refuse the OPEN (`codec.decode_open`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.net import IPV4_UNICAST, Family
from bgpd.wire.capabilities import (
    AddPath,
    AddPathMode,
    EnhancedRouteRefresh,
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    LongLivedGracefulRestart,
    Multiprotocol,
    RouteRefresh,
)
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN
from bgpd.wire.messages import OpenMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    local_asn: int
    peer_asn: int
    peer_router_id: int
    hold_time: int
    as4: bool
    families: frozenset[Family]
    add_path_receive: frozenset[Family] = frozenset()
    add_path_send: frozenset[Family] = frozenset()
    extended_message: bool = False
    route_refresh: bool = False
    enhanced_route_refresh: bool = False
    peer_graceful_restart: GracefulRestart | None = None
    local_graceful_restart: GracefulRestart | None = None
    # RFC 9494: None when the side did not send it (or sent it without Graceful Restart).
    peer_long_lived: LongLivedGracefulRestart | None = None
    local_long_lived: LongLivedGracefulRestart | None = None

    @property
    def long_lived(self) -> bool:
        """Both sides sent the LLGR capability (RFC 9494): LLGR_STALE routes may be sent."""
        return self.peer_long_lived is not None and self.local_long_lived is not None

    def long_lived_stale_times(self) -> dict[Family, int]:
        """RFC 9494 §4.2: per family, how long the peer's routes are kept after its restart
        time, when both sides sent the capability (the peer's times count); else empty."""
        if self.peer_long_lived is None or not self.long_lived:
            return {}
        return {
            f.family: f.stale_time
            for f in self.peer_long_lived.families
            if f.family in self.families
        }

    @property
    def max_message_len(self) -> int:
        return MAX_EXTENDED_MESSAGE_LEN if self.extended_message else MAX_MESSAGE_LEN

    @property
    def ibgp(self) -> bool:
        return self.local_asn == self.peer_asn

    @classmethod
    def default(cls, local_asn: int, peer_asn: int) -> Negotiated:
        """AS4, IPv4 unicast only, no ADD-PATH: the common case, for tests."""
        return cls(
            local_asn=local_asn,
            peer_asn=peer_asn,
            peer_router_id=0x01010101,
            hold_time=90,
            as4=True,
            families=frozenset({IPV4_UNICAST}),
        )


def _families(msg: OpenMessage) -> frozenset[Family]:
    fams = frozenset(c.family for c in msg.capabilities if isinstance(c, Multiprotocol))
    # RFC 4760 §8: a speaker that sends no Multiprotocol capability speaks IPv4 unicast only.
    return fams or frozenset({IPV4_UNICAST})


def _add_path_modes(msg: OpenMessage) -> dict[Family, AddPathMode]:
    modes: dict[Family, AddPathMode] = {}
    for cap in msg.capabilities:
        if isinstance(cap, AddPath):
            for f in cap.families:
                modes[f.family] = f.mode  # a later mode for the family replaces an earlier one
    return modes


def _graceful_restart(msg: OpenMessage) -> GracefulRestart | None:
    """RFC 4724 §3: all but the last instance of the capability are ignored."""
    last = None
    for cap in msg.capabilities:
        if isinstance(cap, GracefulRestart):
            last = cap
    return last


def _long_lived(msg: OpenMessage) -> LongLivedGracefulRestart | None:
    """RFC 9494 §3: the last instance counts, and only beside a Graceful Restart capability
    (a speaker that sends it alone is treated as not having sent it)."""
    if _graceful_restart(msg) is None:
        return None
    last = None
    for cap in msg.capabilities:
        if isinstance(cap, LongLivedGracefulRestart):
            last = cap
    return last


def negotiate(local: OpenMessage, remote: OpenMessage) -> Negotiated:
    """The session parameters once both OPENs are known (the caller validated `remote`)."""
    families = _families(local) & _families(remote)
    local_ap = _add_path_modes(local)
    remote_ap = _add_path_modes(remote)
    # RFC 7911 §5: we receive path ids where we said RECEIVE and the peer said SEND.
    receive = frozenset(
        f
        for f in families
        if local_ap.get(f, 0) & AddPathMode.RECEIVE and remote_ap.get(f, 0) & AddPathMode.SEND
    )
    send = frozenset(
        f
        for f in families
        if local_ap.get(f, 0) & AddPathMode.SEND and remote_ap.get(f, 0) & AddPathMode.RECEIVE
    )

    def both(cls: type) -> bool:
        return local.capability(cls) is not None and remote.capability(cls) is not None

    route_refresh = both(RouteRefresh)
    return Negotiated(
        local_asn=local.asn,
        peer_asn=remote.asn,
        peer_router_id=remote.router_id,
        hold_time=min(local.hold_time, remote.hold_time),
        as4=both(FourOctetAs),
        families=families,
        add_path_receive=receive,
        add_path_send=send,
        extended_message=both(ExtendedMessage),
        route_refresh=route_refresh,
        # RFC 7313 §3: enhanced route refresh builds on route refresh.
        enhanced_route_refresh=route_refresh and both(EnhancedRouteRefresh),
        peer_graceful_restart=_graceful_restart(remote),
        local_graceful_restart=_graceful_restart(local),
        peer_long_lived=_long_lived(remote),
        local_long_lived=_long_lived(local),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodeContext:
    """Everything that changes outbound UPDATE bytes; equal contexts share encoded UPDATEs."""

    as4: bool
    add_path_send: frozenset[Family]
    max_message_len: int
    local_asn: int

    @classmethod
    def from_negotiated(cls, n: Negotiated) -> EncodeContext:
        return cls(
            as4=n.as4,
            add_path_send=n.add_path_send,
            max_message_len=n.max_message_len,
            local_asn=n.local_asn,
        )

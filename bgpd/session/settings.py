"""Per-neighbour session settings, and the OPEN message they produce.

Invariants: a `SessionSettings` is a frozen, hashable value that is valid for a BGP session (the
constructor raises `InvalidSettingsError` otherwise); `build_open` is a pure function of it and
of the capabilities a peer refused earlier. Defaults are Calico's (BIRD 1.6 as Calico configures
it): hold 240 s, keepalive a third of the negotiated hold, connect retry 5 s, error wait 5-30 s
forgotten after 300 s, graceful restart time 120 s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bgpd.net import IPV4_UNICAST, MAX_ASN, Family
from bgpd.session.errors import InvalidSettingsError
from bgpd.wire.capabilities import (
    MAX_LONG_LIVED_STALE_TIME,
    AddPath,
    AddPathFamily,
    AddPathMode,
    Capability,
    EnhancedRouteRefresh,
    ExtendedMessage,
    FourOctetAs,
    GracefulRestart,
    GracefulRestartFamily,
    LongLivedFamily,
    LongLivedGracefulRestart,
    Multiprotocol,
    RouteRefresh,
    capability_code,
)
from bgpd.wire.messages import OpenMessage

# RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN ("4 minutes is suggested").
LARGE_HOLD_TIME = 240.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSettings:
    local_asn: int
    router_id: int
    peer_asn: int | None  # None: accept any AS (dynamic neighbours)
    peer_address: str = ""  # for logs only
    passive: bool = False
    hold_time: int = 240
    keepalive_time: float | None = None  # None: a third of the negotiated hold time
    connect_retry_time: float = 5.0
    connect_delay_time: float = 0.0  # before the first dial after start (BIRD's connect delay)
    error_wait_min: float = 5.0
    error_wait_max: float = 30.0
    error_forget_time: float = 300.0  # errors further apart than this do not compound
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    # ADD-PATH (RFC 7911) per family, sorted by family; use `add_path_modes()` to build it.
    add_path: tuple[tuple[Family, AddPathMode], ...] = ()
    graceful_restart: bool = True
    graceful_restart_time: int = 120
    restarting: bool = False  # RFC 4724 §3 R bit: we restarted and preserved forwarding state
    graceful_restart_notification: bool = False  # RFC 8538 N bit
    # RFC 9494: our long-lived stale time for every family; None: no LLGR capability.
    long_lived_stale_time: int | None = None
    route_refresh: bool = True
    enhanced_route_refresh: bool = True
    extended_message: bool = True
    four_octet_as: bool = True
    extra_capabilities: tuple[Capability, ...] = field(default=())  # sent as they are (tests)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 1 <= self.local_asn <= MAX_ASN:
            problems.append(f"local AS out of range: {self.local_asn}")
        if self.local_asn > 0xFFFF and not self.four_octet_as:
            problems.append("a 4-octet local AS needs the four-octet AS capability")
        if self.peer_asn is not None and not 1 <= self.peer_asn <= MAX_ASN:
            problems.append(f"peer AS out of range: {self.peer_asn}")
        if not 1 <= self.router_id <= 0xFFFFFFFF:
            problems.append(f"router id out of range: {self.router_id}")
        if self.hold_time != 0 and not 3 <= self.hold_time <= 0xFFFF:  # RFC 4271 §4.2
            problems.append(f"hold time must be 0 or 3..65535: {self.hold_time}")
        if self.keepalive_time is not None and self.keepalive_time <= 0:
            problems.append(f"keepalive time must be positive: {self.keepalive_time}")
        if self.connect_retry_time <= 0:
            problems.append(f"connect retry time must be positive: {self.connect_retry_time}")
        if self.connect_delay_time < 0:
            problems.append(f"connect delay time must not be negative: {self.connect_delay_time}")
        if not 0 < self.error_wait_min <= self.error_wait_max:
            problems.append("error wait needs 0 < min <= max")
        if self.error_forget_time < 0:
            problems.append("error forget time must not be negative")
        if not self.families:
            problems.append("at least one address family is needed")
        if not 0 <= self.graceful_restart_time <= 0xFFF:  # RFC 4724 §3: 12 bits
            problems.append(f"graceful restart time out of range: {self.graceful_restart_time}")
        llst = self.long_lived_stale_time
        if llst is not None and not 0 <= llst <= MAX_LONG_LIVED_STALE_TIME:
            problems.append(f"long-lived stale time out of range: {llst}")
        seen: set[Family] = set()
        if not isinstance(self.add_path, tuple) or not all(
            isinstance(item, tuple) and len(item) == 2 for item in self.add_path
        ):
            raise InvalidSettingsError(
                f"add_path must be (Family, AddPathMode) pairs (see add_path_modes()), "
                f"not {self.add_path!r}"
            )
        for family, mode in self.add_path:
            if family in seen:
                problems.append(f"add-path family given twice: {family}")
            seen.add(family)
            if not mode or mode & ~AddPathMode.BOTH:
                problems.append(f"bad add-path mode for {family}: {mode!r}")
        if problems:
            raise InvalidSettingsError("; ".join(problems))

    @property
    def name(self) -> str:
        return self.peer_address or (f"AS{self.peer_asn}" if self.peer_asn else "dynamic")

    def add_path_mode(self, family: Family) -> AddPathMode | None:
        for f, mode in self.add_path:
            if f == family:
                return mode
        return None

    def capabilities(self) -> tuple[Capability, ...]:
        """Every capability we would like to send, in the order BIRD sends them."""
        families = sorted(self.families)
        caps: list[Capability] = [Multiprotocol(family=f) for f in families]
        if self.route_refresh:
            caps.append(RouteRefresh())
        if self.extended_message:
            caps.append(ExtendedMessage())
        if self.graceful_restart:
            caps.append(
                GracefulRestart(
                    restart_state=self.restarting,
                    notification=self.graceful_restart_notification,
                    restart_time=self.graceful_restart_time,
                    # The F bit: forwarding state survives our restart (routes persist in the
                    # kernel), which only means something while we are restarting.
                    families=tuple(
                        GracefulRestartFamily(family=f, forwarding_preserved=self.restarting)
                        for f in families
                    ),
                )
            )
        if self.graceful_restart and self.long_lived_stale_time is not None:
            # RFC 9494 §3: beside the GR capability only; the F bit as GR's.
            caps.append(
                LongLivedGracefulRestart(
                    families=tuple(
                        LongLivedFamily(
                            family=f,
                            forwarding_preserved=self.restarting,
                            stale_time=self.long_lived_stale_time,
                        )
                        for f in families
                    )
                )
            )
        if self.four_octet_as:
            caps.append(FourOctetAs(asn=self.local_asn))
        add_path = tuple(
            AddPathFamily(family=f, mode=mode)
            for f, mode in sorted(self.add_path)
            if f in self.families
        )
        if add_path:
            caps.append(AddPath(families=add_path))
        if self.enhanced_route_refresh and self.route_refresh:
            caps.append(EnhancedRouteRefresh())
        caps.extend(self.extra_capabilities)
        return tuple(caps)

    def build_open(
        self, *, refused: frozenset[int] = frozenset(), no_capabilities: bool = False
    ) -> OpenMessage:
        """Our OPEN, without the capability codes in `refused` (or with none at all).

        RFC 5492 §5: a peer answering 2/7 lists the capabilities it does not accept; a peer
        answering 2/4 does not understand capabilities at all (RFC 3392 predecessors).
        """
        caps: tuple[Capability, ...] = ()
        if not no_capabilities:
            caps = tuple(c for c in self.capabilities() if capability_code(c) not in refused)
        return OpenMessage(
            asn=self.local_asn,
            hold_time=self.hold_time,
            router_id=self.router_id,
            capabilities=caps,
        )


def add_path_modes(
    modes: dict[Family, AddPathMode] | Iterable[tuple[Family, AddPathMode]],
) -> tuple[tuple[Family, AddPathMode], ...]:
    """The canonical (sorted) form of `SessionSettings.add_path` from a dict or pairs."""
    items = modes.items() if isinstance(modes, dict) else modes
    return tuple(sorted((family, AddPathMode(mode)) for family, mode in items))

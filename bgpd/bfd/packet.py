"""BFD Control packets (RFC 5880 §4.1): the codec and the reception checks of §6.8.6.

Role: `decode_control` turns a UDP payload into a `ControlPacket` or raises `BfdPacketError`
naming the check it failed (the caller counts and drops it: a malformed BFD packet is never an
error of the session); `encode_control` is its inverse.

Invariants: intervals are in microseconds, as on the wire. Authentication (§4.2-§4.4) is not
supported: a packet with the A bit is refused as "authentication not configured" (§6.8.6 says
to discard it when the session has no authentication), never accepted unchecked. Demand mode
and the echo function are not used: we never set D (a remote's D is honoured, bgpd.bfd.session)
and advertise a Required Min Echo RX of 0.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from bgpd.errors import BgpdError

__all__ = [
    "CONTROL_LENGTH",
    "BfdPacketError",
    "ControlPacket",
    "Diagnostic",
    "State",
    "decode_control",
    "encode_control",
]

BFD_VERSION = 1
CONTROL_LENGTH = 24  # the mandatory section, without authentication
_HEADER = struct.Struct("!BBBBIIIII")
_MAX_U32 = 0xFFFFFFFF


class State(IntEnum):
    """bfd.SessionState (RFC 5880 §4.1 Sta); the names are those BIRD and FRR print."""

    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3

    @property
    def label(self) -> str:
        return ("AdminDown", "Down", "Init", "Up")[self]


class Diagnostic(IntEnum):
    """bfd.LocalDiag (RFC 5880 §4.1 Diag): why the session last left Up."""

    NONE = 0
    CONTROL_DETECTION_EXPIRED = 1
    ECHO_FAILED = 2
    NEIGHBOR_DOWN = 3
    FORWARDING_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMIN_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8

    @property
    def text(self) -> str:
        return _DIAG_TEXT.get(self, f"diagnostic {int(self)}")


_DIAG_TEXT = {
    Diagnostic.NONE: "no diagnostic",
    Diagnostic.CONTROL_DETECTION_EXPIRED: "control detection time expired",
    Diagnostic.ECHO_FAILED: "echo function failed",
    Diagnostic.NEIGHBOR_DOWN: "neighbor signaled session down",
    Diagnostic.FORWARDING_RESET: "forwarding plane reset",
    Diagnostic.PATH_DOWN: "path down",
    Diagnostic.CONCATENATED_PATH_DOWN: "concatenated path down",
    Diagnostic.ADMIN_DOWN: "administratively down",
    Diagnostic.REVERSE_CONCATENATED_PATH_DOWN: "reverse concatenated path down",
}


class BfdPacketError(BgpdError):
    """A received packet failed a check of RFC 5880 §6.8.6; `reason` is a stable word for
    counters and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlPacket:
    state: State
    diag: Diagnostic = Diagnostic.NONE
    poll: bool = False
    final: bool = False
    detect_mult: int
    my_discr: int
    your_discr: int = 0
    desired_min_tx_us: int
    required_min_rx_us: int
    required_min_echo_rx_us: int = 0
    control_plane_independent: bool = False
    demand: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.detect_mult <= 255:
            raise ValueError(f"detect_mult {self.detect_mult} outside 1..255")
        if self.poll and self.final:
            raise ValueError("Poll and Final are never both set (RFC 5880 §6.5)")
        for name in ("my_discr", "your_discr", "desired_min_tx_us", "required_min_rx_us"):
            value = getattr(self, name)
            if not 0 <= value <= _MAX_U32:
                raise ValueError(f"{name} {value} outside 0..2^32-1")


def encode_control(packet: ControlPacket) -> bytes:
    flags = (
        (int(packet.state) << 6)
        | (0x20 if packet.poll else 0)
        | (0x10 if packet.final else 0)
        | (0x08 if packet.control_plane_independent else 0)
        | (0x02 if packet.demand else 0)
    )
    return _HEADER.pack(
        (BFD_VERSION << 5) | int(packet.diag),
        flags,
        packet.detect_mult,
        CONTROL_LENGTH,
        packet.my_discr,
        packet.your_discr,
        packet.desired_min_tx_us,
        packet.required_min_rx_us,
        packet.required_min_echo_rx_us,
    )


def decode_control(data: bytes) -> ControlPacket:
    """The checks of RFC 5880 §6.8.6 that need no session (the discriminator lookup and the
    state-dependent ones are the table's and the session's)."""
    if len(data) < CONTROL_LENGTH:
        raise BfdPacketError("short")
    vers_diag, flags, mult, length, my, your, tx, rx, echo = _HEADER.unpack_from(data)
    if vers_diag >> 5 != BFD_VERSION:
        raise BfdPacketError("version")
    # The Length field: at least 24 (26 with authentication), at most the payload.
    auth = bool(flags & 0x04)
    if length < (CONTROL_LENGTH + 2 if auth else CONTROL_LENGTH) or length > len(data):
        raise BfdPacketError("length")
    if mult == 0:
        raise BfdPacketError("detect_mult_zero")
    if flags & 0x01:
        raise BfdPacketError("multipoint")
    if my == 0:
        raise BfdPacketError("my_discriminator_zero")
    state = State(flags >> 6)
    if your == 0 and state not in (State.DOWN, State.ADMIN_DOWN):
        raise BfdPacketError("your_discriminator_zero")
    if auth:
        raise BfdPacketError("authentication_not_configured")
    poll, final = bool(flags & 0x20), bool(flags & 0x10)
    if poll and final:
        raise BfdPacketError("poll_and_final")
    diag_value = vers_diag & 0x1F
    diag = Diagnostic(diag_value) if diag_value in Diagnostic._value2member_map_ else None
    return ControlPacket(
        state=state,
        # An unknown diagnostic (9-31 are reserved) is reported as none, it does not drop
        # the packet: the state it carries is what matters.
        diag=Diagnostic.NONE if diag is None else diag,
        poll=poll,
        final=final,
        detect_mult=mult,
        my_discr=my,
        your_discr=your,
        desired_min_tx_us=tx,
        required_min_rx_us=rx,
        required_min_echo_rx_us=echo,
        control_plane_independent=bool(flags & 0x08),
        demand=bool(flags & 0x02),
    )

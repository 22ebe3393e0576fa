"""BGP message values (RFC 4271 §4, RFC 2918, RFC 7313).

Invariants: messages are frozen values; `OpenMessage.asn` is the real (4-octet) AS number; an
UPDATE carries its prefixes as packed `Nlri` bytes grouped in `NlriBatch`es per family and next
hop, with RFC 7606 outcomes already applied (treat-as-withdraw moves announced prefixes into
`withdrawn`) and recorded in `problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from bgpd.net import MAX_ASN, Family, Nlri
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.capabilities import Capability
from bgpd.wire.constants import (
    CeaseSubcode,
    ErrorAction,
    ErrorCode,
    FsmSubcode,
    HeaderSubcode,
    OpenSubcode,
    UpdateSubcode,
)

C = TypeVar("C")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenMessage:
    version: int = 4
    asn: int
    hold_time: int
    router_id: int
    capabilities: tuple[Capability, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.asn <= MAX_ASN:
            raise ValueError(f"AS number out of range: {self.asn}")
        if not 0 <= self.hold_time <= 0xFFFF:
            raise ValueError(f"hold time out of range: {self.hold_time}")
        if not 0 <= self.router_id <= 0xFFFFFFFF:
            raise ValueError(f"router id out of range: {self.router_id}")
        if not 0 <= self.version <= 255:
            raise ValueError(f"version out of range: {self.version}")

    def capability(self, cls: type[C]) -> C | None:
        """The first capability of class `cls`, or None."""
        for cap in self.capabilities:
            if isinstance(cap, cls):
                return cap
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepaliveMessage:
    pass


_CODE_NAMES: dict[int, str] = {
    ErrorCode.MESSAGE_HEADER: "Message Header Error",
    ErrorCode.OPEN_MESSAGE: "OPEN Message Error",
    ErrorCode.UPDATE_MESSAGE: "UPDATE Message Error",
    ErrorCode.HOLD_TIMER_EXPIRED: "Hold Timer Expired",
    ErrorCode.FSM: "Finite State Machine Error",
    ErrorCode.CEASE: "Cease",
    ErrorCode.ROUTE_REFRESH: "ROUTE-REFRESH Message Error",
}
_SUBCODE_NAMES: dict[int, dict[int, str]] = {
    ErrorCode.MESSAGE_HEADER: {
        HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED: "Connection Not Synchronized",
        HeaderSubcode.BAD_MESSAGE_LENGTH: "Bad Message Length",
        HeaderSubcode.BAD_MESSAGE_TYPE: "Bad Message Type",
    },
    ErrorCode.OPEN_MESSAGE: {
        OpenSubcode.UNSUPPORTED_VERSION: "Unsupported Version Number",
        OpenSubcode.BAD_PEER_AS: "Bad Peer AS",
        OpenSubcode.BAD_BGP_IDENTIFIER: "Bad BGP Identifier",
        OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER: "Unsupported Optional Parameter",
        OpenSubcode.UNACCEPTABLE_HOLD_TIME: "Unacceptable Hold Time",
        OpenSubcode.UNSUPPORTED_CAPABILITY: "Unsupported Capability",
        OpenSubcode.ROLE_MISMATCH: "Role Mismatch",
    },
    ErrorCode.UPDATE_MESSAGE: {
        UpdateSubcode.MALFORMED_ATTRIBUTE_LIST: "Malformed Attribute List",
        UpdateSubcode.UNRECOGNIZED_WELL_KNOWN: "Unrecognized Well-known Attribute",
        UpdateSubcode.MISSING_WELL_KNOWN: "Missing Well-known Attribute",
        UpdateSubcode.ATTRIBUTE_FLAGS: "Attribute Flags Error",
        UpdateSubcode.ATTRIBUTE_LENGTH: "Attribute Length Error",
        UpdateSubcode.INVALID_ORIGIN: "Invalid ORIGIN Attribute",
        UpdateSubcode.INVALID_NEXT_HOP: "Invalid NEXT_HOP Attribute",
        UpdateSubcode.OPTIONAL_ATTRIBUTE: "Optional Attribute Error",
        UpdateSubcode.INVALID_NETWORK_FIELD: "Invalid Network Field",
        UpdateSubcode.MALFORMED_AS_PATH: "Malformed AS_PATH",
    },
    ErrorCode.FSM: {
        FsmSubcode.UNEXPECTED_IN_OPENSENT: "Receive Unexpected Message in OpenSent State",
        FsmSubcode.UNEXPECTED_IN_OPENCONFIRM: "Receive Unexpected Message in OpenConfirm State",
        FsmSubcode.UNEXPECTED_IN_ESTABLISHED: "Receive Unexpected Message in Established State",
    },
    ErrorCode.CEASE: {
        CeaseSubcode.MAX_PREFIXES: "Maximum Number of Prefixes Reached",
        CeaseSubcode.ADMIN_SHUTDOWN: "Administrative Shutdown",
        CeaseSubcode.PEER_DECONFIGURED: "Peer De-configured",
        CeaseSubcode.ADMIN_RESET: "Administrative Reset",
        CeaseSubcode.CONNECTION_REJECTED: "Connection Rejected",
        CeaseSubcode.OTHER_CONFIG_CHANGE: "Other Configuration Change",
        CeaseSubcode.CONNECTION_COLLISION: "Connection Collision Resolution",
        CeaseSubcode.OUT_OF_RESOURCES: "Out of Resources",
        CeaseSubcode.HARD_RESET: "Hard Reset",
        CeaseSubcode.BFD_DOWN: "BFD Down",
    },
    ErrorCode.ROUTE_REFRESH: {1: "Invalid Message Length"},
}
# RFC 8203 §2 / RFC 9003 §2: the Cease subcodes that may carry a Shutdown Communication.
_SHUTDOWN_SUBCODES = (CeaseSubcode.ADMIN_SHUTDOWN, CeaseSubcode.ADMIN_RESET)
MAX_SHUTDOWN_OCTETS = 255  # RFC 9003 §2


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationMessage:
    code: int
    subcode: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not (0 <= self.code <= 255 and 0 <= self.subcode <= 255):
            raise ValueError("notification code or subcode out of range")

    @property
    def shutdown_text(self) -> str | None:
        """The RFC 8203/9003 Shutdown Communication, or None when absent or malformed."""
        if self.code != ErrorCode.CEASE or self.subcode not in _SHUTDOWN_SUBCODES:
            return None
        data = self.data
        if not data or data[0] != len(data) - 1:
            return None
        try:
            return data[1:].decode("utf-8")
        except UnicodeDecodeError:  # RFC 9003 §3: malformed text is not shown as text
            return None

    @classmethod
    def shutdown(cls, subcode: int, text: str) -> NotificationMessage:
        """A Cease with a Shutdown Communication, cut to 255 octets on a UTF-8 boundary."""
        raw = text.encode("utf-8")[:MAX_SHUTDOWN_OCTETS]
        raw = raw.decode("utf-8", errors="ignore").encode("utf-8")
        return cls(code=ErrorCode.CEASE, subcode=subcode, data=bytes((len(raw),)) + raw)

    def __str__(self) -> str:
        code_name = _CODE_NAMES.get(self.code, f"Error {self.code}")
        sub_name = _SUBCODE_NAMES.get(self.code, {}).get(self.subcode, f"subcode {self.subcode}")
        text = f"{code_name}/{sub_name}"
        shutdown = self.shutdown_text
        if shutdown is not None:
            return f"{text}: {shutdown}"
        if self.data:
            return f"{text} (data {self.data.hex()})"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRefreshMessage:
    family: Family
    subtype: int = 0  # RFC 7313 §3: 0 normal, 1 BoRR, 2 EoRR


class NlriBatch(NamedTuple):
    """Prefixes of one family sharing one next hop (b"" for withdrawals).

    A NamedTuple, not a frozen dataclass, like `UpdateMessage`: one of each is built per
    UPDATE received, and a tuple is built in one step where a frozen dataclass sets each
    field through its slot descriptor (callgrind: about 1,000 instructions per field).
    """

    family: Family
    next_hop: bytes
    prefixes: tuple[Nlri, ...]
    path_ids: tuple[int, ...] | None = None  # parallel to prefixes under ADD-PATH (RFC 7911)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeProblem:
    """One RFC 7606 finding: which attribute, what was done, and why."""

    attr_type: int
    action: ErrorAction
    reason: str


class UpdateMessage(NamedTuple):
    """A decoded UPDATE (`bgpd.wire.update`); a NamedTuple for the reason `NlriBatch` is."""

    attributes: PathAttributes | None
    announced: tuple[NlriBatch, ...]
    withdrawn: tuple[NlriBatch, ...]
    end_of_rib: Family | None = None
    problems: tuple[AttributeProblem, ...] = ()
    disabled_families: tuple[Family, ...] = ()  # RFC 7606 §2 AFI/SAFI disable


Message = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage

"""Wire codes of BGP-4 (RFC 4271) and its extensions, as IntEnums.

Invariant: these values are the on-the-wire numbers; nothing here has behaviour.
"""

from __future__ import annotations

from enum import Enum, IntEnum, IntFlag

HEADER_LEN = 19  # RFC 4271 §4.1
MAX_MESSAGE_LEN = 4096  # RFC 4271 §4.1
MAX_EXTENDED_MESSAGE_LEN = 65535  # RFC 8654 §3
MARKER = b"\xff" * 16
BGP_VERSION = 4


class MessageType(IntEnum):
    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5  # RFC 2918


class ErrorCode(IntEnum):
    """RFC 4271 §4.5."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7  # RFC 7313 §5


class HeaderSubcode(IntEnum):
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSubcode(IntEnum):
    UNSUPPORTED_VERSION = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7  # RFC 5492 §5
    ROLE_MISMATCH = 11  # RFC 9234


class UpdateSubcode(IntEnum):
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN = 2
    MISSING_WELL_KNOWN = 3
    ATTRIBUTE_FLAGS = 4
    ATTRIBUTE_LENGTH = 5
    INVALID_ORIGIN = 6
    INVALID_NEXT_HOP = 8
    OPTIONAL_ATTRIBUTE = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(IntEnum):
    """RFC 6608."""

    UNSPECIFIED = 0
    UNEXPECTED_IN_OPENSENT = 1
    UNEXPECTED_IN_OPENCONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSubcode(IntEnum):
    """RFC 4486, RFC 8538, RFC 9384."""

    MAX_PREFIXES = 1
    ADMIN_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMIN_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIG_CHANGE = 6
    CONNECTION_COLLISION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9
    BFD_DOWN = 10


class RouteRefreshSubtype(IntEnum):
    """RFC 7313 §3: the Message Subtype of a ROUTE-REFRESH."""

    REQUEST = 0  # the RFC 2918 route refresh request
    BORR = 1  # Beginning of Route Refresh
    EORR = 2  # End of Route Refresh

    def __str__(self) -> str:
        return self.name


class RouteRefreshSubcode(IntEnum):
    """RFC 7313 §5: error subcode of the ROUTE-REFRESH Message Error code."""

    INVALID_MESSAGE_LENGTH = 1


class AttrType(IntEnum):
    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MED = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8  # RFC 1997
    ORIGINATOR_ID = 9  # RFC 4456
    CLUSTER_LIST = 10  # RFC 4456
    MP_REACH_NLRI = 14  # RFC 4760
    MP_UNREACH_NLRI = 15  # RFC 4760
    AS4_PATH = 17  # RFC 6793
    AS4_AGGREGATOR = 18  # RFC 6793
    LARGE_COMMUNITY = 32  # RFC 8092


class AttrFlag(IntFlag):
    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class Origin(IntEnum):
    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class SegmentType(IntEnum):
    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3  # RFC 5065
    AS_CONFED_SET = 4  # RFC 5065


class ErrorAction(Enum):
    """RFC 7606 §2: what a malformed UPDATE costs, from the heaviest to the lightest."""

    SESSION_RESET = "session-reset"
    AFI_SAFI_DISABLE = "afi-safi-disable"
    TREAT_AS_WITHDRAW = "treat-as-withdraw"
    ATTRIBUTE_DISCARD = "attribute-discard"

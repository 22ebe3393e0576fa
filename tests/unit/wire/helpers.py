"""Small builders for hand-crafted wire bytes in the codec tests."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family
from bgpd.wire.constants import MARKER
from bgpd.wire.negotiated import Negotiated


def h(*parts: str) -> bytes:
    """Hex pieces (spaces allowed) joined into bytes; one piece per field keeps comments close."""
    return bytes.fromhex("".join(p.replace(" ", "") for p in parts))


def update_body(withdrawn: str = "", attributes: str = "", nlri: str = "") -> bytes:
    """An UPDATE body from hand-written hex fields; only the two length fields are computed."""
    w = h(withdrawn)
    a = h(attributes)
    return len(w).to_bytes(2, "big") + w + len(a).to_bytes(2, "big") + a + h(nlri)


def message(msg_type: int, body: bytes) -> bytes:
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body


def negotiated(
    *,
    local_asn: int = 65000,
    peer_asn: int = 65000,
    as4: bool = True,
    families: frozenset[Family] = frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    add_path_receive: frozenset[Family] = frozenset(),
    add_path_send: frozenset[Family] = frozenset(),
    extended_message: bool = False,
) -> Negotiated:
    return Negotiated(
        local_asn=local_asn,
        peer_asn=peer_asn,
        peer_router_id=0x0A000002,
        hold_time=90,
        as4=as4,
        families=families,
        add_path_receive=add_path_receive,
        add_path_send=add_path_send,
        extended_message=extended_message,
    )


IBGP = negotiated()
EBGP = negotiated(peer_asn=65001)
OLD_EBGP = negotiated(peer_asn=65001, as4=False)  # a 2-octet AS peer (RFC 6793 "OLD" speaker)
ADD_PATH = negotiated(
    add_path_receive=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    add_path_send=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
)
V4_ONLY = negotiated(families=frozenset({IPV4_UNICAST}))

# Attribute TLVs used by many tests: flags, type, length, value.
ORIGIN_IGP = "40 01 01 00"  # well-known transitive, ORIGIN, len 1, IGP
AS_PATH_65001 = "40 02 06 02 01 0000fde9"  # AS_PATH: one AS_SEQUENCE of 1 four-octet AS 65001
NEXT_HOP_10_0_0_1 = "40 03 04 0a000001"  # NEXT_HOP 10.0.0.1
BASE_V4 = ORIGIN_IGP + AS_PATH_65001 + NEXT_HOP_10_0_0_1
NLRI_10_0_0_0_24 = "18 0a0000"  # /24, 3 octets: 10.0.0.0/24

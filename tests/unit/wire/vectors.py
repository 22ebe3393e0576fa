"""Golden wire vectors, each with its provenance.

Provenance kinds:
- "hand": assembled by hand, field by field, from the message layouts of the cited RFCs (the
  comment under each field says what it is). Not produced by bgpd's encoder, so they test the
  decoder against the RFC text rather than against itself.
- "gobgp": sent by GoBGP 3.10.0 (`gobgpd`, AS 4200000010) to a passive peer on loopback and
  recorded by `capture_gobgp.py` in this directory (routes injected with the `gobgp` CLI; see
  ROUTES there). "two-octet" ones were captured with `--two-octet`: our OPEN lacked the 4-octet
  AS capability, so GoBGP encoded AS_TRANS plus AS4_PATH (RFC 6793 §4.2.2). Note that GoBGP
  puts MP_REACH_NLRI last, without the Extended Length bit.

Every UPDATE/OPEN vector is also decoded by ExaBGP 5.0.15 in `test_vectors.py` and the two
decodings are compared field by field; `expect` holds the hand-checked values for ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.unit.wire.helpers import h


@dataclass(frozen=True, kw_only=True)
class Vector:
    name: str
    kind: str  # "update" (body), "open" (body), "notification" (body), "message" (framed)
    data: bytes
    provenance: str
    session: str = "ibgp"  # "ibgp", "ebgp", "old_ebgp" (2-octet AS), "add_path"
    expect: dict[str, Any] = field(default_factory=dict)


VECTORS: list[Vector] = [
    Vector(
        name="ipv4_all_attributes",
        kind="update",
        provenance="hand (RFC 4271 §4.3, RFC 1997, RFC 4456, RFC 8092)",
        data=h(
            "0000",  # withdrawn routes length: 0
            "004e",  # total path attribute length: 78
            "40 01 01 00",  # ORIGIN (well-known transitive), len 1: IGP
            "40 02 0a 02 02 0000fde9 fa56ea02",  # AS_PATH: AS_SEQUENCE of 2: 65001 4200000002
            "40 03 04 0a000001",  # NEXT_HOP 10.0.0.1
            "80 04 04 00000005",  # MULTI_EXIT_DISC (optional non-transitive): 5
            "40 05 04 000000c8",  # LOCAL_PREF: 200
            "c0 08 08 fde90064 00000002",  # COMMUNITIES (optional transitive): 65001:100 0:2
            "80 09 04 0a000005",  # ORIGINATOR_ID: 10.0.0.5
            "80 0a 04 0a000009",  # CLUSTER_LIST: 10.0.0.9
            "c0 20 0c 0000fde9 00000001 00000002",  # LARGE_COMMUNITY: 65001:1:2
            "18 0a0000",  # NLRI 10.0.0.0/24
            "10 0a01",  # NLRI 10.1.0.0/16
            "19 c0a80180",  # NLRI 192.168.1.128/25
        ),
        expect={
            "origin": "igp",
            "as_path": [("as-sequence", [65001, 4200000002])],
            "med": 5,
            "local_pref": 200,
            "communities": [2, (65001 << 16) | 100],
            "large_communities": [(65001, 1, 2)],
            "originator_id": "10.0.0.5",
            "cluster_list": ["10.0.0.9"],
            "announced": [
                ("ipv4 unicast", "10.0.0.0/24", None, "10.0.0.1"),
                ("ipv4 unicast", "10.1.0.0/16", None, "10.0.0.1"),
                ("ipv4 unicast", "192.168.1.128/25", None, "10.0.0.1"),
            ],
        },
    ),
    Vector(
        name="ipv6_mp_reach_link_local_as_set",
        kind="update",
        provenance="hand (RFC 4760 §3, RFC 2545 §3 global + link-local next hop, RFC 4271 AS_SET)",
        data=h(
            "0000",  # withdrawn routes length: 0
            "0054",  # total path attribute length: 84
            "90 0e 0032",  # MP_REACH_NLRI, optional + extended length, len 50
            "0002 01",  # AFI 2 (IPv6), SAFI 1 (unicast)
            "20",  # next hop length 32: global + link-local
            "20010db8000000000000000000000001",  # 2001:db8::1
            "fe800000000000000000000000000001",  # fe80::1
            "00",  # reserved
            "20 20010db8",  # 2001:db8::/32
            "30 20010db80001",  # 2001:db8:1::/48
            "00",  # ::/0
            "40 01 01 02",  # ORIGIN: INCOMPLETE
            "40 02 10",  # AS_PATH, len 16
            "02 01 0000fde9",  # AS_SEQUENCE 65001
            "01 02 0000fdea 0000fdeb",  # AS_SET {65002 65003}
            "80 04 04 00000000",  # MULTI_EXIT_DISC: 0
        ),
        expect={
            "origin": "incomplete",
            "as_path": [("as-sequence", [65001]), ("as-set", [65002, 65003])],
            "med": 0,
            "announced": [
                ("ipv6 unicast", "2001:db8::/32", None, "2001:db8::1"),
                ("ipv6 unicast", "2001:db8:1::/48", None, "2001:db8::1"),
                ("ipv6 unicast", "::/0", None, "2001:db8::1"),
            ],
        },
    ),
    Vector(
        name="withdraw_ipv4_and_ipv6",
        kind="update",
        provenance="hand (RFC 4271 §4.3 Withdrawn Routes, RFC 4760 §4 MP_UNREACH_NLRI)",
        data=h(
            "0006",  # withdrawn routes length: 6
            "18 0a0000",  # 10.0.0.0/24
            "08 0b",  # 11.0.0.0/8
            "000d",  # total path attribute length: 13
            "80 0f 0a",  # MP_UNREACH_NLRI, optional, len 10
            "0002 01",  # AFI IPv6, SAFI unicast
            "30 20010db80001",  # 2001:db8:1::/48
        ),
        expect={
            "withdrawn": [
                ("ipv4 unicast", "10.0.0.0/24", None),
                ("ipv4 unicast", "11.0.0.0/8", None),
                ("ipv6 unicast", "2001:db8:1::/48", None),
            ],
        },
    ),
    Vector(
        name="end_of_rib_ipv4",
        kind="update",
        provenance="hand (RFC 4724 §2: an UPDATE with no withdrawn routes and no attributes)",
        data=h("0000", "0000"),
        expect={"eor": "ipv4 unicast"},
    ),
    Vector(
        name="end_of_rib_ipv6",
        kind="update",
        provenance="hand (RFC 4724 §2: only an MP_UNREACH_NLRI with no withdrawn routes)",
        data=h(
            "0000",  # withdrawn routes length: 0
            "0006",  # total path attribute length: 6
            "80 0f 03 0002 01",  # MP_UNREACH_NLRI, len 3: AFI IPv6, SAFI unicast, nothing else
        ),
        expect={"eor": "ipv6 unicast"},
    ),
    Vector(
        name="add_path_ipv4_and_ipv6",
        kind="update",
        session="add_path",
        provenance="hand (RFC 7911 §3: a 4-octet Path Identifier before each prefix)",
        data=h(
            "0007",  # withdrawn routes length: 7
            "00000003 10 0a09",  # path id 3, 10.9.0.0/16
            "003d",  # total path attribute length: 61
            "90 0e 001e",  # MP_REACH_NLRI, extended length, len 30
            "0002 01 10",  # IPv6 unicast, next hop length 16
            "20010db8000000000000000000000001",  # next hop 2001:db8::1
            "00",  # reserved
            "00000007 20 20010db8",  # path id 7, 2001:db8::/32
            "40 01 01 00",  # ORIGIN IGP
            "40 02 06 02 01 0000fde9",  # AS_PATH 65001
            "40 03 04 0a000001",  # NEXT_HOP 10.0.0.1
            "40 05 04 00000064",  # LOCAL_PREF 100
            "00000001 18 0a0000",  # path id 1, 10.0.0.0/24
            "00000002 18 0a0000",  # path id 2, 10.0.0.0/24
        ),
        expect={
            "local_pref": 100,
            "announced": [
                ("ipv4 unicast", "10.0.0.0/24", "0.0.0.1", "10.0.0.1"),
                ("ipv4 unicast", "10.0.0.0/24", "0.0.0.2", "10.0.0.1"),
                ("ipv6 unicast", "2001:db8::/32", "0.0.0.7", "2001:db8::1"),
            ],
            "withdrawn": [("ipv4 unicast", "10.9.0.0/16", "0.0.0.3")],
        },
    ),
    Vector(
        name="as4_path_from_2_octet_peer",
        kind="update",
        session="old_ebgp",
        provenance="hand (RFC 6793 §4.2.2/§4.2.3: AS_TRANS in AS_PATH and AGGREGATOR + AS4_*)",
        data=h(
            "0000",  # withdrawn routes length: 0
            "003a",  # total path attribute length: 58
            "40 01 01 00",  # ORIGIN IGP
            "40 02 08 02 03 fde9 5ba0 5ba0",  # AS_PATH, 2-octet ASes: 65001 23456 23456
            "40 03 04 0a000001",  # NEXT_HOP 10.0.0.1
            "40 06 00",  # ATOMIC_AGGREGATE
            "c0 07 06 5ba0 0a000009",  # AGGREGATOR: AS_TRANS, 10.0.0.9
            "c0 11 0a 02 02 fa56ea01 fa56ea02",  # AS4_PATH: AS_SEQUENCE 4200000001 4200000002
            "c0 12 08 fa56ea01 0a000009",  # AS4_AGGREGATOR: 4200000001, 10.0.0.9
            "18 0a0000",  # NLRI 10.0.0.0/24
        ),
        expect={
            "as_path": [("as-sequence", [65001, 4200000001, 4200000002])],
            "atomic_aggregate": True,
            "aggregator": "4200000001:10.0.0.9",
            "announced": [("ipv4 unicast", "10.0.0.0/24", None, "10.0.0.1")],
        },
    ),
    Vector(
        name="unknown_optional_transitive",
        kind="update",
        session="ebgp",
        provenance="hand (RFC 4271 §5: unrecognized optional transitive attributes are passed on)",
        data=h(
            "0000",  # withdrawn routes length: 0
            "001a",  # total path attribute length: 26
            "40 01 01 01",  # ORIGIN EGP
            "40 02 06 02 01 0000fde9",  # AS_PATH 65001
            "40 03 04 0a000001",  # NEXT_HOP 10.0.0.1
            "c0 63 03 010203",  # type 99, optional transitive, len 3
            "20 0a000001",  # NLRI 10.0.0.1/32
        ),
        expect={
            "origin": "egp",
            "announced": [("ipv4 unicast", "10.0.0.1/32", None, "10.0.0.1")],
        },
    ),
    Vector(
        name="open_all_capabilities",
        kind="open",
        provenance="hand (RFC 4271 §4.2, RFC 5492, RFC 4760, RFC 2918, RFC 7313, RFC 8654, "
        "RFC 6793, RFC 4724 + RFC 8538 N bit, RFC 7911)",
        data=h(
            "04",  # version 4
            "5ba0",  # my AS: AS_TRANS (the real AS is in the 4-octet AS capability)
            "00b4",  # hold time 180
            "0a000001",  # BGP identifier 10.0.0.1
            "30",  # optional parameters length 48
            "02 2e",  # parameter type 2 (capabilities), len 46
            "01 04 0001 00 01",  # multiprotocol IPv4 unicast
            "01 04 0002 00 01",  # multiprotocol IPv6 unicast
            "02 00",  # route refresh
            "46 00",  # enhanced route refresh
            "06 00",  # extended message
            "41 04 fa56ea01",  # 4-octet AS 4200000001
            "40 0a 4078 0001 01 80 0002 01 00",  # GR: N bit, 120 s; IPv4 F bit; IPv6
            "45 08 0001 01 03 0002 01 01",  # ADD-PATH: IPv4 send+receive, IPv6 receive
        ),
        expect={"asn": 4200000001, "hold_time": 180, "router_id": 0x0A000001},
    ),
    Vector(
        name="notification_shutdown",
        kind="notification",
        provenance="hand (RFC 9003 §2: Cease/Administrative Shutdown + length + UTF-8)",
        data=h(
            "06 02",  # Cease, Administrative Shutdown
            "0f",  # shutdown communication length 15
            "6d61696e74656e616e636520e29a99",  # UTF-8 "maintenance \u2699" (gear: 3 octets)
        ),
        expect={"code": 6, "subcode": 2, "text": "maintenance \u2699"},
    ),
]

GOBGP_V4_EXPECT = {
    "origin": "igp",
    "as_path": [("as-sequence", [4200000010, 65020, 65030])],
    "med": 10,
    "communities": [(65010 << 16) | 100, 0xFFFFFF01],  # 65010:100, NO_EXPORT
    "large_communities": [(4200000010, 1, 2)],
    "announced": [("ipv4 unicast", "10.1.0.0/24", None, "10.0.0.10")],
}
GOBGP_V4B_EXPECT = {
    "origin": "incomplete",
    "as_path": [("as-sequence", [4200000010])],
    "announced": [("ipv4 unicast", "10.2.0.0/16", None, "10.0.0.10")],
}
GOBGP_V6_EXPECT = {
    "origin": "incomplete",
    "as_path": [("as-sequence", [4200000010])],
    "med": 20,
    "communities": [(65010 << 16) | 200],
    "announced": [("ipv6 unicast", "2001:db8:1::/48", None, "2001:db8::10")],
}
GOBGP = "gobgp 3.10.0 (capture_gobgp.py)"
GOBGP_2 = "gobgp 3.10.0 (capture_gobgp.py --two-octet)"

VECTORS += [
    Vector(
        name="gobgp_open",
        kind="open",
        provenance=GOBGP,
        data=h(
            "045ba0005a0a00000a2402220200490402766d000104000100010104000200014104fa56ea0a"
            "0506000100010002"
        ),
        expect={"asn": 4200000010, "hold_time": 90, "router_id": 0x0A00000A},
    ),
    Vector(
        name="gobgp_ipv4_communities",
        kind="update",
        session="ebgp",
        provenance=GOBGP,
        data=h(
            "0000003d4001010040020e0203fa56ea0a0000fdfc0000fe068004040000000ac00808fdf20064"
            "ffffff01c0200cfa56ea0a00000001000000024003040a00000a180a0100"
        ),
        expect=GOBGP_V4_EXPECT,
    ),
    Vector(
        name="gobgp_ipv4_incomplete",
        kind="update",
        session="ebgp",
        provenance=GOBGP,
        data=h("00000014400101024002060201fa56ea0a4003040a00000a100a02"),
        expect=GOBGP_V4B_EXPECT,
    ),
    Vector(
        name="gobgp_ipv6_mp_reach_last",
        kind="update",
        session="ebgp",
        provenance=GOBGP,
        data=h(
            "0000003a400101024002060201fa56ea0a80040400000014c00804fdf200c8800e1c000201102001"
            "0db8000000000000000000000010003020010db80001"
        ),
        expect=GOBGP_V6_EXPECT,
    ),
    Vector(
        name="gobgp_two_octet_ipv4_communities",
        kind="update",
        session="old_ebgp",
        provenance=GOBGP_2,
        data=h(
            "000000484001010040020802035ba0fdfcfe068004040000000ac00808fdf20064ffffff01c0200c"
            "fa56ea0a00000001000000024003040a00000ac0110e0203fa56ea0a0000fdfc0000fe06180a0100"
        ),
        expect=GOBGP_V4_EXPECT,
    ),
    Vector(
        name="gobgp_two_octet_ipv4_incomplete",
        kind="update",
        session="old_ebgp",
        provenance=GOBGP_2,
        data=h("0000001b4001010240020402015ba04003040a00000ac011060201fa56ea0a100a02"),
        expect=GOBGP_V4B_EXPECT,
    ),
    Vector(
        name="gobgp_two_octet_ipv6",
        kind="update",
        session="old_ebgp",
        provenance=GOBGP_2,
        data=h(
            "000000414001010240020402015ba080040400000014c00804fdf200c8800e1c0002011020010db8"
            "000000000000000000000010003020010db80001c011060201fa56ea0a"
        ),
        expect=GOBGP_V6_EXPECT,
    ),
]

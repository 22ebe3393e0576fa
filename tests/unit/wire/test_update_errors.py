"""RFC 7606 error handling, one crafted UPDATE per rule.

Every body is hand-written hex; `update_body` only fills in the two length fields. Shared
attribute TLVs (ORIGIN_IGP, AS_PATH_65001, NEXT_HOP_10_0_0_1, NLRI_10_0_0_0_24) are spelled out
in helpers.py.
"""

from __future__ import annotations

import pytest

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.wire.constants import AttrType, ErrorAction, SegmentType, UpdateSubcode
from bgpd.wire.messages import UpdateMessage
from bgpd.wire.negotiated import Negotiated
from bgpd.wire.update import UpdateDecoder
from tests.unit.wire.helpers import (
    AS_PATH_65001,
    BASE_V4,
    EBGP,
    IBGP,
    NEXT_HOP_10_0_0_1,
    NLRI_10_0_0_0_24,
    OLD_EBGP,
    ORIGIN_IGP,
    V4_ONLY,
    update_body,
)

TAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
DISABLE = ErrorAction.AFI_SAFI_DISABLE
P24 = pack_prefix("10.0.0.0/24")


def decode(
    attributes: str,
    nlri: str = NLRI_10_0_0_0_24,
    *,
    session: Negotiated = IBGP,
    withdrawn: str = "",
) -> UpdateMessage:
    return UpdateDecoder(session).decode(update_body(withdrawn, attributes, nlri))


def actions(msg: UpdateMessage) -> set[tuple[int, ErrorAction]]:
    return {(p.attr_type, p.action) for p in msg.problems}


def assert_withdrawn(msg: UpdateMessage, attr_type: int) -> None:
    """Treat-as-withdraw: nothing announced, the announced prefix withdrawn instead."""
    assert msg.announced == ()
    assert msg.attributes is None
    assert [p for b in msg.withdrawn for p in b.prefixes] == [P24]
    assert (attr_type, TAW) in actions(msg)


def assert_session_reset(body: bytes, subcode: int, session: Negotiated = IBGP) -> WireError:
    with pytest.raises(WireError) as info:
        UpdateDecoder(session).decode(body)
    assert (info.value.code, info.value.subcode) == (3, subcode)
    return info.value


def test_clean_update_has_no_problems() -> None:
    msg = decode(BASE_V4)
    assert msg.problems == ()
    assert msg.announced[0].prefixes == (P24,)
    assert msg.attributes is not None and msg.attributes.next_hop == bytes((10, 0, 0, 1))


# --- RFC 7606 §7.1 ORIGIN -------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin",
    [
        "40 01 01 03",  # value 3: undefined
        "40 01 02 0000",  # length 2
        "c0 01 01 00",  # optional bit set on a well-known attribute (§3 c)
    ],
)
def test_malformed_origin_is_treat_as_withdraw(origin: str) -> None:
    assert_withdrawn(decode(origin + AS_PATH_65001 + NEXT_HOP_10_0_0_1), AttrType.ORIGIN)


# --- RFC 7606 §7.2 AS_PATH ------------------------------------------------------------------
@pytest.mark.parametrize(
    "as_path",
    [
        "40 02 06 05 01 0000fde9",  # segment type 5: unknown
        "40 02 02 02 00",  # segment length 0
        "40 02 06 02 02 0000fde9",  # segment says 2 ASes, 1 present: overrun
        "40 02 07 02 01 0000fde9 02",  # one octet left after the last segment
        "40 02 06 02 01 00000000",  # AS 0 (RFC 7607)
        "c0 02 06 02 01 0000fde9",  # optional bit set (§3 c)
    ],
)
def test_malformed_as_path_is_treat_as_withdraw(as_path: str) -> None:
    assert_withdrawn(decode(ORIGIN_IGP + as_path + NEXT_HOP_10_0_0_1), AttrType.AS_PATH)


def test_confederation_segment_from_external_peer_is_treat_as_withdraw() -> None:
    as_path = "40 02 06 03 01 0000fde9"  # AS_CONFED_SEQUENCE 65001
    assert_withdrawn(
        decode(ORIGIN_IGP + as_path + NEXT_HOP_10_0_0_1, session=EBGP), AttrType.AS_PATH
    )
    internal = decode(ORIGIN_IGP + as_path + NEXT_HOP_10_0_0_1, session=IBGP)
    assert internal.attributes is not None
    assert internal.attributes.as_path[0].type == SegmentType.AS_CONFED_SEQUENCE


# --- RFC 7606 §7.3 NEXT_HOP, §3 d missing well-known ----------------------------------------
def test_malformed_next_hop_is_treat_as_withdraw() -> None:
    bad = "40 03 05 0a00000100"  # length 5
    assert_withdrawn(decode(ORIGIN_IGP + AS_PATH_65001 + bad), AttrType.NEXT_HOP)


@pytest.mark.parametrize(
    ("attributes", "missing"),
    [
        (AS_PATH_65001 + NEXT_HOP_10_0_0_1, AttrType.ORIGIN),
        (ORIGIN_IGP + NEXT_HOP_10_0_0_1, AttrType.AS_PATH),
        (ORIGIN_IGP + AS_PATH_65001, AttrType.NEXT_HOP),
        ("", AttrType.ORIGIN),  # NLRI with no attributes at all
    ],
)
def test_missing_well_known_attribute_is_treat_as_withdraw(
    attributes: str, missing: AttrType
) -> None:
    msg = decode(attributes)
    assert_withdrawn(msg, missing)
    assert all(p.reason == "missing well-known attribute" for p in msg.problems)


def test_next_hop_not_needed_with_mp_reach_only() -> None:
    mp_reach = (
        "90 0e 001a"  # MP_REACH_NLRI, extended length, len 26
        "0002 01 10 20010db8000000000000000000000001 00"  # IPv6 unicast, next hop 2001:db8::1
        "20 20010db8"  # 2001:db8::/32
    )
    msg = decode(mp_reach + ORIGIN_IGP + AS_PATH_65001, nlri="")
    assert msg.problems == ()
    assert msg.announced[0].family == IPV6_UNICAST
    assert msg.announced[0].prefixes == (pack_prefix("2001:db8::/32"),)


# --- RFC 7606 §7.4 MED, §7.5 LOCAL_PREF ------------------------------------------------------
def test_malformed_med_is_treat_as_withdraw() -> None:
    assert_withdrawn(decode(BASE_V4 + "80 04 03 000005"), AttrType.MED)


def test_med_with_transitive_flag_is_treat_as_withdraw() -> None:
    # §3 c: MED is optional non-transitive; 0xc0 claims optional transitive.
    assert_withdrawn(decode(BASE_V4 + "c0 04 04 00000005"), AttrType.MED)


def test_local_pref_from_external_peer_is_discarded() -> None:
    msg = decode(BASE_V4 + "40 05 04 000000c8", session=EBGP)
    assert msg.attributes is not None and msg.attributes.local_pref is None
    assert msg.announced[0].prefixes == (P24,)
    assert actions(msg) == {(AttrType.LOCAL_PREF, DISCARD)}


def test_malformed_local_pref_from_internal_peer_is_treat_as_withdraw() -> None:
    assert_withdrawn(decode(BASE_V4 + "40 05 02 00c8"), AttrType.LOCAL_PREF)


# --- RFC 7606 §7.6 ATOMIC_AGGREGATE, §7.7 AGGREGATOR ----------------------------------------
def test_malformed_atomic_aggregate_is_discarded() -> None:
    msg = decode(BASE_V4 + "40 06 01 00")  # length 1
    assert msg.attributes is not None and not msg.attributes.atomic_aggregate
    assert msg.announced[0].prefixes == (P24,)
    assert actions(msg) == {(AttrType.ATOMIC_AGGREGATE, DISCARD)}


@pytest.mark.parametrize(
    ("aggregator", "session"),
    [
        ("c0 07 07 0000fde9 0a0000", IBGP),  # length 7 on a 4-octet AS session (needs 8)
        ("c0 07 08 0000fde9 0a000009", OLD_EBGP),  # length 8 on a 2-octet session (needs 6)
        ("c0 07 08 00000000 0a000009", IBGP),  # AS 0 (RFC 7607)
        ("40 07 08 0000fde9 0a000009", IBGP),  # well-known flags on an optional attribute
    ],
)
def test_malformed_aggregator_is_discarded(aggregator: str, session: Negotiated) -> None:
    as_path = "40 02 04 02 01 fde9" if not session.as4 else AS_PATH_65001  # 2-octet AS on OLD
    msg = decode(ORIGIN_IGP + as_path + NEXT_HOP_10_0_0_1 + aggregator, session=session)
    assert msg.attributes is not None and msg.attributes.aggregator is None
    assert msg.announced[0].prefixes == (P24,)
    assert actions(msg) == {(AttrType.AGGREGATOR, DISCARD)}


# --- RFC 7606 §7.8 COMMUNITIES, RFC 8092 §6 LARGE_COMMUNITY ---------------------------------
@pytest.mark.parametrize(
    ("attribute", "attr_type"),
    [
        ("c0 08 05 0000000100", AttrType.COMMUNITIES),  # not a multiple of 4
        ("c0 08 00", AttrType.COMMUNITIES),  # length 0
        ("c0 20 0b 0000fde9 00000001 000000", AttrType.LARGE_COMMUNITY),  # not a multiple of 12
        ("c0 20 00", AttrType.LARGE_COMMUNITY),  # length 0
    ],
)
def test_malformed_communities_are_treat_as_withdraw(attribute: str, attr_type: int) -> None:
    assert_withdrawn(decode(BASE_V4 + attribute), attr_type)


# --- RFC 7606 §7.9 ORIGINATOR_ID, §7.10 CLUSTER_LIST ----------------------------------------
@pytest.mark.parametrize(
    ("attribute", "attr_type"),
    [
        ("80 09 04 0a000005", AttrType.ORIGINATOR_ID),
        ("80 0a 04 0a000009", AttrType.CLUSTER_LIST),
    ],
)
def test_reflection_attributes_from_external_peer_are_discarded(
    attribute: str, attr_type: int
) -> None:
    msg = decode(BASE_V4 + attribute, session=EBGP)
    assert msg.attributes is not None
    assert msg.attributes.originator_id is None and msg.attributes.cluster_list == ()
    assert msg.announced[0].prefixes == (P24,)
    assert actions(msg) == {(attr_type, DISCARD)}


@pytest.mark.parametrize(
    ("attribute", "attr_type"),
    [
        ("80 09 03 0a0000", AttrType.ORIGINATOR_ID),  # length 3
        ("80 0a 06 0a0000090a00", AttrType.CLUSTER_LIST),  # length 6
        ("80 0a 00", AttrType.CLUSTER_LIST),  # length 0
    ],
)
def test_malformed_reflection_attributes_from_internal_peer_are_treat_as_withdraw(
    attribute: str, attr_type: int
) -> None:
    assert_withdrawn(decode(BASE_V4 + attribute), attr_type)


# --- RFC 7606 §3 g duplicates, §3 b strongest action ----------------------------------------
def test_duplicate_attribute_keeps_the_first() -> None:
    msg = decode(BASE_V4 + "80 04 04 00000005" + "80 04 04 00000009")  # MED 5 then MED 9
    assert msg.attributes is not None and msg.attributes.med == 5
    assert actions(msg) == {(AttrType.MED, DISCARD)}


def test_duplicate_mp_reach_resets_the_session() -> None:
    mp_reach = "90 0e 0015 0002 01 10 20010db8000000000000000000000001 00"  # IPv6, no NLRI
    body = update_body("", mp_reach + mp_reach + ORIGIN_IGP + AS_PATH_65001, "")
    assert_session_reset(body, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)


def test_duplicate_mp_unreach_resets_the_session() -> None:
    mp_unreach = "80 0f 03 0002 01"
    assert_session_reset(
        update_body("", mp_unreach + mp_unreach, ""), UpdateSubcode.MALFORMED_ATTRIBUTE_LIST
    )


def test_strongest_action_wins() -> None:
    # A discardable ATOMIC_AGGREGATE error and a treat-as-withdraw MED error together.
    msg = decode(BASE_V4 + "40 06 01 00" + "80 04 03 000005")
    assert_withdrawn(msg, AttrType.MED)
    assert (AttrType.ATOMIC_AGGREGATE, DISCARD) in actions(msg)


# --- unrecognized attributes (RFC 4271 §5, §6.3) --------------------------------------------
def test_unknown_well_known_attribute_resets_with_the_attribute_as_data() -> None:
    body = update_body("", BASE_V4 + "40 63 02 abcd", NLRI_10_0_0_0_24)  # type 99, well-known
    error = assert_session_reset(body, UpdateSubcode.UNRECOGNIZED_WELL_KNOWN)
    assert error.data == bytes.fromhex("406302abcd")


def test_unknown_optional_non_transitive_attribute_is_dropped() -> None:
    msg = decode(BASE_V4 + "80 63 02 abcd")  # type 99, optional non-transitive
    assert msg.problems == ()
    assert msg.attributes is not None and msg.attributes.unknown == ()


def test_unknown_optional_transitive_attribute_is_kept() -> None:
    msg = decode(BASE_V4 + "e0 63 02 abcd")  # type 99, optional transitive, already partial
    assert msg.attributes is not None
    (raw,) = msg.attributes.unknown
    assert (raw.flags, raw.type_code, raw.value) == (0xE0, 99, b"\xab\xcd")


# --- RFC 7606 §4 attribute lengths ----------------------------------------------------------
def test_attribute_overrunning_the_list_is_treat_as_withdraw_and_nlri_still_found() -> None:
    # The MED claims 9 octets but only 4 remain before the Total Attribute Length ends.
    msg = decode(BASE_V4 + "80 04 09 00000005")
    assert_withdrawn(msg, 0)


def test_fewer_than_three_octets_left_is_treat_as_withdraw() -> None:
    msg = decode(BASE_V4 + "80 04")  # a 2-octet stub after the last attribute
    assert_withdrawn(msg, 0)


def test_extended_length_header_cut_short_is_treat_as_withdraw() -> None:
    msg = decode(BASE_V4 + "90 04 00")  # extended length needs 4 header octets; 3 remain
    assert_withdrawn(msg, 0)


def test_mp_attribute_overrunning_the_list_resets_the_session() -> None:
    body = update_body("", BASE_V4 + "90 0e 0030 0002 01", NLRI_10_0_0_0_24)
    assert_session_reset(body, UpdateSubcode.ATTRIBUTE_LENGTH)


def test_withdrawn_length_beyond_the_message_resets_the_session() -> None:
    body = bytes.fromhex("0010 18 0a0000".replace(" ", ""))  # says 16 octets, 4 present
    assert_session_reset(body, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)


def test_attribute_length_beyond_the_message_resets_the_session() -> None:
    body = bytes.fromhex("0000 0020 40010100".replace(" ", ""))  # says 32 octets, 4 present
    assert_session_reset(body, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)


@pytest.mark.parametrize("body_len", [0, 1, 2, 3])
def test_body_shorter_than_length_fields_resets_the_session(body_len: int) -> None:
    assert_session_reset(b"\x00" * body_len, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST)


# --- RFC 7606 §5.3 NLRI syntax --------------------------------------------------------------
@pytest.mark.parametrize(
    ("withdrawn", "nlri"),
    [
        ("", "21 0a000001 00"),  # NLRI prefix length 33 > 32
        ("", "18 0a00"),  # NLRI /24 with 2 address octets: overruns the message
        ("21 0a000001 00", ""),  # Withdrawn Routes prefix length 33
        ("18 0a00", ""),  # Withdrawn Routes overrun
    ],
)
def test_classic_nlri_syntax_error_resets_the_session(withdrawn: str, nlri: str) -> None:
    body = update_body(withdrawn, BASE_V4 if nlri else "", nlri)
    assert_session_reset(body, UpdateSubcode.INVALID_NETWORK_FIELD)


# --- RFC 7606 §7.11 MP_REACH_NLRI / MP_UNREACH_NLRI -----------------------------------------
def _mp_reach(value: str) -> str:
    raw = bytes.fromhex(value.replace(" ", ""))
    return "90 0e " + len(raw).to_bytes(2, "big").hex() + value


@pytest.mark.parametrize(
    "value",
    [
        "0002 01 05 2001 0db8 00 00",  # next hop length 5: not 16 or 32
        "0002 01 10 20010db8000000000000000000000001",  # next hop runs to the end: no reserved
        "0002 01 10 20010db8000000000000000000000001 00 81 20010db8",  # prefix length 129
        "0002 01 10 20010db8000000000000000000000001 00 40 20010db8",  # /64 with 4 octets
    ],
)
def test_malformed_mp_reach_disables_the_family(value: str) -> None:
    msg = decode(_mp_reach(value) + BASE_V4)  # the classic IPv4 route stays announced
    assert msg.disabled_families == (IPV6_UNICAST,)
    assert (AttrType.MP_REACH_NLRI, DISABLE) in actions(msg)
    assert [b.family for b in msg.announced] == [IPV4_UNICAST]
    assert msg.announced[0].prefixes == (P24,)


def test_malformed_mp_unreach_disables_the_family() -> None:
    mp_unreach = "80 0f 08 0002 01 81 20010db8"  # IPv6, prefix length 129
    msg = decode(mp_unreach, nlri="")
    assert msg.disabled_families == (IPV6_UNICAST,)
    assert actions(msg) == {(AttrType.MP_UNREACH_NLRI, DISABLE)}
    assert msg.withdrawn == ()


def test_mp_reach_with_wrong_flags_disables_the_family() -> None:
    mp = "c0 0e 16 0002 01 10 20010db8000000000000000000000001 00 00"  # optional transitive
    msg = decode(mp + ORIGIN_IGP + AS_PATH_65001, nlri="")
    assert msg.disabled_families == (IPV6_UNICAST,)


@pytest.mark.parametrize("mp", ["90 0e 0002 0002", "80 0f 02 0002"])
def test_mp_attribute_without_afi_safi_resets_the_session(mp: str) -> None:
    body = update_body("", mp + BASE_V4, NLRI_10_0_0_0_24)
    assert_session_reset(body, UpdateSubcode.OPTIONAL_ATTRIBUTE)


def test_mp_reach_for_a_family_not_negotiated_is_ignored() -> None:
    mp_reach = _mp_reach("0002 01 10 20010db8000000000000000000000001 00 20 20010db8")
    msg = decode(mp_reach + BASE_V4, session=V4_ONLY)
    assert actions(msg) == {(AttrType.MP_REACH_NLRI, DISCARD)}
    assert [b.family for b in msg.announced] == [IPV4_UNICAST]
    assert msg.disabled_families == ()


def test_mp_reach_for_an_unknown_family_is_ignored() -> None:
    mp_reach = _mp_reach("0001 80 04 0a000001 00 00")  # AFI 1, SAFI 128 (VPN)
    msg = decode(mp_reach + BASE_V4)
    assert actions(msg) == {(AttrType.MP_REACH_NLRI, DISCARD)}
    assert msg.announced[0].prefixes == (P24,)


# --- attribute errors in UPDATEs that only withdraw ----------------------------------------
def test_withdrawals_are_processed_despite_attribute_errors() -> None:
    msg = decode("40 01 01 07" + AS_PATH_65001, nlri="", withdrawn="18 0a0000")  # bad ORIGIN
    assert msg.announced == () and msg.attributes is None
    assert msg.withdrawn[0].prefixes == (P24,)
    assert (AttrType.ORIGIN, TAW) in actions(msg)


def test_attributes_without_nlri_are_ignored() -> None:
    msg = decode(BASE_V4, nlri="")  # RFC 7606 §5.2: no NLRI, nothing to act on
    assert msg.announced == () and msg.withdrawn == () and msg.attributes is None
    assert msg.end_of_rib is None


def test_treat_as_withdraw_covers_mp_reach_prefixes() -> None:
    mp_reach = _mp_reach("0002 01 10 20010db8000000000000000000000001 00 20 20010db8")
    msg = decode(mp_reach + "40 01 01 09" + AS_PATH_65001, nlri="")  # bad ORIGIN
    assert msg.announced == ()
    assert msg.withdrawn[0].family == IPV6_UNICAST
    assert msg.withdrawn[0].prefixes == (pack_prefix("2001:db8::/32"),)


def test_host_bits_are_cleared() -> None:
    msg = decode(BASE_V4, nlri="17 0a0001")  # 10.0.1.0/23: bit 24 set past the length
    assert msg.announced[0].prefixes == (pack_prefix("10.0.0.0/23"),)

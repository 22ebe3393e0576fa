"""4-octet AS numbers toward and from 2-octet peers (RFC 6793 §4.2)."""

from __future__ import annotations

from bgpd.net import IPV4_UNICAST
from bgpd.wire.attr_decode import merge_as4_path
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.codec import EncodeContext, encode_path_attributes
from bgpd.wire.constants import AttrType, ErrorAction, Origin, SegmentType
from bgpd.wire.update import UpdateDecoder
from tests.unit.wire.helpers import (
    IBGP,
    NEXT_HOP_10_0_0_1,
    NLRI_10_0_0_0_24,
    OLD_EBGP,
    ORIGIN_IGP,
    h,
    update_body,
)

SEQ = SegmentType.AS_SEQUENCE
SET = SegmentType.AS_SET


def seq(*asns: int) -> AsPathSegment:
    return AsPathSegment(type=SEQ, asns=asns)


def aset(*asns: int) -> AsPathSegment:
    return AsPathSegment(type=SET, asns=asns)


def decode_old(*attributes: str) -> PathAttributes:
    body = update_body("", ORIGIN_IGP + NEXT_HOP_10_0_0_1 + "".join(attributes), NLRI_10_0_0_0_24)
    msg = UpdateDecoder(OLD_EBGP).decode(body)
    assert msg.attributes is not None, msg.problems
    return msg.attributes


def test_as4_path_replaces_the_trailing_as_trans() -> None:
    attrs = decode_old(
        "40 02 0a 02 04 fde9 fdea 5ba0 5ba0",  # AS_PATH 65001 65002 AS_TRANS AS_TRANS
        "c0 11 0a 02 02 fa56ea01 fa56ea02",  # AS4_PATH 4200000001 4200000002
    )
    assert attrs.as_path == (seq(65001, 65002, 4200000001, 4200000002),)


def test_as4_path_longer_than_as_path_is_ignored() -> None:
    attrs = decode_old(
        "40 02 04 02 01 5ba0",  # AS_PATH: AS_TRANS
        "c0 11 0a 02 02 fa56ea01 fa56ea02",  # AS4_PATH with 2 ASes
    )
    assert attrs.as_path == (seq(23456),)


def test_as_set_counts_as_one_when_merging() -> None:
    attrs = decode_old(
        "40 02 0c 02 01 fde9 01 03 5ba0 fdea fdeb",  # SEQ 65001, SET {AS_TRANS 65002 65003}
        "c0 11 0a 01 02 fa56ea01 0000fdea",  # AS4_PATH: SET {4200000001 65002}
    )
    assert attrs.as_path == (seq(65001), aset(4200000001, 65002))


def test_aggregator_from_an_old_speaker_voids_as4_attributes() -> None:
    attrs = decode_old(
        "40 02 06 02 02 fde9 5ba0",  # AS_PATH 65001 AS_TRANS
        "c0 07 06 fdea 0a000009",  # AGGREGATOR 65002 (not AS_TRANS): an OLD speaker aggregated
        "c0 11 06 02 01 fa56ea01",  # AS4_PATH 4200000001
        "c0 12 08 fa56ea01 0a000009",  # AS4_AGGREGATOR 4200000001
    )
    assert attrs.aggregator == (65002, h("0a000009"))
    assert attrs.as_path == (seq(65001, 23456),)


def test_as4_aggregator_replaces_as_trans() -> None:
    attrs = decode_old(
        "40 02 04 02 01 fde9",  # AS_PATH 65001
        "c0 07 06 5ba0 0a000009",  # AGGREGATOR AS_TRANS
        "c0 12 08 fa56ea01 0a000009",  # AS4_AGGREGATOR 4200000001
    )
    assert attrs.aggregator == (4200000001, h("0a000009"))


def test_confederation_segments_in_as4_path_are_ignored() -> None:
    attrs = decode_old(
        "40 02 06 02 02 fde9 5ba0",  # AS_PATH 65001 AS_TRANS
        "c0 11 0c 03 01 0000fdea 02 01 fa56ea01",  # AS4_PATH: CONFED_SEQ 65002, SEQ 4200000001
    )
    assert attrs.as_path == (seq(65001, 4200000001),)


def test_malformed_as4_path_is_discarded() -> None:
    body = update_body(
        "",
        ORIGIN_IGP
        + NEXT_HOP_10_0_0_1
        + "40 02 04 02 01 5ba0"  # AS_PATH AS_TRANS
        + "c0 11 06 02 02 fa56ea01",  # AS4_PATH says 2 ASes, holds 1
        NLRI_10_0_0_0_24,
    )
    msg = UpdateDecoder(OLD_EBGP).decode(body)
    assert msg.attributes is not None and msg.attributes.as_path == (seq(23456),)
    assert {(p.attr_type, p.action) for p in msg.problems} == {
        (AttrType.AS4_PATH, ErrorAction.ATTRIBUTE_DISCARD)
    }


def test_as4_attributes_between_new_speakers_are_discarded() -> None:
    body = update_body(
        "",
        ORIGIN_IGP
        + NEXT_HOP_10_0_0_1
        + "40 02 06 02 01 0000fde9"  # AS_PATH 65001 (4-octet)
        + "c0 11 06 02 01 fa56ea01",  # AS4_PATH: must not appear on a 4-octet session
        NLRI_10_0_0_0_24,
    )
    msg = UpdateDecoder(IBGP).decode(body)
    assert msg.attributes is not None and msg.attributes.as_path == (seq(65001),)
    assert [p.attr_type for p in msg.problems] == [AttrType.AS4_PATH]


def test_merge_keeps_leading_confederation_segments() -> None:
    confed = AsPathSegment(type=SegmentType.AS_CONFED_SEQUENCE, asns=(65010,))
    merged = merge_as4_path((confed, seq(65001, 23456)), (seq(4200000001),))
    assert merged == (confed, seq(65001, 4200000001))


OLD = EncodeContext(as4=False, add_path_send=frozenset(), max_message_len=4096, local_asn=65000)


def test_encoding_toward_an_old_speaker() -> None:
    attrs = PathAttributes(
        origin=Origin.IGP,
        as_path=(seq(65001, 4200000001),),
        aggregator=(4200000001, h("0a000009")),
    )
    assert encode_path_attributes(attrs, OLD) == h(
        "40 01 01 00",  # ORIGIN IGP
        "40 02 06 02 02 fde9 5ba0",  # AS_PATH with 2-octet ASes: 65001 AS_TRANS
        "c0 07 06 5ba0 0a000009",  # AGGREGATOR AS_TRANS 10.0.0.9
        "c0 11 0a 02 02 0000fde9 fa56ea01",  # AS4_PATH 65001 4200000001
        "c0 12 08 fa56ea01 0a000009",  # AS4_AGGREGATOR 4200000001 10.0.0.9
    )


def test_no_as4_attributes_when_every_as_fits_two_octets() -> None:
    attrs = PathAttributes(as_path=(seq(65001, 65002),), aggregator=(65001, h("0a000009")))
    assert encode_path_attributes(attrs, OLD) == h(
        "40 01 01 00", "40 02 06 02 02 fde9 fdea", "c0 07 06 fde9 0a000009"
    )


def test_long_segments_are_split_at_255() -> None:
    attrs = PathAttributes(as_path=(seq(*range(1, 301)),))
    new = EncodeContext(as4=True, add_path_send=frozenset(), max_message_len=4096, local_asn=1)
    encoded = encode_path_attributes(attrs, new)
    assert encoded[4:8] == h("50 02 04b4")  # extended length: 2 + 255*4 + 2 + 45*4 = 1204
    decoded = UpdateDecoder(IBGP).decode(
        update_body("", encoded.hex() + NEXT_HOP_10_0_0_1, NLRI_10_0_0_0_24)
    )
    assert decoded.attributes is not None
    assert decoded.attributes.as_path == (seq(*range(1, 256)), seq(*range(256, 301)))
    assert decoded.attributes.as_path_length() == 300
    assert decoded.announced[0].family == IPV4_UNICAST


def test_path_helpers() -> None:
    confed = AsPathSegment(type=SegmentType.AS_CONFED_SET, asns=(1, 2))
    attrs = PathAttributes(as_path=(seq(65001, 65002), aset(1, 2, 3), confed))
    assert attrs.as_path_length() == 3
    assert attrs.neighbor_as() == 65001
    assert attrs.as_path_asns() == (65001, 65002, 1, 2, 3, 1, 2)
    assert PathAttributes(as_path=(aset(1),)).neighbor_as() is None
    assert attrs.replace(med=5).med == 5

"""The one AS_PATH prepend rule (RFC 4271 §5.1.2): fold into a leading AS_SEQUENCE with room."""

from __future__ import annotations

from bgpd.wire.attributes import MAX_SEGMENT_ASNS, new_segment, prepend_asn
from bgpd.wire.constants import SegmentType

SEQ, SET = SegmentType.AS_SEQUENCE, SegmentType.AS_SET


def test_an_empty_path_gets_one_sequence() -> None:
    assert prepend_asn((), 65000) == (new_segment(SEQ, (65000,)),)


def test_folds_into_a_leading_sequence() -> None:
    path = (new_segment(SEQ, (65001, 65002)), new_segment(SET, (1, 2)))
    assert prepend_asn(path, 65000) == (
        new_segment(SEQ, (65000, 65001, 65002)),
        new_segment(SET, (1, 2)),
    )


def test_a_leading_set_or_a_full_sequence_gets_a_new_sequence() -> None:
    leading_set = (new_segment(SET, (1, 2)),)
    assert prepend_asn(leading_set, 65000) == (new_segment(SEQ, (65000,)), *leading_set)
    full = (new_segment(SEQ, tuple(range(1, MAX_SEGMENT_ASNS + 1))),)
    assert prepend_asn(full, 65000) == (new_segment(SEQ, (65000,)), *full)
    room = (new_segment(SEQ, tuple(range(1, MAX_SEGMENT_ASNS))),)
    assert prepend_asn(room, 65000)[0].asns == (65000, *range(1, MAX_SEGMENT_ASNS))

"""`new_path_info` and `new_candidate` build the same values the dataclass constructors do."""

from __future__ import annotations

from bgpd.rib.candidate import Candidate, new_candidate
from bgpd.rib.path_info import PathInfo, new_path_info
from bgpd.rib.source import Source, SourceKind
from bgpd.wire.attributes import PathAttributes


def test_new_path_info_equals_the_constructed_one() -> None:
    attrs = PathAttributes(med=5)
    for origin in ("", "peer"):
        fast = new_path_info(attrs, b"\x0a\x00\x00\x01", origin)
        built = PathInfo(attributes=attrs, next_hop=b"\x0a\x00\x00\x01", origin=origin)
        assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert new_path_info(attrs, b"").origin == ""


def test_new_candidate_equals_the_constructed_one() -> None:
    source = Source(name="p", kind=SourceKind.EBGP, peer_asn=65001)
    info = new_path_info(PathAttributes(med=5), b"\x0a\x00\x00\x01", "p")
    fast = new_candidate(source, info)
    built = Candidate(source=source, info=info)
    assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert fast.decision_keys() == built.decision_keys()  # the lazy slot works on both

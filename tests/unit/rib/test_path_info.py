"""`new_path_info` builds the same value the dataclass constructor does."""

from __future__ import annotations

from bgpd.rib.path_info import PathInfo, new_path_info
from bgpd.wire.attributes import PathAttributes


def test_new_path_info_equals_the_constructed_one() -> None:
    attrs = PathAttributes(med=5)
    for origin in ("", "peer"):
        fast = new_path_info(attrs, b"\x0a\x00\x00\x01", origin)
        built = PathInfo(attributes=attrs, next_hop=b"\x0a\x00\x00\x01", origin=origin)
        assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert new_path_info(attrs, b"").origin == ""

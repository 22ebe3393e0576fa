"""One session's decoded attribute sets share their ASNs and next hops (memory per set)."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.wire import attr_decode
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.codec import EncodeContext, UpdateDecoder, encode_path_attributes, pack_announcements
from bgpd.wire.constants import SegmentType
from bgpd.wire.framing import MessageReader
from tests.unit.wire.helpers import negotiated


def _decoded(
    decoder: UpdateDecoder, path: tuple[int, ...], med: int, last: int = 1
) -> PathAttributes:
    """The attribute set `decoder` makes of an UPDATE with this AS path, MED and next hop."""
    ctx = EncodeContext(as4=True, add_path_send=frozenset(), max_message_len=4096, local_asn=65001)
    hop = bytes((10, 0, 0, last))
    attrs = PathAttributes(
        as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=path),), next_hop=hop, med=med
    )
    encoded = encode_path_attributes(attrs, ctx)
    (message,) = pack_announcements(ctx, IPV4_UNICAST, encoded, hop, [pack_prefix("10.1.0.0/16")])
    ((_, body),) = MessageReader(4096).feed(message)
    update = decoder.decode(body)
    assert update.attributes is not None and not update.problems
    assert update.attributes.as_path[0].asns == path  # the values are what was sent
    return update.attributes


def test_sets_decoded_by_one_session_share_their_asns_and_next_hop() -> None:
    decoder = UpdateDecoder(negotiated(as4=True))
    first = _decoded(decoder, (65001, 4200000001, 70000), med=1)
    second = _decoded(decoder, (65001, 70000), med=2)  # another set: decoded, not a cache hit
    assert first is not second
    a, b = first.as_path[0].asns, second.as_path[0].asns
    assert a[0] is b[0] and a[2] is b[1]
    assert first.next_hop is second.next_hop


def test_the_shared_values_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attr_decode, "INTERNED_LIMIT", 2)
    decoder = UpdateDecoder(negotiated(as4=True))
    interned = decoder._interned
    for i in range(10):
        _decoded(decoder, (70000 + i,), med=i, last=i)
        assert len(interned.asns) <= 2
        assert len(interned.hops) <= 2
    assert 70009 in interned.asns  # still sharing after starting over

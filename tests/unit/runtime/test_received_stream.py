"""`--received` is streamed as the object bgpctl reads (`{"peer", "accepted", "rejected",
"note"}`): its two lists are written a chunk of rows at a time, byte for byte the line of the
whole answer, and a peer's refused prefixes are sorted a chunk a step (runs merged as they
go), never in one sort of the whole set."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest

from bgpd.control.protocol import RowStream, encode_reply, reply_pieces
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, Nlri, format_prefix
from bgpd.rib import LocRib
from bgpd.runtime.control_dispatch import listing_stream
from bgpd.speaker import route_answers, steps
from bgpd.speaker.route_answers import RECEIVED_NOTE, ReceivedRows, answer_chunks
from bgpd.speaker.route_query import RouteQuery, sort_key
from bgpd.speaker.steps import finish
from tests.unit.rib.helpers import cand, source

CHUNK = 7


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steps, "WALK_CHUNK", CHUNK)
    monkeypatch.setattr(route_answers, "VIEW_CHUNK", CHUNK)


def table() -> tuple[LocRib, set[tuple[Family, Nlri]]]:
    """p1's 20 accepted routes and 40 refused prefixes (30 IPv4, 10 IPv6), in no order."""
    rib = LocRib()
    accepted = [bytes((24, 10, 8, i)) for i in reversed(range(20))]
    rib.announce_many(IPV4_UNICAST, accepted, cand(source("p1")))
    refused = [(IPV4_UNICAST, bytes((24, 10, 9, i))) for i in range(30)]
    refused += [(IPV6_UNICAST, bytes((48, 0x20, 0x01, 0x0D, 0xB8, 0, i))) for i in range(10)]
    random.Random(17).shuffle(refused)
    return rib, set(refused)


def streamed(query: RouteQuery, rib: LocRib, rejected: set[tuple[Family, Nlri]]) -> bytes:
    peers = {"p1": SimpleNamespace(rejected=rejected)}
    listing = answer_chunks(query, rib, peers, lambda _n: None)  # type: ignore[arg-type]
    assert isinstance(listing, ReceivedRows)
    reply = listing_stream(listing)
    assert isinstance(reply, RowStream)

    async def read() -> bytes:
        return b"".join([piece async for piece in reply_pieces(reply)])

    return asyncio.run(read())


@pytest.mark.parametrize(
    "args",
    [{}, {"prefix": "10.0.0.0/8", "longer": True}, {"prefix": "10.9.4.0/24"}, {"for": "10.8.3.1"}],
)
def test_the_streamed_object_is_the_whole_answer_line(args: dict[str, object]) -> None:
    rib, rejected = table()
    query = RouteQuery.from_args({"peer": "p1", "received": True, **args})
    whole = route_answers.answer(
        query, rib, {"p1": SimpleNamespace(rejected=rejected)}, lambda _n: None
    )  # type: ignore[dict-item]
    assert streamed(query, rib, rejected) == encode_reply(whole.to_json())  # type: ignore[union-attr]


def test_refused_prefixes_come_sorted_in_steps_of_a_chunk() -> None:
    rib, rejected = table()
    query = RouteQuery(peer="p1", received=True)
    chunks = list(route_answers.rejected_chunks(query, rejected))
    shown = [row for chunk in chunks for row in chunk]
    expected = sorted(rejected, key=lambda r: (r[0], sort_key(r[1])))
    assert shown == expected  # per family, in address order
    assert max(len(chunk) for chunk in chunks) <= CHUNK
    assert len(chunks) >= 40 // CHUNK + 40 // CHUNK  # split and sorted, then merged, in steps
    found = finish(route_answers.received(query, rib, "p1", rejected))
    assert found.note == RECEIVED_NOTE
    assert [(r.family, r.prefix) for r in found.rejected] == [
        (str(f), format_prefix(n, f.afi)) for f, n in expected
    ]
    assert [v.prefix for v in found.accepted] == [f"10.8.{i}.0/24" for i in range(20)]

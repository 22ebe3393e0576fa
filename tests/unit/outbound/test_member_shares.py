"""`MemberShares`: every member's share of a batch is exactly the messages `for_member` admits
for it, in order, with their counts (what selecting them one by one per member gave), and it
is made of the batch's bytes joined once: slices of them, never a copy per member."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bgpd.outbound.adj_out import GroupMessage
from bgpd.outbound.shares import MemberShares, joined

NAMES = ("", "a", "b", "c")


@st.composite
def batches(draw: st.DrawFn) -> list[GroupMessage]:
    shared = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 3)), max_size=8))
    onlys = draw(st.lists(st.tuples(st.sampled_from(NAMES[1:]), st.integers(0, 3)), max_size=3))
    messages = []
    for n, (skip, kind) in enumerate(shared):
        data = bytes([n]) * (n + 1)
        messages.append(GroupMessage(data, skip, "", n, kind, 1 + kind % 2, kind // 2))
    for n, (only, kind) in enumerate(onlys):
        messages.append(GroupMessage(bytes([100 + n]) * 2, "", only, 0, n + 1, 1, kind))
    return messages


@given(batches())
def test_each_share_is_the_messages_for_the_member(messages: list[GroupMessage]) -> None:
    shares = MemberShares(messages)
    for name in (*NAMES[1:], "d"):
        mine = [m for m in messages if m.for_member(name)]
        expected = joined(mine) if mine else ((), 0, 0, 0, 0)
        got = shares.share(name) if shares.tagged(name) else shares.everyone
        assert got[1:] == expected[1:]
        assert b"".join(got[0]) == b"".join(expected[0])
        blob = shares.everyone[0][0] if shares.everyone[0] else None
        for chunk in got[0]:
            assert chunk  # no empty pieces
            if isinstance(chunk, memoryview):
                assert chunk.obj is blob  # a slice of the one joined blob
            else:
                assert chunk is blob or any(chunk is m.data for m in messages if m.only)
        assert shares.tagged(name) == any(name in (m.skip, m.only) for m in messages)

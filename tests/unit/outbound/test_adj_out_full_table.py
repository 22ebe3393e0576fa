"""A joining member's table (`AdjRibOut.full_table`), served from the messages kept per origin:
after any sequence of announcements, replacements, withdrawals and withheld paths, in either
family, with or without ADD-PATH, a member joining now is sent exactly the table minus its own
entries, each once (what a walk of the table gave before the messages were kept). The same
as `table_share`: slices of the kept messages joined once, shared by every joining member."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, pack_prefix
from bgpd.outbound import adj_out
from bgpd.outbound.adj_out import AdjRibOut, GroupMessage
from bgpd.rib.path_info import PathInfo
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.codec import UpdateDecoder
from bgpd.wire.framing import MessageReader
from bgpd.wire.negotiated import EncodeContext, Negotiated

ORIGINS = ("", "a", "b", "c")
MEMBERS = ("a", "b", "c", "d")
FAMILIES = frozenset({IPV4_UNICAST, IPV6_UNICAST})


def negotiated(*, add_path: bool) -> Negotiated:
    return Negotiated(
        local_asn=64512,
        peer_asn=64512,
        peer_router_id=1,
        hold_time=90,
        as4=True,
        families=FAMILIES,
        extended_message=False,
        add_path_send=FAMILIES if add_path else frozenset(),
        add_path_receive=FAMILIES if add_path else frozenset(),
    )


def make_path(family: Family, origin: str, variant: int) -> PathInfo:
    """`variant` 9 is too big for a message (withheld); the others differ by MED."""
    v4 = family == IPV4_UNICAST
    hop = bytes((10, 0, 0, 1 + ORIGINS.index(origin))) if v4 else bytes(15) + b"\x01"
    communities = tuple(range(1100)) if variant == 9 else ()
    attrs = PathAttributes(
        next_hop=hop if v4 else None, local_pref=100, med=variant, communities=communities
    )
    return PathInfo(attributes=attrs, next_hop=hop, origin=origin)


def prefix_key(family: Family, index: int, path_id: int | None) -> bytes:
    text = f"10.{index}.0.0/16" if family == IPV4_UNICAST else f"2001:db8:{index:x}::/48"
    head = b"" if path_id is None else path_id.to_bytes(4, "big")
    return head + pack_prefix(text)


def received(n: Negotiated, family: Family, messages: list[GroupMessage]) -> list[tuple]:
    """Every (key, MED, next hop) the messages announce, in order (keys may repeat)."""
    decoder = UpdateDecoder(n)
    out: list[tuple] = []
    for message in messages:
        assert not message.withdrawn
        for _, body in MessageReader(65535).feed(message.data):
            update = decoder.decode(body)
            assert not update.problems and not update.withdrawn
            for batch in update.announced:
                assert batch.family == family
                ids = batch.path_ids or (None,) * len(batch.prefixes)
                for nlri, path_id in zip(batch.prefixes, ids, strict=True):
                    head = b"" if path_id is None else path_id.to_bytes(4, "big")
                    assert update.attributes is not None
                    out.append((head + nlri, update.attributes.med, batch.next_hop))
    return out


# One step: (family index, prefix index, path id, origin index, variant; -1 withdraws)
_step = st.tuples(
    st.integers(0, 1),
    st.integers(0, 11),
    st.integers(1, 2),
    st.integers(0, len(ORIGINS) - 1),
    st.integers(-1, 9),
)


@settings(max_examples=150, deadline=None)
@given(
    add_path=st.booleans(),
    batches=st.lists(st.lists(_step, min_size=1, max_size=12), min_size=1, max_size=10),
    # 2: most origins are "big" and keep their messages only from a join on
    keep_limit=st.sampled_from((adj_out.KEEP_UNASKED_LIMIT, 2)),
)
def test_a_joining_member_gets_exactly_the_table_minus_its_own(
    add_path: bool, batches: list[list[tuple[int, int, int, int, int]]], keep_limit: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(adj_out, "KEEP_UNASKED_LIMIT", keep_limit)
        _check_joins(add_path, batches)


def _check_joins(add_path: bool, batches: list[list[tuple[int, int, int, int, int]]]) -> None:
    n = negotiated(add_path=add_path)
    ctx = EncodeContext.from_negotiated(n)
    adj = AdjRibOut()
    families = sorted(FAMILIES)
    paths: dict[tuple[Family, str, int], PathInfo] = {}  # shared objects, as the exporter's
    for batch in batches:
        changes: dict[Family, dict[bytes, PathInfo | None]] = {}
        for fam, index, path_id, origin, variant in batch:
            family = families[fam]
            key = prefix_key(family, index, path_id if add_path else None)
            if variant < 0:
                changes.setdefault(family, {})[key] = None
                continue
            info = paths.setdefault(
                (family, ORIGINS[origin], variant),
                make_path(family, ORIGINS[origin], variant),
            )
            changes.setdefault(family, {})[key] = info
        for family, change in changes.items():
            adj.apply(ctx, family, change, MEMBERS)
        # Every member joining now (and again: the kept messages are reused).
        for family in families:
            table = adj.table(family)
            for member in MEMBERS:
                expected = sorted(
                    (key, info.attributes.med, info.next_hop)
                    for key, info in table.items()
                    if info.origin != member
                )
                # The shared join first: it must pack what no message is kept for on its own
                # (our own routes' origin is "", which is no member's name).
                shared = b"".join(adj.table_share(ctx, family, member)[0][0])
                shared_message = GroupMessage(shared)
                assert sorted(received(n, family, [shared_message])) == expected
                for _ in range(2):
                    got = received(n, family, adj.full_table(ctx, family, member))
                    assert sorted(got) == expected
                assert_table_share(adj, ctx, family, member)
            # Every member's table is cut from the same bytes, joined once per table.
            blobs = {
                id(chunk.obj if isinstance(chunk, memoryview) else chunk)
                for member in MEMBERS
                for chunk in adj.table_share(ctx, family, member)[0][0]
            }
            assert len(blobs) <= 1


def assert_table_share(adj: AdjRibOut, ctx: EncodeContext, family: Family, member: str) -> None:
    """`table_share` is `full_table` as one member's share: the same bytes, counts, withheld."""
    messages = adj.full_table(ctx, family, member)
    (chunks, announced, withdrawn, count, withheld), told = adj.table_share(ctx, family, member)
    assert b"".join(chunks) == b"".join(m.data for m in messages)
    assert announced == sum(m.announced for m in messages)
    assert (withdrawn, count) == (0, sum(m.count for m in messages))
    assert withheld == sum(m.withheld for m in messages)
    assert (told is not None) == any(m.withheld for m in messages)


def test_the_kept_messages_are_the_ones_sent_and_a_copy_packs_its_own() -> None:
    n = negotiated(add_path=False)
    ctx = EncodeContext.from_negotiated(n)
    adj = AdjRibOut()
    a, b = make_path(IPV4_UNICAST, "a", 1), make_path(IPV4_UNICAST, "b", 1)
    sent = adj.apply(ctx, IPV4_UNICAST, {prefix_key(IPV4_UNICAST, i, None): a for i in range(3)})
    sent += adj.apply(ctx, IPV4_UNICAST, {prefix_key(IPV4_UNICAST, 5, None): b})
    # No walk of the table: the join is the announcements already sent, minus its own.
    assert adj.full_table(ctx, IPV4_UNICAST, "b") == [m for m in sent if m.skip == "a"]
    assert adj.full_table(ctx, IPV4_UNICAST, "c") == sent
    other = adj.copy()
    assert sorted(received(n, IPV4_UNICAST, other.full_table(ctx, IPV4_UNICAST, "c"))) == sorted(
        received(n, IPV4_UNICAST, sent)
    )


def test_a_big_origin_keeps_its_messages_only_once_a_member_joined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full feed forwarded with no join since holds no copy of its UPDATEs; the first join
    packs them from the table and they are kept (and extended) from then on."""
    monkeypatch.setattr(adj_out, "KEEP_UNASKED_LIMIT", 3)
    n = negotiated(add_path=False)
    ctx = EncodeContext.from_negotiated(n)
    adj = AdjRibOut()
    a, b = make_path(IPV4_UNICAST, "a", 1), make_path(IPV4_UNICAST, "b", 1)
    key = [prefix_key(IPV4_UNICAST, i, None) for i in range(8)]
    adj.apply(ctx, IPV4_UNICAST, dict.fromkeys(key[:2], a))
    adj.apply(ctx, IPV4_UNICAST, dict.fromkeys(key[2:3], b))
    kept = adj._by_origin[IPV4_UNICAST]
    assert set(kept) == {"a", "b"}  # small origins: kept as sent
    adj.apply(ctx, IPV4_UNICAST, dict.fromkeys(key[3:5], a))
    assert set(kept) == {"b"}  # "a" grew past the limit: its messages are let go
    everything = {(k, 1, a.next_hop) for k in key[:5] if k != key[2]}
    assert set(received(n, IPV4_UNICAST, adj.full_table(ctx, IPV4_UNICAST, "b"))) == everything
    assert set(kept) == {"a", "b"}  # packed for the join, kept from now on
    adj.apply(ctx, IPV4_UNICAST, {key[5]: a})
    assert len(kept["a"]) == 2
    everything.add((key[5], 1, a.next_hop))
    joined = adj.full_table(ctx, IPV4_UNICAST, "b")
    assert set(received(n, IPV4_UNICAST, joined)) == everything
    assert [m for m in joined if m.skip == "a"] == kept["a"]  # no walk of the table this time

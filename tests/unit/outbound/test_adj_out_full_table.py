"""A joining member's table (`AdjRibOut.full_table`), packed again only for the origins whose
entries changed since it was last asked for: always what a fresh packing of the table gives."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, pack_prefix
from bgpd.outbound.adj_out import AdjRibOut, GroupMessage
from bgpd.rib.path_info import PathInfo
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.negotiated import EncodeContext, Negotiated

ORIGINS = ("", "c1", "c2", "c3")


def context() -> EncodeContext:
    families = frozenset({IPV4_UNICAST, IPV6_UNICAST})
    return EncodeContext.from_negotiated(
        Negotiated(
            local_asn=64512,
            peer_asn=64512,
            peer_router_id=1,
            hold_time=90,
            as4=True,
            families=families,
        )
    )


def path(origin: str, med: int, family: Family) -> PathInfo:
    v4 = family == IPV4_UNICAST
    hop = bytes((10, 0, 0, ORIGINS.index(origin) + 1)) if v4 else bytes(15) + b"\x01"
    attrs = PathAttributes(next_hop=hop if v4 else None, local_pref=100, med=med)
    return PathInfo(attributes=attrs, next_hop=hop, origin=origin)


def fresh(adj: AdjRibOut, ctx: EncodeContext, family: Family, member: str) -> dict[str, bytes]:
    """The same table packed with nothing kept (a copy starts with no packing)."""
    return by_skip(adj.copy().full_table(ctx, family, member))


def by_skip(messages: list[GroupMessage]) -> dict[str, bytes]:
    return {m.skip: m.data for m in messages}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), family=st.sampled_from([IPV4_UNICAST, IPV6_UNICAST]))
def test_the_kept_packing_follows_every_change(seed: int, family: Family) -> None:
    rng = random.Random(seed)
    ctx = context()
    adj = AdjRibOut()
    paths = [path(o, med, family) for o in ORIGINS for med in range(2)]
    prefix = "10.{}.{}.0/24" if family == IPV4_UNICAST else "2001:db8:{}:{}::/64"
    keys = [pack_prefix(prefix.format(i, j)) for i in range(3) for j in range(8)]
    for _round in range(rng.randint(1, 12)):
        changes: dict[bytes, PathInfo | None] = {}
        for key in rng.sample(keys, rng.randint(1, len(keys))):
            changes[key] = rng.choice([*paths, None])
        adj.apply(ctx, family, changes, members=ORIGINS[1:])
        member = rng.choice(ORIGINS)
        got = adj.full_table(ctx, family, member)
        assert by_skip(got) == fresh(adj, ctx, family, member)
        assert member not in by_skip(got) or member == ""
        announced = sum(m.announced for m in got)
        held = sum(1 for info in adj.table(family).values() if info.origin != member)
        assert announced == held


def test_a_join_after_one_origin_changed_repacks_that_origin_only() -> None:
    ctx = context()
    adj = AdjRibOut()
    family = IPV4_UNICAST
    a, b = path("c1", 0, family), path("c2", 0, family)
    adj.apply(ctx, family, {pack_prefix(f"10.1.{i}.0/24"): a for i in range(50)})
    adj.apply(ctx, family, {pack_prefix(f"10.2.{i}.0/24"): b for i in range(50)})
    first = adj.full_table(ctx, family, "c3")
    c1_message = next(m for m in first if m.skip == "c1")
    adj.apply(ctx, family, {pack_prefix("10.2.99.0/24"): b})
    second = adj.full_table(ctx, family, "c3")
    # c1's packing is the very object kept from before; c2's was packed again, with the route.
    assert next(m for m in second if m.skip == "c1") is c1_message
    assert next(m for m in second if m.skip == "c2").announced == 51

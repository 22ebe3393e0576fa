"""Reconciliation: desired x observed -> operations (only ours are touched, no churn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.kernel import KernelRoute, NextHop, Op, RouteId, RouteKey, matches, plan
from bgpd.kernel.kernel_route import RouteKind
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST


def r(
    prefix: str,
    *gws: str,
    proto: int = 12,
    dev: str | None = None,
    metric: int = 0,
    kind: RouteKind = "unicast",
    onlink: bool = False,
) -> KernelRoute:
    family = IPV6_UNICAST if ":" in prefix else IPV4_UNICAST
    return KernelRoute(
        family=family,
        prefix=prefix,
        kind=kind,
        nexthops=tuple(NextHop(gateway=g, ifname=dev, onlink=onlink) for g in gws),
        protocol=proto,
        metric=metric,
    )


def table(*routes: KernelRoute) -> dict[RouteKey, tuple[KernelRoute, ...]]:
    out: dict[RouteKey, tuple[KernelRoute, ...]] = {}
    for route in routes:
        out[route.key] = (*out.get(route.key, ()), route)
    return out


def want(*routes: KernelRoute) -> dict[RouteKey, KernelRoute]:
    return {route.key: route for route in routes}


def kinds(ops: list[Op]) -> list[tuple[str, str]]:
    return [(op.kind, op.route.prefix) for op in ops]


def test_matches_ignores_order_and_resolved_devices() -> None:
    desired = r("10.1.0.0/24", "10.0.0.2", "10.0.0.3")
    kernel = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.1.0.0/24",
        nexthops=(
            NextHop(gateway="10.0.0.3", ifname="eth0"),
            NextHop(gateway="10.0.0.2", ifname="eth0"),
        ),
    )
    assert matches(desired, kernel)
    assert not matches(
        r("10.1.0.0/24", "10.0.0.2", dev="tunl0", onlink=True),
        r("10.1.0.0/24", "10.0.0.2", dev="tunl0"),
    )  # onlink differs
    assert not matches(
        r("10.1.0.0/24", "10.0.0.2", dev="tunl0", onlink=True),
        r("10.1.0.0/24", "10.0.0.2", dev="eth0", onlink=True),
    )  # device differs
    assert not matches(desired, r("10.1.0.0/24", "10.0.0.2"))
    assert not matches(r("10.1.0.0/24", kind="blackhole"), r("10.1.0.0/24", kind="unreachable"))
    # A wildcard must not steal the only next hop a specific one fits.
    specific_last = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.1.0.0/24",
        nexthops=(NextHop(gateway="10.0.0.2"), NextHop(gateway="10.0.0.2", ifname="eth0")),
    )
    kernel2 = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.1.0.0/24",
        nexthops=(
            NextHop(gateway="10.0.0.2", ifname="eth0"),
            NextHop(gateway="10.0.0.2", ifname="eth1"),
        ),
    )
    assert matches(specific_last, kernel2)


def test_plan_cases() -> None:
    same = r("10.1.0.0/24", "10.0.0.2")
    changed = r("10.2.0.0/24", "10.0.0.3")
    new = r("10.3.0.0/24", "10.0.0.2")
    blocked = r("10.4.0.0/24", "10.0.0.2")
    other_metric = r("10.5.0.0/24", "10.0.0.2")
    observed = table(
        r("10.1.0.0/24", "10.0.0.2", dev="eth0"),  # the kernel names the device
        r("10.2.0.0/24", "10.0.0.2", dev="eth0"),
        r("10.4.0.0/24", "10.0.0.9", proto=80),  # Felix's: never touched
        r("10.5.0.0/24", "10.0.0.9", proto=80, metric=100),  # another metric: no conflict
        r("10.6.0.0/24", "10.0.0.2"),  # ours, not desired
        r("10.7.0.0/24", "10.0.0.2", proto=3),  # alien, not desired: left alone
        r("10.1.0.0/24", "10.0.0.2", metric=32),  # ours at a metric we no longer use
    )
    ops = plan(want(same, changed, new, blocked, other_metric), observed)
    assert sorted(kinds(ops)[:3]) == [
        ("add", "10.3.0.0/24"),
        ("add", "10.5.0.0/24"),
        ("replace", "10.2.0.0/24"),
    ]
    # Deletes come last (make before break) and carry the observed route (its metric).
    assert sorted((op.kind, op.route.prefix, op.route.metric) for op in ops[3:]) == [
        ("delete", "10.1.0.0/24", 32),
        ("delete", "10.6.0.0/24", 0),
    ]


def test_keep_protects_adopted_routes_and_keys_limit_the_work() -> None:
    observed = table(r("10.6.0.0/24", "10.0.0.2"), r("10.8.0.0/24", "10.0.0.2"))
    keep: set[RouteId] = {(IPV4_UNICAST, "10.6.0.0/24", 0)}
    assert kinds(plan({}, observed, keep=keep)) == [("delete", "10.8.0.0/24")]
    assert plan({}, observed, keys=[(IPV4_UNICAST, "10.6.0.0/24")], keep=keep) == []
    assert kinds(plan({}, observed, keys=[(IPV4_UNICAST, "10.6.0.0/24")])) == [
        ("delete", "10.6.0.0/24")
    ]
    # A kept route that becomes desired differently is replaced in place.
    ops = plan(
        want(r("10.6.0.0/24", "10.0.0.3")),
        observed,
        keys=[(IPV4_UNICAST, "10.6.0.0/24")],
        keep=keep,
    )
    assert kinds(ops) == [("replace", "10.6.0.0/24")]
    # Another protocol number makes other routes "ours".
    assert kinds(plan({}, table(r("10.9.0.0/24", "10.0.0.2", proto=80)), protocol=80)) == [
        ("delete", "10.9.0.0/24")
    ]


# -- property: applying the plan to a kernel converges, and only ours change ---------------

PREFIXES = [f"10.{i}.0.0/24" for i in range(6)] + ["fd00:1::/64", "fd00:2::/64"]
GATEWAYS = {4: ["10.0.0.2", "10.0.0.3"], 6: ["fd00::2", "fd00::3"]}


@st.composite
def kernel_route(draw: st.DrawFn, protocol: int | None = None) -> KernelRoute:
    prefix = draw(st.sampled_from(PREFIXES))
    version = 6 if ":" in prefix else 4
    proto = protocol if protocol is not None else draw(st.sampled_from([12, 12, 3, 80]))
    if draw(st.booleans()):
        return r(prefix, proto=proto, kind="blackhole", metric=draw(st.sampled_from([0, 32])))
    gws = draw(st.lists(st.sampled_from(GATEWAYS[version]), min_size=1, max_size=2, unique=True))
    return r(prefix, *gws, proto=proto, metric=draw(st.sampled_from([0, 32])))


def simulate(kernel: dict[RouteId, KernelRoute], ops: Sequence[Op]) -> None:
    """The kernel's semantics for our operations (one route per id and table)."""
    for op in ops:
        rid = op.route.id
        if op.kind == "add":
            assert rid not in kernel, f"add over an existing route: {op}"
            kernel[rid] = op.route
        elif op.kind == "replace":
            assert kernel[rid].protocol == op.route.protocol, f"replaced an alien: {op}"
            kernel[rid] = op.route
        else:
            assert kernel[rid].protocol == op.route.protocol, f"deleted an alien: {op}"
            del kernel[rid]


def as_table(kernel: Mapping[RouteId, KernelRoute]) -> dict[RouteKey, tuple[KernelRoute, ...]]:
    return table(*kernel.values())


@settings(max_examples=200, deadline=None)
@given(
    existing=st.lists(kernel_route(), max_size=10),
    desired_routes=st.lists(kernel_route(protocol=12), max_size=8),
    keep_some=st.booleans(),
)
def test_plan_converges_and_touches_only_ours(
    existing: list[KernelRoute], desired_routes: list[KernelRoute], keep_some: bool
) -> None:
    kernel = {route.id: route for route in existing}
    aliens = {rid: route for rid, route in kernel.items() if route.protocol != 12}
    desired = want(*desired_routes)
    keep = {rid for rid, route in kernel.items() if route.protocol == 12} if keep_some else set()
    ops = plan(desired, as_table(kernel), keep=keep)
    simulate(kernel, ops)
    assert {rid: rt for rid, rt in kernel.items() if rt.protocol != 12} == aliens
    for _key, route in desired.items():
        holder = kernel.get(route.id)
        assert holder is not None
        assert holder.protocol != 12 or matches(route, holder)
    for rid, route in kernel.items():
        if route.protocol == 12 and rid not in keep:
            assert desired.get(route.key) is not None and desired[route.key].id == rid
    # Idempotent: once applied, nothing is left to do (no churn).
    assert plan(desired, as_table(kernel), keep=keep) == []
    # The incremental form agrees with the full one on the keys it is given.
    assert plan(desired, as_table(kernel), keys=list(desired), keep=keep) == []


def test_a_full_plan_writes_in_the_order_the_destinations_were_desired() -> None:
    """The whole table planned at once (start, convergence, resync) comes out in the desired
    view's own order, a best path's prefixes together, then our routes that are no longer
    desired: the kernel's cost per write depends on it (it finds the shared next-hop entry
    of the gateway it used last at once, one used long ago after a long walk)."""
    desired: dict[RouteKey, KernelRoute] = {}
    for node in range(40):
        for block in range(6):
            route = KernelRoute(
                family=IPV4_UNICAST,
                prefix=f"10.{node}.{block}.0/26",
                nexthops=(NextHop(gateway=f"172.31.1.{node}"),),
            )
            desired[route.key] = route
    stale = KernelRoute(
        family=IPV4_UNICAST, prefix="10.99.0.0/26", nexthops=(NextHop(gateway="172.31.9.9"),)
    )
    ops = plan(desired, {stale.key: (stale,)})
    assert [op.route for op in ops] == [*desired.values(), stale]
    assert [op.kind for op in ops] == ["add"] * len(desired) + ["delete"]

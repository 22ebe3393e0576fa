"""The export rules as a table: who receives what (RFC 4271 §9.2, RFC 4456 §6) and the loop
checks (RFC 4456 §8)."""

from __future__ import annotations

import pytest

from bgpd.outbound.advertise import PeerProfile, export_path, may_advertise
from bgpd.policy.reflection import LoopCheck, reflection_loop
from bgpd.rib import PathInfo, Source, SourceKind
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.constants import SegmentType

CLUSTER = 0x0AFF0001


def source(kind: SourceKind, *, client: bool = False) -> Source:
    return Source(name="from", kind=kind, router_id=0x0A000005, rr_client=client)


def profile(*, ibgp: bool, client: bool = False, reflector: bool = False) -> PeerProfile:
    return PeerProfile(
        ibgp=ibgp,
        local_asn=64512,
        next_hop_v4=bytes([10, 0, 0, 1]),
        next_hop_v6=b"",
        rr_client=client,
        cluster_id=CLUSTER if reflector else None,
    )


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        # Not a reflector: plain RFC 4271.
        (source(SourceKind.IBGP), profile(ibgp=True), False),
        (source(SourceKind.IBGP), profile(ibgp=False), True),
        (source(SourceKind.EBGP), profile(ibgp=True), True),
        (source(SourceKind.STATIC), profile(ibgp=True), True),
        # A reflector: a client's route goes to clients and non-clients ...
        (
            source(SourceKind.IBGP, client=True),
            profile(ibgp=True, client=True, reflector=True),
            True,
        ),
        (source(SourceKind.IBGP, client=True), profile(ibgp=True, reflector=True), True),
        # ... a non-client's only to clients.
        (source(SourceKind.IBGP), profile(ibgp=True, client=True, reflector=True), True),
        (source(SourceKind.IBGP), profile(ibgp=True, reflector=True), False),
        (source(SourceKind.EBGP), profile(ibgp=True, reflector=True), True),
    ],
)
def test_who_receives_what(src: Source, dst: PeerProfile, expected: bool) -> None:
    assert may_advertise(src, "to", dst) is expected


def test_nothing_is_echoed_to_its_sender() -> None:
    src = source(SourceKind.IBGP, client=True)
    assert not may_advertise(src, "from", profile(ibgp=True, client=True, reflector=True))


def test_reflection_stamps_originator_and_cluster_list_and_keeps_the_next_hop() -> None:
    info = PathInfo(
        attributes=PathAttributes(next_hop=bytes([10, 0, 0, 5]), cluster_list=(7,)),
        next_hop=bytes([10, 0, 0, 5]),
    )
    out = export_path(
        info, source(SourceKind.IBGP, client=True), profile(ibgp=True, reflector=True), v6=False
    )
    assert out is not None
    assert out.attributes.originator_id == 0x0A000005
    assert out.attributes.cluster_list == (CLUSTER, 7)
    assert out.next_hop == bytes([10, 0, 0, 5])
    # An ORIGINATOR_ID already there is kept (RFC 4456 §8).
    info2 = PathInfo(attributes=info.attributes.replace(originator_id=99), next_hop=info.next_hop)
    out2 = export_path(
        info2, source(SourceKind.IBGP, client=True), profile(ibgp=True, reflector=True), v6=False
    )
    assert out2 is not None and out2.attributes.originator_id == 99
    # Toward eBGP, both attributes are stripped.
    out3 = export_path(info2, source(SourceKind.IBGP), profile(ibgp=False), v6=False)
    assert out3 is not None
    assert (out3.attributes.originator_id, out3.attributes.cluster_list) == (None, ())


def test_loop_checks() -> None:
    ours = PathAttributes(originator_id=42)
    assert reflection_loop(ours, router_id=42, cluster_id=None)
    through = PathAttributes(cluster_list=(5, CLUSTER))
    assert reflection_loop(through, router_id=1, cluster_id=CLUSTER)
    assert not reflection_loop(through, router_id=1, cluster_id=None)
    assert not reflection_loop(PathAttributes(originator_id=7), router_id=1, cluster_id=CLUSTER)


# --- next_hop_mode and the session's own AS (BIRD's `next hop self|keep`, `local as`) -------

OURS = bytes([10, 0, 0, 1])
THEIRS = bytes([10, 0, 0, 5])
STATIC_HOP = bytes([10, 0, 0, 9])


def mode_profile(
    *, ibgp: bool, mode: str, local_asn: int = 64512, reflector: bool = False
) -> PeerProfile:
    return PeerProfile(
        ibgp=ibgp,
        local_asn=local_asn,
        next_hop_v4=OURS,
        next_hop_v6=b"",
        next_hop_self=mode == "self",
        next_hop_keep=mode == "keep",
        cluster_id=CLUSTER if reflector else None,
    )


def learned(hop: bytes = THEIRS) -> PathInfo:
    return PathInfo(attributes=PathAttributes(as_path=as_path(65001), next_hop=hop), next_hop=hop)


def as_path(*asns: int) -> tuple[AsPathSegment, ...]:
    return (AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=asns),)


@pytest.mark.parametrize(
    ("kind", "ibgp", "mode", "hop"),
    [
        # auto: RFC 4271 §5.1.3
        (SourceKind.EBGP, False, "auto", OURS),
        (SourceKind.EBGP, True, "auto", THEIRS),
        (SourceKind.IBGP, False, "auto", OURS),
        (SourceKind.STATIC, False, "auto", STATIC_HOP),  # a static route's own next hop
        (SourceKind.KERNEL, True, "auto", OURS),
        # self: ours everywhere, toward iBGP and over a static route's own next hop too
        (SourceKind.EBGP, True, "self", OURS),
        (SourceKind.EBGP, False, "self", OURS),
        (SourceKind.STATIC, True, "self", OURS),
        # keep: a BGP next hop kept toward eBGP too; local routes as auto
        (SourceKind.EBGP, False, "keep", THEIRS),
        (SourceKind.IBGP, False, "keep", THEIRS),
        (SourceKind.EBGP, True, "keep", THEIRS),
        (SourceKind.STATIC, False, "keep", STATIC_HOP),
        (SourceKind.KERNEL, False, "keep", OURS),
    ],
)
def test_next_hop_under_each_mode(kind: SourceKind, ibgp: bool, mode: str, hop: bytes) -> None:
    local = kind in (SourceKind.STATIC, SourceKind.KERNEL)
    info = learned(STATIC_HOP if kind is SourceKind.STATIC else b"" if local else THEIRS)
    out = export_path(info, source(kind), mode_profile(ibgp=ibgp, mode=mode), v6=False)
    assert out is not None
    assert (out.next_hop, out.attributes.next_hop) == (hop, hop)


def test_self_rewrites_a_reflected_routes_next_hop() -> None:
    src = source(SourceKind.IBGP, client=True)
    for mode, hop in (("auto", THEIRS), ("self", OURS)):
        out = export_path(
            learned(), src, mode_profile(ibgp=True, mode=mode, reflector=True), v6=False
        )
        assert out is not None and out.next_hop == hop
        assert out.attributes.cluster_list == (CLUSTER,)  # still reflected


@pytest.mark.parametrize("mode", ["auto", "self", "keep"])
def test_toward_ebgp_only_the_sessions_local_as_is_prepended(mode: str) -> None:
    # BIRD's `local as 65100` on a node of AS 64512: the path gets 65100 alone.
    profile_ = mode_profile(ibgp=False, mode=mode, local_asn=65100)
    out = export_path(learned(), source(SourceKind.EBGP), profile_, v6=False)
    assert out is not None
    assert out.attributes.as_path_asns() == (65100, 65001)


def test_toward_ibgp_on_the_local_as_nothing_is_prepended() -> None:
    profile_ = mode_profile(ibgp=True, mode="auto", local_asn=65100)
    out = export_path(learned(), source(SourceKind.EBGP), profile_, v6=False)
    assert out is not None
    assert out.attributes.as_path_asns() == (65001,)
    assert out.attributes.local_pref == 100


@pytest.mark.parametrize("allowed", [0, 1, 3])
def test_the_loop_check_allows_our_as_n_times_and_refuses_n_plus_one(allowed: int) -> None:
    check = LoopCheck(65100, 1, None, allowed)
    at_n = PathAttributes(as_path=as_path(65001, *([65100] * allowed)))
    over = PathAttributes(as_path=as_path(65001, *([65100] * (allowed + 1))))
    assert not check(at_n)
    assert check(over)
    # only the session's own AS is looked for (BIRD): another of ours passes
    assert not check(PathAttributes(as_path=as_path(65001, 64512, 64512, 64512, 64512)))

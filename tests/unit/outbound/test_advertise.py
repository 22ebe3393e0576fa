"""The export rules as a table: who receives what (RFC 4271 §9.2, RFC 4456 §6) and the loop
checks (RFC 4456 §8)."""

from __future__ import annotations

import pytest

from bgpd.outbound.advertise import PeerProfile, export_path, may_advertise
from bgpd.policy.reflection import reflection_loop
from bgpd.rib import PathInfo, Source, SourceKind
from bgpd.wire.attributes import PathAttributes

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

"""RFC 4456 in its one home (`bgpd.policy.reflection`): the client/non-client matrix, the
reflected attributes and the import loop checks, tested directly (the export table in
tests/unit/outbound/test_advertise.py covers them through `bgpd.outbound.advertise`)."""

from __future__ import annotations

import pytest

from bgpd.policy.reflection import (
    LoopCheck,
    has_own_as,
    reflect_attributes,
    reflection_loop,
    reflects,
)
from bgpd.rib import Source, SourceKind
from bgpd.wire.attributes import PathAttributes, new_segment
from bgpd.wire.constants import SegmentType

CLUSTER = 0x0AFF0001


def ibgp(*, client: bool) -> Source:
    return Source(name="from", kind=SourceKind.IBGP, router_id=5, rr_client=client)


@pytest.mark.parametrize(
    ("from_client", "to_client", "cluster_id", "expected"),
    [
        (False, False, None, False),  # not a reflector: iBGP never to iBGP (RFC 4271 §9.2)
        (True, True, None, False),
        (True, False, CLUSTER, True),  # a client's route goes to every iBGP peer (§6)
        (True, True, CLUSTER, True),
        (False, True, CLUSTER, True),  # a non-client's only to clients
        (False, False, CLUSTER, False),
    ],
)
def test_reflects(
    from_client: bool, to_client: bool, cluster_id: int | None, expected: bool
) -> None:
    assert (
        reflects(ibgp(client=from_client), to_client=to_client, cluster_id=cluster_id) is expected
    )


def test_reflect_attributes_sets_originator_once_and_prepends_cluster() -> None:
    out = reflect_attributes(PathAttributes(cluster_list=(7,)), originator_id=5, cluster_id=CLUSTER)
    assert (out.originator_id, out.cluster_list) == (5, (CLUSTER, 7))
    kept = reflect_attributes(PathAttributes(originator_id=99), originator_id=5, cluster_id=1)
    assert (kept.originator_id, kept.cluster_list) == (99, (1,))


def test_loop_check_combines_as_path_and_reflection_loops() -> None:
    check = LoopCheck(64512, 42, CLUSTER)
    own_as = PathAttributes(as_path=(new_segment(SegmentType.AS_SEQUENCE, (64513, 64512)),))
    assert has_own_as(own_as, 64512) and not has_own_as(own_as, 64512, allowed=1)
    assert check(own_as)
    assert check(PathAttributes(originator_id=42))
    assert check(PathAttributes(cluster_list=(CLUSTER,)))
    clean = PathAttributes(originator_id=7, cluster_list=(1,))
    assert not check(clean) and not reflection_loop(clean, 42, CLUSTER)
    assert LoopCheck(64512, 42, CLUSTER) == check  # equal checks: the same identity

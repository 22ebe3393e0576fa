"""Compact builders for RIB tests: sources, attribute sets and candidates from a few numbers."""

from __future__ import annotations

from bgpd.net import pack_prefix, parse_address
from bgpd.rib import Candidate, PathInfo, Source, SourceKind
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.constants import Origin, SegmentType


def source(
    name: str,
    kind: SourceKind = SourceKind.IBGP,
    *,
    asn: int = 65000,
    router_id: str = "10.0.0.1",
    address: str = "10.0.0.1",
    rr_client: bool = False,
) -> Source:
    local = kind in (SourceKind.STATIC, SourceKind.CONNECTED, SourceKind.KERNEL)
    return Source(
        name=name,
        kind=kind,
        peer_asn=0 if local else asn,
        router_id=0 if local else int.from_bytes(parse_address(router_id), "big"),
        address=b"" if local else parse_address(address),
        rr_client=rr_client,
    )


def attrs(
    *,
    path: tuple[int, ...] = (),
    as_set: tuple[int, ...] = (),
    origin: Origin = Origin.IGP,
    med: int | None = None,
    local_pref: int | None = None,
    originator_id: str | None = None,
    cluster_list: tuple[str, ...] = (),
) -> PathAttributes:
    segments: list[AsPathSegment] = []
    if path:
        segments.append(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=path))
    if as_set:
        segments.append(AsPathSegment(type=SegmentType.AS_SET, asns=as_set))
    return PathAttributes(
        origin=origin,
        as_path=tuple(segments),
        med=med,
        local_pref=local_pref,
        originator_id=None if originator_id is None else _rid(originator_id),
        cluster_list=tuple(_rid(c) for c in cluster_list),
    )


def _rid(text: str) -> int:
    return int.from_bytes(parse_address(text), "big")


def cand(
    src: Source,
    attributes: PathAttributes | None = None,
    *,
    next_hop: str = "192.0.2.1",
    path_id: int = 0,
) -> Candidate:
    info = PathInfo(attributes=attributes or attrs(), next_hop=parse_address(next_hop))
    return Candidate(source=src, info=info, path_id=path_id)


P1 = pack_prefix("10.1.0.0/24")
P2 = pack_prefix("10.2.0.0/24")
P3 = pack_prefix("10.3.0.0/24")

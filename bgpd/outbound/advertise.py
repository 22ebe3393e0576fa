"""What a peer may receive, and with which attributes: RFC 4271's iBGP/eBGP export rules and
RFC 4456 route reflection.

Role: for one selected path and one peer, decide whether the path is advertised (§9.2: a route
learned over iBGP is not sent to iBGP peers; nothing is sent back to the peer it came from;
RFC 4456 §6: a reflector sends a client's routes to every iBGP peer and a non-client's routes
to its clients) and build the attributes as the peer must see them (§5.1): toward eBGP our AS
on that session is prepended (a peer's `local_asn` when set, and only it, as BIRD's `local as`),
the next hop is our session address (unless `next hop keep`), LOCAL_PREF,
ORIGINATOR_ID and CLUSTER_LIST are stripped and MED received from another AS is not passed on;
a long-lived stale route (LLGR_STALE, RFC 9494 §4.3) goes only to peers that negotiated LLGR;
toward iBGP LOCAL_PREF is present (100 when absent) and the next hop of a BGP-learned route is
kept; a reflected route gets ORIGINATOR_ID (when absent) and our cluster id in front of its
CLUSTER_LIST (RFC 4456 §8), its next hop untouched unless `next hop self` is configured. The
reflection rules themselves live in `bgpd.policy.reflection`; this module applies them.
Locally originated paths (static, kernel, connected) get ORIGIN IGP and our next hop.

Invariants: pure functions of their arguments; `ExportCache` memoises per selected path and
peer profile, so a table of 100,000 prefixes sharing 1,000 attribute sets builds 1,000
exported attribute sets per peer profile, not 100,000.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.policy.reflection import reflect_attributes, reflects
from bgpd.rib import Candidate, PathInfo, Source, SourceKind
from bgpd.rib.decision import DEFAULT_LOCAL_PREF, LLGR_STALE
from bgpd.rib.path_info import new_path_info
from bgpd.wire.attributes import AsPathSegment, new_path_attributes, prepend_asn
from bgpd.wire.constants import SegmentType

_CONFED = (SegmentType.AS_CONFED_SEQUENCE, SegmentType.AS_CONFED_SET)
LOCAL_KINDS = frozenset({SourceKind.STATIC, SourceKind.CONNECTED, SourceKind.KERNEL})


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerProfile:
    """Everything about a peer that changes what it is sent (one per update group later)."""

    ibgp: bool
    local_asn: int
    next_hop_v4: bytes  # our address toward the peer (next hop self), b"" when none
    next_hop_v6: bytes
    # next_hop_mode (bgpd.config.NextHopMode) "self": always ours, "keep": a BGP next hop
    # kept toward eBGP too (BIRD's `next hop self` / `next hop keep`).
    next_hop_self: bool = False
    next_hop_keep: bool = False
    rr_client: bool = False  # the peer is our route-reflection client (RFC 4456 §2)
    cluster_id: int | None = None  # ours, when we are a route reflector
    # Both sides sent the LLGR capability (RFC 9494): LLGR_STALE routes may go to the peer.
    long_lived: bool = False


def may_advertise(source: Source, to_peer: str, profile: PeerProfile) -> bool:
    """RFC 4271 §9.2 and RFC 4456 §6: no echo; iBGP to iBGP only by reflection."""
    if source.name == to_peer:
        return False
    if source.kind is not SourceKind.IBGP or not profile.ibgp:
        return True
    return reflects(source, to_client=profile.rr_client, cluster_id=profile.cluster_id)


def reflecting(source: Source, profile: PeerProfile) -> bool:
    return source.kind is SourceKind.IBGP and profile.ibgp and profile.cluster_id is not None


def next_hop_for(info: PathInfo, kind: SourceKind, profile: PeerProfile, v6: bool) -> bytes:
    """RFC 4271 §5.1.3: keep a BGP next hop toward iBGP, ours toward eBGP, unless configured:
    `next_hop_self` gives ours always (reflected routes and a static route's own next hop
    included, as BIRD's `next hop self`), `next_hop_keep` keeps a BGP next hop toward eBGP."""
    ours = profile.next_hop_v6 if v6 else profile.next_hop_v4
    if profile.next_hop_self:
        return ours
    if kind in LOCAL_KINDS:
        return info.next_hop or ours  # a static route may name its own next hop
    if profile.ibgp or profile.next_hop_keep:
        return info.next_hop
    return ours


def export_path(info: PathInfo, source: Source, profile: PeerProfile, v6: bool) -> PathInfo | None:
    """The path as `profile`'s peer must receive it; None when no next hop can be given."""
    kind = source.kind
    a = info.attributes
    if not profile.long_lived and a.communities and LLGR_STALE in a.communities:
        # RFC 9494 §4.3: a long-lived stale route is not sent to a peer without LLGR (the
        # peer sees a withdrawal); it could not tell it from a fresh one.
        return None
    next_hop = next_hop_for(info, kind, profile, v6)
    if not next_hop:
        return None
    v4_hop = None if v6 else next_hop  # the NEXT_HOP attribute exists for IPv4 only
    if profile.ibgp:
        local_pref = a.local_pref if a.local_pref is not None else DEFAULT_LOCAL_PREF
        attrs = a if local_pref == a.local_pref else a.replace(local_pref=local_pref)
        if profile.cluster_id is not None and reflecting(source, profile):
            attrs = reflect_attributes(
                attrs, originator_id=source.router_id, cluster_id=profile.cluster_id
            )
    else:
        attrs = new_path_attributes(
            a.origin,
            prepend(a.as_path, profile.local_asn),
            v4_hop,
            # MED learned from another AS is not passed to a third one (RFC 4271 §5.1.4).
            a.med if kind in LOCAL_KINDS else None,
            None,  # LOCAL_PREF
            a.atomic_aggregate,
            a.aggregator,
            a.communities,
            None,  # ORIGINATOR_ID
            (),  # CLUSTER_LIST
            a.large_communities,
            a.unknown,
        )
    if attrs.next_hop != v4_hop:
        attrs = attrs.replace(next_hop=v4_hop)
    origin = "" if kind in LOCAL_KINDS else source.name
    return new_path_info(attrs, next_hop, origin)


def prepend(path: tuple[AsPathSegment, ...], asn: int) -> tuple[AsPathSegment, ...]:
    """Our AS in front (RFC 4271 §5.1.2), folding into a leading AS_SEQUENCE that has room.

    Confederation segments (an iBGP peer inside a confederation may send them) never leave
    toward an external peer (RFC 5065 §4.1), which would treat the route as withdrawn
    (RFC 7606 §7.2)."""
    for seg in path:  # once per attribute set exported: a loop, not a generator
        if seg.type in _CONFED:
            path = tuple(seg for seg in path if seg.type not in _CONFED)
            break
    return prepend_asn(path, asn)


class ExportCache:
    """Memoises what one profile's peers receive for a selected path: `export_path` when
    `may_advertise` allows it, else None.

    Keyed by the `Candidate`'s identity (it fixes the path and its source, everything the
    result depends on besides the profile and the IP version), holding the candidate so its id
    cannot be reused while the entry lives. Candidates are shared by every prefix of a batch
    and across UPDATEs, so a table of 100,000 prefixes sharing 1,000 paths builds 1,000
    exported paths per profile, and the same input object always yields the same output
    object, which is what lets the Adj-RIB-Out reuse encodings.
    """

    __slots__ = ("_v4", "_v6", "profile")

    def __init__(self, profile: PeerProfile) -> None:
        self.profile = profile
        self._v4: dict[int, tuple[Candidate, PathInfo | None]] = {}
        self._v6: dict[int, tuple[Candidate, PathInfo | None]] = {}

    def get(self, candidate: Candidate, v6: bool) -> PathInfo | None:
        cache = self._v6 if v6 else self._v4
        entry = cache.get(id(candidate))
        if entry is None or entry[0] is not candidate:
            if len(cache) > 200_000:
                cache.clear()  # bound memory under attribute churn
            source = candidate.source
            profile = self.profile
            exported = (
                export_path(candidate.info, source, profile, v6)
                if may_advertise(source, "", profile)
                else None
            )
            entry = cache[id(candidate)] = (candidate, exported)
        return entry[1]

"""RFC 4456 route reflection and the import loop checks.

Role: the one home of the reflection rules: which iBGP-learned routes an iBGP peer may receive
(the client/non-client matrix, §6), the attributes a reflected route carries (ORIGINATOR_ID and
CLUSTER_LIST, §8) and the checks that drop a route that came back to us on import (the AS-path
loop of RFC 4271 §9.1.2 and RFC 4456 §8's ORIGINATOR_ID/CLUSTER_LIST loop). They live in the
core because an ordinary node can be a reflector too (Calico's `rr client` on node peers);
`bgpd.outbound.advertise` applies them per update group, the speaker on import.

Invariants: pure functions of their arguments; `LoopCheck` is a frozen value, so two equal
checks mean the same identity and a session's cached verdicts stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.rib import Source
from bgpd.wire.attributes import PathAttributes

__all__ = ["LoopCheck", "has_own_as", "reflect_attributes", "reflects", "reflection_loop"]


def reflects(source: Source, *, to_client: bool, cluster_id: int | None) -> bool:
    """RFC 4271 §9.2 and RFC 4456 §6: may an iBGP-learned route go to an iBGP peer?

    Only by reflection (`cluster_id` set: we are a reflector): a client's route goes to every
    iBGP peer, a non-client's only to clients.
    """
    if cluster_id is None:
        return False
    return source.rr_client or to_client


def reflect_attributes(
    attrs: PathAttributes, *, originator_id: int, cluster_id: int
) -> PathAttributes:
    """RFC 4456 §8: ORIGINATOR_ID set when absent (the route's first iBGP speaker) and our
    cluster id in front of CLUSTER_LIST; the next hop is untouched."""
    return attrs.replace(
        originator_id=originator_id if attrs.originator_id is None else attrs.originator_id,
        cluster_list=(cluster_id, *attrs.cluster_list),
    )


def has_own_as(attrs: PathAttributes, asn: int, allowed: int = 0) -> bool:
    """AS-path loop check on import (RFC 4271 §9.1.2): our AS more than `allowed` times."""
    seen = 0
    for seg in attrs.as_path:  # once per attribute set received: no tuple of the whole path
        seen += seg.asns.count(asn)
    return seen > allowed


def reflection_loop(attrs: PathAttributes, router_id: int, cluster_id: int | None) -> bool:
    """RFC 4456 §8: our own route came back (ORIGINATOR_ID), or it passed our cluster."""
    if attrs.originator_id == router_id:
        return True
    return cluster_id is not None and cluster_id in attrs.cluster_list


@dataclass(frozen=True, slots=True)
class LoopCheck:
    """`has_own_as` or `reflection_loop` for one session's identity (its `CandidateCache`
    remembers the verdict per attribute set); equal checks give equal verdicts, so a cache
    built with one stays valid exactly as long as the session's check is equal to it.

    `asn` is our AS on that session (a peer's `local_asn` when set: as BIRD, only that AS is
    looked for, not the node's), `allowed` how often it may appear (BIRD's `allow local as`).
    """

    asn: int
    router_id: int
    cluster_id: int | None
    allowed: int = 0

    def __call__(self, attrs: PathAttributes) -> bool:
        return has_own_as(attrs, self.asn, self.allowed) or reflection_loop(
            attrs, self.router_id, self.cluster_id
        )

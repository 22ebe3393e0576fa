"""`PathInfo`: what a peer said about a set of prefixes (RFC 4271 §3.2's route minus the prefix).

Invariants: shared, never copied per prefix. Every prefix of one NLRI batch, and every UPDATE
of a peer with the same attribute set and next hop, uses one object (the session's
`bgpd.rib.candidate.CandidateCache` holds it inside the shared candidate); exported paths are
shared the same way (`bgpd.outbound.advertise.ExportCache`). Caches therefore key them by
identity: hashing one walks every attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bgpd.wire.attributes import PathAttributes


@dataclass(frozen=True, slots=True, kw_only=True)
class PathInfo:
    """What a peer said about a set of prefixes: the attributes and the family's next hop.

    `origin` is set on exported paths only: the name of the peer the path was learned from
    (empty for local routes), so an update group can keep a member's own routes from it.
    """

    attributes: PathAttributes
    next_hop: bytes
    origin: str = ""


# PathInfo without its frozen-dataclass __init__ (one `object.__setattr__` per field): one is
# built per attribute set received and per set exported. Equality, hashing and repr stay the
# dataclass ones.
_new = object.__new__
_P: Any = PathInfo.__dict__
_SET_ATTRIBUTES, _SET_NEXT_HOP, _SET_ORIGIN = (
    _P[f].__set__ for f in ("attributes", "next_hop", "origin")
)


def new_path_info(attributes: PathAttributes, next_hop: bytes, origin: str = "") -> PathInfo:
    """`PathInfo(attributes=..., next_hop=..., origin=...)`, built through its slots."""
    info: PathInfo = _new(PathInfo)
    _SET_ATTRIBUTES(info, attributes)
    _SET_NEXT_HOP(info, next_hop)
    _SET_ORIGIN(info, origin)
    return info

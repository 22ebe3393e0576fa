"""BGPFilter operations (`[[filter]]` rules' `operations`): what an accepting rule changes.

Role: compile a rule's ordered operations once (`RouteOperations.compile`) and apply them to a
route's path attributes (`apply`), as the BIRD statements Calico renders for them do
(template_funcs.go `filterOperationStatements`, run before the rule's `accept;`):

- `add_community` "A:B" -> `bgp_community.add((A, B));`, "A:B:C" ->
  `bgp_large_community.add((A, B, C));`: the value is appended unless the route has it already
  (`bgpd.policy.merge_communities`, BIRD's set `add`);
- `prepend_as_path` [A, B] -> `bgp_path.prepend(B); bgp_path.prepend(A);`: the path then starts
  with A B. Each ASN goes into the leading AS_SEQUENCE while it has fewer than 255 ASNs, else
  into a new segment in front (BIRD's `as_path_prepend2`); a later operation's ASNs end up in
  front of an earlier one's;
- `set_priority` P -> `bgp_local_pref = 2147483647 - P;` (bgpd.policy.route_priority); the
  last one wins.

On import the result is the route the Loc-RIB holds. On export the operations apply to the
route as the peer is to be sent it, as in Calico's BIRD (1.6.8), whose export filter runs after
the protocol's export preparation: toward eBGP our AS is already first in the path, so a
prepend goes in front of it (the peer sees `A B <our AS> ...`, the path "starts with these AS
numbers" as Calico's API says), and LOCAL_PREF, never sent over eBGP, is left alone there
(`apply(..., local_pref=False)`).

Invariants: pure; a `RouteOperations` is immutable and `apply` returns a new attribute set
(never modifies one), the same values for the same input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bgpd.config.checks import LargeCommunity
from bgpd.config.filter_section import FilterOperation
from bgpd.policy.export_policy import merge_communities
from bgpd.policy.route_priority import local_pref_of_priority
from bgpd.wire.attributes import AsPathSegment, PathAttributes, prepend_asn

__all__ = ["RouteOperations", "prepend_as_path"]


def prepend_as_path(
    path: tuple[AsPathSegment, ...], asns: Sequence[int]
) -> tuple[AsPathSegment, ...]:
    """`path` starting with `asns` in their order: BIRD's `bgp_path.prepend` once per ASN, the
    last first, each folded into a leading AS_SEQUENCE that has room."""
    for asn in reversed(asns):
        path = prepend_asn(path, asn)
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteOperations:
    """A rule's operations, folded by kind (they touch different attributes, so only the order
    within one kind matters)."""

    communities: tuple[int, ...] = ()  # RFC 1997 values to add, in order
    large_communities: tuple[tuple[int, int, int], ...] = ()
    prepend: tuple[int, ...] = ()  # the ASNs the path will start with
    local_pref: int | None = None  # set_priority's LOCAL_PREF (the last one)

    @classmethod
    def compile(cls, operations: Sequence[FilterOperation]) -> RouteOperations | None:
        """The folded operations; None when there are none."""
        if not operations:
            return None
        communities: list[int] = []
        large: list[tuple[int, int, int]] = []
        prepend: tuple[int, ...] = ()
        local_pref = None
        for op in operations:
            value = op.add_community
            if isinstance(value, LargeCommunity):
                large.append((value.global_admin, value.local1, value.local2))
            elif value is not None:
                communities.append(value.value)
            if op.prepend_as_path:
                prepend = op.prepend_as_path + prepend  # a later prepend goes in front
            if op.set_priority is not None:
                local_pref = local_pref_of_priority(op.set_priority)
        return cls(
            communities=tuple(communities),
            large_communities=tuple(large),
            prepend=prepend,
            local_pref=local_pref,
        )

    def apply(self, attributes: PathAttributes, *, local_pref: bool = True) -> PathAttributes:
        """The route's attributes after the operations (`local_pref` False: set_priority is
        not applied, for an eBGP peer that is never sent LOCAL_PREF)."""
        changes: dict[str, object] = {}
        if self.communities:
            changes["communities"] = merge_communities(attributes.communities, self.communities)
        if self.large_communities:
            changes["large_communities"] = merge_communities(
                attributes.large_communities, self.large_communities
            )
        if self.prepend:
            changes["as_path"] = prepend_as_path(attributes.as_path, self.prepend)
        if self.local_pref is not None and local_pref:
            changes["local_pref"] = self.local_pref
        return attributes.replace(**changes)

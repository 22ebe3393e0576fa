"""Adj-RIB-In: what one peer currently announces to us, per family (RFC 4271 §3.2).

Invariants: keys are packed prefixes (`bgpd.net.Nlri`), or, when ADD-PATH receive is negotiated
for the family, the 4-octet path id followed by the packed prefix, so a key is always one bytes
object. Values are `PathInfo` objects shared by every prefix of one NLRI batch: a peer that
announces 10,000 prefixes with one attribute set holds one PathInfo, not 10,000. Across
UPDATEs too: `path_info` interns by (attribute set, next hop), the attribute set being the
decoder's interned object, so a peer sending one prefix per UPDATE still shares PathInfos.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bgpd.net import Family, Nlri
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.messages import UpdateMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class PathInfo:
    """What a peer said about a set of prefixes: the attributes and the family's next hop.

    `origin` is set on exported paths only: the name of the peer the path was learned from
    (empty for local routes), so an update group can keep a member's own routes from it.
    """

    attributes: PathAttributes
    next_hop: bytes
    origin: str = ""


def route_key(nlri: Nlri, path_id: int | None) -> bytes:
    return nlri if path_id is None else path_id.to_bytes(4, "big") + nlri


def split_key(key: bytes, add_path: bool) -> tuple[int | None, Nlri]:
    if add_path:
        return int.from_bytes(key[:4], "big"), key[4:]
    return None, key


# Sized like the decoder's attribute cache: a full feed has tens of thousands of attribute sets,
# and a cache that thrashes makes a new PathInfo (and Candidate) per UPDATE instead of per set.
PATH_INFO_CACHE_SIZE = 100_000


class AdjRibIn:
    __slots__ = ("_add_path", "_infos", "_tables")

    def __init__(self, add_path_families: frozenset[Family] = frozenset()) -> None:
        self._tables: dict[Family, dict[bytes, PathInfo]] = {}
        self._add_path = add_path_families
        # (id of the decoder's interned attribute set, next hop) -> PathInfo. Keyed by id
        # because hashing a PathAttributes walks every field; the cached PathInfo keeps its
        # attribute set alive, so the id cannot be reused while the entry exists.
        self._infos: dict[tuple[int, bytes], PathInfo] = {}

    def path_info(self, attributes: PathAttributes, next_hop: bytes) -> PathInfo:
        """The shared PathInfo for an attribute set and next hop (the one `apply` stores)."""
        key = (id(attributes), next_hop)
        info = self._infos.get(key)
        if info is None or info.attributes is not attributes:
            if len(self._infos) >= PATH_INFO_CACHE_SIZE:
                self._infos.clear()
            info = self._infos[key] = PathInfo(attributes=attributes, next_hop=next_hop)
        return info

    def apply(self, update: UpdateMessage) -> tuple[int, int]:
        """Applies one UPDATE; returns (prefixes announced, prefixes withdrawn)."""
        withdrawn = 0
        for batch in update.withdrawn:
            table = self._tables.get(batch.family)
            if table is None:
                continue
            if batch.path_ids is None:
                for nlri in batch.prefixes:
                    withdrawn += table.pop(nlri, None) is not None
            else:
                for nlri, path_id in zip(batch.prefixes, batch.path_ids, strict=True):
                    withdrawn += table.pop(route_key(nlri, path_id), None) is not None
        announced = 0
        if update.attributes is not None:
            for batch in update.announced:
                table = self._tables.setdefault(batch.family, {})
                info = self.path_info(update.attributes, batch.next_hop)
                if batch.path_ids is None:
                    for nlri in batch.prefixes:
                        table[nlri] = info
                else:
                    for nlri, path_id in zip(batch.prefixes, batch.path_ids, strict=True):
                        table[route_key(nlri, path_id)] = info
                announced += len(batch.prefixes)
        for family in update.disabled_families:
            # RFC 4760 §7 / RFC 7606 §5.3 AFI/SAFI disable: forget everything of the family.
            withdrawn += len(self._tables.pop(family, {}))
        return announced, withdrawn

    def clear(self) -> int:
        count = len(self)
        self._tables.clear()
        self._infos.clear()
        return count

    def set_add_path(self, families: frozenset[Family]) -> None:
        """Called on each new session: the key form depends on what was negotiated."""
        self._tables.clear()
        self._add_path = families

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def routes(self) -> Iterator[tuple[Family, int | None, Nlri, PathInfo]]:
        for family, table in self._tables.items():
            add_path = family in self._add_path
            for key, info in table.items():
                path_id, nlri = split_key(key, add_path)
                yield family, path_id, nlri, info

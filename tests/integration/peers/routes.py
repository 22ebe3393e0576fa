"""The route shape every peer helper returns, so tests compare BIRD, GoBGP and bgpd alike.

`Route` is what a test asserts on: prefix, BGP next hop and the path attributes our speaker
must get right. BIRD's text output and GoBGP's JSON are both normalised into it:

- ``prefix`` is the canonical ``ipaddress`` text (``fd00:1::/64``, never ``fd00:1:0::/64``);
- ``as_path`` is a flat tuple of ASNs (AS_SET members inline, in the order printed);
- ``communities`` / ``large_communities`` are sorted tuples without duplicates, since the
  attributes are sets and daemons print them in different orders;
- ``origin`` is ``"IGP"``, ``"EGP"`` or ``"Incomplete"`` (BIRD's spelling).

Invariant: a `Route` is immutable and hashable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .binaries import Family
from .poll import wait_until

__all__ = [
    "ORIGIN_NAMES",
    "PeerDaemon",
    "Route",
    "RouteTable",
    "canonical_prefix",
    "family_of",
    "parse_communities",
    "parse_large_communities",
    "wait_no_route",
    "wait_route",
]

Community = tuple[int, int]
LargeCommunity = tuple[int, int, int]
RouteTable = dict[str, list["Route"]]
"""Routes by canonical prefix; a prefix maps to every path the daemon holds for it."""


def canonical_prefix(prefix: str) -> str:
    """``prefix`` in canonical text form (host bits must be zero)."""
    return str(ipaddress.ip_network(prefix))


def family_of(address_or_prefix: str) -> Family:
    """4 or 6, for an address (``10.0.0.1``) or a prefix (``fd00::/64``)."""
    return 6 if ipaddress.ip_network(address_or_prefix, strict=False).version == 6 else 4


ORIGIN_NAMES = {"igp": "IGP", "egp": "EGP", "incomplete": "Incomplete"}
"""ORIGIN as daemons print it in lower case, to `Route.origin`'s spelling."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One path for one prefix as a peer daemon holds it."""

    prefix: str
    next_hop: str | None = None
    """BGP NEXT_HOP as received (first address if BIRD shows global + link-local)."""
    as_path: tuple[int, ...] = ()
    communities: tuple[Community, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    med: int | None = None
    local_pref: int | None = None
    origin: str | None = None
    originator_id: str | None = None
    cluster_list: tuple[str, ...] = ()
    source: str = ""
    """BIRD: the protocol that supplied the route; GoBGP: the neighbour address or "local"."""
    best: bool = False
    gateway: str | None = None
    """The forwarding next hop BIRD resolved (``via``); None if unresolved or not BIRD."""
    kind: str = ""
    """BIRD's destination word (``unicast``, ``unreachable``, ``blackhole``, ``via``...)."""
    raw: tuple[tuple[str, str], ...] = ()
    """Every attribute as (name, text) the daemon printed, for anything not parsed above."""

    @property
    def family(self) -> int:
        """4 or 6."""
        return ipaddress.ip_network(self.prefix).version

    def attribute(self, name: str) -> str | None:
        """The raw text of attribute ``name`` (e.g. ``"BGP.atomic_aggr"``), or None."""
        for key, value in self.raw:
            if key == name:
                return value
        return None


def normalise_communities(items: Iterable[Community]) -> tuple[Community, ...]:
    """Sorted, de-duplicated standard communities."""
    return tuple(sorted(set(items)))


def normalise_large(items: Iterable[LargeCommunity]) -> tuple[LargeCommunity, ...]:
    """Sorted, de-duplicated large communities."""
    return tuple(sorted(set(items)))


def parse_communities(texts: Iterable[str]) -> tuple[Community, ...]:
    """``"65000:100"`` texts as normalised communities; well-known names (``no-export``) are
    left out, since a daemon prints those instead of their numbers."""
    out = []
    for text in texts:
        a, sep, b = text.partition(":")
        if sep and a.isdigit() and b.isdigit():
            out.append((int(a), int(b)))
    return normalise_communities(out)


def parse_large_communities(texts: Iterable[str]) -> tuple[LargeCommunity, ...]:
    """``"1:2:3"`` texts as normalised large communities."""
    return normalise_large((int(a), int(b), int(c)) for a, b, c in (t.split(":") for t in texts))


class PeerDaemon(Protocol):
    """What BirdDaemon and GobgpDaemon have in common, for tests parametrised over peers."""

    def routes(self) -> RouteTable:
        """Every route the daemon holds, both families."""
        ...

    def diagnostics(self) -> str:
        """Logs and state dumps to print when a test fails."""
        ...


def wait_route(
    daemon: PeerDaemon,
    prefix: str,
    timeout: float = 10.0,
    where: Callable[[Route], bool] | None = None,
    fetch: Callable[[], Mapping[str, list[Route]]] | None = None,
) -> list[Route]:
    """Wait until ``daemon`` holds ``prefix`` (a path satisfying ``where``, if given).

    Returns all paths for the prefix. ``fetch`` overrides how the table is read (e.g. one
    family only). On timeout the AssertionError shows the paths seen and the diagnostics.
    """
    key = canonical_prefix(prefix)
    read = fetch if fetch is not None else daemon.routes
    seen: list[list[Route]] = [[]]

    def probe() -> list[Route] | None:
        paths = list(read().get(key, []))
        seen[0] = paths
        if paths and (where is None or any(where(r) for r in paths)):
            return paths
        return None

    found = wait_until(
        probe,
        timeout,
        0.1,
        f"route {key}" + (" matching the predicate" if where else ""),
        describe=lambda: f"paths for {key}: {seen[0]}\n{daemon.diagnostics()}",
    )
    assert found is not None  # wait_until only returns truthy values
    return found


def wait_no_route(
    daemon: PeerDaemon,
    prefix: str,
    timeout: float = 10.0,
    fetch: Callable[[], Mapping[str, list[Route]]] | None = None,
) -> None:
    """Wait until ``daemon`` holds no path for ``prefix``."""
    key = canonical_prefix(prefix)
    read = fetch if fetch is not None else daemon.routes
    wait_until(
        lambda: key not in read(),
        timeout,
        0.1,
        f"route {key} to disappear",
        describe=daemon.diagnostics,
    )

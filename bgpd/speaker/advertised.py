"""What we advertise to a peer: its Adj-RIB-Out as `RouteView`s.

Role: `advertised_views` reads the exporter's Adj-RIB-Out toward one peer (the table of its
update group minus the peer's own routes) into the views `bgpctl` and the BIRD sockets' `show
route export NAME` print. The attributes are those we sent (after export policy and rules);
`peer`/`source` name where the route came from, as in the Loc-RIB view.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bgpd.speaker.views import path_view

if TYPE_CHECKING:
    from bgpd.net import Family
    from bgpd.outbound.exporter import Exporter
    from bgpd.rib import LocRib
    from bgpd.views import RouteView

__all__ = ["advertised_views"]


def advertised_views(
    rib: LocRib, exporter: Exporter, name: str, families: Iterable[Family]
) -> list[RouteView]:
    """The routes `exporter` holds as sent to peer `name`, in prefix order per family."""
    views: list[RouteView] = []
    for family in sorted(families):
        entries = sorted(
            exporter.advertised(name, family),
            key=lambda e: (e[0][1:].ljust(16, b"\0"), e[0][0], e[1]),
        )
        for nlri, path_id, info in entries:
            # Where it came from: the Loc-RIB path of that origin (a local route has none).
            source = next(
                (c.source for c in rib.candidates(family, nlri) if c.source.name == info.origin),
                None,
            )
            if source is None:
                best = rib.best(family, nlri)
                source = None if best is None else best.source
            views.append(
                path_view(
                    family,
                    nlri,
                    info,
                    peer=info.origin or ("" if source is None else source.name),
                    source="" if source is None else source.kind.name.lower(),
                    path_id=path_id,
                    best=True,
                    stale=False,
                )
            )
    return views

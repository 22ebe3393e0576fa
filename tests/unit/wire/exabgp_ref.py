"""ExaBGP 5 as an independent reference decoder, and a common normal form for comparisons.

`exabgp_update(body, ...)` decodes an UPDATE body with ExaBGP's own parser (the one its daemon
uses: `Update.unpack_message` over a `Negotiated` built from its configuration) and renders it
with ExaBGP's JSON API encoder; `normal_exabgp` and `normal_ours` turn ExaBGP's JSON and our
`UpdateMessage` into the same plain-data form so tests can compare them field by field.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any

from bgpd.net import Afi, format_address, format_prefix
from bgpd.wire.constants import Origin, SegmentType
from bgpd.wire.messages import UpdateMessage

_ORIGINS = {Origin.IGP: "igp", Origin.EGP: "egp", Origin.INCOMPLETE: "incomplete"}
_SEGMENTS = {
    SegmentType.AS_SET: "as-set",
    SegmentType.AS_SEQUENCE: "as-sequence",
    SegmentType.AS_CONFED_SEQUENCE: "as-confed-sequence",
    SegmentType.AS_CONFED_SET: "as-confed-set",
}
_FAMILY = {Afi.IPV4: "ipv4 unicast", Afi.IPV6: "ipv6 unicast"}

_CONF = """
neighbor 127.0.0.1 {{
    router-id 10.0.0.2;
    local-address 127.0.0.1;
    local-as {local_as};
    peer-as {peer_as};
    family {{ ipv4 unicast; ipv6 unicast; }}
    capability {{ {capabilities} }}
}}
"""


@functools.cache
def _exabgp(as4: bool, add_path: bool, ibgp: bool) -> tuple[Any, Any]:
    """(neighbor, negotiated) for an ExaBGP session with these properties."""
    from exabgp.configuration.check import _negotiated
    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log

    log.silence()
    caps = []
    if not as4:
        caps.append("asn4 disable;")
    if add_path:
        caps.append("add-path send/receive;")
    conf = _CONF.format(
        local_as=65000, peer_as=65000 if ibgp else 65001, capabilities=" ".join(caps)
    )
    configuration = Configuration([conf], text=True)
    if not configuration.reload():
        raise RuntimeError("ExaBGP configuration did not load")
    neighbor = next(iter(configuration.neighbors.values()))
    negotiated = _negotiated(neighbor)
    assert negotiated.asn4 == as4
    return neighbor, negotiated


def exabgp_update(
    body: bytes, *, as4: bool = True, add_path: bool = False, ibgp: bool = True
) -> dict[str, Any]:
    """ExaBGP's JSON rendering of an UPDATE body, as a dict (the "message" part)."""
    from exabgp.bgp.message import Update
    from exabgp.bgp.message.direction import Direction
    from exabgp.reactor.api.response import Response
    from exabgp.version import json as json_version

    neighbor, negotiated = _exabgp(as4, add_path, ibgp)
    # ExaBGP keeps the last attribute set per session; start clean for each vector.
    negotiated.cached_attributes = None
    negotiated.cached_wire = b""
    update = Update.unpack_message(body, Direction.IN, negotiated)
    text = Response.JSON(json_version).update(neighbor, "in", update, None, "", "")
    message: dict[str, Any] = json.loads(text)["neighbor"]["message"]
    return message


def exabgp_open(body: bytes) -> dict[str, Any]:
    """ExaBGP's JSON rendering of an OPEN body (the "open" part)."""
    from exabgp.bgp.message import Open
    from exabgp.reactor.api.response import Response
    from exabgp.version import json as json_version

    neighbor, _ = _exabgp(True, False, True)
    msg = Open.unpack_message(body)
    text = Response.JSON(json_version).open(neighbor, "in", msg, None, "", "")
    result: dict[str, Any] = json.loads(text)["neighbor"]["open"]
    return result


def _dotted(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def normal_exabgp(message: dict[str, Any]) -> dict[str, Any]:
    """ExaBGP's JSON as our normal form."""
    if "eor" in message:
        eor = message["eor"]
        return {"eor": f"{eor['afi']} {eor['safi']}"}
    update = message["update"]
    attrs = update.get("attribute", {})
    out: dict[str, Any] = {
        "origin": attrs.get("origin"),
        "as_path": [
            (seg["element"], list(seg["value"]))
            for _, seg in sorted(attrs.get("as-path", {}).items(), key=lambda kv: int(kv[0]))
        ],
        "med": attrs.get("med"),
        "local_pref": attrs.get("local-preference"),
        "communities": sorted((hi << 16) | lo for hi, lo in attrs.get("community", [])),
        "large_communities": sorted(tuple(lc) for lc in attrs.get("large-community", [])),
        "originator_id": attrs.get("originator-id"),
        "cluster_list": list(attrs.get("cluster-list", [])),
        "atomic_aggregate": bool(attrs.get("atomic-aggregate", False)),
        "aggregator": attrs.get("aggregator"),
    }
    announced = []
    for family, by_next_hop in update.get("announce", {}).items():
        for next_hop, entries in by_next_hop.items():
            for entry in entries:
                announced.append((family, entry["nlri"], entry.get("path-information"), next_hop))
    withdrawn = []
    for family, entries in update.get("withdraw", {}).items():
        for entry in entries:
            withdrawn.append((family, entry["nlri"], entry.get("path-information")))
    out["announced"] = sorted(announced, key=str)
    out["withdrawn"] = sorted(withdrawn, key=str)
    return out


def normal_ours(msg: UpdateMessage) -> dict[str, Any]:
    """Our UpdateMessage in the same normal form as `normal_exabgp`."""
    if msg.end_of_rib is not None:
        return {"eor": _FAMILY[msg.end_of_rib.afi]}
    a = msg.attributes
    out: dict[str, Any] = {
        "origin": _ORIGINS[a.origin] if a else None,
        "as_path": [(_SEGMENTS[s.type], list(s.asns)) for s in a.as_path] if a else [],
        "med": a.med if a else None,
        "local_pref": a.local_pref if a else None,
        "communities": sorted(a.communities) if a else [],
        "large_communities": sorted(a.large_communities) if a else [],
        "originator_id": _dotted(a.originator_id) if a and a.originator_id is not None else None,
        "cluster_list": [_dotted(c) for c in a.cluster_list] if a else [],
        "atomic_aggregate": a.atomic_aggregate if a else False,
        "aggregator": (
            f"{a.aggregator[0]}:{format_address(a.aggregator[1])}" if a and a.aggregator else None
        ),
    }

    def path_info(batch_ids: tuple[int, ...] | None, i: int) -> str | None:
        return _dotted(batch_ids[i]) if batch_ids is not None else None

    announced = [
        (
            _FAMILY[b.family.afi],
            format_prefix(p, b.family.afi),
            path_info(b.path_ids, i),
            format_address(b.next_hop),
        )
        for b in msg.announced
        for i, p in enumerate(b.prefixes)
    ]
    withdrawn = [
        (_FAMILY[b.family.afi], format_prefix(p, b.family.afi), path_info(b.path_ids, i))
        for b in msg.withdrawn
        for i, p in enumerate(b.prefixes)
    ]
    out["announced"] = sorted(announced, key=str)
    out["withdrawn"] = sorted(withdrawn, key=str)
    return out

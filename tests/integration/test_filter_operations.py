"""BGPFilter's conditions and operations on the wire, next to Calico's own BIRD doing the same.

Four hosts on one LAN. `node0` runs bgpd with its in-process confd watcher over a file of
Calico v3 resources (AS 64512). `src` (BIRD 2, AS 65001) originates routes to it; `dst` (BIRD 2,
AS 65002) receives what it exports. The BGPPeers to both name the BGPFilter `edge`:

    importV4:
      - {action: Reject, peerType: iBGP, asPathPrefix: [65001]}          # not for eBGP peers
      - {action: Reject, peerType: eBGP, asPathPrefix: [65001, 65010]}
    exportV4:
      - {action: Accept, communities: {values: ["65001:100"]},
         operations: [{addCommunity: {value: "64512:200"}},
                      {prependASPath: {prefix: [64512, 64513]}}]}
      - {action: Accept, matchOperator: In, cidr: 198.51.100.0/24, asPathPrefix: [64512, 65001],
         operations: [{addCommunity: {value: "64512:300:1"}}]}

`ref` stands beside node0 as Calico's node would: BIRD 1.6 (Calico's BIRD is a 1.6.8 fork) with
the BIRD functions and peer filters Calico's confd renders for the same BGPFilter and peers
(template_funcs.go `BGPFilterBIRDFuncs`, bgp_processor.go `buildImportFilter`/
`buildExportFilter`; only `calico_export_to_bgp_peers`, which rejects every route here, is left
out), also AS 64512, peering with the same src and dst. dst therefore receives each route from
both, and must see the same: the communities added, the AS path prepended (in front of the
exporter's own AS: BIRD 1.6 runs the export filter after prepending it, so the second export
rule's asPathPrefix sees it too), the import rules rejecting the route through 65010 and the
iBGP-only rule applying to nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .peers import BgpPeer, BirdConfig, Lan, LanHost, Route, StaticRoute, wait_until
from .peers.fixtures import BirdFactory
from .test_service_routes import ServiceNode, service_nodes, write_atomically

__all__ = ["service_nodes"]  # the fixture, shared with test_service_routes

V3 = "/calico/resources/v3/projectcalico.org"
NODE_AS, SRC_AS, DST_AS = 64512, 65001, 65002
TAGGED = "203.0.113.0/24"  # community 65001:100: exported tagged and prepended
EXAMPLE = "198.51.100.0/24"  # no community: the second export rule (cidr and asPathPrefix)
PLAIN = "100.64.0.0/24"  # no rule matches: Calico's own export rules reject it
VIA_65010 = "192.0.2.0/24"  # path 65001 65010, community 65001:100: rejected on import
ROUTES = (
    StaticRoute(prefix=TAGGED, communities=((65001, 100),)),
    StaticRoute(prefix=EXAMPLE),
    StaticRoute(prefix=PLAIN),
    StaticRoute(prefix=VIA_65010, as_path_prepend=(65010,), communities=((65001, 100),)),
)

EDGE = {
    "importV4": [
        {"action": "Reject", "peerType": "iBGP", "asPathPrefix": [65001]},
        {"action": "Reject", "peerType": "eBGP", "asPathPrefix": [65001, 65010]},
    ],
    "exportV4": [
        {
            "action": "Accept",
            "communities": {"values": ["65001:100"]},
            "operations": [
                {"addCommunity": {"value": "64512:200"}},
                {"prependASPath": {"prefix": [64512, 64513]}},
            ],
        },
        {
            "action": "Accept",
            "matchOperator": "In",
            "cidr": EXAMPLE,
            "asPathPrefix": [64512, 65001],
            "operations": [{"addCommunity": {"value": "64512:300:1"}}],
        },
    ],
}

# What Calico's confd renders for `edge` (template_funcs.go filterStatement and
# BGPFilterBIRDFuncs: an iBGP rule inside `if (is_same_as)`, an eBGP one inside
# `if (!is_same_as)`, conditions joined by &&, operations before `accept;`).
CALICO_FUNCTIONS = "\n".join(
    [
        "function 'bgp_edge_importFilterV4'(bool is_same_as) {",
        "  if (is_same_as) then { if ((bgp_path ~ [= 65001 * =])) then { reject; } }",
        "  if (!is_same_as) then { if ((bgp_path ~ [= 65001 65010 * =])) then { reject; } }",
        "}",
        "function 'bgp_edge_exportFilterV4'() {",
        "  if (((65001, 100) ~ bgp_community)) then { bgp_community.add((64512, 200));"
        " bgp_path.prepend(64513); bgp_path.prepend(64512); accept; }",
        "  if ((net ~ 198.51.100.0/24)&&(bgp_path ~ [= 64512 65001 * =])) then"
        " { bgp_large_community.add((64512, 300, 1)); accept; }",
        "}",
    ]
)
# bgp_processor.go buildImportFilter / buildExportFilter for an eBGP peer (sameAS false).
CALICO_IMPORT = """filter {
    'bgp_edge_importFilterV4'(false);
    if (defined(bgp_local_pref)&&(bgp_local_pref > 2147482623)) then
      preference = 200;
    accept;
  }"""
CALICO_EXPORT = """filter {
    if (defined(source) && source = RTS_BGP && defined(bgp_local_pref)) then {
      krt_metric = 2147483647 - bgp_local_pref;
    } else {
      if (!defined(krt_metric)) then { krt_metric = 1024; }
      bgp_local_pref = 2147483647 - krt_metric;
    }
    'bgp_edge_exportFilterV4'();
    reject;
  }"""


def datastore(node: LanHost, src: LanHost, dst: LanHost) -> dict[str, Any]:
    def resource(plural: str, name: str, spec: dict[str, Any]) -> tuple[str, Any]:
        return f"{V3}/{plural}/{name}", {"metadata": {"name": name}, "spec": spec}

    return dict(
        [
            resource("bgpconfigurations", "default", {"nodeToNodeMeshEnabled": False}),
            resource("ippools", "pool", {"cidr": "10.244.0.0/16"}),
            resource("nodes", "node0", {"bgp": {"ipv4Address": node.ipv4_cidr}}),
            resource("bgpfilters", "edge", EDGE),
            resource(
                "bgppeers",
                "src",
                {"peerIP": str(src.ipv4), "asNumber": SRC_AS, "filters": ["edge"]},
            ),
            resource(
                "bgppeers",
                "dst",
                {"peerIP": str(dst.ipv4), "asNumber": DST_AS, "filters": ["edge"]},
            ),
        ]
    )


def peer(
    name: str, host: LanHost, local_as: int, other: LanHost, other_as: int, **kw: Any
) -> BgpPeer:
    return BgpPeer(
        name=name,
        local_as=local_as,
        local_address=str(host.ipv4),
        neighbor_address=str(other.ipv4),
        neighbor_as=other_as,
        **kw,
    )


def attributes(routes: list[Route], source: str) -> tuple[object, ...] | None:
    """(AS path, communities, large communities) of the path dst learned from `source`."""
    for r in routes:
        if r.source == source:
            return (r.as_path, sorted(r.communities), sorted(r.large_communities))
    return None


def test_filter_operations_match_calicos_bird_on_the_wire(
    lan_factory: Any,
    bird_factory: BirdFactory,
    service_nodes: list[ServiceNode],
    tmp_path: Path,
) -> None:
    lan: Lan = lan_factory(4)
    node, src_host, dst_host, ref_host = lan.hosts
    src = bird_factory(
        BirdConfig(
            router_id=str(src_host.ipv4),
            peers=(
                peer("node0", src_host, SRC_AS, node, NODE_AS, import_filter="none"),
                peer("ref", src_host, SRC_AS, ref_host, NODE_AS, import_filter="none"),
            ),
            static_routes=ROUTES,
        ),
        netns=src_host.ns,
        name="src",
    )
    dst = bird_factory(
        BirdConfig(
            router_id=str(dst_host.ipv4),
            peers=(
                peer("node0", dst_host, DST_AS, node, NODE_AS, export_filter="none"),
                peer("ref", dst_host, DST_AS, ref_host, NODE_AS, export_filter="none"),
            ),
        ),
        netns=dst_host.ns,
        name="dst",
    )
    ref_config = BirdConfig(
        router_id=str(ref_host.ipv4),
        peers=(
            peer(
                "src",
                ref_host,
                NODE_AS,
                src_host,
                SRC_AS,
                import_filter=CALICO_IMPORT,
                export_filter="none",
            ),
            peer(
                "dst",
                ref_host,
                NODE_AS,
                dst_host,
                DST_AS,
                import_filter="none",
                export_filter=CALICO_EXPORT,
            ),
        ),
    ).render("1.6", 4)
    # BIRD wants a function defined before the filters calling it (bird.cfg has them first).
    at = ref_config.index("protocol bgp ")
    ref_text = ref_config[:at] + CALICO_FUNCTIONS + "\n" + ref_config[at:]
    ref = bird_factory(ref_text, version="1.6", netns=ref_host.ns, name="ref")
    kv_file = tmp_path / "datastore.yaml"
    write_atomically(kv_file, datastore(node, src_host, dst_host))
    bgpd = ServiceNode("node0", node, kv_file, tmp_path)
    service_nodes.append(bgpd)

    for daemon, name in ((src, "node0"), (src, "ref"), (dst, "node0"), (dst, "ref")):
        daemon.wait_established(name, timeout=30)
    # Both exporters took src's whole table in: what they accepted is there.
    wait_until(
        lambda: all(bgpd.learned_from(p) is not None for p in (TAGGED, EXAMPLE, PLAIN)),
        timeout=30,
        message="node0 learned src's routes",
    )
    for prefix in (TAGGED, EXAMPLE, PLAIN):
        ref.wait_route(prefix, timeout=30)

    # Export: dst holds each exported route from both, with the same attributes.
    tagged = dst.wait_route(TAGGED, timeout=30, where=lambda r: r.source == "node0")
    tagged = dst.wait_route(TAGGED, timeout=30, where=lambda r: r.source == "ref")
    expected_tagged = ((64512, 64513, NODE_AS, SRC_AS), [(64512, 200), (65001, 100)], [])
    assert attributes(tagged, "node0") == expected_tagged
    assert attributes(tagged, "ref") == expected_tagged
    example = dst.wait_route(EXAMPLE, timeout=30, where=lambda r: r.source == "node0")
    example = dst.wait_route(EXAMPLE, timeout=30, where=lambda r: r.source == "ref")
    expected_example = ((NODE_AS, SRC_AS), [], [(64512, 300, 1)])
    assert attributes(example, "node0") == expected_example
    assert attributes(example, "ref") == expected_example
    # No rule for PLAIN: Calico's export rules (not a pool) keep it from dst, from both.
    assert dst.routes_for(PLAIN) == []

    # Import: the eBGP rule rejected the path through 65010 (it carries 65001:100, so it
    # would have been exported); the iBGP-only rule rejected nothing from this eBGP peer.
    assert bgpd.learned_from(VIA_65010) is None
    assert ref.routes_for(VIA_65010) == []
    assert dst.routes_for(VIA_65010) == []
    peers = {p["address"]: p for p in bgpd.ctl("show peers")}
    assert peers[str(src_host.ipv4)]["prefixes_received"] == 4
    assert peers[str(src_host.ipv4)]["prefixes_accepted"] == 3
    # Every field of the filter is evaluated: nothing was refused.
    log = bgpd.proc.output(100000)
    assert "confd.unsupported_field" not in log, json.dumps(log[-2000:])

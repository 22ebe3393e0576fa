"""Golden renders of the shipped templates from Calico-shaped v1 key sets.

Each case renders `confd_templates/` for one node and compares the text with
`tests/golden/confd/<case>.toml`; the text must also load with bgpd's own config loader and
mean what Calico's bird.cfg would (asserted on the loaded `Config`). After a deliberate
template change, regenerate with `BGPD_UPDATE_GOLDEN=1 pytest tests/unit/confd/render`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.calico_node import hash_to_ipv4
from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import Config, parse_config
from tests.unit.confd.model.calico_data import endpoint, endpoint_slice, service

from . import calico_v3
from .calico_data import (
    V1,
    big_cluster,
    block,
    globals_,
    host,
    peer_json,
    peer_key,
    pool,
    service_range,
)

REPO = Path(__file__).resolve().parents[4]
CONFDIR = DEFAULT_CONFDIR
GOLDEN = REPO / "tests" / "golden" / "confd"


def render(view: Mapping[str, str], node: str, environ: Mapping[str, str] | None = None) -> str:
    resources = load_resources(CONFDIR, node)
    ctx = TemplateContext(nodename=node, environ=dict(environ or {}), variables={})
    return Renderer(CONFDIR, resources, ctx).render_text(resources[0], view)


def check_golden(name: str, text: str) -> Config:
    path = GOLDEN / f"{name}.toml"
    if os.environ.get("BGPD_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"render differs from {path}"
    return parse_config(text, source=str(path))


def mesh_cluster() -> dict[str, str]:
    view = globals_(
        loglevel="info",
        listen_port="1790",
        bind_mode="NodeIP",
        node_mesh_password="mesh secret",
        node_mesh_restart_time="90",
        svc_loadbalancer_ips="10.100.0.0/24",
    )
    view[f"{V1}/global/prefix_advertisements/ip_v4"] = json.dumps(
        [{"cidr": "10.96.0.0/12", "communities": ["64512:300", "64512:1:1", "64512:300"]}]
    )
    view.update(
        host(
            "worker-1",
            "172.18.0.11",
            ipv6="fd00:18::11",
            network_v4="172.18.0.0/24",
            network_v6="fd00:18::/64",
            loglevel="debug",
        )
    )
    view.update(host("worker-2", "172.18.0.12", ipv6="fd00:18::12"))
    view.update(host("worker-3", "172.18.0.13", asn=64513, listen_port="179"))
    view.update(host("rr-1", "172.18.0.2", rr_cluster_id="224.0.0.1"))
    view.update(pool("192.168.0.0/16", ipip_mode="cross-subnet"))
    view.update(pool("10.244.0.0/16", vxlan_mode="always", disableBGPExport=True))
    view.update(pool("fd10::/48"))
    view.update(block("worker-1", "192.168.12.64/26"))
    view.update(block("worker-1", "192.168.12.128/26", state="pending"))
    view.update(block("worker-1", "fd10::12:0/122"))
    view.update(block("worker-2", "192.168.13.0/26"))
    view.update(service_range("10.96.0.0/12"))
    view.update(service_range("fd00:96::/112", advertise=False))
    # A top-of-rack router over eBGP, on a non-standard port, with MD5 and GTSM.
    view[peer_key("global", "172.18.0.1", 1790)] = peer_json(
        "172.18.0.1", 65000, port=1790, password="tor secret", ttl_security=1, restart_time="300"
    )
    view[peer_key("global", "fd00:18::1")] = peer_json("fd00:18::1", 65000)
    # A node peer to the reflector, and one to a mesh member (the mesh session covers it).
    view[peer_key("worker-1", "172.18.0.2")] = peer_json(
        "172.18.0.2", 64512, rr_cluster_id="224.0.0.1", calico_node=True
    )
    view[peer_key("worker-1", "172.18.0.12")] = peer_json("172.18.0.12", 64512, calico_node=True)
    # A local workload peer (passive, no source address).
    view[peer_key("worker-1", "192.168.12.70")] = peer_json(
        "192.168.12.70", 65100, local_bgp_peer=True, source_addr="None"
    )
    return view


def test_mesh_node_with_everything() -> None:
    config = check_golden("mesh_worker", render(mesh_cluster(), "worker-1"))
    assert config.bgp.asn == 64512
    assert str(config.bgp.router_id) == "172.18.0.11"
    assert [str(a) for a in config.bgp.listen] == ["172.18.0.11", "fd00:18::11"]
    assert config.bgp.port == 1790
    assert config.bgp.log_level == "debug"  # the node's loglevel wins over the global one
    peers = {p.name: p for p in config.all_peers}
    # Mesh: worker-2 (v4 and v6) and worker-3 (v4, its own AS and port); never the RR.
    assert {n for n in peers if n.startswith("Mesh_")} == {
        "Mesh_172_18_0_12",
        "Mesh_fd00_18__12",
        "Mesh_172_18_0_13",
    }
    assert peers["Mesh_172_18_0_13"].asn == 64513
    assert peers["Mesh_172_18_0_13"].port == 179
    assert peers["Mesh_172_18_0_12"].password == "mesh secret"
    tor = peers["Global_172_18_0_1_port_1790"]
    assert (tor.port, tor.asn, tor.password, tor.ttl_security) == (1790, 65000, "tor secret", 1)
    assert tor.graceful_restart_time == 300
    assert str(tor.local_address) == "172.18.0.11"
    assert peers["Global_fd00_18__1"].multihop == 64  # BIRD's bare `multihop;`
    rr = peers["Node_172_18_0_2"]
    assert not rr.rr_client  # we are not a reflector: the RR is an ordinary iBGP peer
    assert "Node_172_18_0_12" not in peers  # the mesh session covers that address
    workload = peers["Local_Workload_192_168_12_70"]
    assert workload.passive and workload.local_address is None
    calico = config.calico
    assert calico is not None
    assert [str(b) for b in calico.blocks] == ["192.168.12.64/26", "fd10::12:0/122"]
    assert [str(r) for r in calico.advertise] == ["10.96.0.0/12"]
    assert [str(r) for r in calico.reject] == ["10.96.0.0/12", "fd00:96::/112"]
    assert [str(r) for r in calico.lb_ranges] == ["10.100.0.0/24"]
    adv = calico.prefix_advertisements[0]
    assert sorted(str(c) for c in adv.communities) == ["64512:1:1", "64512:300"]


def test_reflector_node_marks_clients() -> None:
    view = mesh_cluster()
    view[peer_key("rr-1", "172.18.0.11")] = peer_json("172.18.0.11", 64512, calico_node=True)
    view[peer_key("rr-1", "172.18.0.12")] = peer_json("172.18.0.12", 64512, calico_node=True)
    view[peer_key("rr-1", "172.18.0.3")] = peer_json("172.18.0.3", 64512, rr_cluster_id="224.0.0.1")
    config = check_golden("reflector", render(view, "rr-1"))
    peers = {p.name: p for p in config.all_peers}
    assert not any(n.startswith("Mesh_") for n in peers)  # a reflector has no mesh
    assert str(config.bgp.cluster_id) == "224.0.0.1"
    assert peers["Node_172_18_0_11"].rr_client and peers["Node_172_18_0_12"].rr_client
    assert not peers["Node_172_18_0_3"].rr_client  # same cluster: plain iBGP
    assert peers["Global_172_18_0_1_port_1790"].rr_client is False  # eBGP


def test_hundred_node_cluster_worker() -> None:
    config = check_golden("cluster100_worker", render(big_cluster(), "node-042"))
    names = sorted(p.name for p in config.all_peers)
    assert names == ["Node_10_0_0_1", "Node_10_0_0_2", "Node_10_0_0_3"]
    # Mesh off: the node list is not written (it would only feed a mesh).
    assert config.cluster_nodes == ()


def test_hundred_node_cluster_reflector() -> None:
    config = check_golden("cluster100_rr", render(big_cluster(), "rr-0"))
    peers = config.all_peers
    clients = [p for p in peers if p.rr_client]
    assert len(clients) == 100
    others = sorted(p.name for p in peers if not p.rr_client)
    assert others == ["Node_10_0_0_2", "Node_10_0_0_3"]
    # Greater addresses are passive only for global peers; node peers all connect.
    assert not any(p.passive for p in peers)


def test_ipv6_only_node_with_hashed_router_id() -> None:
    view = globals_(asn=65001)
    view.update(host("v6-a", "", ipv6="fd00::a", network_v6="fd00::/64"))
    view.update(host("v6-b", "", ipv6="fd00::b"))
    view[peer_key("global", "fd00::1")] = peer_json("fd00::1", 65002)
    config = check_golden(
        "ipv6_only_hash", render(view, "v6-a", environ={"CALICO_ROUTER_ID": "hash"})
    )
    assert str(config.bgp.router_id) == hash_to_ipv4("v6-a")
    assert sorted(p.name for p in config.all_peers) == ["Global_fd00__1", "Mesh_fd00__b"]


def test_global_calico_peer_with_greater_address_is_passive() -> None:
    view = globals_(mesh=False)
    view.update(host("a", "10.0.0.5", asn=65005))
    view.update(host("b", "10.0.0.6", asn=65006))
    view.update(host("c", "10.0.0.40", asn=65040))
    for ip, asn in (("10.0.0.6", 65006), ("10.0.0.40", 65040), ("10.0.0.5", 65005)):
        view[peer_key("global", ip)] = peer_json(ip, asn, calico_node=True)
    view[peer_key("global", "10.0.0.7")] = peer_json("10.0.0.7", 65100)
    config = check_golden("node_as_global_peers", render(view, "a"))
    assert config.local_asn == 65005
    peers = {p.name: p for p in config.all_peers}
    assert set(peers) == {"Global_10_0_0_6", "Global_10_0_0_40", "Global_10_0_0_7"}
    assert peers["Global_10_0_0_6"].passive  # a Calico node with a greater address
    # Compared as strings, like the Go template's `gt`: "10.0.0.40" < "10.0.0.5".
    assert not peers["Global_10_0_0_40"].passive
    assert not peers["Global_10_0_0_7"].passive  # greater, but not a Calico node


def service_cluster() -> dict[str, str]:
    """v3 resources and Kubernetes Services: the route generator's inputs, not v1 keys."""
    values = calico_v3.bgp_configuration(
        serviceExternalIPs=[{"cidr": "192.0.2.0/24"}, {"cidr": "203.0.113.7/32"}],
        serviceLoadBalancerIPs=[{"cidr": "198.51.100.0/24"}, {"cidr": "fd00:51::/112"}],
        serviceLoadBalancerAggregation="Disabled",
    )
    values |= calico_v3.node("worker-1", "172.18.0.11/24", ipv6Address="fd00:18::11/64")
    values |= calico_v3.node("worker-2", "172.18.0.12/24", ipv6Address="fd00:18::12/64")
    values |= calico_v3.ip_pool("pool", "192.168.0.0/16")
    values |= calico_v3.affinity("worker-1", "192.168.12.64/26")
    for item in (
        # Local, dual stack, its endpoint on worker-1: every IP of it from worker-1 only.
        service(
            "shop",
            "web",
            type="LoadBalancer",
            policy="Local",
            cluster_ips=["10.96.0.10", "fd00:96::10"],
            external_ips=["192.0.2.10", "172.16.0.1"],  # the second is outside every range
            ingress=["198.51.100.20", "fd00:51::20"],
        ),
        endpoint_slice("shop", "web-v4", "web", [endpoint("worker-1")]),
        # Local, endpoint on worker-2 only: nothing from worker-1.
        service(
            "shop",
            "db",
            type="LoadBalancer",
            policy="Local",
            cluster_ip="10.96.0.13",
            ingress=["198.51.100.30"],
        ),
        endpoint_slice("shop", "db-v4", "db", [endpoint("worker-2", "192.168.13.5")]),
        # Cluster with aggregation disabled: its LB IP from every node with a ready endpoint.
        service(
            "shop", "api", type="LoadBalancer", cluster_ip="10.96.0.11", ingress=["198.51.100.40"]
        ),
        endpoint_slice("shop", "api-v4", "api", [endpoint("worker-2", "192.168.13.6")]),
        # Cluster with a single-address external IP: from every node, endpoints or not.
        service(
            "shop", "dns", type="NodePort", cluster_ip="10.96.0.12", external_ips=["203.0.113.7"]
        ),
    ):
        values |= dict([item])
    return values


def test_service_routes_of_a_node_hosting_a_local_endpoint() -> None:
    env = {"CALICO_ADVERTISE_CLUSTER_IPS": "10.96.0.0/12"}
    view = derive_view(service_cluster(), LocalNode.from_env("worker-1", env))
    config = check_golden("service_routes", render(view, "worker-1", environ=env))
    calico = config.calico
    assert calico is not None
    assert {str(c) for c in calico.advertise} == {
        "10.96.0.0/12",  # CALICO_ADVERTISE_CLUSTER_IPS: a range of every node
        "192.0.2.0/24",  # serviceExternalIPs range
        "10.96.0.10/32",  # web (Local, endpoint here): cluster IPs,
        "fd00:96::10/128",
        "192.0.2.10/32",  # the external IP inside a range,
        "198.51.100.20/32",  # the LB ingress IPs (aggregation disabled)
        "fd00:51::20/128",
        "10.96.0.11/32",  # api: aggregation disabled, a ready endpoint somewhere
        "198.51.100.40/32",
        "10.96.0.12/32",  # dns: single-address external IP entry
        "203.0.113.7/32",
    }
    # The LB ranges are neither advertised nor rejected with aggregation disabled.
    assert {str(c) for c in calico.reject} == {"10.96.0.0/12", "192.0.2.0/24"}
    assert {str(c) for c in calico.lb_ranges} == {"198.51.100.0/24", "fd00:51::/112"}
    statics = {str(s.prefix) for s in config.all_statics if s.blackhole}
    assert {str(c) for c in calico.advertise} <= statics


@pytest.mark.parametrize("level", ["debug", "info", "none", "Warning"])
def test_log_levels(level: str) -> None:
    view = globals_(loglevel=level)
    view.update(host("a", "10.0.0.1"))
    config = parse_config(render(view, "a"))
    expected = {"debug": "debug", "info": "info", "none": "warning", "Warning": "warning"}
    assert config.bgp.log_level == expected[level]


def route_server_cluster() -> dict[str, str]:
    """v3 resources: an external route server behind a gateway (Calico's AKS case), and
    reflector peerings whose reverse direction is written by hand (`reversePeering: Manual`)."""
    values = calico_v3.bgp_configuration(nodeToNodeMeshEnabled=False)
    values |= calico_v3.node("worker-1", "172.18.0.11/24")
    values |= calico_v3.node("worker-2", "172.18.0.12/24")
    values |= calico_v3.node(
        "rr-1", "172.18.0.2/24", labels={"rr": "true"}, routeReflectorClusterID="224.0.0.1"
    )
    # Not on the nodes' subnet: reached through the gateway 172.18.0.1.
    values |= calico_v3.bgp_peer(
        "route-server", peerIP="10.224.0.4", asNumber=65515, reachableBy="172.18.0.1"
    )
    values |= calico_v3.bgp_peer(
        "to-rr", nodeSelector="!has(rr)", peerSelector="has(rr)", reversePeering="Manual"
    )
    # The reverse direction, for worker-1 only.
    values |= calico_v3.bgp_peer(
        "rr-to-w1", nodeSelector="has(rr)", peerIP="172.18.0.11", asNumber=64512
    )
    return values


def test_route_server_behind_a_gateway_and_manual_reverse_peering() -> None:
    values = route_server_cluster()
    worker = check_golden(
        "route_server_worker",
        render(derive_view(values, LocalNode(nodename="worker-2")), "worker-2"),
    )
    peers = {p.name: p for p in worker.all_peers}
    assert set(peers) == {"Global_10_224_0_4", "Node_172_18_0_2"}
    assert str(peers["Global_10_224_0_4"].reachable_by) == "172.18.0.1"
    assert peers["Node_172_18_0_2"].reachable_by is None
    rr = check_golden(
        "manual_reverse_rr", render(derive_view(values, LocalNode(nodename="rr-1")), "rr-1")
    )
    # Manual: no automatic peering back to the workers; only the hand-written one to worker-1.
    assert sorted(p.name for p in rr.all_peers) == ["Global_10_224_0_4", "Node_172_18_0_11"]
    assert rr.peer("Node_172_18_0_11").rr_client


# Every rule field of a BGPFilter, in the four lists (template_funcs.go filterStatement).
FILTER_V4_EXPORT = [
    {
        "action": "Accept",
        "peerType": "eBGP",
        "communities": {"values": ["65000:100"]},
        "operations": [
            {"addCommunity": {"value": "65000:200"}},
            {"addCommunity": {"value": "65000:1:2"}},
            {"prependASPath": {"prefix": [64512, "1.10"]}},
            {"setPriority": {"value": 512}},
        ],
    },
    {"action": "Reject", "matchOperator": "In", "cidr": "10.0.0.0/8", "source": "RemotePeers"},
]
FILTER_V4_IMPORT = [
    {"action": "Reject", "asPathPrefix": [65010, 65020], "peerType": "iBGP"},
    {"action": "Accept", "priority": 512, "interface": "eth*"},
]
FILTER_V6_IMPORT = [
    {
        "action": "Accept",
        "matchOperator": "In",
        "cidr": "fd00::/8",
        "prefixLength": {"min": 48, "max": 64},
        "communities": {"values": ["4200000000:1:2"]},
        "operations": [{"setPriority": {"value": 1}}],
    }
]


def test_bgp_filter_with_every_rule_field() -> None:
    values = calico_v3.bgp_configuration(nodeToNodeMeshEnabled=False, asNumber=64512)
    values |= calico_v3.node("a", "10.0.0.1/24")
    values |= calico_v3.bgp_peer("tor", peerIP="10.0.0.254", asNumber=65010, filters=["edge"])
    values |= calico_v3.bgp_filter(
        "edge", exportV4=FILTER_V4_EXPORT, importV4=FILTER_V4_IMPORT, importV6=FILTER_V6_IMPORT
    )
    view = derive_view(values, LocalNode(nodename="a"))
    config = check_golden("bgp_filter", render(view, "a"))
    (edge,) = config.filters
    export, reject = edge.export_v4
    assert export.peer_type is not None and export.peer_type.value == "ebgp"
    assert str(export.community) == "65000:100"
    assert [op.as_json() for op in export.operations] == [
        {"add_community": "65000:200"},
        {"add_community": "65000:1:2"},
        {"prepend_as_path": [64512, 65546]},  # asdot 1.10 = 1 * 65536 + 10
        {"set_priority": 512},
    ]
    assert reject.cidr is not None and reject.source is not None
    assert [(r.as_path_prefix, r.priority, r.interface) for r in edge.import_v4] == [
        ((65010, 65020), None, None),
        ((), 512, "eth*"),
    ]
    (v6,) = edge.import_v6
    assert (str(v6.community), v6.length_range, v6.operations[0].set_priority) == (
        "4200000000:1:2",
        (48, 64),
        1,
    )
    assert edge.export_v6 == ()
    (tor,) = config.all_peers
    assert tor.import_filters == tor.export_filters == ("edge",)


def test_kernel_rules_of_newer_calico() -> None:
    """ignoredInterfaces, programClusterRoutes, the normal route priorities and WireGuard peers
    (Calico's bgp_processor.go), with the node's Felix release given as `calico_compat`."""
    values = calico_v3.bgp_configuration(
        ignoredInterfaces=["eth9*", "vxlan.calico"],
        programClusterRoutes="EnabledIPIPOnly",
        ipv4NormalRoutePriority=2000,
        ipv6NormalRoutePriority=3000,
    )
    for name, ip, wg in (
        ("worker-1", "172.18.0.11/24", "10.250.0.1"),
        ("worker-2", "172.18.0.12/24", "10.250.0.2"),
        ("worker-3", "172.18.0.13/24", ""),
    ):
        node = calico_v3.node(name, ip)
        if wg:
            key, raw = next(iter(node.items()))
            doc = json.loads(raw)
            doc["spec"]["wireguard"] = {"interfaceIPv4Address": wg}
            node = {key: json.dumps(doc)}
        values |= node
    values |= calico_v3.ip_pool("ipip", "192.168.0.0/16", ipipMode="Always")
    values |= calico_v3.affinity("worker-1", "192.168.12.64/26")
    resources = load_resources(CONFDIR, "worker-1")
    ctx = TemplateContext(nodename="worker-1", variables={"calico_compat": "3.32"})
    text = Renderer(CONFDIR, resources, ctx).render_text(resources[0], derive_view(values))
    config = check_golden("kernel_rules", text)
    calico = config.calico
    assert calico is not None
    assert calico.compat == "3.32" and calico.program_cluster_routes == "EnabledIPIPOnly"
    assert (calico.normal_priority(4), calico.normal_priority(6)) == (2000, 3000)
    assert [str(a) for a in calico.wireguard_peers] == ["172.18.0.12"]  # worker-3 runs none
    assert config.kernel.ignored_interfaces == ("eth9*", "vxlan.calico")

"""derive_bgp_keys: globals, hosts, pools, affinities, service routes, pass-through, bad data."""

from __future__ import annotations

import json

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys
from bgpd.errors import BgpdError, ConfigProblem
from tests.unit.confd.model.calico_data import (
    V3,
    affinity,
    bgp_configuration,
    bgp_filter,
    bgp_peer,
    ip_pool,
    node,
    secret,
    snapshot,
)

G = "/calico/bgp/v1/global/"
H = "/calico/bgp/v1/host/"


def test_empty_datastore_gives_calicos_defaults() -> None:
    assert derive_bgp_keys({}) == {
        G + "as_num": "64512",
        G + "loglevel": "info",
        G + "node_mesh": '{"enabled": true}',  # client.go's literal default, with the space
    }


def test_global_bgp_configuration() -> None:
    view = derive_bgp_keys(
        snapshot(
            bgp_configuration(
                asNumber=65000,
                nodeToNodeMeshEnabled=False,
                logSeverityScreen="Debug",
                listenPort=178,
                bindMode="NodeIP",
                nodeMeshMaxRestartTime="2m0s",
                ignoredInterfaces=["eth1", "eth2"],
                serviceClusterIPs=[{"cidr": "10.96.0.0/12"}, {"cidr": "fd00:96::/112"}],
                serviceExternalIPs=[{"cidr": "192.0.2.0/24"}, {"cidr": "192.0.2.77/32"}, {}],
                serviceLoadBalancerIPs=[{"cidr": "198.51.100.0/24"}],
            )
        )
    )
    assert view[G + "as_num"] == "65000"
    assert view[G + "node_mesh"] == '{"enabled":false}'
    assert view[G + "loglevel"] == "debug"
    assert view[G + "listen_port"] == "178"
    assert view[G + "bind_mode"] == "NodeIP"
    assert view[G + "node_mesh_restart_time"] == "120"
    assert view[G + "ignored_interfaces"] == "eth1,eth2"
    assert view[G + "svc_cluster_ips"] == "10.96.0.0/12,fd00:96::/112"
    assert view[G + "svc_external_ips"] == "192.0.2.0/24,192.0.2.77/32"  # empty CIDR ignored
    assert view[G + "svc_loadbalancer_ips"] == "198.51.100.0/24"
    # Service ranges become static and reject routes; single external IPs do not.
    routes = {k: v for k, v in view.items() if k.startswith(("/calico/static", "/calico/reject"))}
    assert routes == {
        "/calico/staticroutes/10.96.0.0-12": "10.96.0.0/12",
        "/calico/rejectcidrs/10.96.0.0-12": "10.96.0.0/12",
        "/calico/staticroutesv6/fd00:96::-112": "fd00:96::/112",
        "/calico/rejectcidrsv6/fd00:96::-112": "fd00:96::/112",
        "/calico/staticroutes/192.0.2.0-24": "192.0.2.0/24",
        "/calico/rejectcidrs/192.0.2.0-24": "192.0.2.0/24",
        "/calico/staticroutes/198.51.100.0-24": "198.51.100.0/24",
        "/calico/rejectcidrs/198.51.100.0-24": "198.51.100.0/24",
    }


@pytest.mark.parametrize(
    ("severity", "level"),
    [("Info", "info"), ("DEBUG", "debug"), ("Warning", "none"), ("Fatal", "none")],
)
def test_log_severity_maps_to_birds_three_levels(severity: str, level: str) -> None:
    view = derive_bgp_keys(snapshot(bgp_configuration(logSeverityScreen=severity)))
    assert view[G + "loglevel"] == level


def test_mesh_password_needs_the_secret() -> None:
    snap = snapshot(
        bgp_configuration(nodeMeshPassword={"secretKeyRef": {"name": "bgp", "key": "mesh"}})
    )
    view = derive_bgp_keys(snap)
    assert G + "node_mesh_password" not in view
    assert view[G + "node_mesh_password_unavailable"] == (
        "secret kube-system/bgp is missing or not readable"
    )
    view = derive_bgp_keys({**snap, **dict([secret("bgp", mesh="pw")])})
    assert view[G + "node_mesh_password"] == "pw"
    assert G + "node_mesh_password_unavailable" not in view


def test_excluded_node_gets_reject_routes_only() -> None:
    snap = snapshot(
        node(
            "n1",
            "10.0.0.1/24",
            labels={"node.kubernetes.io/exclude-from-external-load-balancers": "true"},
        ),
        bgp_configuration(serviceClusterIPs=[{"cidr": "10.96.0.0/12"}]),
    )
    assert "/calico/staticroutes/10.96.0.0-12" in derive_bgp_keys(snap, node_name="n2")
    view = derive_bgp_keys(snap, node_name="n1")
    assert "/calico/staticroutes/10.96.0.0-12" not in view
    assert view["/calico/rejectcidrs/10.96.0.0-12"] == "10.96.0.0/12"


def test_prefix_advertisements_resolve_sort_and_dedupe_communities() -> None:
    view = derive_bgp_keys(
        snapshot(
            bgp_configuration(
                communities=[
                    {"name": "bgp-large", "value": "100:555:107"},
                    {"name": "x", "value": "5663:12"},
                ],
                prefixAdvertisements=[
                    {
                        "cidr": "192.168.0.0/16",
                        "communities": ["x", "bgp-large", "100:6532", "5663:12"],
                    },
                    {"cidr": "fd00:1::/64", "communities": []},
                ],
            ),
            bgp_configuration(
                "node.n1", prefixAdvertisements=[{"cidr": "fd00:2::/64", "communities": ["1:1"]}]
            ),
        )
    )
    assert view[G + "prefix_advertisements/ip_v4"] == (
        '[{"cidr":"192.168.0.0/16","communities":["100:555:107","100:6532","5663:12"]}]'
    )
    # Go marshals an empty community list as null.
    assert view[G + "prefix_advertisements/ip_v6"] == '[{"cidr":"fd00:1::/64","communities":null}]'
    assert view[H + "n1/prefix_advertisements/ip_v4"] == "null"
    assert (
        view[H + "n1/prefix_advertisements/ip_v6"]
        == '[{"cidr":"fd00:2::/64","communities":["1:1"]}]'
    )


def test_node_configuration_honours_only_its_three_fields() -> None:
    view = derive_bgp_keys(
        snapshot(
            bgp_configuration(
                "node.n1", logSeverityScreen="Debug", listenPort=1790, asNumber=65099
            ),
            bgp_configuration("weird-name", asNumber=65098),
        )
    )
    assert view[H + "n1/loglevel"] == "debug"
    assert view[H + "n1/listen_port"] == "1790"
    assert H + "n1/as_num" not in view
    assert view[G + "as_num"] == "64512"


def test_node_keys() -> None:
    view = derive_bgp_keys(
        snapshot(
            node("n1", "10.192.0.2/16", "fe0a::2/96", asn=64514, rr_cluster_id="10.0.0.1"),
            node("n2"),
            node("n3", "10.0.0.3"),
        )
    )
    host = {k[len(H) :]: v for k, v in view.items() if k.startswith(H)}
    assert host == {
        "n1/ip_addr_v4": "10.192.0.2",
        "n1/ip_addr_v6": "fe0a::2",
        "n1/network_v4": "10.192.0.0/16",
        "n1/network_v6": "fe0a::/96",
        "n1/as_num": "64514",
        "n1/rr_cluster_id": "10.0.0.1",
        # Always present, empty when unset (bgpnodeprocessor.go).
        "n2/ip_addr_v4": "",
        "n2/ip_addr_v6": "",
        "n2/rr_cluster_id": "",
        "n3/ip_addr_v4": "10.0.0.3",
        "n3/ip_addr_v6": "",
        "n3/network_v4": "10.0.0.3/32",
        "n3/rr_cluster_id": "",
        **{f"n{i}/wireguard_addr_v{v}": "" for i in (1, 2, 3) for v in (4, 6)},
    }


def test_pools() -> None:
    view = derive_bgp_keys(
        snapshot(
            ip_pool("default-ipv4-ippool", "192.168.0.0/16", ipipMode="Always", natOutgoing=True),
            ip_pool("cross", "10.10.0.0/16", ipipMode="CrossSubnet", disableBGPExport=True),
            ip_pool("vx", "10.20.0.0/16", vxlanMode="Always", ipipMode="Never", disabled=True),
            ip_pool("v6", "fd00:10::/48", assignmentMode="Manual"),
        )
    )
    pools = {k: json.loads(v) for k, v in view.items() if k.startswith("/calico/v1/ipam/")}
    assert view["/calico/v1/ipam/v4/pool/192.168.0.0-16"] == (
        '{"cidr":"192.168.0.0/16","ipip":"tunl0","ipip_mode":"always","vxlan_mode":"",'
        '"masquerade":true,"ipam":true,"disabled":false,"disableBGPExport":false,'
        '"assignment_mode":"Automatic"}'
    )
    cross = pools["/calico/v1/ipam/v4/pool/10.10.0.0-16"]
    assert (cross["ipip"], cross["ipip_mode"], cross["disableBGPExport"]) == (
        "tunl0",
        "cross-subnet",
        True,
    )
    vx = pools["/calico/v1/ipam/v4/pool/10.20.0.0-16"]
    assert (vx["ipip"], vx["ipip_mode"], vx["vxlan_mode"]) == ("", "", "always")
    assert (vx["ipam"], vx["disabled"]) == (False, True)
    assert pools["/calico/v1/ipam/v6/pool/fd00:10::-48"]["assignment_mode"] == "Manual"


def test_affinities_pending_hidden_old_data_kept() -> None:
    view = derive_bgp_keys(
        snapshot(
            affinity("n1", "192.168.1.0/26"),
            affinity("n1", "192.168.1.64/26", "pending"),
            affinity("n2", "192.168.2.0/26", None),  # older data: {} (implicitly confirmed)
            affinity("n2", "fd00:10::/122", "pendingDeletion"),
        )
    )
    prefix = "/calico/ipam/v2/host/"
    blocks = {k[len(prefix) :]: v for k, v in view.items() if k.startswith(prefix)}
    assert blocks == {
        "n1/ipv4/block/192.168.1.0-26": '{"state":"confirmed","deleted":false}',
        "n2/ipv4/block/192.168.2.0-26": '{"state":"","deleted":false}',
        "n2/ipv6/block/fd00:10::-122": '{"state":"pendingDeletion","deleted":false}',
    }


def test_v3_resources_are_in_the_view_with_filters_in_our_form() -> None:
    f = bgp_filter(
        "edge", exportV4=[{"action": "Accept", "matchOperator": "In", "cidr": "10.0.0.0/8"}]
    )
    p = bgp_peer("tor", peerIP="192.0.2.1", asNumber=65010, filters=["edge"])
    view = derive_bgp_keys(snapshot(f, p, ip_pool("p", "10.0.0.0/8")))
    assert view[f[0]] == f[1]  # Calico's templates read the raw BGPFilter here
    assert view[p[0]] == p[1]
    assert f"{V3}/ippools/p" not in view  # pools appear only in their v1 form
    assert json.loads(view["/calico/bgp/v1/filters/edge"]) == {
        "name": "edge",
        "import_v4": [],
        "export_v4": [{"action": "accept", "cidr": "10.0.0.0/8", "match_operator": "in"}],
        "import_v6": [],
        "export_v6": [],
    }
    assert json.loads(view[G + "peer_v4/192.0.2.1"])["filters"] == ["edge"]


def test_v1_keys_written_directly_pass_through_and_win() -> None:
    v1 = {
        G + "as_num": "65000",
        G + "node_mesh": '{"enabled":false}',
        H + "old/ip_addr_v4": "10.1.0.1",
        H + "old/peer_v4/10.1.0.9": '{"ip":"10.1.0.9","as_num":"65009"}',
        "/calico/v1/ipam/v4/pool/10.1.0.0-16": '{"cidr":"10.1.0.0/16","ipip":""}',
        "/calico/felix/v1/whatever": "ignored",
    }
    view = derive_bgp_keys(v1 | snapshot(bgp_configuration(asNumber=65111)))
    assert view[G + "as_num"] == "65000"  # explicit v1 wins over derived and defaults
    assert view[G + "node_mesh"] == '{"enabled":false}'
    assert view[H + "old/peer_v4/10.1.0.9"] == v1[H + "old/peer_v4/10.1.0.9"]
    assert "/calico/felix/v1/whatever" not in view


def test_v1_global_as_is_used_for_selector_peers() -> None:
    view = derive_bgp_keys(
        {G + "as_num": "65000"}
        | snapshot(
            node("r", "10.0.0.1/24", labels={"rr": "true"}), bgp_peer("x", peerSelector="has(rr)")
        )
    )
    assert json.loads(view[G + "peer_v4/10.0.0.1"])["as_num"] == "65000"


# --- bad data ----------------------------------------------------------------------------------

BAD = [
    ((f"{V3}/bgppeers/broken", "{not json"), "malformed JSON"),
    ((f"{V3}/nodes/list", "[1, 2]"), "expected a JSON object"),
    (bgp_configuration(asNumber=0), "spec.asNumber: AS number 0 is out of range"),
    (bgp_configuration(asNumber=4294967296), "out of range"),
    (bgp_configuration(asNumber="65000.1.2"), "invalid AS number"),
    (bgp_configuration(asNumber=True), "invalid AS number"),
    (bgp_configuration(listenPort=70000), "spec.listenPort: 70000 is out of range"),
    (bgp_configuration(nodeMeshMaxRestartTime="soon"), "spec.nodeMeshMaxRestartTime"),
    (bgp_configuration(bindMode="Any"), "spec.bindMode"),
    (bgp_configuration(nodeToNodeMeshEnabled="yes"), "expected true or false"),
    (bgp_configuration(serviceClusterIPs=[{"cidr": "10.96.0.0"}]), "serviceClusterIPs[0].cidr"),
    (bgp_configuration(communities=[{"name": "c", "value": "1:70000"}]), "communities[0].value"),
    (
        bgp_configuration(prefixAdvertisements=[{"cidr": "10.0.0.0/8", "communities": ["nope"]}]),
        "community 'nope'",
    ),
    (bgp_peer("p", peerIP="10.0.0.300", asNumber=65000), "spec.peerIP: '10.0.0.300'"),
    (bgp_peer("p", peerIP="10.0.0.1:notaport", asNumber=65000), "spec.peerIP"),
    (bgp_peer("p", asNumber=65000), "spec.peerIP: missing"),
    (bgp_peer("p", peerIP="10.0.0.1"), "spec.asNumber: required with peerIP"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber="AS65000"), "invalid AS number"),
    (bgp_peer("p", nodeSelector="foo(x)", peerIP="10.0.0.1", asNumber=1), "unknown function 'foo'"),
    (bgp_peer("p", peerSelector="rr = 'x'"), "spec.peerSelector: expected '=='"),
    (
        bgp_peer("p", node="a", nodeSelector="all()", peerIP="10.0.0.1", asNumber=1),
        "mutually exclusive",
    ),
    (bgp_peer("p", peerSelector="all()", peerIP="10.0.0.1"), "mutually exclusive"),
    (bgp_peer("p", peerSelector="all()", asNumber=65000), "must be empty with peerSelector"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, reachableBy="fd00::1"), "reachableBy"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, ttlSecurity=300), "spec.ttlSecurity"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, sourceAddress="Other"), "spec.sourceAddress"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, maxRestartTime="120"), "spec.maxRestartTime"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, filters="f"), "spec.filters"),
    (node("n", "10.0.0.256/24"), "spec.bgp.ipv4Address"),
    (node("n", "fd00::1/64"), "not an IPv4 address"),
    (node("n", None, "10.0.0.1/24"), "spec.bgp.ipv6Address"),
    (node("n", "10.0.0.1/24", asn=-5), "spec.bgp.asNumber"),
    (node("n", "10.0.0.1/24", rr_cluster_id="cluster-1"), "routeReflectorClusterID"),
    (ip_pool("p", "10.0.0.0/33"), "spec.cidr"),
    (ip_pool("p", "10.0.0.0/16", ipipMode="Sometimes"), "spec.ipipMode"),
    (ip_pool("p", "10.0.0.0/16", ipipMode="Always", vxlanMode="Always"), "both IPIP and VXLAN"),
    (ip_pool("p", "fd00::/64", ipipMode="CrossSubnet"), "IPIP is IPv4 only"),
    (("/calico/ipam/v2/host/n1/ipv4/block/10.0.0.0-26", "{"), "malformed JSON"),
    (("/calico/ipam/v2/host/n1/ipv4/block/nonsense", "{}"), "not a block CIDR"),
    ((G + "as_num", "sixty-five"), "invalid AS number"),
    ((H + "n/peer_v4/1.2.3.4", '{"ip":"1.2.3.4x","as_num":"1"}'), "not an IPv4 address"),
    ((H + "n/peer_v6/fd00::1", '{"ip":"10.0.0.1","as_num":"1"}'), "not an IPv6 address"),
    ((H + "n/ip_addr_v4", "fd00::1"), "not an IPv4 address"),
    ((H + "n/rr_cluster_id", "x"), "cluster id"),
    # Issue 11: strings no later step can write (lone surrogates), numbers in non-ASCII digits
    # (str.isdigit() accepts "²", int() then raises; int("٣") is 3, Go refuses both), and JSON
    # Python reads but Go does not, or that crashes Python's reader.
    (bgp_peer("p", node="\ud800", peerIP="10.0.0.1", asNumber=1), "spec.node holds a lone"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, filters=["\udc00"]), "spec.filters[0]"),
    (bgp_peer("p", peerIP="10.0.0.1:²", asNumber=1), "spec.peerIP: '10.0.0.1:²'"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber="٣"), "invalid AS number"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber="1.²"), "invalid AS number"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber=1, maxRestartTime="٣s"), "spec.maxRestartTime"),
    (bgp_peer("p", peerIP="10.0.0.1", asNumber="9" * 5000), "AS number of 5000 digits"),
    (bgp_configuration(communities=[{"name": "c", "value": "1:²"}]), "communities[0].value"),
    (node("n", "10.0.0.1/24", asn="²"), "spec.bgp.asNumber"),
    ((V3 + "/bgppeers/nan", '{"spec": {"ttlSecurity": NaN}}'), "NaN is not JSON"),
    ((V3 + "/bgppeers/deep", "[" * 100_000), "nested too deeply"),
    ((V3 + "/bgppeers/huge", '{"spec": {"ttlSecurity": 1' + "0" * 5000 + "}}"), "malformed"),
    ((V3 + "/nodes/keyed", '{"metadata": {"labels": {"\\ud800": "x"}}}'), "a key in"),
    (("/calico/ipam/v2/host/n1/ipv4/block/10.0.0.0-26", '{"state": "\\ud800"}'), "state"),
    ((G + "as_num", "²"), "invalid AS number"),
    ((G + "loglevel", "info\ud800"), "lone UTF-16 surrogate at character 4"),
    ((H + "n/peer_v4/1.2.3.4", '{"ip":"1.2.3.4","as_num":"²"}'), "as_num: invalid AS"),
    ((H + "n/peer_v4/1.2.3.5", '{"ip":"1.2.3.5","as_num":"1","port":"\\ud800"}'), "port holds"),
]


@pytest.mark.parametrize(("item", "fragment"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_data_names_the_key(item: tuple[str, str], fragment: str) -> None:
    with pytest.raises(CalicoDataError) as info:
        derive_bgp_keys(dict([item]))
    err = info.value
    assert isinstance(err, BgpdError)
    assert any(p.location == item[0] and fragment in p.message for p in err.problems), err.problems
    assert item[0] in str(err)


def test_every_problem_is_reported_at_once() -> None:
    items = [b[0] for b in BAD if not b[0][0].startswith(G)]
    with pytest.raises(CalicoDataError) as info:
        derive_bgp_keys(dict(items) | snapshot(node("ok", "10.0.0.1/24")))
    keys = {p.location for p in info.value.problems}
    assert keys == {k for k, _ in items}
    assert all(isinstance(p, ConfigProblem) for p in info.value.problems)


def test_a_key_holding_a_lone_surrogate_is_named_escaped() -> None:
    with pytest.raises(CalicoDataError) as info:
        derive_bgp_keys({H + "\ud800/ip_addr_v4": "10.0.0.1"})
    (problem,) = info.value.problems
    assert problem.location == H + "\\ud800/ip_addr_v4"  # printable: the logs can carry it
    assert "lone UTF-16 surrogate" in problem.message
    str(info.value).encode()  # no UnicodeEncodeError


def test_problem_string_form() -> None:
    assert str(ConfigProblem(location="/k", message="bad")) == "/k: bad"

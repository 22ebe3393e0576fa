"""Kubernetes objects -> the keys the model reads: each kind, annotations, podCIDRs, the
fields that must not matter, malformed objects, and the result through derive_bgp_keys."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys
from bgpd.confd.sources.kube_objects import (
    CRD_GROUP,
    V3_GROUP,
    KubeKind,
    MalformedObjectError,
    calico_kinds,
    node_kind,
    secret_kind,
    secret_names_in,
    service_kinds,
)

V3 = "/calico/resources/v3/projectcalico.org/"


def kind(name: str, group: str = CRD_GROUP) -> KubeKind:
    return {k.name: k for k in calico_kinds(group)}[name]


def k8s_node(**annotations: str) -> dict[str, Any]:
    """A Node as a kubelet leaves it: much that bgpd does not use."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "node-a",
            "uid": "0b6f",
            "resourceVersion": "1200",
            "labels": {"kubernetes.io/hostname": "node-a", "rr": "true"},
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                **{f"projectcalico.org/{k}": v for k, v in annotations.items()},
            },
            "managedFields": [{"manager": "kubelet", "operation": "Update"}],
        },
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:1::/64"]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "12:00"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }


def test_paths_of_every_kind() -> None:
    assert kind("bgppeers").path == "/apis/crd.projectcalico.org/v1/bgppeers"
    assert kind("ippools", V3_GROUP).path == "/apis/projectcalico.org/v3/ippools"
    assert node_kind(use_pod_cidr=False).path == "/api/v1/nodes"
    services, slices = service_kinds()
    assert services.path == "/api/v1/services"
    assert slices.path == "/apis/discovery.k8s.io/v1/endpointslices"
    secret = secret_kind("kube-system", "bgp-secrets")
    assert secret.path == "/api/v1/namespaces/kube-system/secrets"
    assert secret.field_selector == "metadata.name=bgp-secrets"
    assert secret.optional


@pytest.mark.parametrize(
    ("plural", "kind_name"),
    [
        ("bgpconfigurations", "BGPConfiguration"),
        ("bgppeers", "BGPPeer"),
        ("bgpfilters", "BGPFilter"),
        ("ippools", "IPPool"),
    ],
)
@pytest.mark.parametrize("group", [CRD_GROUP, V3_GROUP])
def test_calico_crd_becomes_the_v3_resource_etcd_would_hold(
    plural: str, kind_name: str, group: str
) -> None:
    spec = {"asNumber": 65000, "peerIP": "10.0.0.9"}
    obj = {
        "apiVersion": f"{group}/v1",
        "kind": kind_name,
        "metadata": {"name": "x", "resourceVersion": "5", "generation": 2, "uid": "u"},
        "spec": spec,
    }
    out = kind(plural, group).convert(obj)
    assert list(out) == [f"{V3}{plural}/x"]
    assert json.loads(out[f"{V3}{plural}/x"]) == {
        "apiVersion": "projectcalico.org/v3",
        "kind": kind_name,
        "metadata": {"name": "x"},
        "spec": spec,
    }
    # Only the spec matters: a new resourceVersion or generation gives the same value.
    bumped = copy.deepcopy(obj)
    bumped["metadata"].update(resourceVersion="6", generation=3)
    assert kind(plural, group).convert(bumped) == out


@pytest.mark.parametrize(
    ("deleted", "expected"),
    [("false", False), ("", False), ("true", True), (True, True), (False, False)],
)
def test_block_affinity_v1_string_and_v3_bool(deleted: object, expected: bool) -> None:
    obj = {
        "metadata": {"name": "node-a-10-244-1-0-26"},
        "spec": {
            "node": "node-a",
            "cidr": "10.244.1.0/26",
            "state": "confirmed",
            "deleted": deleted,
        },
    }
    assert kind("blockaffinities").convert(obj) == {
        "/calico/ipam/v2/host/node-a/ipv4/block/10.244.1.0-26": json.dumps(
            {"deleted": expected, "state": "confirmed"}, separators=(",", ":")
        )
    }


def test_block_affinity_v6_and_virtual() -> None:
    v6 = {
        "metadata": {"name": "b"},
        "spec": {"node": "n", "cidr": "fd00::/122", "state": "pending"},
    }
    assert list(kind("blockaffinities").convert(v6)) == [
        "/calico/ipam/v2/host/n/ipv6/block/fd00::-122"
    ]
    virtual = {
        "metadata": {"name": "v"},
        "spec": {"node": "n", "cidr": "10.0.0.0/26", "type": "virtual"},
    }
    assert kind("blockaffinities").convert(virtual) == {}


def test_bad_affinity_values_reach_the_model_as_data_problems() -> None:
    obj = {"metadata": {"name": "b"}, "spec": {"node": "n", "cidr": "nonsense", "deleted": "maybe"}}
    values = kind("blockaffinities").convert(obj)
    with pytest.raises(CalicoDataError) as caught:
        derive_bgp_keys(values)
    assert "/calico/ipam/v2/host/n/ipv4/block/nonsense" in str(caught.value)


def test_node_annotations_and_labels() -> None:
    node = k8s_node(
        IPv4Address="10.0.0.1/24",
        IPv6Address="fd00::1/64",
        ASNumber="64513",
        RouteReflectorClusterID="244.0.0.1",
    )
    node["metadata"]["annotations"]["projectcalico.org/labels"] = '{"calico": "x", "rr": "no"}'
    out = node_kind(use_pod_cidr=False).convert(node)
    assert list(out) == [f"{V3}nodes/node-a"]
    assert json.loads(out[f"{V3}nodes/node-a"]) == {
        "apiVersion": "projectcalico.org/v3",
        "kind": "Node",
        # Kubernetes labels win over the Calico labels stashed in the annotation (node.go).
        "metadata": {
            "name": "node-a",
            "labels": {"calico": "x", "kubernetes.io/hostname": "node-a", "rr": "true"},
        },
        "spec": {
            "bgp": {
                "ipv4Address": "10.0.0.1/24",
                "ipv6Address": "fd00::1/64",
                "asNumber": "64513",
                "routeReflectorClusterID": "244.0.0.1",
            }
        },
    }
    view = derive_bgp_keys(out)
    host = "/calico/bgp/v1/host/node-a/"
    assert view[host + "ip_addr_v4"] == "10.0.0.1"
    assert view[host + "network_v4"] == "10.0.0.0/24"
    assert view[host + "ip_addr_v6"] == "fd00::1"
    assert view[host + "as_num"] == "64513"
    assert view[host + "rr_cluster_id"] == "244.0.0.1"


def test_node_without_calico_annotations_has_no_bgp_spec() -> None:
    out = node_kind(use_pod_cidr=False).convert(k8s_node())
    assert json.loads(out[f"{V3}nodes/node-a"])["spec"] == {}


def test_status_heartbeat_and_unrelated_annotations_change_nothing() -> None:
    convert = node_kind(use_pod_cidr=True).convert
    before = k8s_node(IPv4Address="10.0.0.1/24")
    after = copy.deepcopy(before)
    after["metadata"]["resourceVersion"] = "1300"
    after["metadata"]["annotations"]["volumes.kubernetes.io/controller-managed-attach"] = "true"
    after["metadata"]["managedFields"].append({"manager": "kube-controller-manager"})
    after["status"]["conditions"][0]["lastHeartbeatTime"] = "12:05"
    after["status"]["images"] = [{"names": ["pause"]}]
    assert convert(after) == convert(before)
    moved = copy.deepcopy(before)
    moved["metadata"]["annotations"]["projectcalico.org/IPv4Address"] = "10.0.0.2/24"
    assert convert(moved) != convert(before)


def test_pod_cidrs_only_with_host_local_ipam_and_become_confirmed_blocks() -> None:
    node = k8s_node(IPv4Address="10.0.0.1/24")
    assert "/kubernetes/nodes/node-a/podcidrs" not in node_kind(use_pod_cidr=False).convert(node)
    out = node_kind(use_pod_cidr=True).convert(node)
    assert json.loads(out["/kubernetes/nodes/node-a/podcidrs"]) == ["10.244.1.0/24", "fd00:1::/64"]
    view = derive_bgp_keys(out)
    assert json.loads(view["/calico/ipam/v2/host/node-a/ipv4/block/10.244.1.0-24"]) == {
        "state": "confirmed",
        "deleted": False,
    }
    assert "/calico/ipam/v2/host/node-a/ipv6/block/fd00:1::-64" in view
    # A Node from before dual-stack has only spec.podCIDR.
    del node["spec"]["podCIDRs"]
    out = node_kind(use_pod_cidr=True).convert(node)
    assert json.loads(out["/kubernetes/nodes/node-a/podcidrs"]) == ["10.244.1.0/24"]


def test_bad_pod_cidr_is_a_data_problem_naming_the_key() -> None:
    with pytest.raises(CalicoDataError, match="/kubernetes/nodes/n/podcidrs"):
        derive_bgp_keys({"/kubernetes/nodes/n/podcidrs": '["10.1.0.0/33"]'})


def test_bad_node_annotation_is_a_data_problem_naming_the_key() -> None:
    out = node_kind(use_pod_cidr=False).convert(k8s_node(ASNumber="not-an-as"))
    with pytest.raises(CalicoDataError, match=f"{V3}nodes/node-a"):
        derive_bgp_keys(out)


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"spec": {}},
        {"metadata": {}},
        {"metadata": {"name": ""}},
        {"metadata": {"name": "a/b"}},
        {"metadata": {"name": 7}},
    ],
)
def test_unnamed_objects_are_refused_by_name(obj: Any) -> None:
    for k in (*calico_kinds(CRD_GROUP), node_kind(use_pod_cidr=True), *service_kinds()):
        with pytest.raises(MalformedObjectError):
            k.convert(obj)


def test_service_trimmed_to_what_bgpd_uses() -> None:
    services, _ = service_kinds()
    obj = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
            "resourceVersion": "77",
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "externalIPs": ["192.0.2.7"],
            "loadBalancerIP": "192.0.2.8",
            "externalTrafficPolicy": "Local",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ports": [{"port": 80}],
            "selector": {"app": "web"},
            "sessionAffinity": "None",
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}, {"hostname": "lb.example"}]}},
    }
    out = services.convert(obj)
    assert json.loads(out["/kubernetes/services/shop/web"]) == {
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "externalIPs": ["192.0.2.7"],
            "loadBalancerIP": "192.0.2.8",
            "externalTrafficPolicy": "Local",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}},
    }
    ports_changed = copy.deepcopy(obj)
    ports_changed["spec"]["ports"] = [{"port": 8080}]
    assert services.convert(ports_changed) == out


def test_endpoint_slice_trimmed() -> None:
    _, slices = service_kinds()
    obj = {
        "metadata": {
            "name": "web-abc",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "web"},
            "generateName": "web-",
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.244.1.5"],
                "nodeName": "node-a",
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "name": "web-1"},
                "zone": "a",
            }
        ],
        "ports": [{"port": 80}],
    }
    assert json.loads(slices.convert(obj)["/kubernetes/endpointslices/shop/web-abc"]) == {
        "metadata": {
            "name": "web-abc",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.244.1.5"],
                "nodeName": "node-a",
                "conditions": {"ready": True, "serving": True, "terminating": False},
            }
        ],
    }


def test_secret_keeps_data_only() -> None:
    obj = {
        "metadata": {"name": "bgp-secrets", "namespace": "kube-system", "labels": {"a": "b"}},
        "type": "Opaque",
        "data": {"p1": "c2VjcmV0"},
    }
    out = secret_kind("kube-system", "bgp-secrets").convert(obj)
    assert out == {"/kubernetes/secrets/kube-system/bgp-secrets": '{"data":{"p1":"c2VjcmV0"}}'}


def test_secret_names_from_peers_and_mesh_password() -> None:
    values = {
        f"{V3}bgppeers/a": json.dumps(
            {"spec": {"password": {"secretKeyRef": {"name": "s1", "key": "k"}}}}
        ),
        f"{V3}bgpconfigurations/default": json.dumps(
            {"spec": {"nodeMeshPassword": {"secretKeyRef": {"name": "s2", "key": "k"}}}}
        ),
        f"{V3}bgppeers/bad": "not json",
        f"{V3}bgppeers/odd": json.dumps({"spec": {"password": "x"}}),
        f"{V3}nodes/n": json.dumps({"spec": {"password": {"secretKeyRef": {"name": "no"}}}}),
    }
    assert secret_names_in(values) == {"s1", "s2"}

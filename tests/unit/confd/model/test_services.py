"""Service advertisement: Calico's route generator (routes.go) and global service ranges
(client.go updateGlobalRoutes) as `/calico/staticroutes*` and `/calico/rejectcidrs*` keys.

Node `n1` is this node; endpoints elsewhere are on `n2`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys
from tests.unit.confd.model.calico_data import (
    bgp_configuration,
    endpoint,
    endpoint_slice,
    node,
    service,
    snapshot,
)

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
RANGES: dict[str, Any] = {
    "serviceClusterIPs": [{"cidr": "10.96.0.0/12"}, {"cidr": "fd00:96::/112"}],
    "serviceExternalIPs": [{"cidr": "192.0.2.0/24"}, {"cidr": "203.0.113.7/32"}],
    "serviceLoadBalancerIPs": [{"cidr": "198.51.100.0/24"}],
}


def statics(view: dict[str, str]) -> set[str]:
    return {v for k, v in view.items() if k.startswith("/calico/staticroutes")}


def rejects(view: dict[str, str]) -> set[str]:
    return {v for k, v in view.items() if k.startswith("/calico/rejectcidrs")}


def per_service(view: dict[str, str]) -> set[str]:
    """Static routes that are single addresses: the route generator's."""
    return {c for c in statics(view) if c.endswith(("/32", "/128"))}


def lb(policy: str = "Local", **kw: Any) -> tuple[str, str]:
    """Service web/shop: cluster IP, one external IP in range, one outside, one LB ingress."""
    kw.setdefault("external_ips", ["192.0.2.10", "172.16.0.1"])
    kw.setdefault("ingress", ["198.51.100.20"])
    return service("shop", "web", type="LoadBalancer", policy=policy, **kw)


def eps(*endpoints: dict[str, Any], name: str = "web-abc", **kw: Any) -> tuple[str, str]:
    return endpoint_slice("shop", name, "web", list(endpoints), **kw)


WEB_ROUTES = {"10.96.0.10/32", "192.0.2.10/32", "198.51.100.20/32"}


@dataclass(frozen=True)
class Case:
    items: tuple[tuple[str, str], ...]
    expected: set[str]
    config: dict[str, Any] = field(default_factory=lambda: dict(RANGES))
    env: str = ""
    node_ref: str | None = None


CASES = {
    # externalTrafficPolicy: Local -- only from nodes with a ready endpoint
    "local endpoint here": Case((lb(), eps(endpoint("n1"))), WEB_ROUTES),
    "local endpoint elsewhere only": Case((lb(), eps(endpoint("n2"))), set()),
    "local endpoint without node name": Case((lb(), eps(endpoint(None))), set()),
    "local endpoint here not ready": Case((lb(), eps(endpoint("n1", ready=False))), set()),
    "ready unset counts as ready": Case((lb(), eps(endpoint("n1", ready=None))), WEB_ROUTES),
    # Terminating endpoints are never ready; serving alone does not count (Calico reads ready).
    "terminating but serving": Case(
        (lb(), eps(endpoint("n1", ready=False, serving=True, terminating=True))), set()
    ),
    "one ready slice of several": Case(
        (
            lb(),
            eps(endpoint("n1", ready=False)),
            eps(endpoint("n1"), name="web-def"),
        ),
        WEB_ROUTES,
    ),
    "slice of another service": Case(
        (lb(), endpoint_slice("shop", "x", "other", [endpoint("n1")])), set()
    ),
    "slice in another namespace": Case(
        (lb(), endpoint_slice("bank", "web-x", "web", [endpoint("n1")])), set()
    ),
    "slice without service label": Case(
        (lb(), endpoint_slice("shop", "web-x", None, [endpoint("n1")])), set()
    ),
    "slice family not the service's": Case(
        (lb(), eps(endpoint("n1", "fd00:244::5"), address_type="IPv6")), set()
    ),
    "no slices": Case((lb(),), set()),
    "k8s node ref names this node": Case(
        (lb(), eps(endpoint("k8s-n1"))), WEB_ROUTES, node_ref="k8s-n1"
    ),
    "k8s node ref replaces the calico name": Case(
        (lb(), eps(endpoint("n1"))), set(), node_ref="k8s-n1"
    ),
    # Which Services have routes at all
    "headless": Case((lb(cluster_ip="None", cluster_ips=["None"]), eps(endpoint("n1"))), set()),
    "no cluster ip": Case((lb(cluster_ip="", cluster_ips=[]), eps(endpoint("n1"))), set()),
    "external name": Case(
        (service("shop", "web", type="ExternalName", policy="Local"), eps(endpoint("n1"))),
        set(),
    ),
    "node port local": Case(
        (service("shop", "web", type="NodePort", policy="Local"), eps(endpoint("n1"))),
        {"10.96.0.10/32"},
    ),
    "cluster ip type reads the status too": Case(
        (
            service("shop", "web", policy="Local", ingress=["198.51.100.20"]),
            eps(endpoint("n1")),
        ),
        {"10.96.0.10/32", "198.51.100.20/32"},  # status is read whatever the type
    ),
    # Which IPs
    "no cluster ranges: cluster ips not advertised": Case(
        (lb(), eps(endpoint("n1"))),
        {"192.0.2.10/32", "198.51.100.20/32"},
        config={k: v for k, v in RANGES.items() if k != "serviceClusterIPs"},
    ),
    "no ranges at all": Case((lb(), eps(endpoint("n1"))), set(), config={}),
    "ingress ip outside lb ranges": Case(
        (lb(ingress=["100.64.0.1"]), eps(endpoint("n1"))), {"10.96.0.10/32", "192.0.2.10/32"}
    ),
    "dual stack": Case(
        (
            lb(
                cluster_ips=["10.96.0.10", "fd00:96::10"],
                external_ips=[],
                ingress=[],
                families=["IPv4", "IPv6"],
            ),
            eps(endpoint("n1", "fd00:244::5"), address_type="IPv6"),
        ),
        {"10.96.0.10/32", "fd00:96::10/128"},
    ),
    "ipv6 single stack": Case(
        (
            lb(cluster_ip="fd00:96::10", external_ips=[], ingress=[]),
            eps(endpoint("n1", "fd00:244::5"), address_type="IPv6"),
        ),
        {"fd00:96::10/128"},
    ),
    "ipv6 written long is canonical": Case(
        (
            lb(cluster_ip="FD00:96:0::0010", external_ips=[], ingress=[]),
            eps(endpoint("n1", "fd00:244::5"), address_type="IPv6"),
        ),
        {"fd00:96::10/128"},
    ),
    # externalTrafficPolicy: Cluster -- covered by the ranges, except single-IP entries
    "cluster policy with aggregation": Case((lb("Cluster"), eps(endpoint("n1"))), set()),
    "cluster policy single external ip": Case(
        (lb("Cluster", external_ips=["203.0.113.7"], ingress=[]),),
        {"10.96.0.10/32", "203.0.113.7/32"},  # from every node, no endpoint needed
    ),
    "cluster policy single lb ip in status": Case(
        (lb("Cluster", external_ips=[], ingress=["198.51.100.9"]),),
        {"10.96.0.10/32", "198.51.100.9/32"},
        config={**RANGES, "serviceLoadBalancerIPs": [{"cidr": "198.51.100.9/32"}]},
    ),
    # spec.loadBalancerIP decides, but only status IPs are routes (routes.go).
    "cluster policy single lb ip in spec only": Case(
        (lb("Cluster", external_ips=[], ingress=[], load_balancer_ip="198.51.100.9"),),
        {"10.96.0.10/32"},
        config={**RANGES, "serviceLoadBalancerIPs": [{"cidr": "198.51.100.9/32"}]},
    ),
    "empty policy (ClusterIP type) with aggregation": Case(
        (service("shop", "web"), eps(endpoint("n1"))), set()
    ),
    # serviceLoadBalancerAggregation: Disabled -- Cluster services with any ready endpoint
    "aggregation disabled, endpoint elsewhere": Case(
        (lb("Cluster"), eps(endpoint("n2"))),
        WEB_ROUTES,
        config={**RANGES, "serviceLoadBalancerAggregation": "Disabled"},
    ),
    "aggregation disabled, no ready endpoint": Case(
        (lb("Cluster"), eps(endpoint("n2", ready=False))),
        set(),
        config={**RANGES, "serviceLoadBalancerAggregation": "Disabled"},
    ),
    "aggregation disabled, local policy still local": Case(
        (lb(), eps(endpoint("n2"))),
        set(),
        config={**RANGES, "serviceLoadBalancerAggregation": "Disabled"},
    ),
    # CALICO_ADVERTISE_CLUSTER_IPS
    "env advertises cluster ips": Case(
        (lb(external_ips=[], ingress=[]), eps(endpoint("n1"))),
        {"10.96.0.10/32"},
        config={},
        env="10.96.0.0/12",
    ),
    "two services share an ip": Case(
        (
            lb(),
            eps(endpoint("n1")),
            service("shop", "api", policy="Local", type="LoadBalancer", ingress=["198.51.100.20"]),
            endpoint_slice("shop", "api-x", "api", [endpoint("n2")]),
        ),
        WEB_ROUTES,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_service_routes(case: Case) -> None:
    snap = snapshot(node("n1", "10.0.0.1/24"), bgp_configuration(**case.config), *case.items)
    view = derive_bgp_keys(
        snap, node_name="n1", k8s_node_ref=case.node_ref, advertise_cluster_ips=case.env
    )
    assert per_service(view) == case.expected


def test_keys_are_calicos() -> None:
    snap = snapshot(
        bgp_configuration(**RANGES),
        lb(cluster_ips=["10.96.0.10", "fd00:96::10"], families=["IPv4", "IPv6"]),
        eps(endpoint("n1")),
    )
    view = derive_bgp_keys(snap, node_name="n1")
    assert view["/calico/staticroutes/10.96.0.10-32"] == "10.96.0.10/32"
    assert view["/calico/staticroutesv6/fd00:96::10-128"] == "fd00:96::10/128"
    assert view["/calico/staticroutes/198.51.100.20-32"] == "198.51.100.20/32"
    # Single routes are advertised only; the ranges are what keeps them out of the kernel.
    assert not any(c.endswith(("/32", "/128")) for c in rejects(view))


def test_global_ranges_and_single_entries() -> None:
    view = derive_bgp_keys(snapshot(bgp_configuration(**RANGES)), node_name="n1")
    ranges = {"10.96.0.0/12", "fd00:96::/112", "192.0.2.0/24", "198.51.100.0/24"}
    assert statics(view) == ranges  # the single external IP is per Service
    assert rejects(view) == ranges


def test_aggregation_disabled_drops_the_lb_range_from_statics_and_rejects() -> None:
    config = bgp_configuration(**RANGES, serviceLoadBalancerAggregation="Disabled")
    view = derive_bgp_keys(snapshot(config), node_name="n1")
    assert "198.51.100.0/24" not in statics(view) | rejects(view)
    assert "192.0.2.0/24" in statics(view) & rejects(view)
    # The RR rule still reads the configured LB ranges.
    assert view["/calico/bgp/v1/global/svc_loadbalancer_ips"] == "198.51.100.0/24"


def test_env_cluster_range_replaces_the_configured_one() -> None:
    view = derive_bgp_keys(
        snapshot(bgp_configuration(**RANGES)), node_name="n1", advertise_cluster_ips="10.100.0.0/16"
    )
    assert "10.100.0.0/16" in statics(view) & rejects(view)
    assert not {"10.96.0.0/12", "fd00:96::/112"} & (statics(view) | rejects(view))
    v6 = derive_bgp_keys({}, advertise_cluster_ips="fd00:100::/108")
    assert v6["/calico/staticroutesv6/fd00:100::-108"] == "fd00:100::/108"


def test_excluded_node_advertises_no_service_but_keeps_rejects() -> None:
    snap = snapshot(
        node("n1", "10.0.0.1/24", labels={EXCLUDE: "true"}),
        bgp_configuration(**RANGES),
        lb(),
        eps(endpoint("n1")),
        lb("Cluster", external_ips=["203.0.113.7"], ingress=[]),
    )
    view = derive_bgp_keys(snap, node_name="n1")
    assert statics(view) == set()
    assert "10.96.0.0/12" in rejects(view)
    # Any other value of the label does not exclude.
    snap.update([node("n1", "10.0.0.1/24", labels={EXCLUDE: "false"})])
    assert per_service(derive_bgp_keys(snap, node_name="n1")) == {"10.96.0.10/32", "203.0.113.7/32"}


def test_endpoint_moving_moves_the_route() -> None:
    snap = snapshot(bgp_configuration(**RANGES), lb(), eps(endpoint("n1")))
    assert per_service(derive_bgp_keys(snap, node_name="n1")) == WEB_ROUTES
    assert per_service(derive_bgp_keys(snap, node_name="n2")) == set()
    snap.update([eps(endpoint("n2"))])
    assert per_service(derive_bgp_keys(snap, node_name="n1")) == set()
    assert per_service(derive_bgp_keys(snap, node_name="n2")) == WEB_ROUTES


def _raw(key_value: tuple[str, str], **patch: Any) -> tuple[str, str]:
    """The object with top-level sections merged with `patch`."""
    key, value = key_value
    doc = json.loads(value)
    for section, fields in patch.items():
        if isinstance(fields, dict) and isinstance(doc.get(section), dict):
            doc[section].update(fields)
        else:
            doc[section] = fields
    return key, json.dumps(doc)


BAD = {
    "not json": (("/kubernetes/services/shop/web", "{nope"), "malformed JSON"),
    "not an object": (("/kubernetes/endpointslices/shop/web-x", "[]"), "expected a JSON object"),
    "key without name": (("/kubernetes/services/shop", "{}"), "<namespace>/<name>"),
    "bad cluster ip": (_raw(lb(), spec={"clusterIP": "10.96.0.300"}), "spec.clusterIP"),
    "bad cluster ips entry": (_raw(lb(), spec={"clusterIPs": ["x"]}), "spec.clusterIPs[0]"),
    "bad external ip": (_raw(lb(), spec={"externalIPs": ["1.2.3"]}), "spec.externalIPs[0]"),
    "bad lb ip": (_raw(lb(), spec={"loadBalancerIP": "x"}), "spec.loadBalancerIP"),
    "bad ingress ip": (
        _raw(lb(), status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4/32"}]}}),
        "status.loadBalancer.ingress[0].ip",
    ),
    "ready not a boolean": (
        eps({"nodeName": "n1", "conditions": {"ready": "yes"}}),
        "endpoints[0].conditions.ready",
    ),
    "endpoints not a list": (_raw(eps(), endpoints={"a": 1}), "endpoints: expected an array"),
    "node name not a string": (eps({"nodeName": 7}), "endpoints[0].nodeName"),
    "aggregation value": (
        bgp_configuration(serviceLoadBalancerAggregation="Off"),
        "serviceLoadBalancerAggregation: 'Off' is not Enabled or Disabled",
    ),
}


@pytest.mark.parametrize(("item", "message"), BAD.values(), ids=BAD.keys())
def test_malformed_data_is_a_problem_naming_the_key(item: tuple[str, str], message: str) -> None:
    with pytest.raises(CalicoDataError) as err:
        derive_bgp_keys(snapshot(bgp_configuration(**RANGES), item), node_name="n1")
    assert [p.location for p in err.value.problems] == [item[0]]
    assert message in err.value.problems[0].message


def test_bad_env_cluster_range_is_named() -> None:
    with pytest.raises(CalicoDataError) as err:
        derive_bgp_keys({}, advertise_cluster_ips="10.96.0.0")
    [problem] = err.value.problems
    assert problem.location == "environment CALICO_ADVERTISE_CLUSTER_IPS"
    assert "'10.96.0.0' is not a CIDR" in problem.message


def test_fields_missing_are_not_problems() -> None:
    snap = snapshot(
        bgp_configuration(**RANGES),
        ("/kubernetes/services/shop/web", "{}"),
        ("/kubernetes/endpointslices/shop/web-x", "{}"),
        # Hand-written: no clusterIPs, which the API server would fill in from clusterIP.
        (
            "/kubernetes/services/shop/api",
            json.dumps(
                {
                    "spec": {
                        "type": "ClusterIP",
                        "clusterIP": "10.96.0.11",
                        "externalTrafficPolicy": "Local",
                        "ipFamilies": ["IPv4"],
                    }
                }
            ),
        ),
        endpoint_slice("shop", "api-x", "api", [{"nodeName": "n1"}]),
    )
    assert per_service(derive_bgp_keys(snap, node_name="n1")) == {"10.96.0.11/32"}

"""BGPConfiguration ignoredInterfaces, programClusterRoutes, ipv4/ipv6NormalRoutePriority and
the Nodes' WireGuard addresses, from calicoctl-shaped v3 resources through the model and the
shipped templates to the loaded config (what the speaker and kernel sync then act on)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from ipaddress import ip_address
from typing import Any

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import derive_view
from bgpd.confd.model import CalicoDataError, derive_bgp_keys
from bgpd.confd.model.snapshot import parse_key
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import Config, parse_config
from bgpd.config.calico_release import ClusterRoutePolicy
from bgpd.net import IPV4_UNICAST
from bgpd.runtime.kernel_wiring import programming_rules

from . import calico_v3

V3 = calico_v3.V3


def cluster(**config: Any) -> dict[str, str]:
    values = calico_v3.bgp_configuration(**config)
    values |= calico_v3.node("n1", "10.0.0.1/24")
    values |= calico_v3.node("n2", "10.0.0.2/24")
    values |= calico_v3.node("n3", "10.0.0.3/24", ipv6Address="fd00::3/64")
    values |= calico_v3.ip_pool("pool", "192.168.0.0/16", ipipMode="Always")
    return values


def wireguard(values: dict[str, str], name: str, v4: str = "", v6: str = "") -> None:
    key = f"{V3}/nodes/{name}"
    doc = json.loads(values[key])
    doc["spec"]["wireguard"] = {
        k: v for k, v in (("interfaceIPv4Address", v4), ("interfaceIPv6Address", v6)) if v
    }
    values[key] = json.dumps(doc)


def rendered(
    values: Mapping[str, str], node: str = "n1", variables: Mapping[str, str] | None = None
) -> Config:
    view = derive_view(values)
    resources = load_resources(DEFAULT_CONFDIR, node)
    ctx = TemplateContext(nodename=node, environ={}, variables=dict(variables or {}))
    return parse_config(Renderer(DEFAULT_CONFDIR, resources, ctx).render_text(resources[0], view))


def test_defaults_when_nothing_is_set() -> None:
    cfg = rendered(cluster())
    assert cfg.calico is not None
    assert cfg.calico.compat == "3.33" and cfg.calico.program_cluster_routes is None
    assert cfg.calico.cluster_routes == ClusterRoutePolicy(ipip=False, no_encap=True)
    assert (cfg.calico.ipv4_normal_route_priority, cfg.calico.ipv6_normal_route_priority) == (
        1024,
        1024,
    )
    assert cfg.calico.wireguard_peers == ()
    assert cfg.kernel.ignored_interfaces == ()


def test_each_field_reaches_the_config() -> None:
    cfg = rendered(
        cluster(
            ignoredInterfaces=["eth9*", "dummy0"],
            programClusterRoutes="EnabledIPIPOnly",
            ipv4NormalRoutePriority=2000,
            ipv6NormalRoutePriority=3000,
        ),
        variables={"calico_compat": "3.32"},
    )
    assert cfg.kernel.ignored_interfaces == ("eth9*", "dummy0")
    assert cfg.calico is not None
    assert cfg.calico.compat == "3.32"
    assert cfg.calico.cluster_routes == ClusterRoutePolicy(ipip=True, no_encap=False)
    assert (cfg.calico.normal_priority(4), cfg.calico.normal_priority(6)) == (2000, 3000)


def test_wireguard_peers_only_when_this_node_runs_wireguard() -> None:
    values = cluster()
    wireguard(values, "n2", v4="10.250.0.2")
    wireguard(values, "n3", v4="10.250.0.3", v6="fd10::3")
    cfg = rendered(values, "n1")
    assert cfg.calico is not None and cfg.calico.wireguard_peers == ()  # n1 has none
    wireguard(values, "n1", v4="10.250.0.1")
    cfg = rendered(values, "n1")
    assert cfg.calico is not None
    # per family: n1 has an IPv4 WireGuard address only, so n3's IPv6 address is not listed
    assert set(cfg.calico.wireguard_peers) == {ip_address("10.0.0.2"), ip_address("10.0.0.3")}
    # and what kernel sync then does: routes through n2 or n3 are Felix's, n1's own are not
    rules = programming_rules(cfg)
    assert rules.program(IPV4_UNICAST, "10.200.0.0/24", ("10.0.0.2",)) is None
    assert rules.left_to_felix(IPV4_UNICAST, "10.200.0.0/24", ("10.0.0.3",))
    assert rules.program(IPV4_UNICAST, "10.200.0.0/24", ("10.0.0.9",)) is not None
    view = derive_bgp_keys(values)
    assert view["/calico/bgp/v1/host/n1/wireguard_addr_v4"] == "10.250.0.1"
    assert view["/calico/bgp/v1/host/n2/wireguard_addr_v6"] == ""  # blank, as Calico writes it


def test_an_unknown_program_cluster_routes_is_unset_and_said() -> None:
    values = cluster(programClusterRoutes="EnabledSomeday")
    cfg = rendered(values)
    assert cfg.calico is not None and cfg.calico.program_cluster_routes is None
    key = f"{V3}/bgpconfigurations/default"
    (refusal,) = parse_key(key, values[key]).refusals
    assert (refusal.kind, refusal.field) == ("BGPConfiguration", "spec.programClusterRoutes")
    assert "EnabledSomeday" in refusal.reason and "treated as unset" in refusal.reason


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"ignoredInterfaces": ["*"]}, "spec.ignoredInterfaces[0]"),
        ({"ignoredInterfaces": ["eth0", "bad/name"]}, "spec.ignoredInterfaces[1]"),
        ({"ipv4NormalRoutePriority": 0}, "spec.ipv4NormalRoutePriority"),
        ({"ipv6NormalRoutePriority": 2147483647}, "spec.ipv6NormalRoutePriority"),
    ],
)
def test_bad_values_are_data_problems_naming_the_field(spec: dict[str, Any], where: str) -> None:
    with pytest.raises(CalicoDataError) as info:
        derive_bgp_keys(cluster(**spec))
    assert any(where in str(p) for p in info.value.problems), info.value.problems

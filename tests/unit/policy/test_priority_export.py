"""Calico's export rules that came with route priorities and Felix-programmed IPIP routes:
calico_aggr's escape for elevated /32s (`krt_metric < normal`) and the `tunl0` arm of
reject_tunnel_routes (IBGPExportFilterForTunnelRoutes), each only in the releases that have it."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from bgpd.config import parse_config
from bgpd.net import Afi, family_of, pack_network
from bgpd.policy import ExportPolicy, ExportRoute, ExportRule
from bgpd.policy.route_priority import local_pref_of_priority

NODE = """\
[bgp]
asn = 64512

[node]
name = "node-a"
ipv4 = "172.18.0.2/16"

[calico]
blocks = ["192.168.1.0/26", "fd10::a:0/122"]
{extra}

[[calico.pool]]
cidr = "192.168.0.0/16"
ipip = "always"

[[calico.pool]]
cidr = "fd10::/48"
"""

ELEVATED = local_pref_of_priority(512)
NORMAL = local_pref_of_priority(1024)


def policy(extra: str = "") -> ExportPolicy:
    return ExportPolicy.from_config(parse_config(NODE.format(extra=extra)))


def decide(
    p: ExportPolicy,
    prefix: str,
    *,
    lp: int | None,
    ifname: str | None = None,
    internal: bool = True,
) -> ExportRule:
    net = ip_network(prefix)
    route = ExportRoute(
        family=family_of(net), prefix=net, source_kind="kernel", ifname=ifname, local_pref=lp
    )
    decision = p.decide(route, internal)
    afi = Afi.IPV4 if net.version == 4 else Afi.IPV6
    assert p.decide_nlri(afi, pack_network(net), ifname, internal, lp) == decision
    assert decision.accept is (
        decision.rule in {ExportRule.BLOCK, ExportRule.ELEVATED, ExportRule.POOL}
    )
    return decision.rule


@pytest.mark.parametrize("prefix", ["192.168.1.5/32", "fd10::a:5/128"])
def test_an_elevated_route_escapes_the_block(prefix: str) -> None:
    p = policy()
    assert decide(p, prefix, lp=ELEVATED) is ExportRule.ELEVATED
    assert decide(p, prefix, lp=ELEVATED, internal=False) is ExportRule.ELEVATED
    assert decide(p, prefix, lp=NORMAL) is ExportRule.INSIDE_BLOCK
    assert decide(p, prefix, lp=None) is ExportRule.INSIDE_BLOCK
    assert decide(p, prefix, lp=100) is ExportRule.INSIDE_BLOCK


def test_the_escape_follows_the_normal_priority_per_family() -> None:
    p = policy("ipv4_normal_route_priority = 400")
    assert decide(p, "192.168.1.5/32", lp=ELEVATED) is ExportRule.INSIDE_BLOCK  # 512 > 400
    assert decide(p, "192.168.1.5/32", lp=local_pref_of_priority(399)) is ExportRule.ELEVATED
    assert decide(p, "fd10::a:5/128", lp=ELEVATED) is ExportRule.ELEVATED


@pytest.mark.parametrize("compat", ["3.30", "3.31"])
def test_no_escape_before_route_priorities(compat: str) -> None:
    p = policy(f'compat = "{compat}"')
    assert decide(p, "192.168.1.5/32", lp=ELEVATED) is ExportRule.INSIDE_BLOCK


def test_the_block_itself_is_accepted_whatever_its_priority() -> None:
    assert decide(policy(), "192.168.1.0/26", lp=NORMAL) is ExportRule.BLOCK


@pytest.mark.parametrize(
    ("extra", "rejected"),
    [
        ("", True),  # 3.33: Felix programs the IPIP routes
        ('program_cluster_routes = "Disabled"', True),
        ('program_cluster_routes = "EnabledNoEncapOnly"', True),
        ('program_cluster_routes = "Enabled"', False),
        ('program_cluster_routes = "EnabledIPIPOnly"', False),
        ('compat = "3.32"', False),  # unset meant Enabled then
    ],
)
def test_tunl0_routes_stay_away_from_ibgp_peers_when_felix_programs_them(
    extra: str, rejected: bool
) -> None:
    p = policy(extra)
    remote_block = "192.168.9.0/26"  # Felix's route to another node's block, learned
    rule = decide(p, remote_block, lp=NORMAL, ifname="tunl0")
    assert rule is (ExportRule.TUNNEL_ROUTE if rejected else ExportRule.POOL)
    # eBGP peers still get it (Calico's decision: external peers may hear only some nodes)
    assert decide(p, remote_block, lp=NORMAL, ifname="tunl0", internal=False) is ExportRule.POOL
    assert decide(p, remote_block, lp=NORMAL, ifname="tunl1") is ExportRule.POOL

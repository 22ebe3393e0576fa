"""`[calico] compat`, `program_cluster_routes`, the normal route priorities, `wireguard_peers`
and `[kernel] ignored_interfaces`: what each value means and the errors that name bad ones."""

from __future__ import annotations

import pytest

from bgpd.config import CalicoSection, parse_config
from bgpd.config.calico_release import COMPAT_RELEASES, ClusterRoutePolicy
from tests.unit.config.helpers import problems_of

B = '[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\n'


def calico(text: str = "") -> CalicoSection:
    cfg = parse_config(B + "[calico]\n" + text)
    assert cfg.calico is not None
    return cfg.calico


def test_defaults_follow_calico_3_33() -> None:
    c = calico()
    assert c.compat == "3.33"
    assert c.cluster_routes == ClusterRoutePolicy(ipip=False, no_encap=True)
    assert c.route_priorities
    assert (c.normal_priority(4), c.normal_priority(6)) == (1024, 1024)


@pytest.mark.parametrize(
    ("compat", "ipip", "priorities"),
    [("3.30", True, False), ("3.31", True, False), ("3.32", True, True), ("3.33", False, True)],
)
def test_each_release_has_its_defaults(compat: str, ipip: bool, priorities: bool) -> None:
    c = calico(f'compat = "{compat}"\n')
    assert c.cluster_routes == ClusterRoutePolicy(ipip=ipip, no_encap=True)
    assert c.route_priorities is priorities


@pytest.mark.parametrize("compat", COMPAT_RELEASES)
@pytest.mark.parametrize(
    ("value", "ipip", "no_encap"),
    [
        ("Enabled", True, True),
        ("Disabled", False, False),
        ("EnabledIPIPOnly", True, False),
        ("EnabledNoEncapOnly", False, True),
    ],
)
def test_a_set_value_is_honoured_in_every_release(
    compat: str, value: str, ipip: bool, no_encap: bool
) -> None:
    c = calico(f'compat = "{compat}"\nprogram_cluster_routes = "{value}"\n')
    assert c.cluster_routes == ClusterRoutePolicy(ipip=ipip, no_encap=no_encap)


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('[calico]\ncompat = "3.29"\n', "calico.compat", "3.30, 3.31, 3.32, 3.33"),
        ('[calico]\nprogram_cluster_routes = "Auto"\n', "calico.program_cluster_routes", "one of"),
        ("[calico]\nipv4_normal_route_priority = 0\n", "calico.ipv4_normal_route_priority", "1.."),
        (
            "[calico]\nipv6_normal_route_priority = 2147483647\n",
            "calico.ipv6_normal_route_priority",
            "2147483646",
        ),
        (
            '[calico]\nwireguard_peers = ["10.0.0.2", "10.0.0.2"]\n',
            "calico.wireguard_peers",
            "twice",
        ),
        ('[kernel]\nignored_interfaces = ["*"]\n', "kernel.ignored_interfaces[0]", "'*' alone"),
        ('[kernel]\nignored_interfaces = ["a/b"]\n', "kernel.ignored_interfaces[0]", "wildcards"),
        (
            '[kernel]\nignored_interfaces = ["eth0", "x234567890123456"]\n',
            "kernel.ignored_interfaces[1]",
            "1..15",
        ),
    ],
)
def test_bad_values_are_named(text: str, where: str, words: str) -> None:
    problems = problems_of(B + text)
    assert [loc for loc, _ in problems] == [where]
    assert words in problems[0][1]


def test_ignored_interfaces_and_wireguard_peers_load() -> None:
    cfg = parse_config(
        B + '[calico]\nwireguard_peers = ["10.0.0.2", "fd00::2"]\n'
        '[kernel]\nignored_interfaces = ["eth9*", "vxlan.calico"]\n'
    )
    assert cfg.kernel.ignored_interfaces == ("eth9*", "vxlan.calico")
    assert cfg.calico is not None
    assert [str(a) for a in cfg.calico.wireguard_peers] == ["10.0.0.2", "fd00::2"]

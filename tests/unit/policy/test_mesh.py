"""The node-to-node mesh derived from [node] and [[cluster_node]] by Calico's rules."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgpd.config import (
    BgpSection,
    ClusterNode,
    Config,
    ConfigError,
    MeshSection,
    NodeSection,
    PeerConfig,
    diff_configs,
    parse_config,
)
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.policy import (
    ExportPolicy,
    is_mesh_peer,
    mesh_passive,
    mesh_peer_name,
    mesh_peers,
)

HEAD = """\
[bgp]
asn = 64512

[node]
name = "node-a"
ipv4 = "10.0.0.1/24"
ipv6 = "fd00::1/64"
"""


def node(name: str, v4: str = "", v6: str = "", **extra: str) -> str:
    lines = [f'\n[[cluster_node]]\nname = "{name}"\nipv4 = "{v4}"\nipv6 = "{v6}"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def names(cfg: Config) -> list[str]:
    return [p.name for p in mesh_peers(cfg)]


def test_every_other_node_with_an_address_is_a_peer_self_and_reflectors_are_not() -> None:
    cfg = parse_config(
        HEAD
        + node("node-a", "10.0.0.1", "fd00::1")  # ourselves: skipped by address
        + node("node-b", "10.0.0.2", "fd00::2")
        + node("node-c", "10.0.0.3")  # no IPv6: IPv4 session only
        + node("node-d", "", "fd00::4")  # no IPv4: IPv6 session only
        + node("rr-1", "10.0.0.5", "fd00::5", rr_cluster_id='"224.0.0.1"')
        + node("node-e")  # no address at all
    )
    # IPv4 sessions first, then IPv6, each in cluster_node order.
    assert names(cfg) == ["Mesh_10_0_0_2", "Mesh_10_0_0_3", "Mesh_fd00__2", "Mesh_fd00__4"]
    assert [p.name for p in cfg.all_peers] == names(cfg)


def test_self_is_recognised_by_address_not_by_name() -> None:
    # Calico compares ip_addr_v4 with ours; a stale entry under our name but another address
    # is a peer, and another name with our address is us.
    cfg = parse_config(HEAD + node("node-a", "10.0.0.7") + node("other", "10.0.0.1"))
    assert names(cfg) == ["Mesh_10_0_0_7"]


def test_a_route_reflector_node_has_no_mesh_at_all() -> None:
    text = HEAD.replace('name = "node-a"', 'name = "node-a"\nrr_cluster_id = "224.0.0.1"')
    cfg = parse_config(text + node("node-b", "10.0.0.2", "fd00::2"))
    assert mesh_peers(cfg) == ()
    # ...and the cluster id of [bgp] defaults to the node's (Calico's `rr cluster id`).
    assert cfg.bgp.cluster_id == IPv4Address("224.0.0.1")


def test_mesh_disabled_or_no_node_means_no_mesh_peers() -> None:
    disabled = parse_config(HEAD + "\n[mesh]\nenabled = false\n" + node("b", "10.0.0.2"))
    assert mesh_peers(disabled) == ()
    plain = parse_config('[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\n')
    assert mesh_peers(plain) == ()


def test_node_without_ipv6_gets_no_ipv6_mesh() -> None:
    text = HEAD.replace('ipv6 = "fd00::1/64"\n', "")
    cfg = parse_config(text + node("b", "10.0.0.2", "fd00::2"))
    assert names(cfg) == ["Mesh_10_0_0_2"]


def test_peer_fields_follow_calico_template() -> None:
    cfg = parse_config(
        HEAD
        + '\n[mesh]\npassword = "s3cret"\nrestart_time = 300\n'
        + node("b", "10.0.0.2", "fd00::2", asn="64600", port="1179")
        + node("c", "10.0.0.3")
    )
    b4, c4, b6 = mesh_peers(cfg)
    assert (b4.address, b4.asn, b4.port) == (ip_address("10.0.0.2"), 64600, 1179)
    assert b4.local_address == ip_address("10.0.0.1")
    assert b4.families == (IPV4_UNICAST,)
    assert (b4.password, b4.graceful_restart_time) == ("s3cret", 300)
    assert (b4.rr_client, b4.next_hop_self, b4.multihop, b4.ttl_security) == (False, False, None, 0)
    assert "b" in b4.description
    # Defaults: the global AS and our own port.
    assert (c4.asn, c4.port) == (64512, 179)
    assert (b6.address, b6.local_address) == (ip_address("fd00::2"), ip_address("fd00::1"))
    assert b6.families == (IPV6_UNICAST,)
    assert b6.name == "Mesh_fd00__2"


def test_peer_settings_resolve_mesh_peers_with_the_node_asn() -> None:
    text = HEAD.replace('name = "node-a"', 'name = "node-a"\nasn = 65001')
    cfg = parse_config(text + "\n[mesh]\nrestart_time = 30\n" + node("b", "10.0.0.2"))
    s = cfg.peer_settings("Mesh_10_0_0_2")
    assert (s.asn, s.local_asn, s.is_ebgp) == (64512, 65001, True)
    assert s.graceful_restart_time == 30
    assert s.router_id == IPv4Address("10.0.0.1")  # defaulted from [node].ipv4
    assert s.families == frozenset({IPV4_UNICAST})


@pytest.mark.parametrize(
    ("ours", "theirs", "we_are_passive"),
    [
        ("10.0.0.1", "10.0.0.2", True),
        ("10.0.0.2", "10.0.0.1", False),
        # String comparison, as Go's template `gt`: "10.0.0.9" > "10.0.0.10".
        ("10.0.0.10", "10.0.0.9", True),
        ("10.0.0.9", "10.0.0.10", False),
        ("10.0.0.10", "10.0.0.2", True),
        ("fd00::10", "fd00::9", True),
        ("fd00::9", "fd00::10", False),
        ("fd00::a", "fd00::9", False),
    ],
)
def test_passive_side_is_the_lower_address_by_string(
    ours: str, theirs: str, we_are_passive: bool
) -> None:
    assert mesh_passive(ip_address(theirs), ip_address(ours)) is we_are_passive
    v = ip_address(ours).version
    key = "ipv4" if v == 4 else "ipv6"
    plen = 24 if v == 4 else 64
    text = f'[bgp]\nasn = 1\nrouter_id = "1.1.1.1"\n[node]\nname = "me"\n{key} = "{ours}/{plen}"\n'
    cfg = parse_config(text + f'[[cluster_node]]\nname = "x"\n{key} = "{theirs}"\n')
    (peer,) = mesh_peers(cfg)
    assert peer.passive is we_are_passive


@given(st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_exactly_one_side_of_a_mesh_pair_connects(a: IPv4Address, b: IPv4Address) -> None:
    if a == b:
        return
    assert mesh_passive(a, b) != mesh_passive(b, a)


def test_peer_names_replace_dots_and_colons() -> None:
    assert mesh_peer_name(ip_address("192.168.10.3")) == "Mesh_192_168_10_3"
    assert mesh_peer_name(ip_address("fe0a::3")) == "Mesh_fe0a__3"
    assert mesh_peer_name(ip_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")) == (
        "Mesh_2001_db8_ffff_ffff_ffff_ffff_ffff_ffff"
    )


def test_mesh_peers_of_a_config_built_by_hand() -> None:
    bgp = BgpSection(asn=64512, router_id=IPv4Address("10.0.0.1"))
    b = ClusterNode(name="b", ipv4=IPv4Address("10.0.0.2"))
    no_address = Config(bgp=bgp, node=NodeSection(name="a"), cluster_nodes=(b,))
    assert mesh_peers(no_address) == ()
    cfg = Config(
        bgp=bgp,
        node=NodeSection(name="a", ipv4=IPv4Interface("10.0.0.1/24")),
        cluster_nodes=(b,),
        mesh=MeshSection(password="pw"),
    )
    (peer,) = mesh_peers(cfg)
    assert isinstance(peer, PeerConfig)
    assert (peer.name, peer.password, peer.passive) == ("Mesh_10_0_0_2", "pw", True)
    assert cfg.peer("Mesh_10_0_0_2") is peer
    assert cfg.peers == ()  # derived peers are not file entries


def test_is_mesh_peer_and_export_internal_flag() -> None:
    cfg = parse_config(
        HEAD
        + node("b", "10.0.0.2", asn="65000")  # eBGP mesh peer (per-node AS)
        + '\n[[peer]]\nname = "Global_10_0_0_254"\naddress = "10.0.0.254"\nasn = 65000\n'
        + '\n[[peer]]\nname = "Global_10_0_0_253"\naddress = "10.0.0.253"\nasn = 64512\n'
    )
    assert is_mesh_peer(cfg, "Mesh_10_0_0_2")
    assert not is_mesh_peer(cfg, "Global_10_0_0_254")
    assert not is_mesh_peer(cfg, "nope")
    policy = ExportPolicy.from_config(cfg)
    # The mesh template always calls calico_export_to_bgp_peers(true).
    assert policy.peer_internal(cfg.peer_settings("Mesh_10_0_0_2")) is True
    assert policy.peer_internal(cfg.peer_settings("Global_10_0_0_254")) is False
    assert policy.peer_internal(cfg.peer_settings("Global_10_0_0_253")) is True


def test_explicit_peer_clashing_with_a_mesh_peer_is_refused() -> None:
    explicit = '\n[[peer]]\nname = "{name}"\naddress = "{address}"\nasn = 64512\n'
    with pytest.raises(ConfigError) as info:
        parse_config(
            HEAD
            + node("b", "10.0.0.2")
            + node("c", "10.0.0.3")
            + explicit.format(name="Mesh_10_0_0_2", address="10.9.9.9")
            + explicit.format(name="Global_10_0_0_3", address="10.0.0.3")
        )
    found = {(p.location, p.message) for p in info.value.problems}
    assert (
        'peer[0].name (name "Mesh_10_0_0_2")',
        "name is also the node-to-node mesh peer to 10.0.0.2",
    ) in found
    assert (
        'peer[1].address (name "Global_10_0_0_3")',
        "10.0.0.3 is also the node-to-node mesh peer Mesh_10_0_0_3",
    ) in found


def test_cluster_nodes_need_a_node_section_and_unique_identities() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[bgp]\nasn = 1\nrouter_id = "1.1.1.1"\n' + node("b", "10.0.0.2"))
    assert [p.location for p in info.value.problems] == ["cluster_node"]
    with pytest.raises(ConfigError) as info:
        parse_config(
            HEAD + node("b", "10.0.0.2") + node("b", "10.0.0.3", "fd00::3") + node("c", "10.0.0.3")
        )
    locations = [p.location for p in info.value.problems]
    assert "cluster_node[1].name" in locations
    assert "cluster_node[2].ipv4" in locations


def test_adding_a_cluster_node_adds_exactly_its_mesh_peers() -> None:
    base = (
        HEAD
        + node("b", "10.0.0.2", "fd00::2")
        + ('\n[[peer]]\nname = "tor"\naddress = "10.0.0.254"\nasn = 65000\n')
    )
    old = parse_config(base)
    new = parse_config(base + node("c", "10.0.0.3", "fd00::3"))
    d = diff_configs(old, new)
    assert d.peers_added == ("Mesh_10_0_0_3", "Mesh_fd00__3")
    assert d.peers_removed == ()
    assert (d.session_changed, d.policy_changed, d.settings_changed) == ((), (), ())
    assert not d.global_session_changed
    back = diff_configs(new, old)
    assert back.peers_removed == ("Mesh_10_0_0_3", "Mesh_fd00__3")
    assert back.peers_added == ()


def test_mesh_password_change_resets_every_mesh_session_only() -> None:
    base = (
        HEAD
        + node("b", "10.0.0.2")
        + node("c", "10.0.0.3")
        + ('\n[[peer]]\nname = "tor"\naddress = "10.0.0.254"\nasn = 65000\n')
    )
    old = parse_config(base)
    new = parse_config(base + '\n[mesh]\npassword = "x"\n')
    d = diff_configs(old, new)
    assert d.session_changed == ("Mesh_10_0_0_2", "Mesh_10_0_0_3")
    assert d.peers_added == d.peers_removed == ()


def test_a_node_becoming_a_reflector_drops_out_of_everyones_mesh() -> None:
    old = parse_config(HEAD + node("b", "10.0.0.2") + node("c", "10.0.0.3"))
    new = parse_config(
        HEAD + node("b", "10.0.0.2", rr_cluster_id='"224.0.0.1"') + node("c", "10.0.0.3")
    )
    d = diff_configs(old, new)
    assert d.peers_removed == ("Mesh_10_0_0_2",)
    assert d.peers_added == d.session_changed == ()

"""The Calico sections: [node], [[cluster_node]], [mesh], [calico], [kernel].

Loading, defaults taken from [node], every validation rule with its location, rendering back,
and how reload classifies changes to them.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Interface, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.config import (
    MASK,
    BgpSection,
    CalicoSection,
    ClusterNode,
    Community,
    Config,
    ConfigDiff,
    EncapMode,
    KernelSection,
    LargeCommunity,
    MeshSection,
    NodeSection,
    Pool,
    PrefixAdvertisement,
    StaticRoute,
    diff_configs,
    parse_config,
    render_config_toml,
)
from bgpd.config import loader as loader_module
from tests.unit.config.helpers import problems_of

FULL = """\
[bgp]
asn = 64512
port = 179

[node]
name = "node-a"
ipv4 = "172.18.0.2/16"
ipv6 = "fd00::2/64"
asn = 64513

[mesh]
password = "mesh secret"
restart_time = 240

[kernel]
tunnel_device = "tunl0"
learn_protocols = [3, 80, 201]
converge_timeout = 60

[calico]
blocks = ["192.168.221.64/26", "192.168.7.7/32", "fd10::a:0/122"]
advertise = ["10.96.0.0/12"]
reject = ["10.96.0.0/12"]
lb_ranges = ["10.200.0.0/24"]

[[calico.pool]]
cidr = "192.168.0.0/16"
ipip = "cross-subnet"

[[calico.pool]]
cidr = "fd10::/48"
vxlan = "always"
disable_bgp_export = true
disabled = true

[[calico.prefix_advertisement]]
cidr = "192.168.0.0/16"
communities = ["65000:100", "65000:1:2"]

[[cluster_node]]
name = "node-a"
ipv4 = "172.18.0.2"
ipv6 = "fd00::2"
rr_cluster_id = ""

[[cluster_node]]
name = "node-b"
ipv4 = "172.18.0.3"
ipv6 = ""
asn = 64514
port = 1179
"""


def test_full_calico_file_loads_with_typed_values() -> None:
    cfg = parse_config(FULL)
    assert cfg.node == NodeSection(
        name="node-a",
        ipv4=IPv4Interface("172.18.0.2/16"),
        ipv6=IPv6Interface("fd00::2/64"),
        asn=64513,
    )
    assert cfg.node.network_v4 == IPv4Network("172.18.0.0/16")
    assert cfg.node.ipv4_address == IPv4Address("172.18.0.2")
    assert cfg.cluster_nodes[0].rr_cluster_id is None  # "" means none, as in Calico's keys
    assert cfg.cluster_nodes[1] == ClusterNode(
        name="node-b", ipv4=IPv4Address("172.18.0.3"), asn=64514, port=1179
    )
    assert cfg.mesh == MeshSection(password="mesh secret", restart_time=240)
    assert cfg.kernel == KernelSection(
        enabled=True, learn_protocols=(3, 80, 201), converge_timeout=60
    )
    calico = cfg.calico
    assert calico is not None
    assert calico.pools[0] == Pool(cidr=ip_network("192.168.0.0/16"), ipip=EncapMode.CROSS_SUBNET)
    assert calico.pools[0].ipip == "cross-subnet"  # a StrEnum compares with its spelling
    assert calico.pools[1].vxlan is EncapMode.ALWAYS
    assert (calico.pools[1].disabled, calico.pools[1].disable_bgp_export) == (True, True)
    assert calico.blocks[2] == ip_network("fd10::a:0/122")
    (adv,) = calico.prefix_advertisements
    assert adv.communities == (
        Community(high=65000, low=100),
        LargeCommunity(global_admin=65000, local1=1, local2=2),
    )
    assert (adv.standard, adv.large) == (adv.communities[:1], adv.communities[1:])
    assert cfg.local_asn == 64513


def test_node_supplies_bgp_defaults() -> None:
    cfg = parse_config(FULL)
    # Calico's router id is the node's IPv4 address; it listens on the node's addresses.
    assert cfg.bgp.router_id == IPv4Address("172.18.0.2")
    assert cfg.bgp.listen == (IPv4Address("172.18.0.2"), ip_network("fd00::2/128")[0])
    assert cfg.bgp.cluster_id is None
    # Explicit values win, an empty listen list included.
    explicit = FULL.replace("port = 179", 'port = 179\nrouter_id = "1.2.3.4"\nlisten = []')
    cfg = parse_config(explicit)
    assert (cfg.bgp.router_id, cfg.bgp.listen) == (IPv4Address("1.2.3.4"), ())


def test_router_id_stays_required_without_a_node_ipv4() -> None:
    ((location, message),) = problems_of('[bgp]\nasn = 1\n[node]\nname = "x"\nipv6 = "fd00::1"\n')
    assert location == "bgp.router_id"
    assert message.startswith("missing required key")
    assert "[node].ipv4" in message


@pytest.mark.parametrize(
    ("node", "location"),
    [
        ('ipv4 = "10.0.0.1"\nrr_cluster_id = "not-an-id"', "node.rr_cluster_id"),
        ('ipv4 = "10.0.0.300"', "node.ipv4"),
    ],
)
def test_an_invalid_node_is_reported_once_not_again_as_a_missing_router_id(
    node: str, location: str
) -> None:
    # [node].ipv4 was given: the router id it supplies is the node's problem, not a second one.
    problems = problems_of(f'[bgp]\nasn = 1\n[node]\nname = "x"\n{node}\n')
    assert [loc for loc, _ in problems] == [location]


def test_rr_cluster_id_defaults_cluster_id_and_must_agree_with_it() -> None:
    text = '[bgp]\nasn = 1\n[node]\nname = "rr"\nipv4 = "10.0.0.1"\nrr_cluster_id = "224.0.0.1"\n'
    assert parse_config(text).bgp.cluster_id == IPv4Address("224.0.0.1")
    bad = text.replace("asn = 1", 'asn = 1\ncluster_id = "1.1.1.1"')
    ((location, message),) = problems_of(bad)
    assert location == "bgp.cluster_id"
    assert "differs from [node].rr_cluster_id 224.0.0.1" in message


def test_kernel_sync_defaults_on_with_calico_only() -> None:
    plain = '[bgp]\nasn = 1\nrouter_id = "1.1.1.1"\n'
    assert parse_config(plain).kernel.enabled is False
    assert parse_config(plain + "[calico]\n").kernel.enabled is True
    assert parse_config(plain + "[calico]\n[kernel]\nenabled = false\n").kernel.enabled is False
    assert parse_config(plain + "[kernel]\nenabled = true\n").kernel.enabled is True
    assert parse_config(plain).calico is None
    assert parse_config(plain + "[calico]\n").calico == CalicoSection()


def test_rr_client_check_uses_the_node_asn() -> None:
    head = '[bgp]\nasn = 64512\n[node]\nname = "a"\nipv4 = "10.0.0.1"\nasn = 65001\n'
    peer = '[[peer]]\nname = "c"\naddress = "10.0.0.9"\nrr_client = true\nasn = {asn}\n'
    parse_config(head + peer.format(asn=65001))
    ((location, message),) = problems_of(head + peer.format(asn=64512))
    assert location == 'peer[0].rr_client (name "c")'
    assert "differs from [node] asn 65001" in message


B = "[bgp]\nasn = 64512\n"
NODE = '[node]\nname = "a"\nipv4 = "10.0.0.1/24"\n'
CN = '[[cluster_node]]\nname = "b"\n'
POOL = '[calico]\n[[calico.pool]]\ncidr = "10.2.0.0/16"\n'
ADV = '[calico]\n[[calico.prefix_advertisement]]\ncidr = "10.2.0.0/16"\n'

# (file text, expected location, fragment of the message)
ERROR_CASES = [
    (B + '[node]\nname = "a"\nipv4 = "fd00::1/64"\n', "node.ipv4", "not an IPv4 address"),
    (B + '[node]\nname = "a"\nipv4 = "10.0.0.1/33"\n', "node.ipv4", "optional /LENGTH"),
    (B + '[node]\nname = "a"\nipv4 = "224.0.0.1/4"\n', "node.ipv4", "unicast"),
    (B + '[node]\nname = "a"\nipv4 = 10\n', "node.ipv4", "got an integer"),
    (B + '[node]\nipv4 = "10.0.0.1"\n', "node.name", "missing required key"),
    (B + NODE + "asn = 23456\n", "node.asn", "AS_TRANS"),
    (B + NODE + 'rr_cluster_id = "fd00::1"\n', "node.rr_cluster_id", "IPv4-formatted"),
    (B + '[node]\nname = "a b"\nipv4 = "10.0.0.1"\n', "node.name", "spaces"),
    (B + NODE + CN + 'ipv4 = "10.0.0.2/24"\n', "cluster_node[0].ipv4", "not an IP address"),
    (B + NODE + CN + 'ipv4 = "fd00::2"\n', "cluster_node[0].ipv4", "not an IPv4"),
    (B + NODE + CN + 'ipv6 = "::"\n', "cluster_node[0].ipv6", "unicast"),
    (B + NODE + CN + "port = 0\n", "cluster_node[0].port", "out of range"),
    (B + NODE + CN + "colour = 1\n", "cluster_node[0].colour", "unknown key"),
    (B + NODE + '[cluster_node]\nname = "b"\n', "cluster_node", "write [[cluster_node]]"),
    (B + NODE + '[mesh]\npassword = ""\n', "mesh.password", "must not be empty"),
    (B + NODE + "[mesh]\nrestart_time = 5000\n", "mesh.restart_time", "restart_time 5000"),
    (B + NODE + '[mesh]\nenabled = "yes"\n', "mesh.enabled", "expected true or false"),
    (
        B + '[calico]\nblocks = ["10.0.0.0/26", "10.0.0.32/27"]\n',
        "calico.blocks[1]",
        "overlaps blocks[0] (10.0.0.0/26)",
    ),
    (B + '[calico]\nblocks = ["10.0.0.1/26"]\n', "calico.blocks[0]", "host bits"),
    (
        B + '[calico]\nadvertise = ["10.96.0.0/12", "10.96.0.0/12"]\n',
        "calico.advertise[1]",
        "already listed as advertise[0]",
    ),
    (B + '[calico]\nreject = "10.96.0.0/12"\n', "calico.reject", "expected an array"),
    (B + '[calico]\nlb_ranges = ["x"]\n', "calico.lb_ranges[0]", "prefix length"),
    (B + POOL + 'ipip = "crosssubnet"\n', "calico.pool[0].ipip", 'did you mean "cross-subnet"'),
    (B + POOL + 'ipip = "always"\nvxlan = "always"\n', "calico.pool[0].vxlan", "both"),
    (
        B + '[calico]\n[[calico.pool]]\ncidr = "fd10::/48"\nipip = "always"\n',
        "calico.pool[0].ipip",
        "IPv4 only",
    ),
    (B + POOL + '[[calico.pool]]\ncidr = "10.2.0.0/16"\n', "calico.pool[1]", "already listed"),
    (B + '[calico]\n[[calico.pool]]\nipip = "always"\n', "calico.pool[0].cidr", "missing"),
    (B + '[calico]\n[calico.pool]\ncidr = "10.2.0.0/16"\n', "calico.pool", "[[calico.pool]]"),
    (
        B + ADV + 'communities = ["1:2:3:4"]\n',
        "calico.prefix_advertisement[0].communities[0]",
        "neither a community",
    ),
    (
        B + ADV + 'communities = ["1:70000"]\n',
        "calico.prefix_advertisement[0].communities[0]",
        "0..65535",
    ),
    (
        B + ADV + 'communities = ["1:2", "1:2"]\n',
        "calico.prefix_advertisement[0].communities",
        "listed twice",
    ),
    (B + "[calico]\npools = []\n", "calico.pools", "unknown key"),
    ("calico = 5\n" + B, "calico", "expected a table ([calico])"),
    (B + "[kernel]\nlearn_protocols = [12]\n", "kernel.learn_protocols[0]", "bgpd's own"),
    (B + "[kernel]\nlearn_protocols = [2]\n", "kernel.learn_protocols[0]", "never learned"),
    (B + "[kernel]\nlearn_protocols = [3, 3]\n", "kernel.learn_protocols", "listed twice"),
    (B + "[kernel]\nlearn_protocols = [256]\n", "kernel.learn_protocols[0]", "0..255"),
    (B + '[kernel]\ntunnel_device = "a/b"\n', "kernel.tunnel_device", "may not contain"),
    (B + '[kernel]\ntunnel_device = "x234567890123456"\n', "kernel.tunnel_device", "IFNAMSIZ"),
    (B + "[kernel]\nconverge_timeout = -1\n", "kernel.converge_timeout", "out of range"),
    (B + "[kernel]\npersist = true\n", "kernel.persist", "unknown key"),
    (B + NODE + "[[cluster_nodes]]\n", "cluster_nodes", 'did you mean "cluster_node"'),
]


@pytest.mark.parametrize(("text", "location", "fragment"), ERROR_CASES)
def test_calico_section_problems(text: str, location: str, fragment: str) -> None:
    problems = problems_of(text)
    assert any(loc == location and fragment in msg for loc, msg in problems), problems


def test_every_problem_of_the_new_sections_is_reported_at_once() -> None:
    text = (
        B
        + '[node]\nname = ""\nipv4 = "fd00::1"\n'
        + "[mesh]\nrestart_time = 9999\n"
        + '[calico]\nblocks = ["10.0.0.1/24"]\n'
        + "[kernel]\nlearn_protocols = [12]\n"
    )
    locations = [loc for loc, _ in problems_of(text)]
    for expected in (
        "node.name",
        "node.ipv4",
        "mesh.restart_time",
        "calico.blocks[0]",
        "kernel.learn_protocols[0]",
    ):
        assert expected in locations


def test_loader_key_tables_cover_the_new_fields() -> None:
    pairs = [
        (loader_module.NODE_KEYS, NodeSection),
        (loader_module.CLUSTER_NODE_KEYS, ClusterNode),
        (loader_module.MESH_KEYS, MeshSection),
        (loader_module.POOL_KEYS, Pool),
        (loader_module.PREFIX_ADVERTISEMENT_KEYS, PrefixAdvertisement),
        (loader_module.KERNEL_KEYS, KernelSection),
    ]
    for keys, cls in pairs:
        assert set(keys) == {f.name for f in dataclasses.fields(cls)}, cls.__name__
    tables = {field for field, _, _ in loader_module.CALICO_TABLES.values()}
    calico_fields = {f.name for f in dataclasses.fields(CalicoSection)}
    assert set(loader_module.CALICO_KEYS) | tables == calico_fields


def test_calico_statics_are_the_blocks_and_advertised_ranges() -> None:
    cfg = parse_config(FULL + '\n[[static]]\nprefix = "10.96.0.0/12"\ncommunities = ["1:1"]\n')
    # /32 blocks get no blackhole (bird_aggr.cfg); [[static]] entries win over derived ones.
    assert cfg.calico_statics == (
        StaticRoute(prefix=ip_network("192.168.221.64/26"), blackhole=True),
        StaticRoute(prefix=ip_network("fd10::a:0/122"), blackhole=True),
    )
    assert [s.prefix for s in cfg.all_statics] == [
        ip_network("10.96.0.0/12"),
        ip_network("192.168.221.64/26"),
        ip_network("fd10::a:0/122"),
    ]
    no_static = parse_config(FULL)
    assert ip_network("10.96.0.0/12") in [s.prefix for s in no_static.calico_statics]


def test_render_round_trip_with_every_calico_section() -> None:
    cfg = parse_config(FULL)
    text = render_config_toml(cfg, mask_secrets=False)
    again = parse_config(text)
    assert again == cfg
    assert again.mesh_peers == cfg.mesh_peers
    assert "Mesh_" not in text  # derived peers are not written back as [[peer]]s
    masked = render_config_toml(cfg)
    assert "mesh secret" not in masked
    assert MASK in masked


def test_render_writes_kernel_off_when_calico_is_present() -> None:
    text = '[bgp]\nasn = 1\nrouter_id = "1.1.1.1"\n[calico]\n[kernel]\nenabled = false\n'
    cfg = parse_config(text)
    assert parse_config(render_config_toml(cfg)) == cfg


def test_configs_built_by_hand_validate_like_files() -> None:
    bgp = BgpSection(asn=64512, router_id=IPv4Address("10.0.0.1"))
    with pytest.raises(Exception) as info:
        Config(bgp=bgp, cluster_nodes=(ClusterNode(name="b", ipv4=IPv4Address("10.0.0.2")),))
    assert "needs [node]" in str(info.value)
    with pytest.raises(Exception, match="both ipip and vxlan"):
        Pool(cidr=ip_network("10.0.0.0/8"), ipip=EncapMode.ALWAYS, vxlan=EncapMode.ALWAYS)
    with pytest.raises(Exception, match="overlaps"):
        CalicoSection(blocks=(ip_network("10.0.0.0/24"), ip_network("10.0.0.0/25")))
    with pytest.raises(Exception, match="differs from"):
        Config(
            bgp=bgp,
            node=NodeSection(name="a", rr_cluster_id=IPv4Address("224.0.0.1")),
        )


# --- Reload classification. ----------------------------------------------------------------


def _diff(old_text: str, new_text: str) -> ConfigDiff:
    return diff_configs(parse_config(old_text), parse_config(new_text))


def test_identical_calico_configs_diff_empty() -> None:
    assert _diff(FULL, FULL).is_empty


def test_export_data_change_reexports_and_kernel_data_change_resyncs() -> None:
    lb = _diff(FULL, FULL.replace('lb_ranges = ["10.200.0.0/24"]', "lb_ranges = []"))
    assert (lb.export_policy_changed, lb.kernel_changed) == (True, False)
    reject = _diff(FULL, FULL.replace('reject = ["10.96.0.0/12"]', "reject = []"))
    assert (reject.export_policy_changed, reject.kernel_changed) == (False, True)
    ipip = _diff(FULL, FULL.replace('ipip = "cross-subnet"', 'ipip = "always"'))
    assert (ipip.export_policy_changed, ipip.kernel_changed) == (False, True)
    export_off = _diff(
        FULL,
        FULL.replace('ipip = "cross-subnet"', 'ipip = "cross-subnet"\ndisable_bgp_export = true'),
    )
    assert (export_off.export_policy_changed, export_off.kernel_changed) == (True, True)
    kernel = _diff(FULL, FULL.replace("converge_timeout = 60", "converge_timeout = 61"))
    assert (kernel.export_policy_changed, kernel.kernel_changed) == (False, True)
    subnet = _diff(FULL, FULL.replace('"172.18.0.2/16"', '"172.18.0.2/24"'))
    assert subnet.kernel_changed and not subnet.global_session_changed
    for d in (lb, reject, ipip, kernel):
        assert d.peers_added == d.peers_removed == d.session_changed == ()


def test_a_new_block_is_originated_and_reexported() -> None:
    new = FULL.replace('blocks = ["', 'blocks = ["192.168.3.0/26", "')
    d = _diff(FULL, new)
    assert d.statics_updated == (StaticRoute(prefix=ip_network("192.168.3.0/26"), blackhole=True),)
    assert d.statics_removed == ()
    assert d.export_policy_changed and d.kernel_changed
    back = _diff(new, FULL)
    assert back.statics_removed == (ip_network("192.168.3.0/26"),)


def test_node_identity_changes_reset_every_session() -> None:
    asn = _diff(FULL, FULL.replace("asn = 64513", "asn = 64515"))
    assert asn.global_session_changed
    address = _diff(FULL, FULL.replace('ipv4 = "172.18.0.2/16"', 'ipv4 = "172.18.0.9/16"'))
    # The router id and listen addresses follow the node address.
    assert address.global_session_changed
    assert address.session_changed == ("Mesh_172_18_0_3",)  # its source address changed


def test_becoming_a_route_reflector_changes_export_and_drops_the_mesh() -> None:
    new = FULL.replace("asn = 64513", 'asn = 64513\nrr_cluster_id = "224.0.0.1"')
    d = _diff(FULL, new)
    assert d.export_policy_changed  # rule 7 (LB ranges) now applies
    assert d.global_session_changed  # the cluster id is part of our identity
    assert d.peers_removed == ("Mesh_172_18_0_3",)


# --- Round trip of generated Calico sections. ------------------------------------------------

v4 = (
    st.ip_addresses(v=4)
    .map(lambda a: IPv4Address(int(a)))
    .filter(lambda a: not (a.is_unspecified or a.is_multicast))
)
nets = st.builds(
    lambda a, n: ip_network((int(a) >> (32 - n) << (32 - n), n)), v4, st.integers(8, 32)
)


@st.composite
def calico_configs(draw: st.DrawFn) -> Config:
    addresses = draw(st.lists(v4, min_size=1, max_size=5, unique=True))
    me = addresses[0]
    nodes = tuple(
        ClusterNode(
            name=f"n{i}",
            ipv4=a,
            asn=draw(st.none() | st.integers(1, 65000).filter(lambda a: a != 23456)),
            port=draw(st.none() | st.integers(1, 65535)),
            rr_cluster_id=draw(st.none() | st.just(IPv4Address("224.0.0.1"))),
        )
        for i, a in enumerate(addresses)
    )
    pools = tuple(
        Pool(
            cidr=n,
            ipip=draw(st.sampled_from(EncapMode)),
            disabled=draw(st.booleans()),
            disable_bgp_export=draw(st.booleans()),
        )
        for n in draw(st.lists(nets, max_size=3, unique=True))
    )
    adverts = tuple(
        PrefixAdvertisement(
            cidr=n,
            communities=tuple(
                draw(
                    st.lists(
                        st.builds(Community, high=st.integers(0, 9), low=st.integers(0, 9)),
                        unique=True,
                        max_size=3,
                    )
                )
            ),
        )
        for n in draw(st.lists(nets, max_size=2))
    )
    return Config(
        bgp=BgpSection(asn=64512, router_id=IPv4Address("10.0.0.1"), listen=(me,)),
        node=NodeSection(name="me", ipv4=IPv4Interface((me, draw(st.integers(8, 32))))),
        cluster_nodes=nodes,
        mesh=MeshSection(
            enabled=draw(st.booleans()),
            password=draw(st.none() | st.just("pw")),
            restart_time=draw(st.none() | st.integers(0, 4095)),
        ),
        calico=draw(
            st.none()
            | st.just(
                CalicoSection(
                    pools=pools,
                    advertise=tuple(draw(st.lists(nets, max_size=3, unique=True))),
                    reject=tuple(draw(st.lists(nets, max_size=3, unique=True))),
                    prefix_advertisements=adverts,
                )
            )
        ),
        kernel=KernelSection(enabled=draw(st.booleans())),
    )


@settings(max_examples=100, deadline=None)
@given(calico_configs())
def test_generated_calico_configs_round_trip(cfg: Config) -> None:
    again = parse_config(render_config_toml(cfg, mask_secrets=False))
    assert again == cfg
    assert again.mesh_peers == cfg.mesh_peers
    assert again.calico_statics == cfg.calico_statics


def test_docs_calico_node_example_derives_the_documented_mesh() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[3] / "docs" / "config.md"
    block = doc.read_text(encoding="utf-8").split("## A Calico node", 1)[1]
    cfg = parse_config(block.split("```toml\n", 1)[1].split("```", 1)[0])
    names = ["Mesh_172_18_0_12", "Mesh_fd00_18__12"]
    assert [p.name for p in cfg.mesh_peers] == names
    assert all(p.passive for p in cfg.mesh_peers)  # both addresses are greater than ours
    assert cfg.bgp.router_id == IPv4Address("172.18.0.11")
    assert cfg.kernel.enabled
    assert [p.name for p in cfg.all_peers] == ["Global_172_18_0_1", *names]

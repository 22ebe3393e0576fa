"""Calico's kernel programming and peering details with real processes and kernels: IPIP and
CrossSubnet routes, a mixed mesh with a BIRD 1.6 node configured like Calico's bird.cfg, and
the graceful restart helper keeping routes in the kernel across a peer's restart."""

from __future__ import annotations

from .bgpd_proc import BgpdFactory
from .calico_node import block, node_config, ours, wait_installed, wait_not_installed
from .peers import Lan, wait_until
from .peers.fixtures import BirdFactory


def add_tunl0(lan: Lan) -> None:
    # This kernel has no ipip link type: a veth named tunl0 stands in for the IPIP device.
    for host in lan.hosts:
        host.ns.ip("link", "add", "tunl0", "type", "veth", "peer", "name", "tunl0p")
        host.ns.ip("link", "set", "tunl0", "up")
        host.ns.ip("link", "set", "tunl0p", "up")


def test_ipip_always_goes_onlink_through_tunl0_and_cross_subnet_stays_plain(
    lan: Lan, bgpd_factory: BgpdFactory
) -> None:
    add_tunl0(lan)
    hosts = list(lan.hosts)
    always = 'ipip = "always"'
    # bgpd programs the IPIP routes (Calico up to 3.32; from 3.33 Felix does by default)
    ours_too = 'program_cluster_routes = "Enabled"'
    speakers = [
        bgpd_factory(lan, node_config(i, hosts, pool_extra=always, calico_extra=ours_too), host=i)
        for i in range(2)
    ]
    wait_installed(hosts[1].ns, block(1), str(hosts[0].ipv4))
    route = ours(hosts[1].ns)[block(1)]
    assert route["dev"] == "tunl0" and "onlink" in route["flags"], route

    # CrossSubnet: the next hop is on this node's own subnet, so the route is plain.
    for i, speaker in enumerate(speakers):
        cross = 'ipip = "cross-subnet"'
        speaker.write_config(node_config(i, hosts, pool_extra=cross, calico_extra=ours_too))
        speaker.reload()
    wait_until(
        lambda: ours(hosts[1].ns).get(block(1), {}).get("dev") == "eth0",
        timeout=20,
        message="plain route via eth0 after the switch to cross-subnet",
        describe=lambda: hosts[1].ns.ip("route"),
    )
    assert "onlink" not in ours(hosts[1].ns)[block(1)].get("flags", [])

    # A VXLAN pool is Felix's: bgpd installs nothing for it.
    for i, speaker in enumerate(speakers):
        vxlan = 'vxlan = "always"'
        speaker.write_config(node_config(i, hosts, pool_extra=vxlan, calico_extra=ours_too))
        speaker.reload()
    wait_not_installed(hosts[1].ns, block(1))
    assert speakers[1].learned(block(1)) is not None  # still learned over BGP


CALICO_BIRD16 = """
# Shaped like Calico v3.30's bird.cfg + bird_aggr.cfg + bird_ipam.cfg (no krt_tunnel: stock BIRD).
router id {me};
filter calico_kernel_programming {{
  if ( net ~ 10.244.0.0/16 ) then {{ accept; }}
  accept;
}}
function calico_aggr () {{
  if ( net = {my_block} ) then {{ accept; }}
  if ( net ~ {my_block} ) then {{ reject; }}
}}
function calico_export_to_bgp_peers(bool internal_peer) {{
  calico_aggr();
  if ( net ~ 10.244.0.0/16 ) then {{ accept; }}
}}
protocol static {{ route {my_block} blackhole; }}
protocol kernel {{
  learn; persist; scan time 2; import all; graceful restart; merge paths on;
  export filter calico_kernel_programming;
}}
protocol device {{ scan time 2; }}
protocol direct {{ interface -"cali*", -"kube-ipvs*", "*"; }}
template bgp bgp_template {{
  local as 64512; multihop; gateway recursive; import all; add paths on;
  graceful restart; connect delay time 1; connect retry time 2; error wait time 1,5;
}}
protocol bgp Mesh_{peer_name} from bgp_template {{
  neighbor {peer} as 64512;
  source address {me};
  export filter {{ calico_export_to_bgp_peers(true); reject; }};
}}
"""


def test_mixed_mesh_with_a_calico_shaped_bird16_node(
    lan: Lan, bgpd_factory: BgpdFactory, bird_factory: BirdFactory
) -> None:
    a, b = lan.hosts
    hosts = [a, b]
    bgpd = bgpd_factory(lan, node_config(0, hosts), host=0)
    bird = bird_factory(
        CALICO_BIRD16.format(
            me=b.ipv4,
            my_block=block(2),
            peer=a.ipv4,
            peer_name=str(a.ipv4).replace(".", "_"),
        ),
        version="1.6",
        netns=b.ns,
    )
    bird.wait_established(f"Mesh_{str(a.ipv4).replace('.', '_')}", timeout=30)
    assert bgpd.state(f"Mesh_{str(b.ipv4).replace('.', '_')}") == "Established"
    # BIRD's block reaches bgpd's kernel, bgpd's block reaches BIRD's kernel (proto bird = 12).
    wait_installed(a.ns, block(2), str(b.ipv4))
    wait_installed(b.ns, block(1), str(a.ipv4))


def test_graceful_restart_keeps_routes_in_the_kernel_and_sweeps_after_end_of_rib(
    lan: Lan, bgpd_factory: BgpdFactory
) -> None:
    a, b = lan.hosts
    hosts = [a, b]
    extra_block = "10.244.101.0/26"
    restarting = bgpd_factory(lan, node_config(0, hosts, blocks=[block(1), extra_block]), host=0)
    helper = bgpd_factory(lan, node_config(1, hosts), host=1)
    wait_installed(b.ns, block(1), str(a.ipv4))
    wait_installed(b.ns, extra_block, str(a.ipv4))
    monitor = b.ns.spawn(["ip", "monitor", "route"], name="monitor-b", log_dir=helper.workdir)
    try:
        restarting.kill()  # no NOTIFICATION: the helper keeps a's routes, stale
        wait_until(
            lambda: helper.state("Mesh_10_99_0_1") != "Established",
            timeout=15,
            message="helper saw the session drop",
        )
        assert {block(1), extra_block} <= set(ours(b.ns))
        assert all(r["stale"] for r in helper.routes(block(1)) if r["peer"] != "static")
        # a comes back without the extra block: after its End-of-RIB that one is swept.
        restarting.write_config(node_config(0, hosts))
        restarting.start()
        wait_not_installed(b.ns, extra_block, timeout=30)
        assert block(1) in ours(b.ns)
        assert helper.learned(block(1)) is not None
        assert helper.learned(block(1))["stale"] is False
    finally:
        monitor.stop()
    kept = [line for line in monitor.stdout_path.read_text().splitlines() if block(1) in line]
    assert kept == [], kept  # the re-announced block never left the helper's kernel


def test_on_exit_routes_stay_in_the_kernel_unless_persist_is_off(
    lan: Lan, bgpd_factory: BgpdFactory
) -> None:
    a, b = lan.hosts
    hosts = [a, b]
    bgpd_factory(lan, node_config(0, hosts), host=0)
    keeper = bgpd_factory(lan, node_config(1, hosts), host=1)
    wait_installed(b.ns, block(1), str(a.ipv4))
    assert keeper.stop() == 0  # SIGTERM: Cease to the peer, routes stay (BIRD's persist)
    kept = ours(b.ns)
    assert block(1) in kept and kept[block(2)]["type"] == "blackhole"

    cleaner = bgpd_factory(lan, node_config(1, hosts, bgp_extra="persist_routes = false"), host=1)
    wait_installed(b.ns, block(1), str(a.ipv4))
    assert cleaner.stop() == 0
    assert ours(b.ns) == {}  # every protocol-12 route of ours removed

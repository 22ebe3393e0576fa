"""Three Calico nodes in a full mesh, each in its own namespace on one bridge, with the real
kernel: blocks and workloads propagate, withdrawals reach every kernel, a killed speaker's
routes go away, and a restarted speaker adopts its kernel routes without churn."""

from __future__ import annotations

from collections.abc import Callable

from .bgpd_proc import BgpdFactory, BgpdProcess
from .calico_node import (
    add_workload,
    block,
    node_config,
    ours,
    remove_workload,
    wait_installed,
    wait_not_installed,
)
from .peers import Lan, LanHost, wait_until


def start_mesh(lan: Lan, bgpd_factory: BgpdFactory, **kw: str) -> list[BgpdProcess]:
    hosts = list(lan.hosts)
    return [bgpd_factory(lan, node_config(i, hosts, **kw), host=i) for i in range(len(hosts))]


def test_three_node_mesh_blocks_workloads_kill_and_restart(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory
) -> None:
    lan = lan_factory(3)
    hosts: list[LanHost] = list(lan.hosts)
    # No graceful restart here: a killed node's routes must go when its session drops.
    speakers = start_mesh(lan, bgpd_factory, bgp_extra="graceful_restart = false")
    for i, host in enumerate(hosts):
        for j, other in enumerate(hosts):
            if i != j:
                wait_installed(host.ns, block(j + 1), str(other.ipv4))
        # Our own block: a blackhole with our protocol (not for /32 blocks).
        assert ours(host.ns)[block(i + 1)]["type"] == "blackhole"
    assert speakers[0].peers().keys() == {"Mesh_10_99_0_2", "Mesh_10_99_0_3"}
    # bgpctl: the best path is marked, and the kernel view shows installed and learned routes.
    (best,) = [r for r in speakers[0].routes(block(2)) if r["best"]]
    assert best["peer"] == "Mesh_10_99_0_2" and best["next_hop"] == str(hosts[1].ipv4)
    kernel = {(r["status"], r["prefix"]): r for r in speakers[0].ctl("show kernel")}
    assert kernel[("installed", block(2))]["next_hops"] == [f"via {hosts[1].ipv4}"]
    assert kernel[("installed", block(1))]["kind"] == "blackhole"

    # A workload inside node0's block is aggregated away: nobody else gets the /32.
    add_workload(hosts[0].ns, "10.244.1.5", 1)
    # A borrowed /32 (inside the pool, outside node0's block) is advertised as such.
    cali = add_workload(hosts[0].ns, "10.244.9.7", 2)
    for other in hosts[1:]:
        wait_installed(other.ns, "10.244.9.7/32", str(hosts[0].ipv4))
        assert "10.244.1.5" not in ours(other.ns)
    learned = {r["prefix"] for r in speakers[0].ctl("show kernel") if r["status"] == "learned"}
    assert {"10.244.1.5/32", "10.244.9.7/32"} <= learned
    # The LAN subnet is a connected route (BIRD's direct protocol), outside every pool: kept
    # out of BGP, so no other kernel gets it from bgpd.
    (connected,) = speakers[0].routes(str(hosts[0].ipv4_network))
    assert connected["source"] == "connected" and connected["best"]
    assert str(hosts[0].ipv4_network) not in ours(hosts[1].ns)
    remove_workload(hosts[0].ns, cali)
    for other in hosts[1:]:
        wait_not_installed(other.ns, "10.244.9.7/32")

    # A new block on node0 (a config change, SIGHUP) reaches both kernels; then it goes again.
    two_blocks = node_config(
        0, hosts, blocks=[block(1), "10.244.100.0/26"], bgp_extra="graceful_restart = false"
    )
    speakers[0].write_config(two_blocks)
    speakers[0].reload()
    for other in hosts[1:]:
        wait_installed(other.ns, "10.244.100.0/26", str(hosts[0].ipv4))
    speakers[0].write_config(node_config(0, hosts, bgp_extra="graceful_restart = false"))
    speakers[0].reload()
    for other in hosts[1:]:
        wait_not_installed(other.ns, "10.244.100.0/26")
    assert "10.244.100.0/26" not in ours(hosts[0].ns)  # its blackhole went too

    # SIGKILL node2: the others withdraw its block as soon as its sessions drop.
    node2_routes_before = ours(hosts[2].ns)
    speakers[2].kill()
    for other in hosts[:2]:
        wait_not_installed(other.ns, block(3), timeout=15)
    # Its own kernel keeps what it had installed (it was killed, nothing cleaned up).
    assert ours(hosts[2].ns) == node2_routes_before

    # Restart it while watching its kernel: adopted routes keep their place, no delete/re-add.
    monitor = hosts[2].ns.spawn(
        ["ip", "monitor", "route"], name="monitor", log_dir=speakers[2].workdir
    )
    try:
        speakers[2].start()
        for other in hosts[:2]:
            wait_installed(other.ns, block(3), str(hosts[2].ipv4))
        wait_until(lambda: speakers[2].state("Mesh_10_99_0_1") == "Established", timeout=30)
        wait_until(
            lambda: ours(hosts[2].ns) == node2_routes_before,
            timeout=10,
            message="node2's kernel back to its routes",
        )
        # Proof the monitor sees changes (and is not buffering): a sentinel route must show up.
        hosts[2].ns.ip("route", "add", "192.0.2.0/24", "dev", "eth0")
        wait_until(
            lambda: "192.0.2.0/24" in monitor.stdout_path.read_text(),
            timeout=10,
            message="ip monitor saw the sentinel route",
        )
    finally:
        monitor.stop()
    churn = [
        line
        for line in monitor.stdout_path.read_text().splitlines()
        if "10.244.1.0/26" in line or "10.244.2.0/26" in line or block(3) in line
    ]
    assert churn == [], churn


def test_equal_paths_from_two_nodes_become_one_multipath_kernel_route(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory
) -> None:
    lan = lan_factory(3)
    hosts: list[LanHost] = list(lan.hosts)
    anycast = '\n[[static]]\nprefix = "10.244.200.0/24"\nblackhole = true\n'
    for i in range(3):
        cfg = node_config(i, hosts)
        if i < 2:  # node0 and node1 both originate the same prefix (inside the pool)
            cfg = cfg.replace("\n[node]", anycast + "\n[node]")
        bgpd_factory(lan, cfg, host=i)

    def two_hops() -> bool:
        route = ours(hosts[2].ns).get("10.244.200.0/24")
        hops = {h.get("gateway") for h in (route or {}).get("nexthops", [])}
        return hops == {str(hosts[0].ipv4), str(hosts[1].ipv4)}

    wait_until(
        two_hops,
        timeout=30,
        message="an ECMP route via node0 and node1",
        describe=lambda: hosts[2].ns.ip("route"),
    )

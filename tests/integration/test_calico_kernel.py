"""Calico's newer kernel rules with real kernels in network namespaces: BGPConfiguration
ignoredInterfaces (interface subnets never learned), the route priorities as kernel metrics
(ipv4NormalRoutePriority, the elevated /32 of a live migration, compat 3.31's metric 0), and
programClusterRoutes (bgpd leaves Felix's IPIP routes alone, says so in `bgpctl show kernel`,
and keeps the tunl0 routes it learns from Felix away from its iBGP peers)."""

from __future__ import annotations

from typing import Any

from .bgpd_proc import BgpdFactory, BgpdProcess
from .calico_node import block, node_config, ours, wait_installed, wait_not_installed
from .peers import Lan, Namespace, wait_until
from .test_calico_routing import add_tunl0


def add_link(ns: Namespace, name: str, address: str) -> None:
    ns.ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    ns.ip("addr", "add", address, "dev", name)
    ns.ip("link", "set", name, "up")
    ns.ip("link", "set", f"{name}p", "up")


def kernel_rows(speaker: BgpdProcess, status: str) -> dict[str, dict[str, Any]]:
    return {r["prefix"]: r for r in speaker.ctl("show kernel") if r["status"] == status}


def test_ignored_interfaces_subnets_are_never_learned(lan: Lan, bgpd_factory: BgpdFactory) -> None:
    hosts = list(lan.hosts)
    ns = hosts[0].ns
    add_link(ns, "eth90", "10.90.0.1/24")
    add_link(ns, "eth80", "10.80.0.1/24")
    ignoring = node_config(0, hosts, extra='ignored_interfaces = ["eth9*"]')
    speaker = bgpd_factory(lan, ignoring, host=0)
    wait_until(
        lambda: "10.80.0.0/24" in kernel_rows(speaker, "learned"),
        timeout=20,
        message="eth80's subnet learned",
        describe=speaker.output,
    )
    assert "10.90.0.0/24" not in kernel_rows(speaker, "learned")
    assert [r["peer"] for r in speaker.routes("10.80.0.0/24")] == ["connected"]
    assert speaker.routes("10.90.0.0/24") == []
    # A reload that stops ignoring it learns it at once, and the other way round.
    speaker.write_config(node_config(0, hosts, extra='ignored_interfaces = ["eth8*"]'))
    speaker.reload()
    wait_until(
        lambda: (
            set(kernel_rows(speaker, "learned")) >= {"10.90.0.0/24"}
            and "10.80.0.0/24" not in kernel_rows(speaker, "learned")
        ),
        timeout=20,
        message="eth90's subnet learned, eth80's forgotten",
        describe=speaker.output,
    )
    assert [r["peer"] for r in speaker.routes("10.90.0.0/24")] == ["connected"]


def routes_to(ns: Namespace, prefix: str) -> list[dict[str, Any]]:
    dst = prefix.removesuffix("/32")
    return [r for r in ns.kernel_routes(4, protocol="12") if r["dst"] == dst]


def wait_metric(ns: Namespace, prefix: str, metric: int) -> None:
    wait_until(
        lambda: [r.get("metric", 0) for r in routes_to(ns, prefix)] == [metric],
        timeout=30,
        message=f"{ns.name}: {prefix} proto 12 metric {metric} (and no other)",
        describe=lambda: ns.ip("route"),
    )


def test_route_priorities_are_kernel_metrics(lan: Lan, bgpd_factory: BgpdFactory) -> None:
    a, b = lan.hosts
    hosts = [a, b]
    speakers = [bgpd_factory(lan, node_config(i, hosts), host=i) for i in range(2)]
    # Felix on a: one normal workload, one elevated (the VM of a live migration landing here).
    cali = "cali00000000001"
    a.ns.ip("link", "add", cali, "type", "veth", "peer", "name", "wl1")
    a.ns.ip("link", "set", cali, "up")
    a.ns.ip("link", "set", "wl1", "up")
    for ip, metric in (("10.244.1.5", "1024"), ("10.244.1.6", "512")):
        a.ns.ip("route", "add", f"{ip}/32", "dev", cali, "proto", "boot", "metric", metric)
    wait_installed(b.ns, block(1), str(a.ipv4))
    wait_metric(b.ns, block(1), 1024)  # ipv4NormalRoutePriority's default
    wait_metric(b.ns, "10.244.1.6/32", 512)  # escaped the block, with its priority
    assert routes_to(b.ns, "10.244.1.5/32") == []  # aggregated behind the block
    # A custom normal priority on the receiving node is the metric of eBGP-less routes too
    # (here: what a's statics carry is a's normal priority, sent as LOCAL_PREF).
    speakers[0].write_config(
        node_config(0, hosts, calico_extra="ipv4_normal_route_priority = 2000")
    )
    speakers[0].reload()
    wait_metric(b.ns, block(1), 2000)
    # compat 3.31: no priorities; metric 0 and no escape, as BIRD installed them then.
    for i, speaker in enumerate(speakers):
        speaker.write_config(node_config(i, hosts, calico_extra='compat = "3.31"'))
        speaker.reload()
    wait_metric(b.ns, block(1), 0)
    wait_not_installed(b.ns, "10.244.1.6/32")
    assert speakers[1].state("Mesh_10_99_0_1") == "Established"


def test_program_cluster_routes_gives_ipip_routes_to_felix(
    lan: Lan, bgpd_factory: BgpdFactory
) -> None:
    add_tunl0(lan)
    a, b = lan.hosts
    hosts = [a, b]
    ipip = 'ipip = "always"'
    enabled = 'program_cluster_routes = "Enabled"'
    speakers = [
        bgpd_factory(lan, node_config(i, hosts, pool_extra=ipip, calico_extra=enabled), host=i)
        for i in range(2)
    ]
    # bgpd programs the IPIP routes: b installs a's block through tunl0.
    wait_installed(b.ns, block(1), str(a.ipv4))
    assert kernel_rows(speakers[1], "installed")[block(1)]["owner"] == "bgpd"
    # Felix on b programs a third node's block through tunl0 (proto 80): bgpd learns it and,
    # programming IPIP itself here, passes it on to a like any route inside a pool.
    felix_block = "10.244.3.0/26"
    b.ns.ip(
        "route", "add", felix_block, "via", "10.99.0.3", "dev", "tunl0", "onlink", "proto", "80"
    )
    speakers[0].wait_route(felix_block)

    # Felix takes over the IPIP routes (Calico 3.33's default: the field unset).
    for i, speaker in enumerate(speakers):
        speaker.write_config(node_config(i, hosts, pool_extra=ipip))
        speaker.reload()
    wait_not_installed(b.ns, block(1))
    wait_until(
        lambda: kernel_rows(speakers[1], "not-installed").get(block(1), {}).get("owner") == "felix",
        timeout=20,
        message="b lists a's block as Felix's",
        describe=lambda: str(speakers[1].ctl("show kernel")),
    )
    row = kernel_rows(speakers[1], "not-installed")[block(1)]
    assert row["next_hops"] == [f"via {a.ipv4}"]
    # What b learns through tunl0 is Felix's route to another node: never sent over iBGP.
    speakers[0].wait_no_route(felix_block)
    learned = kernel_rows(speakers[1], "learned")[felix_block]
    assert (learned["protocol"], learned["owner"]) == (80, "")
    # Felix's route stays: bgpd never touches another protocol's route.
    assert [r["dst"] for r in b.ns.kernel_routes(4, protocol="80")] == [felix_block]
    assert speakers[1].learned(block(1)) is not None  # still learned over BGP
    assert routes_to(b.ns, block(1)) == [] and block(1) not in ours(b.ns)

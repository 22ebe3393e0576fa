"""Calico-shaped nodes for integration tests: bgpd configs, Felix's part, kernel inspection.

A node of a LAN gets a bgpd config in the shape confd will render (`[node]`, the
`[[cluster_node]]` list, `[calico]` pools and blocks, `[kernel]`), and the test plays Felix:
a `cali...` veth with a protocol-3 /32 route for each workload.
"""

from __future__ import annotations

from typing import Any

from .peers import LanHost, Namespace, wait_until

POOL = "10.244.0.0/16"


def block(i: int) -> str:
    return f"10.244.{i}.0/26"


def node_config(
    me: int,
    hosts: list[LanHost],
    *,
    blocks: list[str] | None = None,
    pool_extra: str = "",
    extra: str = "",
    bgp_extra: str = "",
    calico_extra: str = "",
) -> str:
    host = hosts[me]
    nodes = "".join(
        f'\n[[cluster_node]]\nname = "node{j}"\nipv4 = "{h.ipv4}"\n' for j, h in enumerate(hosts)
    )
    blocks = [block(me + 1)] if blocks is None else blocks
    return f"""
[bgp]
asn = 64512
log_level = "debug"
{bgp_extra}

[control]
socket = "@SOCKET@"

[node]
name = "node{me}"
ipv4 = "{host.ipv4_cidr}"
{nodes}
[calico]
blocks = {blocks!r}
{calico_extra}

[[calico.pool]]
cidr = "{POOL}"
{pool_extra}

[kernel]
enabled = true
{extra}
""".replace("'", '"')


def add_workload(ns: Namespace, ip: str, index: int) -> str:
    """Felix's part for one pod: a cali veth and a /32 route on it with protocol 3 (boot)."""
    cali = f"cali{index:011x}"
    ns.ip("link", "add", cali, "type", "veth", "peer", "name", f"wl{index}")
    ns.ip("link", "set", cali, "up")
    ns.ip("link", "set", f"wl{index}", "up")
    ns.ip("route", "add", f"{ip}/32", "dev", cali, "proto", "boot", "scope", "link")
    return cali


def remove_workload(ns: Namespace, cali: str) -> None:
    ns.ip("link", "del", cali)  # the /32 on it goes with the interface, as when a pod dies


def ours(ns: Namespace) -> dict[str, dict[str, Any]]:
    """Routes bgpd installed (protocol 12, shown as "bird"), by destination."""
    return {r["dst"]: r for r in ns.kernel_routes(4, protocol="12")}


def wait_installed(ns: Namespace, prefix: str, via: str | None, timeout: float = 30) -> None:
    def check() -> bool:
        route = ours(ns).get(prefix.removesuffix("/32"))
        if route is None:
            return False
        return via is None or route.get("gateway") == via

    wait_until(
        check,
        timeout=timeout,
        message=f"{ns.name}: {prefix} via {via} proto 12",
        describe=lambda: ns.ip("route"),
    )


def wait_not_installed(ns: Namespace, prefix: str, timeout: float = 30) -> None:
    wait_until(
        lambda: prefix.removesuffix("/32") not in ours(ns),
        timeout=timeout,
        message=f"{ns.name}: no {prefix}",
        describe=lambda: ns.ip("route"),
    )

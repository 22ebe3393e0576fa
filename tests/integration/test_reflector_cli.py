"""`bgp-reflector run` in network namespaces: two bgpd clients discovered from the node list by
a label selector, one client accepted as a dynamic neighbour, routes reflected between them with
ORIGINATOR_ID and CLUSTER_LIST as RFC 4456 §8 says, read through `bgpctl --json` on the clients.

Topology (one bridged LAN, 10.99.0.0/24): host0 runs the reflector (cluster 224.0.0.1), host1
and host2 are `[[cluster_node]]`s labelled `role=worker`, host3 is not in the node list and is
admitted by `[[dynamic_neighbors]] prefix = "10.99.0.4/30"`. Each client originates one /24.
host2 starts with a `drain` label the selector excludes (its connections are refused); a reload
after relabelling makes it a client, and keeps the dynamic neighbour's session. When the dynamic
client stops, its peer and its route go; when it comes back, it is admitted again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .bgpd_proc import REPO, BgpdFactory, BgpdProcess
from .peers import Lan, LanHost, wait_until
from .peers.fixtures import DIAGNOSTICS

CLUSTER = "224.0.0.1"
BGP_REFLECTOR = str(Path(sys.executable).parent / "bgp-reflector")
BGPCTL = str(Path(sys.executable).parent / "bgpctl")


def prefix(i: int) -> str:
    return f"10.200.{i}.0/24"


def reflector_config(hosts: list[LanHost], *, node2_labels: str = 'role = "worker"') -> str:
    rr = hosts[0]
    return f"""
[bgp]
asn = 64512
cluster_id = "{CLUSTER}"
log_level = "debug"
graceful_restart = false

[control]
socket = "@SOCKET@"

[node]
name = "rr0"
ipv4 = "{rr.ipv4_cidr}"

[reflector]
clients = "role == 'worker' && !has(drain)"

[[cluster_node]]
name = "rr0"
ipv4 = "{rr.ipv4}"
rr_cluster_id = "{CLUSTER}"
labels = {{ role = "reflector" }}

[[cluster_node]]
name = "node1"
ipv4 = "{hosts[1].ipv4}"
labels = {{ role = "worker", "topology.kubernetes.io/zone" = "a" }}

[[cluster_node]]
name = "node2"
ipv4 = "{hosts[2].ipv4}"
labels = {{ {node2_labels} }}

# Selected by role but excluded by the selector's second term: never a peer.
[[cluster_node]]
name = "drained"
ipv4 = "10.99.0.50"
labels = {{ role = "worker", drain = "true" }}

[[dynamic_neighbors]]
prefix = "10.99.0.4/30"
max_peers = 1
"""


def client_config(host: LanHost, rr: LanHost) -> str:
    # A client configured the way Calico configures a node peering with a reflector
    # (a Node_<ip> peer in our AS, our node address as the source; no rr settings of its own).
    return f"""
[bgp]
asn = 64512
router_id = "{host.ipv4}"
listen = ["{host.ipv4}"]
log_level = "debug"
graceful_restart = false

[control]
socket = "@SOCKET@"

[[static]]
prefix = "{prefix(host.index)}"
blackhole = true

[[peer]]
name = "Node_{str(rr.ipv4).replace(".", "_")}"
address = "{rr.ipv4}"
asn = 64512
local_address = "{host.ipv4}"
families = ["ipv4-unicast"]
"""


class ReflectorProcess(BgpdProcess):
    """The reflector through its console script, `bgp-reflector run -c FILE`."""

    def start(self) -> BgpdProcess:
        argv = [BGP_REFLECTOR, "run", "-c", str(self.config_path)]
        assert self.netns is not None
        self.proc = self.netns.spawn(argv, name=self.name, log_dir=self.workdir, cwd=REPO)
        wait_until(
            self._alive_and_answering,
            timeout=20,
            message=f"{self.name} control socket",
            describe=self.output,
        )
        return self


def bgpctl_routes(speaker: BgpdProcess) -> list[dict[str, Any]]:
    """`bgpctl --json show routes` on `speaker`, as an operator runs it."""
    out = subprocess.run(
        [BGPCTL, "-s", speaker.socket, "--json", "show", "routes"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    routes: list[dict[str, Any]] = json.loads(out)
    return routes


def learned(speaker: BgpdProcess, pfx: str) -> dict[str, Any] | None:
    return next((r for r in bgpctl_routes(speaker) if r["prefix"] == pfx and r["best"]), None)


def wait_reflected(client: BgpdProcess, origin: LanHost, rr_peer: str) -> None:
    """`client` holds `origin`'s prefix via the reflector, stamped per RFC 4456 §8."""
    route = wait_until(
        lambda: learned(client, prefix(origin.index)),
        timeout=30,
        message=f"{client.name}: {prefix(origin.index)} reflected",
        describe=lambda: f"{bgpctl_routes(client)}\n{client.output()}",
    )
    assert route is not None
    assert route["peer"] == rr_peer and route["source"] == "ibgp"
    assert route["originator_id"] == str(origin.ipv4)  # the router id of the route's originator
    assert route["cluster_list"] == [CLUSTER]  # the reflector's cluster id, once
    assert route["next_hop"] == str(origin.ipv4)  # reflection leaves the next hop alone
    assert route["as_path"] == []


def peer_states(rr: BgpdProcess) -> dict[str, str]:
    return {name: str(p["state"]) for name, p in rr.peers().items()}


def test_reflector_discovers_clients_and_accepts_a_dynamic_neighbour(
    lan_factory: Callable[..., Lan],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    bgpd_factory: BgpdFactory,
) -> None:
    lan = lan_factory(4)
    hosts = list(lan.hosts)
    rr_host = hosts[0]
    rr_peer = f"Node_{str(rr_host.ipv4).replace('.', '_')}"

    # node2 starts drained: not selected, so its connections are refused (it is outside the
    # dynamic range too); a reload with its drain label gone makes it a client.
    drained = 'role = "worker", drain = "true"'
    rr = ReflectorProcess(
        "reflector", reflector_config(hosts, node2_labels=drained), tmp_path, rr_host.ns
    )
    request.node.stash.setdefault(DIAGNOSTICS, []).append(rr.output)
    try:
        rr.start()
        # Discovery: the selected worker only; not the drained ones, not ourselves.
        assert set(rr.peers()) == {"Node_10_99_0_2"}
        assert rr.peers()["Node_10_99_0_2"]["asn"] == 64512

        clients = [bgpd_factory(lan, client_config(h, rr_host), host=h.index) for h in hosts[1:]]
        for name in ("Node_10_99_0_2", "Dynamic_10_99_0_4"):
            rr.wait_established(name)
        dynamic = rr.peers()["Dynamic_10_99_0_4"]
        assert dynamic["address"] == "10.99.0.4"
        wait_until(
            lambda: f"unexpected connection from unknown address={hosts[2].ipv4}" in rr.output(),
            timeout=30,
            message="node2 refused",
            describe=rr.output,
        )
        assert "Dynamic_10_99_0_3" not in rr.peers()
        wait_reflected(clients[0], hosts[3], rr_peer)
        wait_reflected(clients[2], hosts[1], rr_peer)

        # Relabel node2 and reload: it becomes a client; the dynamic neighbour's session stays
        # up across the reload (no reset, same peer).
        uptime_before = rr.peers()["Dynamic_10_99_0_4"]["uptime_s"]
        rr.write_config(reflector_config(hosts))
        rr.reload()
        rr.wait_established("Node_10_99_0_3")
        after = rr.peers()["Dynamic_10_99_0_4"]
        assert after["state"] == "Established" and after["uptime_s"] >= uptime_before
        assert "peer down peer=Dynamic_10_99_0_4" not in rr.output()
        for client in clients:
            client.wait_established(rr_peer)

        # Every client holds every other client's prefix, reflected.
        for i, client in enumerate(clients):
            for j, origin in enumerate(hosts[1:]):
                if i != j:
                    wait_reflected(client, origin, rr_peer)
        # The reflector itself keeps the clients' routes as they came (no stamping on input).
        own = rr.learned(prefix(1))
        assert own is not None and own["originator_id"] is None and own["cluster_list"] == []

        # The dynamic client goes away: its peer is removed and its route withdrawn.
        clients[2].stop()
        wait_until(
            lambda: "Dynamic_10_99_0_4" not in rr.peers(),
            timeout=30,
            message="dynamic peer removed",
            describe=rr.output,
        )
        wait_until(
            lambda: all(learned(c, prefix(3)) is None for c in clients[:2]),
            timeout=30,
            message=f"{prefix(3)} withdrawn from both clients",
        )
        assert set(peer_states(rr)) == {"Node_10_99_0_2", "Node_10_99_0_3"}

        # It comes back: admitted again, and its route reflected again.
        clients[2].start()
        rr.wait_established("Dynamic_10_99_0_4")
        for client in clients[:2]:
            wait_reflected(client, hosts[3], rr_peer)
    finally:
        if rr.proc is not None:
            rr.stop()

"""Service advertisement end to end: two bgpd nodes in network namespaces, each with its
in-process confd watcher reading one shared key/value file (Calico's v3 resources plus the
Kubernetes Services and EndpointSlices, as the Kubernetes source stores them).

A LoadBalancer Service with `externalTrafficPolicy: Local` and `serviceLoadBalancerAggregation:
Disabled` (so no reject range keeps its /32 out of the kernel, as in Calico): the node hosting
its endpoint advertises the /32 and the other node's kernel routes it there; moving the
endpoint moves the route, over the running sessions.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request
from tests.unit.confd.model.calico_data import endpoint, endpoint_slice, service

from .calico_node import ours, wait_installed, wait_not_installed
from .peers import Lan, LanHost, wait_until
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Process

REPO = Path(__file__).resolve().parents[2]
V3 = "/calico/resources/v3/projectcalico.org"
LB_IP = "10.200.0.10"
LB_ROUTE = f"{LB_IP}/32"


class ServiceNode:
    """`bgpd run` with `--confd-backend file` inside a LAN host's namespace; stopped by PID."""

    def __init__(self, name: str, host: LanHost, kv_file: Path, workdir: Path) -> None:
        self.name = name
        self.host = host
        self.workdir = workdir
        self.socket = str(workdir / f"{name}.ctl")
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(workdir / f"{name}.toml")]
        argv += ["--confd-backend", "file", "--confd-file", str(kv_file), "--debounce", "0.05"]
        for var, value in (
            ("control_socket", self.socket),
            ("bird_socket", workdir / f"{name}-bird.ctl"),
            ("bird6_socket", workdir / f"{name}-bird6.ctl"),
        ):
            argv += ["--var", f"{var}={value}"]
        env = {**os.environ, "NODENAME": name}
        self.proc: Process = host.ns.spawn(argv, name=name, log_dir=workdir, env=env, cwd=REPO)
        wait_until(self._answering, timeout=30, message=f"{name} control socket")

    def _answering(self) -> bool:
        if not self.proc.running:
            raise AssertionError(f"{self.name} exited early:\n{self.proc.output()}")
        try:
            return bool(call(self.socket, Request(command="show peers"), timeout=2).get("ok"))
        except UnreachableError:
            return False

    def ctl(self, command: str, **args: Any) -> Any:
        reply = call(self.socket, Request(command=command, args=args))
        if not reply.get("ok"):
            raise RuntimeError(f"{self.name}: {command}: {reply.get('error')}")
        return reply["data"]

    def transitions(self, peer: str) -> int:
        return int(self.ctl("show peer", name=peer)["established_transitions"])

    def originates(self, prefix: str) -> bool:
        return any(r["peer"] == "static" for r in self.ctl("show routes", prefix=prefix))

    def learned_from(self, prefix: str) -> str | None:
        routes = self.ctl("show routes", prefix=prefix)
        return next((str(r["peer"]) for r in routes if r["peer"] != "static"), None)


@pytest.fixture
def service_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServiceNode]]:
    made: list[ServiceNode] = []
    request.node.stash.setdefault(DIAGNOSTICS, []).append(
        lambda: "\n".join(f"--- {n.name}\n{n.proc.output(20000)}" for n in made)
    )
    yield made
    for node in made:
        node.proc.stop(10)


def datastore(lan: Lan, endpoint_node: str) -> dict[str, Any]:
    """The shared file's content: two Calico nodes, a pool, their blocks, one Local Service."""

    def resource(plural: str, name: str, spec: dict[str, Any]) -> tuple[str, Any]:
        return f"{V3}/{plural}/{name}", {"metadata": {"name": name}, "spec": spec}

    items = [
        resource(
            "bgpconfigurations",
            "default",
            {
                "serviceLoadBalancerIPs": [{"cidr": "10.200.0.0/24"}],
                "serviceLoadBalancerAggregation": "Disabled",
            },
        ),
        resource("ippools", "pool", {"cidr": "10.244.0.0/16"}),
    ]
    for i, host in enumerate(lan.hosts):
        items.append(resource("nodes", f"node{i}", {"bgp": {"ipv4Address": host.ipv4_cidr}}))
        items.append((f"/calico/ipam/v2/host/node{i}/ipv4/block/10.244.{i}.0-26", "{}"))
    web = service(
        "shop", "web", type="LoadBalancer", policy="Local", cluster_ip="10.96.0.10", ingress=[LB_IP]
    )
    slice_ = endpoint_slice("shop", "web-1", "web", [endpoint(endpoint_node, "10.244.0.5")])
    items += [web, slice_]
    return {key: json.loads(value) if isinstance(value, str) else value for key, value in items}


def write_atomically(path: Path, content: dict[str, Any]) -> None:
    staged = path.with_suffix(".tmp")
    staged.write_text(yaml.safe_dump(content))
    staged.replace(path)


def test_local_service_route_follows_its_endpoint_without_a_session_reset(
    lan: Lan, service_nodes: list[ServiceNode], tmp_path: Path
) -> None:
    a_host, b_host = lan.hosts
    kv_file = tmp_path / "datastore.yaml"
    write_atomically(kv_file, datastore(lan, "node0"))
    a = ServiceNode("node0", a_host, kv_file, tmp_path)
    service_nodes.append(a)
    b = ServiceNode("node1", b_host, kv_file, tmp_path)
    service_nodes.append(b)
    a_peer, b_peer = f"Mesh_{b_host.ipv4}", f"Mesh_{a_host.ipv4}"
    a_peer, b_peer = a_peer.replace(".", "_"), b_peer.replace(".", "_")

    # The endpoint is on node0: node0 originates the /32, node1 routes it to node0.
    wait_installed(b_host.ns, LB_ROUTE, str(a_host.ipv4))
    assert a.originates(LB_ROUTE) and not b.originates(LB_ROUTE)
    assert b.learned_from(LB_ROUTE) == b_peer
    assert LB_IP not in ours(a_host.ns)  # the originating node installs nothing for it
    # Blocks still go both ways: the service route is an addition, not a replacement.
    wait_installed(a_host.ns, "10.244.1.0/26", str(b_host.ipv4))
    before = (a.transitions(a_peer), b.transitions(b_peer))
    assert before == (1, 1)

    # The endpoint moves to node1 (the EndpointSlice is rewritten, as the controller does).
    write_atomically(kv_file, datastore(lan, "node1"))
    wait_installed(a_host.ns, LB_ROUTE, str(b_host.ipv4))
    wait_not_installed(b_host.ns, LB_ROUTE)
    wait_until(
        lambda: not a.originates(LB_ROUTE) and b.originates(LB_ROUTE),
        timeout=10,
        message="node1 originates the /32 and node0 no longer does",
    )
    assert a.learned_from(LB_ROUTE) == a_peer
    assert b.learned_from(LB_ROUTE) is None  # node0 withdrew it

    # No endpoint left on any node: the route is gone everywhere.
    content = datastore(lan, "node1")
    content["/kubernetes/endpointslices/shop/web-1"]["endpoints"][0]["conditions"]["ready"] = False
    write_atomically(kv_file, content)
    wait_not_installed(a_host.ns, LB_ROUTE)
    wait_until(
        lambda: not b.originates(LB_ROUTE) and a.learned_from(LB_ROUTE) is None,
        timeout=10,
        message="no node advertises the /32 of a Service without a ready endpoint",
    )
    # Every change went over the running sessions: none was reset.
    assert (a.transitions(a_peer), b.transitions(b_peer)) == before
    assert "10.244.1.0/26" in ours(a_host.ns)

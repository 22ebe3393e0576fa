"""Issue 12's done-when: a Calico cluster on the Kubernetes datastore, end to end.

Three nodes in network namespaces on one bridged LAN, each running `bgpd run --confd-backend
kubernetes` with its own NODENAME and a kubeconfig for the project's `kube-system/bgpd`
ServiceAccount (a TokenRequest token; deploy/rbac's roles, never the admin). They are fed only
from a real kube-apiserver: core Nodes with Calico's annotations, BlockAffinities, an IPPool,
the default BGPConfiguration, a LoadBalancer Service with `externalTrafficPolicy: Local` and
its EndpointSlice. The API server listens on the host's loopback; `LoopbackRelay` makes it
reachable as 127.0.0.1 inside each node's namespace (see kube_relay.py).

What is checked, in the kernels and over bgpctl: every node routes the others' blocks to them
(protocol 12, "bird"); the Service's /32 is routed to the node hosting its endpoint and follows
the endpoint when it moves, over the running sessions; a fourth Node object becomes a mesh
peer everywhere; the mesh switched off ends the sessions. A second test keys the mesh with
TCP-MD5 from a Secret named by BGPConfiguration.nodeMeshPassword.secretKeyRef.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request

from .calico_node import ours, wait_installed, wait_not_installed
from .kube_apiserver import KubeApiServer
from .kube_relay import LoopbackRelay
from .peers import Lan, LanHost, wait_until
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Process

REPO = Path(__file__).resolve().parents[2]
CRD = "crd.projectcalico.org/v1"
NAMES = ("node-a", "node-b", "node-c")
CLUSTER_IP, LB_IP = "10.96.0.10", "10.200.0.10"
LB_ROUTE = f"{LB_IP}/32"
SECRET, SECRET_KEY = "bgp-secrets", "mesh-password"  # the name deploy/rbac's Role grants
LAN_KEY = pytest.StashKey[Lan]()


def block(i: int) -> str:
    return f"10.244.{i + 1}.0/26"


def mesh_name(host: LanHost) -> str:
    return "Mesh_" + str(host.ipv4).replace(".", "_")


# -- the Kubernetes objects --------------------------------------------------------------------


def calico(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": CRD, "kind": kind, "metadata": {"name": name}, "spec": spec}


def k8s_node(name: str, ipv4_cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name},
            "annotations": {"projectcalico.org/IPv4Address": ipv4_cidr},
        },
    }


def bgp_configuration(*, mesh: bool = True, password: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "asNumber": 64512,
        "nodeToNodeMeshEnabled": mesh,
        "logSeverityScreen": "Info",
        "serviceClusterIPs": [{"cidr": "10.96.0.0/16"}],
        # No LB range advertised: the Local Service's LB /32 is the only route to it, and no
        # reject range keeps it out of the kernels (the cluster range keeps the cluster IP out).
        "serviceLoadBalancerIPs": [{"cidr": "10.200.0.0/24"}],
        "serviceLoadBalancerAggregation": "Disabled",
    }
    if password:
        spec["nodeMeshPassword"] = {"secretKeyRef": {"name": SECRET, "key": SECRET_KEY}}
    return calico("BGPConfiguration", "default", **spec)


def cluster_objects(lan: Lan) -> list[dict[str, Any]]:
    objects = [calico("IPPool", "pool", cidr="10.244.0.0/16", ipipMode="Never", vxlanMode="Never")]
    for i, (name, host) in enumerate(zip(NAMES, lan.hosts, strict=True)):
        objects.append(k8s_node(name, host.ipv4_cidr))
        affinity = f"{name}-{block(i).replace('.', '-').replace('/', '-')}"
        objects.append(
            calico(
                "BlockAffinity",
                affinity,
                node=name,
                cidr=block(i),
                state="confirmed",
                deleted="false",
            )
        )
    return objects


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "type": "LoadBalancer",
        "clusterIP": CLUSTER_IP,
        "externalTrafficPolicy": "Local",
        "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
        "selector": {"app": "web"},
    },
}


def endpoint_slice(node: str, address: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "nodeName": node, "conditions": {"ready": True}}],
        "ports": [{"port": 8080, "protocol": "TCP", "name": ""}],
    }


def publish_service(server: KubeApiServer, node: str, address: str) -> None:
    """The Service, its load-balancer address (status, as a cloud controller sets it) and its
    EndpointSlice (as the EndpointSlice controller would write it; the fixture has none)."""
    server.apply(SERVICE)
    status = json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": LB_IP}]}}})
    server.kubectl(
        "patch", "service", "web", "--namespace=default", "--subresource=status",
        "--type=merge", "-p", status,
    )  # fmt: skip
    server.apply(endpoint_slice(node, address))


def mesh_secret(password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": "kube-system"},
        "data": {SECRET_KEY: base64.b64encode(password.encode()).decode()},
    }


# -- the nodes ---------------------------------------------------------------------------------


class KddNode:
    """`bgpd run --confd-backend kubernetes` inside one LAN host's namespace, stopped by PID."""

    def __init__(self, name: str, host: LanHost, kubeconfig: Path, workdir: Path) -> None:
        self.name = name
        self.host = host
        self.socket = str(workdir / f"{name}.ctl")
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(workdir / f"{name}.toml")]
        argv += ["--confd-backend", "kubernetes", "--debounce", "0.05"]
        for var, value in (
            ("control_socket", self.socket),
            ("bird_socket", workdir / f"{name}-bird.ctl"),
            ("bird6_socket", workdir / f"{name}-bird6.ctl"),
        ):
            argv += ["--var", f"{var}={value}"]
        env = {
            **os.environ,
            "NODENAME": name,
            "DATASTORE_TYPE": "kubernetes",
            "KUBECONFIG": str(kubeconfig),
        }
        self.proc: Process = host.ns.spawn(argv, name=name, log_dir=workdir, env=env, cwd=REPO)

    def answering(self) -> bool:
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

    def peers(self) -> dict[str, str]:
        """Configured peers and their states."""
        return {p["name"]: p["state"] for p in self.ctl("show peers")}

    def transitions(self) -> dict[str, int]:
        return {
            name: int(self.ctl("show peer", name=name)["established_transitions"])
            for name in self.peers()
        }

    def originates(self, prefix: str) -> bool:
        return any(r["peer"] == "static" for r in self.ctl("show routes", prefix=prefix))

    def learned_from(self, prefix: str) -> set[str]:
        return {str(r["peer"]) for r in self.ctl("show routes", prefix=prefix)} - {"static"}


@pytest.fixture
def kdd_cluster(
    request: pytest.FixtureRequest,
    kube_apiserver: KubeApiServer,
    lan_factory: Callable[..., Lan],
    tmp_path: Path,
) -> Iterator[Callable[[], list[KddNode]]]:
    """Start one bgpd per LAN host (after the test applied its objects); all stopped at the end."""
    lan = lan_factory(3)
    relay = LoopbackRelay(kube_apiserver.port)
    nodes: list[KddNode] = []
    request.node.stash.setdefault(DIAGNOSTICS, []).append(
        lambda: "\n".join(f"--- {n.name}\n{n.proc.output(20000)}" for n in nodes)
    )

    def start() -> list[KddNode]:
        kubeconfig = kube_apiserver.kubeconfig_for("bgpd")  # the ServiceAccount's own token
        for name, host in zip(NAMES, lan.hosts, strict=True):
            relay.add(host.ns)
            nodes.append(KddNode(name, host, kubeconfig, tmp_path))
        for node in nodes:
            wait_until(node.answering, timeout=60, message=f"{node.name} rendered and started")
        return nodes

    request.node.stash[LAN_KEY] = lan
    try:
        yield start
    finally:
        for node in nodes:
            node.proc.stop(10)
        relay.close()


def wait_mesh(nodes: list[KddNode], expected: Callable[[KddNode], set[str]]) -> None:
    for node in nodes:
        wait_until(
            lambda node=node: (
                set(node.peers()) == expected(node)
                and all(state == "Established" for state in node.peers().values())
            ),
            timeout=45,
            message=f"{node.name}: mesh peers {sorted(expected(node))} Established",
            describe=lambda node=node: f"{node.peers()}\n{node.proc.output()}",
        )


def others(nodes: list[KddNode]) -> Callable[[KddNode], set[str]]:
    return lambda node: {mesh_name(n.host) for n in nodes if n is not node}


# -- the tests ---------------------------------------------------------------------------------


def test_kdd_cluster_routes_blocks_and_a_local_service_from_the_api_server_alone(
    request: pytest.FixtureRequest,
    kube_apiserver: KubeApiServer,
    kdd_cluster: Callable[[], list[KddNode]],
) -> None:
    lan = request.node.stash[LAN_KEY]
    kube_apiserver.apply([bgp_configuration(), *cluster_objects(lan)])
    publish_service(kube_apiserver, "node-b", "10.244.2.5")
    a, b, c = nodes = kdd_cluster()
    wait_mesh(nodes, others(nodes))

    # Every node's kernel routes the others' blocks to them, as BIRD would (proto 12).
    for i, node in enumerate(nodes):
        for j, other in enumerate(nodes):
            if i != j:
                wait_installed(node.host.ns, block(j), str(other.host.ipv4))
        assert ours(node.host.ns)[block(i)].get("type") == "blackhole"  # its own, as BIRD

    # The Local Service is routed to node-b, the node hosting its endpoint, and to no other.
    for node in (a, c):
        wait_installed(node.host.ns, LB_ROUTE, str(b.host.ipv4))
        wait_until(
            lambda node=node: node.learned_from(f"{CLUSTER_IP}/32") == {mesh_name(b.host)},
            timeout=30,
            message=f"{node.name}: the cluster IP /32 from node-b only",
        )
        assert node.learned_from(LB_ROUTE) == {mesh_name(b.host)}
        assert not node.originates(LB_ROUTE)
        # The cluster range covers the cluster IP: advertised, kept out of the kernel.
        assert CLUSTER_IP not in ours(node.host.ns)
    assert b.originates(LB_ROUTE) and b.originates(f"{CLUSTER_IP}/32")
    assert LB_IP not in ours(b.host.ns)
    before = {node.name: node.transitions() for node in nodes}
    assert all(t == 1 for counts in before.values() for t in counts.values()), before

    # The endpoint moves to node-c: the /32 follows it over the running sessions.
    kube_apiserver.apply(endpoint_slice("node-c", "10.244.3.5"))
    for node in (a, b):
        wait_installed(node.host.ns, LB_ROUTE, str(c.host.ipv4))
    wait_not_installed(c.host.ns, LB_ROUTE)
    wait_until(
        lambda: not b.originates(LB_ROUTE) and c.originates(LB_ROUTE),
        timeout=30,
        message="node-c originates the /32 and node-b no longer does",
    )
    assert a.learned_from(LB_ROUTE) == {mesh_name(c.host)}
    assert {node.name: node.transitions() for node in nodes} == before  # no session reset

    # A fourth Node object: every node configures it as a mesh peer (no bgpd runs there, so
    # it stays down), and the existing sessions stay up.
    d_ip = lan.hosts[0].ipv4_network[4]
    kube_apiserver.apply(k8s_node("node-d", f"{d_ip}/24"))
    d_peer = "Mesh_" + str(d_ip).replace(".", "_")
    for node in nodes:
        wait_until(
            lambda node=node: d_peer in node.peers(),
            timeout=30,
            message=f"{node.name}: {d_peer} configured",
        )
        assert node.peers()[d_peer] != "Established"
    assert {
        node.name: {k: v for k, v in node.transitions().items() if k != d_peer} for node in nodes
    } == before

    # The mesh switched off: the sessions go, and with them the learned routes.
    kube_apiserver.apply(bgp_configuration(mesh=False))
    for i, node in enumerate(nodes):
        wait_until(
            lambda node=node: node.peers() == {},
            timeout=30,
            message=f"{node.name}: no mesh peers",
            describe=lambda node=node: f"{node.peers()}",
        )
        for j in range(len(nodes)):
            if i != j:
                wait_not_installed(node.host.ns, block(j))
    for node in nodes:
        assert node.proc.running, node.proc.output()


def md5_sessions(host: LanHost) -> tuple[set[str], str]:
    """The peer addresses holding a TCP-MD5 key on this namespace's established BGP sockets,
    and `ss -tnie`'s whole output (iproute2 6.1 prints the key bytes themselves there too)."""
    out = host.ns.run(["ss", "-tnie", "state", "established", "( sport = :179 or dport = :179 )"])
    return set(re.findall(r"md5keys:([0-9.]+)/32", out.stdout)), out.stdout


def test_kdd_mesh_sessions_are_keyed_with_md5_from_a_secret(
    request: pytest.FixtureRequest,
    kube_apiserver: KubeApiServer,
    kdd_cluster: Callable[[], list[KddNode]],
) -> None:
    """Needs the Secret → password support (branch i12-s1): the model reads the Secret that
    BGPConfiguration.nodeMeshPassword.secretKeyRef names from /kubernetes/secrets/<ns>/<name>."""
    lan = request.node.stash[LAN_KEY]
    password = "kdd-mesh-s3cret"
    kube_apiserver.apply(
        [bgp_configuration(password=True), mesh_secret(password), *cluster_objects(lan)]
    )
    nodes = kdd_cluster()
    wait_mesh(nodes, others(nodes))
    for node in nodes:
        # Each end of each mesh session carries the Secret's password as its TCP-MD5 key.
        keyed, out = md5_sessions(node.host)
        assert keyed == {str(n.host.ipv4) for n in nodes if n is not node}, out
        assert password in out, out
        # ... and the password reaches neither the logs nor bgpctl.
        assert password not in node.proc.output(10**7)
        assert password not in str(node.ctl("show peers"))
    for i, node in enumerate(nodes):
        for j, other in enumerate(nodes):
            if i != j:
                wait_installed(node.host.ns, block(j), str(other.host.ipv4))

    # The Secret changes: every node re-keys its sessions and they come back up.
    kube_apiserver.apply(mesh_secret("rotated-s3cret"))
    for node in nodes:
        wait_until(
            lambda node=node: (
                len((keyed := md5_sessions(node.host))[0]) == 2
                and "rotated-s3cret" in keyed[1]
                and password not in keyed[1]
            ),
            timeout=60,
            message=f"{node.name}: sessions re-keyed with the rotated password",
            describe=lambda node=node: md5_sessions(node.host)[1],
        )
    wait_mesh(nodes, others(nodes))

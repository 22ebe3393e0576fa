"""RBAC, token and reachability failures of the Kubernetes datastore, as an operator meets them.

Each case runs `bgpd run --confd-backend kubernetes` (in its own network namespace, which the
API server is relayed into, see kube_relay.py; kernel off, metrics on) against
a real kube-apiserver with a deliberately broken credential or role, and checks what bgpd logs
and what `/metrics` and `/readyz` show, then the fix. docs/troubleshooting.md quotes these lines
("Kubernetes datastore: RBAC and tokens"); run with ``-s`` to print them.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kube_apiserver import KubeApiServer
from .kube_relay import LoopbackRelay
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Namespace, Process
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
CRD = "crd.projectcalico.org/v1"
CONNECTED = 'bgpd_confd_datastore_connected{datastore="kubernetes"}'


def calico(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": CRD, "kind": kind, "metadata": {"name": name}, "spec": spec}


def cluster(secret: str | None = None) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {"asNumber": 64512, "nodeToNodeMeshEnabled": True}
    if secret is not None:
        spec["nodeMeshPassword"] = {"secretKeyRef": {"name": secret, "key": "password"}}
    return [
        calico("BGPConfiguration", "default", **spec),
        calico("IPPool", "pool", cidr="10.244.0.0/16"),
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "node-a",
                "annotations": {"projectcalico.org/IPv4Address": "127.0.62.1/24"},
            },
        },
    ]


class Node:
    """One `bgpd run` in namespace ``ns`` with metrics on its 127.0.0.1; stopped by PID."""

    def __init__(self, ns: Namespace, workdir: Path, env: dict[str, str]) -> None:
        self.ns = ns
        self.port = 9099
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(workdir / "node-a.toml")]
        argv += ["--confd-backend", "kubernetes", "--debounce", "0.05"]
        for var, value in (
            ("control_socket", workdir / "a.ctl"),
            ("bird_socket", workdir / "a-bird.ctl"),
            ("bird6_socket", workdir / "a-bird6.ctl"),
            ("metrics_listen", f"127.0.0.1:{self.port}"),
            ("kernel", "false"),
        ):
            argv += ["--var", f"{var}={value}"]
        env = {**os.environ, "NODENAME": "node-a", "DATASTORE_TYPE": "kubernetes", **env}
        self.proc: Process = ns.spawn(argv, name="node-a", log_dir=workdir, env=env, cwd=REPO)

    def log(self) -> str:
        return self.proc.stderr_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 30) -> str:
        """Wait for a log line holding ``text``; return that line (timestamp cut)."""

        def line() -> str | None:
            found = [ln for ln in self.log().splitlines() if text in ln]
            return found[-1].split(" ", 2)[2] if found else None

        got = wait_until(line, timeout=timeout, message=f"log line {text!r}", describe=self.log)
        assert got is not None
        print(got)
        return got

    def http(self, path: str) -> tuple[int, str]:
        try:
            with self.ns.entered():  # the connection is made inside the node's namespace
                reply = urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5)
            with reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float | None:
        """The sample's value; None when absent or while nothing listens yet."""
        try:
            text = self.http("/metrics")[1]
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


@pytest.fixture
def relay(kube_apiserver: KubeApiServer) -> Iterator[LoopbackRelay]:
    with LoopbackRelay(kube_apiserver.port) as made:
        yield made


@pytest.fixture
def nodes(
    request: pytest.FixtureRequest,
    relay: LoopbackRelay,
    netns_factory: Callable[..., Namespace],
    tmp_path: Path,
) -> Iterator[Callable[..., Node]]:
    made: list[Node] = []
    request.node.stash.setdefault(DIAGNOSTICS, []).append(
        lambda: "\n".join(n.proc.output(20000) for n in made)
    )

    def start(name: str, env: dict[str, str]) -> Node:
        ns = netns_factory()
        relay.add(ns)
        node = Node(ns, tmp_path / name, env)
        made.append(node)
        return node

    yield start
    for node in made:
        node.proc.stop(10)


def limited_account(server: KubeApiServer, name: str, drop_watch_on: str) -> Path:
    """A ServiceAccount bound to deploy/rbac's ClusterRole minus `watch` on one resource."""
    role = yaml.safe_load((REPO / "deploy" / "rbac" / "clusterrole.yaml").read_text())
    role["metadata"]["name"] = name
    rules = []
    for rule in role["rules"]:
        if drop_watch_on in rule["resources"]:
            rest = [r for r in rule["resources"] if r != drop_watch_on]
            rules.append({**rule, "resources": rest})
            rules.append({**rule, "resources": [drop_watch_on], "verbs": ["get", "list"]})
        else:
            rules.append(rule)
    role["rules"] = rules
    server.ensure_service_account(name)
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}],
    }
    server.apply([role, binding])
    return server.kubeconfig_for(name)


def test_a_role_missing_watch_is_logged_and_shown_disconnected_until_fixed(
    kube_apiserver: KubeApiServer, nodes: Callable[..., Node]
) -> None:
    kube_apiserver.apply(cluster())
    kubeconfig = limited_account(kube_apiserver, "bgpd-nowatch", "bgppeers")
    node = nodes("nowatch", {"KUBECONFIG": str(kubeconfig)})
    # The list works, so the first render happens and the speaker starts; the watch is denied.
    # Wait for the refusal itself: "listed kind=bgppeers" comes first and also names the kind.
    line = node.wait_log("confd.kubernetes.forbidden")
    assert "kind=bgppeers" in line and "403" in line and "watch" in line, line
    wait_until(lambda: node.metric(CONNECTED) == 0, timeout=30, message="disconnected")
    print(CONNECTED, node.metric(CONNECTED))
    print("/readyz", node.http("/readyz"))
    # The fix: grant the verb (here: bind deploy/rbac's role); the watch resumes by itself.
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "bgpd-nowatch-fixed"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bgpd"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "bgpd-nowatch", "namespace": "kube-system"}
        ],
    }
    kube_apiserver.apply(binding)
    node.wait_log("confd.kubernetes.reconnected")
    wait_until(lambda: node.metric(CONNECTED) == 1, timeout=30, message="connected again")


def test_a_secret_outside_the_roles_resource_names_is_forbidden_and_named(
    kube_apiserver: KubeApiServer, nodes: Callable[..., Node]
) -> None:
    kube_apiserver.apply(cluster(secret="mesh-password"))  # deploy/rbac grants bgp-secrets only
    node = nodes("secret", {"KUBECONFIG": str(kube_apiserver.kubeconfig_for("bgpd"))})
    line = node.wait_log("confd.kubernetes.unreadable")
    assert "kind=secrets/mesh-password" in line and "403" in line, line
    node.wait_log("confd installed")  # the Secret does not hold up the render
    wait_until(lambda: node.metric(CONNECTED) == 1, timeout=30, message="still connected")
    print(CONNECTED, node.metric(CONNECTED))


def test_an_invalid_token_then_a_rotated_token_file(
    kube_apiserver: KubeApiServer, nodes: Callable[..., Node], tmp_path: Path
) -> None:
    kube_apiserver.apply(cluster())
    token_file = tmp_path / "sa-token"
    token_file.write_text("not-a-valid-token")
    config = yaml.safe_load(kube_apiserver.kubeconfig_for("bgpd").read_text())
    config["users"][0]["user"] = {"tokenFile": str(token_file)}
    kubeconfig = tmp_path / "token.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    node = nodes("token", {"KUBECONFIG": str(kubeconfig)})
    line = node.wait_log("confd.kubernetes.discovery_failed")
    assert "401" in line, line
    # Nothing is rendered: the speaker has not started, so nothing answers /readyz.
    assert not (tmp_path / "token" / "node-a.toml").exists()
    with pytest.raises(OSError):
        node.http("/readyz")
    print("/readyz: connection refused")
    # The kubelet rotates the projected token: the next request uses the new file.
    token_file.write_text(kube_apiserver.token_for("bgpd"))
    node.wait_log("confd installed")
    wait_until(lambda: node.metric(CONNECTED) == 1, timeout=30, message="connected")
    # The token goes bad while running (revoked, expired): 401, disconnected, state kept.
    token_file.write_text("revoked")
    kube_apiserver.restart()  # ends the open watches, so the next requests carry the token
    node.wait_log("confd.kubernetes.unreachable")
    line = node.wait_log("HTTP 401")
    assert "confd.kubernetes.unauthorized" in line, line
    wait_until(lambda: node.metric(CONNECTED) == 0, timeout=30, message="disconnected")
    token_file.write_text(kube_apiserver.token_for("bgpd"))
    node.wait_log("confd.kubernetes.reconnected")


def test_the_api_server_unreachable_keeps_the_config_and_recovers(
    kube_apiserver: KubeApiServer, nodes: Callable[..., Node], relay: LoopbackRelay
) -> None:
    kube_apiserver.apply(cluster())
    node = nodes("down", {"KUBECONFIG": str(kube_apiserver.kubeconfig_for("bgpd"))})
    node.wait_log("confd installed")
    relay.pause(node.ns)  # the node's route to the API server is gone: connections refused
    node.wait_log("confd.kubernetes.unreachable")
    node.wait_log("Connect call failed")
    wait_until(lambda: node.metric(CONNECTED) == 0, timeout=30, message="disconnected")
    print(CONNECTED, node.metric(CONNECTED))
    print("/readyz", node.http("/readyz"))
    relay.resume(node.ns)
    node.wait_log("confd.kubernetes.reconnected", timeout=60)
    wait_until(lambda: node.metric(CONNECTED) == 1, timeout=30, message="connected again")

"""BGP passwords from Kubernetes Secrets, against a real kube-apiserver, as the bgpd
ServiceAccount (deploy/rbac: the password Role names the Secret by resourceNames).

Three `bgpd run --confd-backend kubernetes` nodes on distinct 127.0.62.x loopback addresses
(bindMode NodeIP; the API server listens on the host's loopback, so the nodes share it rather
than live in network namespaces). The mesh is off; BGPPeer `ab` (node-a -> node-b, and its
automatic reverse peering on node-b) is keyed from Secret `kube-system/bgp-secrets`, `ac`
(node-a -> node-c) has no password. A rotation re-keys a-b alone; a removed key holds a-b down
with the reason; restored, it comes back. The last test reads the same Secret in etcd mode
(Calico resources in etcd, the Secret from the API server: the composite source).
"""

from __future__ import annotations

import base64
import os
import socket
import stat
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.confd.render.calico_v3 import bgp_configuration, ip_pool, node

from .etcd_server import EtcdServer
from .kube_apiserver import KubeApiServer
from .peers import free_tcp_ports
from .peers.poll import wait_until
from .test_confd_etcd import ConfdNode, ConfdNodes

CRD = "crd.projectcalico.org/v1"
A, B, C = "127.0.62.1", "127.0.62.2", "127.0.62.3"
PORT = 1179
AB, BA, AC = (f"Node_127_0_62_{i}_port_{PORT}" for i in (2, 1, 3))
SECRET = "bgp-secrets"


def calico(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": CRD, "kind": kind, "metadata": {"name": name}, "spec": spec}


def k8s_node(name: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "annotations": {"projectcalico.org/IPv4Address": f"{ip}/24"}},
    }


def secret(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": "kube-system"},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConfdNodes]:
    made = ConfdNodes(request, tmp_path)
    yield made
    made.close()


KEYED = {"secretKeyRef": {"name": SECRET, "key": "ab"}}


def cluster() -> list[dict[str, Any]]:
    return [
        calico(
            "BGPConfiguration",
            "default",
            asNumber=64512,
            nodeToNodeMeshEnabled=False,
            bindMode="NodeIP",
            listenPort=PORT,
        ),
        calico("IPPool", "pool", cidr="10.62.0.0/16", ipipMode="Never"),
        k8s_node("node-a", A),
        k8s_node("node-b", B),
        k8s_node("node-c", C),
        calico("BGPPeer", "ab", node="node-a", peerIP=B, asNumber=64512, password=KEYED),
        calico("BGPPeer", "ac", node="node-a", peerIP=C, asNumber=64512),
    ]


def unsigned_connect_refused(src: str, dst: str) -> bool:
    """True when `dst` drops an unsigned SYN from `src`: its listener holds a TCP-MD5 key for
    `src` (RFC 2385; the kernel counts TcpExtTCPMD5NotFound). Without a key the handshake
    completes (and bgpd, holding the peer down, then refuses it with a Cease)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(1.5)
    try:
        sock.bind((src, 0))
        sock.connect((dst, PORT))
    except TimeoutError:
        return True
    finally:
        sock.close()
    return False


def held(node: ConfdNode, peer: str) -> str | None:
    return node.ctl("show peer", name=peer).get("down_reason")  # type: ignore[no-any-return]


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.read().decode()  # type: ignore[no-any-return]


def test_secret_rotation_rekeys_only_its_sessions_and_a_missing_key_holds_them_down(
    kube_apiserver: KubeApiServer, nodes: ConfdNodes, tmp_path: Path
) -> None:
    kube = kube_apiserver
    kube.apply([*cluster(), secret(ab="first-password")])
    (metrics_port,) = free_tcp_ports(1)
    env = {"KUBECONFIG": str(kube.kubeconfig_for("bgpd")), "DATASTORE_TYPE": "kubernetes"}
    start: Callable[..., ConfdNode] = lambda name, *extra: nodes(  # noqa: E731
        name, env, *extra, backend="kubernetes"
    )
    a = start("node-a", "--var", f"metrics_listen=127.0.0.1:{metrics_port}")
    b = start("node-b")
    c = start("node-c")
    a.wait_peers({AB, AC})
    b.wait_peers({BA})
    c.wait_peers({BA})
    # The key is really in use: node-a's listener drops an unsigned SYN from node-b's address,
    # and takes one from node-c's (no password there).
    assert unsigned_connect_refused(B, A)
    assert not unsigned_connect_refused(C, A)
    assert (a.config_path.stat().st_mode & 0o777) == 0o600
    ab, ac = a.transitions(AB), a.transitions(AC)

    # 1. Rotation: both sides re-render with the new key; a-b re-keys, a-c does not flap.
    kube.apply(secret(ab="second-password"))
    wait_until(
        lambda: a.transitions(AB) > ab and b.transitions(BA) > 0,
        timeout=60,
        message="a-b re-keyed",
        describe=a.output,
    )
    a.wait_peers({AB, AC})
    b.wait_peers({BA})
    assert a.transitions(AC) == ac
    assert 'password = "second-password"' in a.rendered()
    ab = a.transitions(AB)

    # 2. An unrelated key in the same Secret re-keys nothing. A log level change applied after
    # it shows when the watcher has taken both.
    kube.apply(secret(ab="second-password", unrelated="x"))
    kube.apply(cluster()[0] | {"spec": {**cluster()[0]["spec"], "logSeverityScreen": "Debug"}})
    wait_until(
        lambda: a.running_config()["bgp"]["log_level"] == "debug",
        timeout=60,
        message="node-a at log level debug",
        describe=a.output,
    )
    assert (a.transitions(AB), a.transitions(AC)) == (ab, ac)

    # 3. The key removed: a-b goes down on both sides with the reason, a-c stays up.
    kube.apply(secret(other="x"))
    reason = "password unavailable: secret kube-system/bgp-secrets has no key ab"
    wait_until(
        lambda: held(a, AB) == reason and held(b, BA) == reason,
        timeout=60,
        message="a-b held down",
        describe=a.output,
    )
    assert a.peers()[AB]["state"] == "Idle"
    assert a.peers()[AB]["last_error"] == reason
    assert a.peers()[AC]["state"] == "Established" and a.transitions(AC) == ac
    assert f'peer held down peer={AB} address={B} reason="{reason}"' in a.output()
    text = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    assert f'bgpd_peer_password_unavailable{{address="{B}",peer="{AB}"}} 1.0' in text
    assert f'bgpd_peer_password_unavailable{{address="{C}",peer="{AC}"}} 0.0' in text
    assert 'password_unavailable = "secret kube-system/bgp-secrets has no key ab"' in (a.rendered())
    # No key on the listener any more, and still never Established without one.
    assert not unsigned_connect_refused(B, A)
    assert a.peers()[AB]["state"] == "Idle"

    # 4. Restored: a-b comes back, a-c still untouched.
    kube.apply(secret(ab="third-password"))
    a.wait_peers({AB, AC})
    b.wait_peers({BA})
    assert a.transitions(AC) == ac
    assert held(a, AB) is None

    # The passwords never reached a log, bgpctl, the metrics or a file others can read.
    outputs = [
        a.output(),
        b.output(),
        c.output(),
        scrape(f"http://127.0.0.1:{metrics_port}/metrics"),
        a.ctl("show config"),
        str(a.ctl("show peers")),
        str(a.ctl("show peer", name=AB)),
    ]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_mode & stat.S_IROTH:
            outputs.append(path.read_text(errors="replace"))
    for password in ("first-password", "second-password", "third-password"):
        leaked = [i for i, text in enumerate(outputs) if password in text]
        assert not leaked, (password, leaked)


def test_etcd_mode_reads_the_secret_from_the_api_server(
    etcd_server: EtcdServer,
    kube_apiserver: KubeApiServer,
    nodes: ConfdNodes,
) -> None:
    etcd = etcd_server
    etcd.put_many(
        {
            **bgp_configuration(
                asNumber=64512,
                nodeToNodeMeshEnabled=True,
                bindMode="NodeIP",
                listenPort=PORT,
                nodeMeshPassword={"secretKeyRef": {"name": SECRET, "key": "mesh"}},
            ),
            **node("node-a", f"{A}/24"),
            **node("node-b", f"{B}/24"),
            **ip_pool("pool", "10.62.0.0/16"),
        }
    )
    env = {**etcd.env(), "KUBECONFIG": str(kube_apiserver.kubeconfig_for("bgpd"))}
    a = nodes("node-a", env, "--confd-kubernetes", "yes")
    b = nodes("node-b", env, "--confd-kubernetes", "yes")
    reason = "password unavailable: secret kube-system/bgp-secrets is missing or not readable"
    wait_until(
        lambda: held(a, "Mesh_127_0_62_2") == reason and held(b, "Mesh_127_0_62_1") == reason,
        timeout=60,
        message="the mesh held down until the Secret exists",
        describe=a.output,
    )
    kube_apiserver.apply(secret(mesh="mesh-password"))
    a.wait_peers({"Mesh_127_0_62_2"}, timeout=60)
    b.wait_peers({"Mesh_127_0_62_1"}, timeout=60)
    assert unsigned_connect_refused(B, A)
    assert "mesh-password" not in a.output() + b.output() + a.ctl("show config")
    assert os.stat(a.config_path).st_mode & 0o077 == 0

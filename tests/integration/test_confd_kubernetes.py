"""The Kubernetes datastore against a real kube-apiserver: `bgpd confd --backend kubernetes`
(one pass and the watcher) and the source itself (410 re-list, API server restart, status-only
Node updates, token rotation), always as the project's `kube-system/bgpd` ServiceAccount bound
to deploy/rbac's ClusterRole, never as the admin."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.sources.base import KvSnapshot
from bgpd.confd.sources.kube_config import KubeSettings
from bgpd.confd.sources.kubernetes import KubernetesSource

from .kube_apiserver import KubeApiServer
from .peers.netns import Process, spawn
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
CRD = "crd.projectcalico.org/v1"
V3 = "/calico/resources/v3/projectcalico.org/"


def k8s_node(name: str, ip: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"projectcalico.org/IPv4Address": f"{ip}/24"},
        },
        "spec": {"podCIDRs": ["10.244.1.0/24"]},
    }


def calico(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": CRD, "kind": kind, "metadata": {"name": name}, "spec": spec}


CLUSTER = [
    calico("BGPConfiguration", "default", asNumber=64512, nodeToNodeMeshEnabled=True),
    calico("IPPool", "pool", cidr="10.244.0.0/16", ipipMode="Never"),
    calico(
        "BlockAffinity",
        "node-a-10-244-1-0-26",
        node="node-a",
        cidr="10.244.1.0/26",
        state="confirmed",
        deleted="false",
    ),
    k8s_node("node-a", "10.0.0.1"),
]


def kubeconfig_with_token_file(server: KubeApiServer, token_file: Path) -> Path:
    """A kubeconfig naming a tokenFile (what a projected in-cluster token looks like)."""
    token_file.write_text(server.token_for("bgpd"))
    path = token_file.parent / "bgpd.kubeconfig"
    config = yaml.safe_load(server.kubeconfig_for("bgpd").read_text())
    config["users"][0]["user"] = {"tokenFile": str(token_file)}
    path.write_text(yaml.safe_dump(config))
    return path


def rendered(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text()) if path.exists() else {}


def rendered_peers(path: Path) -> set[str]:
    return {p["address"] for p in rendered(path).get("peer", [])}


def mesh(path: Path) -> dict[str, str]:
    """The mesh members other than node-a, with their cluster ids ("" when none)."""
    config = rendered(path)
    if not config.get("mesh", {}).get("enabled"):
        return {}
    return {
        n["name"]: n["rr_cluster_id"]
        for n in config.get("cluster_node", [])
        if n["name"] != "node-a"
    }


# -- bgpd confd, one pass and the watcher ------------------------------------------------------


@pytest.fixture
def confd_watcher(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> Iterator[Callable[..., Process]]:
    procs: list[Process] = []

    def start(*args: str) -> Process:
        env = {
            **os.environ,
            "KUBECONFIG": str(kube_apiserver.kubeconfig_for("bgpd")),
            "DATASTORE_TYPE": "kubernetes",
            "NODENAME": "node-a",
        }
        argv = [sys.executable, "-m", "bgpd", "confd", "--dest-root", str(tmp_path / "out")]
        proc = spawn([*argv, *args], name="confd", log_dir=tmp_path, env=env, cwd=REPO)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def test_onetime_and_watcher_follow_the_cluster(
    kube_apiserver: KubeApiServer, confd_watcher: Callable[..., Process], tmp_path: Path
) -> None:
    kube_apiserver.apply(CLUSTER)
    dest = tmp_path / "out" / "etc" / "bgpd" / "bgpd.toml"
    once = confd_watcher("--onetime")
    wait_until(lambda: not once.running, timeout=60, message="bgpd confd --onetime ended")
    assert once.returncode == 0, once.output()
    assert rendered_peers(dest) == set()  # alone in the mesh
    assert "10.244.1.0/26" in dest.read_text()  # the node's block from its BlockAffinity

    dest.unlink()
    watcher = confd_watcher("--debounce", "0.05")
    wait_until(dest.exists, timeout=60, message="the watcher's first render")
    # A node joins: it appears in the mesh.
    kube_apiserver.apply(k8s_node("node-b", "10.0.0.2"))
    wait_until(lambda: mesh(dest) == {"node-b": ""}, timeout=30, message="node-b meshed")
    # A BGPPeer is added.
    kube_apiserver.apply(calico("BGPPeer", "tor", peerIP="10.0.0.254", asNumber=65000))
    wait_until(lambda: rendered_peers(dest) == {"10.0.0.254"}, timeout=30, message="tor")
    # A BGPFilter attached to it, then changed.
    rule = {"action": "Reject", "matchOperator": "In", "cidr": "10.99.0.0/16"}
    kube_apiserver.apply(calico("BGPFilter", "f", exportV4=[rule]))
    kube_apiserver.apply(
        calico("BGPPeer", "tor", peerIP="10.0.0.254", asNumber=65000, filters=["f"])
    )
    wait_until(lambda: "10.99.0.0/16" in dest.read_text(), timeout=30, message="filter")
    rule["cidr"] = "10.98.0.0/16"
    kube_apiserver.apply(calico("BGPFilter", "f", exportV4=[rule]))
    wait_until(lambda: "10.98.0.0/16" in dest.read_text(), timeout=30, message="filter changed")
    assert "10.99.0.0/16" not in dest.read_text()
    # node-b becomes a route reflector (cluster id annotation, label for the selector): it
    # leaves the mesh's plain members and node-a peers with it by selector.
    reflector = k8s_node("node-b", "10.0.0.2", rr="true")
    reflector["metadata"]["annotations"]["projectcalico.org/RouteReflectorClusterID"] = "1.0.0.1"
    kube_apiserver.apply(reflector)
    kube_apiserver.apply(
        calico("BGPPeer", "to-rr", nodeSelector="all()", peerSelector="rr == 'true'")
    )
    wait_until(
        lambda: (
            mesh(dest) == {"node-b": "1.0.0.1"}
            and rendered_peers(dest) == {"10.0.0.254", "10.0.0.2"}
        ),
        timeout=30,
        message="node-b as reflector",
    )
    # The mesh switched off: a new node does not appear, explicit peerings stay.
    kube_apiserver.apply(
        calico("BGPConfiguration", "default", asNumber=64512, nodeToNodeMeshEnabled=False)
    )
    kube_apiserver.apply(k8s_node("node-c", "10.0.0.3"))
    wait_until(
        lambda: rendered(dest).get("mesh", {}).get("enabled") is False,
        timeout=30,
        message="mesh off",
    )
    assert mesh(dest) == {}
    assert rendered_peers(dest) == {"10.0.0.254", "10.0.0.2"}
    assert watcher.running, watcher.output()


# -- the source in-process ---------------------------------------------------------------------


async def next_snapshot(stream: AsyncIterator[KvSnapshot], timeout: float = 30) -> KvSnapshot:
    return await asyncio.wait_for(anext(stream), timeout)


async def until(check: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def source_for(server: KubeApiServer, tmp_path: Path) -> KubernetesSource:
    kubeconfig = kubeconfig_with_token_file(server, tmp_path / "token")
    settings = KubeSettings.from_env(
        {"KUBECONFIG": str(kubeconfig)}, backoff_initial=0.05, backoff_max=0.5
    )
    return KubernetesSource(settings)


def test_node_status_update_publishes_nothing_and_a_relevant_change_does(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    kube_apiserver.apply(CLUSTER)

    async def scenario() -> None:
        source = source_for(kube_apiserver, tmp_path)
        stream = source.snapshots()
        first = await next_snapshot(stream)
        assert f"{V3}nodes/node-a" in first.values
        view = derive_view(first.values, LocalNode(nodename="node-a"))
        assert view["/calico/bgp/v1/host/node-a/ip_addr_v4"] == "10.0.0.1"
        # A kubelet heartbeat: status only (and an unrelated annotation).
        status = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "beat"}]}}
        await asyncio.to_thread(
            kube_apiserver.kubectl,
            "patch", "node", "node-a", "--subresource=status", "--type=merge",
            "-p", json.dumps(status),
        )  # fmt: skip
        await asyncio.to_thread(
            kube_apiserver.kubectl, "annotate", "node", "node-a", "example.com/unrelated=1"
        )
        # Then a change bgpd uses: the next snapshot is the very next revision.
        await asyncio.to_thread(
            kube_apiserver.kubectl,
            "annotate", "--overwrite", "node", "node-a",
            "projectcalico.org/IPv4Address=10.0.0.9/24",
        )  # fmt: skip
        second = await next_snapshot(stream)
        assert second.revision == first.revision + 1
        assert "10.0.0.9/24" in second.values[f"{V3}nodes/node-a"]
        await source.close()

    asyncio.run(scenario())


def test_restart_keeps_state_shows_the_outage_and_expired_watches_relist(
    kube_apiserver: KubeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kube_apiserver.apply(CLUSTER)
    caplog.set_level(logging.INFO, logger="bgpd.confd.sources.kubernetes")

    async def scenario() -> None:
        source = source_for(kube_apiserver, tmp_path)
        stream = source.snapshots()
        first = await next_snapshot(stream)
        assert source.status().connected
        reads = source.status().full_reads
        # Advance the store's version past what the watches hold (no bookmark yet), so the
        # restarted API server's fresh watch cache finds them too old: 410 Gone.
        await asyncio.to_thread(
            kube_apiserver.kubectl, "create", "configmap", "bump", "-n", "default"
        )
        await asyncio.to_thread(kube_apiserver.stop)
        await until(lambda: not source.status().connected, what="the outage seen")
        assert source.status().last_error
        assert source._current_snapshot().values == first.values  # the last good state stays
        await asyncio.to_thread(kube_apiserver.start)
        await asyncio.to_thread(kube_apiserver.apply, k8s_node("node-b", "10.0.0.2"))
        snap = await next_snapshot(stream, 60)
        while f"{V3}nodes/node-b" not in snap.values:
            snap = await next_snapshot(stream, 60)
        assert source.status().connected
        assert source.status().full_reads > reads
        await source.close()

    asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert any("confd.kubernetes.unreachable" in m for m in messages)
    assert any("confd.kubernetes.reconnected" in m for m in messages)
    assert any("confd.kubernetes.expired" in m and "action=relist" in m for m in messages)


def test_a_rotated_token_is_used_by_the_next_request(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    kube_apiserver.apply(CLUSTER)

    async def scenario() -> None:
        source = source_for(kube_apiserver, tmp_path)
        stream = source.snapshots()
        await next_snapshot(stream)
        # An invalid token: the next requests fail (401) and the outage shows ...
        (tmp_path / "token").write_text("not-a-token")
        await asyncio.to_thread(kube_apiserver.restart)  # every watch must reconnect
        await until(
            lambda: "401" in (source.status().last_error or ""), 60, "401 with the bad token"
        )
        # ... until the file holds a new valid token: no restart of the source needed.
        (tmp_path / "token").write_text(kube_apiserver.token_for("bgpd"))
        await asyncio.to_thread(kube_apiserver.apply, k8s_node("node-b", "10.0.0.2"))
        snap = await next_snapshot(stream, 60)
        while f"{V3}nodes/node-b" not in snap.values:
            snap = await next_snapshot(stream, 60)
        await until(lambda: source.status().connected, 30, "every kind back with the new token")
        await source.close()

    asyncio.run(scenario())

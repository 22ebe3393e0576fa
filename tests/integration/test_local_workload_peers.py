"""Peering with a workload on the node (BGPPeer `localWorkloadSelector`), end to end.

A "workload" namespace runs BIRD 2, which dials the node's `localWorkloadPeeringIPV4`. The node
namespace runs `bgpd run` with its in-process confd on a key/value file (the datastore) and an
endpoint status directory. The test stands in for Felix: it puts the peering address on the
host side of the workload's veth (felix/dataplane/linux/endpoint_mgr.go) and writes the
endpoint status file naming the BGPPeer (felix/statusrep, libcalico-go/lib/epstatusfile).

- The status file appears: bgpd configures `Local_Workload_10_65_0_5`, passive, and the
  session comes up from the workload's side; the workload's route reaches bgpd's Loc-RIB.
- A garbage file beside it is logged, naming it, and changes nothing.
- The status file goes: the peer and its route go.

Topology: N (node: cali0 host side, 169.254.0.179/32) == veth == W (workload: eth0, 10.65.0.5/32).
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request

from .peers import BgpPeer, BirdConfig, Namespace, StaticRoute, veth, wait_until
from .peers.fixtures import DIAGNOSTICS, BirdFactory
from .peers.netns import Process

REPO = Path(__file__).resolve().parents[2]
V3 = "/calico/resources/v3/projectcalico.org"
NODE = "node-a"
NODE_IP = "10.0.0.1"
PEERING_IP = "169.254.0.179"  # BGPConfiguration localWorkloadPeeringIPV4
WORKLOAD_IP = "10.65.0.5"
WORKLOAD_AS = 65100
ANNOUNCED = "10.77.0.0/24"
PEER = "Local_Workload_10_65_0_5"
STATUS_FILE = "k8s default%2Fbird-0 eth0"  # Felix's name: orchestrator, workload, endpoint


def resource(plural: str, name: str, spec: dict[str, Any]) -> tuple[str, Any]:
    return f"{V3}/{plural}/{name}", {"metadata": {"name": name}, "spec": spec}


def datastore() -> dict[str, Any]:
    return dict(
        [
            resource(
                "bgpconfigurations",
                "default",
                {"nodeToNodeMeshEnabled": False, "localWorkloadPeeringIPV4": PEERING_IP},
            ),
            resource("nodes", NODE, {"bgp": {"ipv4Address": f"{NODE_IP}/24"}}),
            resource(
                "bgppeers",
                "bird-workloads",
                {
                    "nodeSelector": "all()",
                    "localWorkloadSelector": "app == 'bird'",
                    "asNumber": WORKLOAD_AS,
                },
            ),
        ]
    )


def felix_status(bgp_peer: str) -> str:
    """What Felix's status file reporter writes (json.Marshal of WorkloadEndpointStatus)."""
    status = {
        "ifaceName": "cali0",
        "mac": "ee:ee:ee:ee:ee:ee",
        "ipv4Nets": [f"{WORKLOAD_IP}/32"],
        "bgpPeerName": bgp_peer,
    }
    return json.dumps(status, separators=(",", ":"))


class Node:
    """`bgpd run` with the file datastore and an endpoint status directory, in `ns`."""

    def __init__(self, ns: Namespace, workdir: Path, kv_file: Path, prefix: Path) -> None:
        self.socket = str(workdir / "bgpd.ctl")
        self.config = workdir / "bgpd.toml"
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(self.config)]
        argv += ["--confd-backend", "file", "--confd-file", str(kv_file), "--debounce", "0.05"]
        argv += ["--confd-endpoint-status-prefix", str(prefix)]
        for var, value in (
            ("control_socket", self.socket),
            ("bird_socket", workdir / "bird.ctl"),
            ("bird6_socket", workdir / "bird6.ctl"),
        ):
            argv += ["--var", f"{var}={value}"]
        env = {**os.environ, "NODENAME": NODE}
        self.proc: Process = ns.spawn(argv, name="bgpd", log_dir=workdir, env=env, cwd=REPO)
        wait_until(self._answering, timeout=30, message="bgpd control socket")

    def _answering(self) -> bool:
        if not self.proc.running:
            raise AssertionError(f"bgpd exited early:\n{self.proc.output()}")
        try:
            return bool(call(self.socket, Request(command="show peers"), timeout=2).get("ok"))
        except UnreachableError:
            return False

    def ctl(self, command: str, **args: Any) -> Any:
        reply = call(self.socket, Request(command=command, args=args))
        if not reply.get("ok"):
            raise RuntimeError(f"bgpd: {command}: {reply.get('error')}")
        return reply["data"]

    def peers(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.ctl("show peers")}

    def learned(self, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.ctl("show routes", prefix=prefix) if r["peer"] != "static"]

    def rendered_peer(self, name: str) -> dict[str, Any] | None:
        peers = tomllib.loads(self.config.read_text()).get("peer", [])
        return next((p for p in peers if p.get("name") == name), None)


@pytest.fixture
def node_and_workload(
    netns_factory: Callable[..., Namespace],
) -> Iterator[tuple[Namespace, Namespace]]:
    """N and W joined as a Calico workload is: /32s and routes over the veth, no subnet."""
    n, w = netns_factory(), netns_factory()
    veth(n, w, a_ifname="cali0", b_ifname="eth0", b_addresses=[f"{WORKLOAD_IP}/32"])
    n.ip_batch(
        [
            f"addr add {NODE_IP}/32 dev lo",  # the node's own address
            "link set lo up",
            f"route add {WORKLOAD_IP}/32 dev cali0",  # the CNI plugin's workload route
            f"addr add {PEERING_IP}/32 dev cali0",  # Felix: the peering IP, host side
        ]
    )
    w.ip_batch([f"route add {PEERING_IP}/32 dev eth0", f"route add default via {PEERING_IP}"])
    yield n, w


@pytest.fixture
def node_process(request: pytest.FixtureRequest) -> Iterator[list[Node]]:
    made: list[Node] = []
    request.node.stash.setdefault(DIAGNOSTICS, []).append(
        lambda: "\n".join(n.proc.output(20000) for n in made)
    )
    yield made
    for node in made:
        node.proc.stop(10)


def workload_bird() -> BirdConfig:
    return BirdConfig(
        router_id=WORKLOAD_IP,
        peers=(
            BgpPeer(
                name="node",
                local_as=WORKLOAD_AS,
                local_address=WORKLOAD_IP,
                neighbor_address=PEERING_IP,
                neighbor_as=64512,
                multihop=2,  # the peering address is on no subnet of the workload's
            ),
        ),
        static_routes=(StaticRoute(prefix=ANNOUNCED),),
    )


def test_workload_peers_with_the_node_from_felixs_status_file(
    node_and_workload: tuple[Namespace, Namespace],
    node_process: list[Node],
    bird_factory: BirdFactory,
    tmp_path: Path,
) -> None:
    n, w = node_and_workload
    kv_file = tmp_path / "datastore.yaml"
    kv_file.write_text(yaml.safe_dump(datastore()))
    status_dir = tmp_path / "run" / "endpoint-status"
    status_dir.mkdir(parents=True)
    bird = bird_factory(workload_bird(), netns=w)
    node = Node(n, tmp_path, kv_file, tmp_path / "run")
    node_process.append(node)
    assert PEER not in node.peers()  # no status file yet: the BGPPeer makes no peer

    # Felix chose the workload: its status file names the BGPPeer.
    (status_dir / STATUS_FILE).write_text(felix_status("bird-workloads"))
    wait_until(
        lambda: node.peers().get(PEER, {}).get("state") == "Established",
        timeout=30,
        message=f"{PEER} Established",
        describe=lambda: f"{node.peers()}\n{node.proc.output()}",
    )
    bird.wait_established("node")
    rendered = node.rendered_peer(PEER)
    assert rendered is not None
    assert rendered["passive"] is True  # only the workload dials
    assert "local_address" not in rendered  # source_addr None: the kernel's choice
    assert rendered["asn"] == WORKLOAD_AS
    (route,) = wait_until(
        lambda: node.learned(ANNOUNCED), timeout=20, message=f"{ANNOUNCED} in bgpd's Loc-RIB"
    )
    assert route["peer"] == PEER
    assert route["next_hop"] == WORKLOAD_IP

    # A garbage file beside it: logged with its name, the view and the session unchanged.
    (status_dir / "garbage").write_text('{"ipv4Nets": ["10.65')
    wait_until(
        lambda: "confd.endpoint_status.invalid file=garbage" in node.proc.output(50000),
        timeout=20,
        message="the bad status file logged",
    )
    assert node.peers()[PEER]["state"] == "Established"
    assert node.ctl("show peer", name=PEER)["established_transitions"] == 1

    # The workload is gone (Felix deletes its file): the peer and its route go.
    (status_dir / STATUS_FILE).unlink()
    wait_until(lambda: PEER not in node.peers(), timeout=20, message=f"{PEER} removed")
    assert node.learned(ANNOUNCED) == []
    assert node.rendered_peer(PEER) is None

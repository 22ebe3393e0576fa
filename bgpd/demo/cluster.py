"""A three-node Calico-style cluster: bgpd on each node, full mesh, routes in the kernels.

Each node is a network namespace on one bridge (10.0.0.1-3/24). Like Felix, the demo gives
each node a workload interface named `cali...` with a /32 route (protocol 3) inside the node's
IPAM block; bgpd installs the block's blackhole, learns the workload route, advertises the
block to the other nodes and installs theirs with protocol 12. The demo prints what an operator
sees on node1 (`bgpctl show peers` and `show routes`, `birdcl show protocols` against its
BIRD-compatible socket, a few lines of its `/metrics` and `/readyz`) and what each node's kernel
holds, then removes everything it made (processes by PID, then the namespaces).

Each node's BIRD-compatible sockets and bgpctl socket are in the demo's temporary folder: the
namespaces share the file system, and Calico's default `/var/run/calico/bird.ctl` would make the
three speakers (and a real calico-node on this host) take each other's socket.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bgpd.demo.show import bgpctl, birdcl_show_protocols, established, metrics_excerpt, wait_for

NODES = 3
PREFIX = "bgpdemo"
METRICS_PORT = 9091  # calico-node's Felix uses 9091 on the host; each node here is a namespace


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result.stdout


def ns(i: int) -> str:
    return f"{PREFIX}-n{i}"


def config(i: int, workdir: Path) -> str:
    nodes = "".join(
        f'\n[[cluster_node]]\nname = "node{j}"\nipv4 = "10.0.0.{j}"\n' for j in range(1, NODES + 1)
    )
    return f"""# node{i} of the demo cluster (written by bgpd.demo.cluster)
[bgp]
asn = 64512
log_level = "info"
graceful_restart = true

[control]
socket = "{workdir}/node{i}.ctl"
bird_socket = "{workdir}/node{i}.bird.ctl"
bird6_socket = "{workdir}/node{i}.bird6.ctl"

[metrics]
listen = "10.0.0.{i}:{METRICS_PORT}"

[node]
name = "node{i}"
ipv4 = "10.0.0.{i}/24"
{nodes}
[calico]
blocks = ["10.244.{i}.0/26"]

[[calico.pool]]
cidr = "10.244.0.0/16"

[kernel]
enabled = true
"""


def build() -> None:
    ip("netns", "add", f"{PREFIX}-br")
    ip("link", "add", "br0", "type", "bridge", netns=f"{PREFIX}-br")
    ip("link", "set", "br0", "up", netns=f"{PREFIX}-br")
    for i in range(1, NODES + 1):
        ip("netns", "add", ns(i))
        ip("link", "set", "lo", "up", netns=ns(i))
        ip(
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            f"port{i}",
            "netns",
            f"{PREFIX}-br",
            netns=ns(i),
        )
        ip("link", "set", f"port{i}", "master", "br0", netns=f"{PREFIX}-br")
        ip("link", "set", f"port{i}", "up", netns=f"{PREFIX}-br")
        ip("addr", "add", f"10.0.0.{i}/24", "dev", "eth0", netns=ns(i))
        ip("link", "set", "eth0", "up", netns=ns(i))
        # Felix's part: a workload interface and its /32 (protocol 3, "boot").
        cali = f"cali{i:011x}"
        ip("link", "add", cali, "type", "veth", "peer", "name", f"wl{i}", netns=ns(i))
        ip("link", "set", cali, "up", netns=ns(i))
        ip("link", "set", f"wl{i}", "up", netns=ns(i))
        ip(
            "route",
            "add",
            f"10.244.{i}.2/32",
            "dev",
            cali,
            "proto",
            "boot",
            "scope",
            "link",
            netns=ns(i),
        )


def teardown() -> None:
    for name in [f"{PREFIX}-br", *(ns(i) for i in range(1, NODES + 1))]:
        ip("netns", "del", name, check=False)


def installed(i: int) -> set[str]:
    out = ip("-j", "route", "show", "proto", "12", netns=ns(i))
    return {r["dst"] for r in json.loads(out or "[]")}


def sessions_up(socket: Path) -> Callable[[], bool]:
    return lambda: established(socket, NODES - 1)


def blocks_installed(i: int, blocks: set[str]) -> Callable[[], bool]:
    return lambda: blocks <= installed(i)


def main() -> int:
    teardown()  # leftovers of an interrupted run
    workdir = Path(tempfile.mkdtemp(prefix="bgpd-cluster-"))
    succeeded = False
    procs: list[subprocess.Popen[bytes]] = []
    try:
        build()
        for i in range(1, NODES + 1):
            path = workdir / f"node{i}.toml"
            path.write_text(config(i, workdir))
            log = (workdir / f"node{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns(i),
                        sys.executable,
                        "-m",
                        "bgpd",
                        "run",
                        "-c",
                        str(path),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            print(f"node{i}: bgpd pid {procs[-1].pid} in namespace {ns(i)}, config {path}")
        for i in range(1, NODES + 1):
            wait_for(f"node{i}'s sessions", sessions_up(workdir / f"node{i}.ctl"))
        for i in range(1, NODES + 1):
            others = {f"10.244.{j}.0/26" for j in range(1, NODES + 1) if j != i}
            wait_for(f"node{i} to install the other blocks", blocks_installed(i, others))
        for what in ("peers", "routes"):
            print(f"\n=== node1: bgpctl show {what}")
            print(bgpctl(workdir / "node1.ctl", "show", what).rstrip())
        command, output = birdcl_show_protocols(workdir / "node1.bird.ctl")
        print(f"\n=== node1: {command}")
        print(output)
        url = f"http://10.0.0.1:{METRICS_PORT}"
        print(f"\n=== node1: ip netns exec {ns(1)} curl {url}/metrics (a few lines)")
        print(metrics_excerpt(url, ["ip", "netns", "exec", ns(1)]))
        print()
        for i in range(1, NODES + 1):
            print(f"=== node{i}: ip route (proto bird = 12: bgpd's; the cali /32: Felix's)")
            print(ip("route", "show", netns=ns(i)))
        succeeded = True
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        teardown()
        if succeeded:  # the logs are only worth keeping when something went wrong
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"stopped {len(procs)} speakers, removed the namespaces and {workdir}")
        else:
            print(f"stopped {len(procs)} speakers, removed the namespaces; logs in {workdir}")

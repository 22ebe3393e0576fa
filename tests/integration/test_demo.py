"""`make demo` works: the cluster demo (root, network namespaces) and the loopback pair.

Both end with the operator's three views, each checked here for content, not just presence:
`bgpctl show peers` (every peer Established), a real BIRD client's `show protocols` against
bgpd's BIRD-compatible socket (the BGP protocols up and Established, as calicoctl reads them),
and `/metrics` (`bgpd_peer_up` 1 for every peer) with `/readyz` answering ok.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .bgpd_proc import REPO


def run_demo(module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )


def sections(out: str) -> dict[str, str]:
    """Header (the text after `=== `) -> the lines under it, up to the next header."""
    found: dict[str, str] = {}
    for chunk in out.split("\n=== ")[1:]:
        header, _, body = chunk.partition("\n")
        found[header] = body
    return found


def one(found: dict[str, str], prefix: str, contains: str) -> tuple[str, str]:
    matches = [(h, b) for h, b in found.items() if h.startswith(prefix) and contains in h]
    assert len(matches) == 1, list(found)
    return matches[0]


def assert_operator_views(out: str, node: str, peers: dict[str, str]) -> None:
    """`peers` maps each peer's protocol name to its address."""
    found = sections(out)
    _, table = one(found, f"{node}: ", "bgpctl show peers")
    for name, address in peers.items():
        row = rf"^{name}\s+{re.escape(address)}\s+64512\s+Established\s"
        assert re.search(row, table, re.M), table
    header, bird = one(found, f"{node}: ", "show protocols")
    # A real BIRD binary (birdcl of BIRD 2, or birdc of BIRD 1.6 from `make deps`) read it.
    assert re.search(r"/bird(cl|c) -s \S+\.bird\.ctl show protocols$", header), header
    assert bird.startswith("BIRD v"), bird
    assert re.search(r"^name\s+proto\s+table\s+state\s+since\s+info", bird, re.M), bird
    for name in peers:
        assert re.search(rf"^{name}\s+BGP\s+master\s+up\s+\S+\s+Established", bird, re.M), bird
    _, metrics = one(found, f"{node}: ", "/metrics")
    for name, address in peers.items():
        line = f'bgpd_peer_up{{address="{address}",peer="{name}"}} 1.0'
        assert line in metrics.splitlines(), metrics
    assert f"/readyz -> ok: BGP established with all {len(peers)} peers" in metrics, metrics


def test_cluster_demo_installs_every_other_block_and_cleans_up() -> None:
    result = run_demo("bgpd.demo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for node in (1, 2, 3):
        others = [j for j in (1, 2, 3) if j != node]
        routes = out.split(f"=== node{node}: ip route")[1].split("===")[0]
        for j in others:
            assert f"10.244.{j}.0/26 via 10.0.0.{j} dev eth0 proto bird" in routes, routes
        assert f"blackhole 10.244.{node}.0/26 proto bird" in routes, routes
    assert_operator_views(out, "node1", {"Mesh_10_0_0_2": "10.0.0.2", "Mesh_10_0_0_3": "10.0.0.3"})
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert "bgpdemo" not in netns.stdout
    workdir = re.search(r"removed the namespaces and (\S+)", out)
    assert workdir is not None, out
    assert not Path(workdir.group(1)).exists()


def test_loopback_demo_shows_routes_crossing() -> None:
    before = set(Path(tempfile.gettempdir()).glob("bgpd-demo-*"))
    result = run_demo("bgpd.demo.loopback")
    assert set(Path(tempfile.gettempdir()).glob("bgpd-demo-*")) <= before  # logs removed
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "10.10.2.0/24    127.0.0.2  Mesh_127_0_0_2" in out
    assert "fd00:10:1::/64  fd00::a    Mesh_127_0_0_1" in out
    assert_operator_views(out, "node a", {"Mesh_127_0_0_2": "127.0.0.2"})

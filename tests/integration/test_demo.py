"""`make demo` works: the cluster demo (root, network namespaces) and the loopback pair."""

from __future__ import annotations

import subprocess
import sys

from .bgpd_proc import REPO


def run_demo(module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_cluster_demo_installs_every_other_block_and_cleans_up() -> None:
    result = run_demo("bgpd.demo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for node in (1, 2, 3):
        others = [j for j in (1, 2, 3) if j != node]
        section = out.split(f"=== node{node}: ip route")[1].split("===")[0]
        for j in others:
            assert f"10.244.{j}.0/26 via 10.0.0.{j} dev eth0 proto bird" in section, section
        assert f"blackhole 10.244.{node}.0/26 proto bird" in section, section
    assert "Mesh_10_0_0_2  10.0.0.2  64512  Established" in out
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    leftovers = netns.stdout
    assert "bgpdemo" not in leftovers


def test_loopback_demo_shows_routes_crossing() -> None:
    result = run_demo("bgpd.demo.loopback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10.10.2.0/24    127.0.0.2  Mesh_127_0_0_2" in result.stdout
    assert "fd00:10:1::/64  fd00::a    Mesh_127_0_0_1" in result.stdout

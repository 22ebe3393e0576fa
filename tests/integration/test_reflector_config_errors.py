"""`bgp-reflector` with bad and half-usable files, as an operator runs it: every problem, those
of client discovery included, at FILE:LINE:COL (issue 17, point 7), and the exit status.

The reflector runs as `python -m reflector` from this checkout (the console script of the shared
venv imports another tree); it is the same `main` as `bgp-reflector`. It listens on loopback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .bgpd_proc import REPO, BgpdProcess
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import spawn
from .peers.poll import wait_until
from .peers.ports import free_tcp_ports

ADDRESS = "127.0.0.61"

# Line numbers are asserted literally: keep the layout (line 1 is `[bgp]`).
CONFIG = """\
[bgp]
asn = 64512
cluster_id = "224.0.0.1"
listen = ["{address}"]
port = {port}

[node]
name = "rr1"
ipv4 = "{address}/32"

[reflector]
clients = "role == 'worker'"

[[cluster_node]]
name = "w1"
ipv4 = "127.0.0.62"
  ipv6 = "fd00::62"
labels = {{ role = "worker" }}

[control]
socket = "@SOCKET@"

[metrics]
listen = "{address}:{metrics_port}"
"""
W1_IPV6 = "17:3"
SKIPPED = "node w1 not peered: no local IPv6 address in [node]"


def reflector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reflector", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
        check=False,
    )


def config() -> str:
    port, metrics_port = free_tcp_ports(2, ADDRESS)
    return CONFIG.format(address=ADDRESS, port=port, metrics_port=metrics_port)


class ReflectorProcess(BgpdProcess):
    def start(self) -> BgpdProcess:
        argv = [sys.executable, "-m", "reflector", "run", "-c", str(self.config_path)]
        self.proc = spawn(argv, name=self.name, log_dir=self.workdir, cwd=REPO)
        wait_until(
            self._alive_and_answering, timeout=20, message="reflector up", describe=self.output
        )
        return self


@pytest.fixture
def rr(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReflectorProcess]:
    proc = ReflectorProcess("rr", config(), tmp_path)
    request.node.stash.setdefault(DIAGNOSTICS, []).append(proc.output)
    yield proc
    if proc.proc is not None:
        proc.stop()


def test_check_and_run_refuse_a_bad_file_at_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "rr.toml"
    path.write_text(
        config()
        .replace("clients = ", "clients = \"role = 'x'\"\nclusterpeers = false\n#")
        .replace('name = "w1"', 'name = "w 1"')
    )
    expected = [
        f"{path}: config rejected:",
        f"{path}:12:1: reflector.clients: invalid selector \"role = 'x'\" at position 5: "
        "expected '=='",
        f'{path}:13:1: reflector.clusterpeers: unknown key "clusterpeers"; '
        'did you mean "cluster_peers"?',
        f'{path}:17:1: cluster_node[0].name: node name "w 1" must not contain spaces or '
        "control characters",
    ]
    for command in ("check", "run"):
        done = reflector(command, "-c", str(path))
        assert (done.returncode, done.stdout, done.stderr.splitlines()) == (1, "", expected)


def test_check_lists_the_nodes_passed_over_at_their_address(tmp_path: Path) -> None:
    path = tmp_path / "rr.toml"
    path.write_text(config())
    done = reflector("check", "-c", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [f"  {path}:{W1_IPV6}: cluster_node[0].ipv6: {SKIPPED}"]


def test_run_logs_the_nodes_passed_over_and_a_bad_reload_at_its_line(
    rr: ReflectorProcess,
) -> None:
    rr.start()
    logged = f'reflector node not peered at={rr.config_path}:{W1_IPV6} reason="{SKIPPED}"'
    wait_until(lambda: logged in rr.output(), timeout=10, message="skipped node logged")
    good = rr.config_path.read_text()
    rr.config_path.write_text(good.replace("[reflector]\n", "[reflector]\nclientz = 1\n"))
    done = subprocess.run(
        [sys.executable, "-m", "bgpd.control.bgpctl", "-s", rr.socket, "reload"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "bgpctl: config rejected, running config kept:",
        f'{rr.config_path}:12:1: reflector.clientz: unknown key "clientz"; did you mean "clients"?',
    ]
    # a good reload logs the node again, now from the reload
    rr.config_path.write_text(good)
    rr.ctl("reload")
    wait_until(lambda: rr.output().count(logged) == 2, timeout=10, message="logged on reload")

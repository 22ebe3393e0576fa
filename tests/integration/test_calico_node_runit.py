"""bgpd inside calico-node's image: the runit services of deploy/calico-node/in-image/ under
Debian's runit, checked by calico-node's own BIRD health checks.

The node is a network namespace with a private mount namespace laid out as calico-node's image
is: `/etc/service/enabled/{bird,bird6,confd}` copied from the folders as rc.local copies them
from `/etc/service/available/`, `/var/lib/calico/nodename`, an empty `/var/run/calico`, and
`/bin/birdcl` (BIRD 2's, Debian's). The host is untouched: `/etc`, `/var/lib` and `/usr/bin` are
overlays whose upper layers are in the test's temp dir, `/run` a tmpfs. `runsvdir -P
/etc/service/enabled` runs there, as calico-node's start_runit does, with calico-node's
environment (NODENAME as start_runit exports it) and bgpd from this checkout first on PATH;
`BGPD_CONFD_ARGS` points the watcher at a file datastore (the one node-local difference from a
real node, whose DATASTORE_TYPE/ETCD_* variables pick the datastore). Its peer is BIRD 2 in a
second namespace, as the mesh peer `Mesh_10_99_0_2`.

The checks are calico-node's, with their own absolute paths and commands, run inside the node's
namespaces by nsenter (tests/integration/calico_health.py is the port of health.go):
`-bird-live` (`sv status /etc/service/enabled/confd`, `.../bird`, then `/bin/birdcl -s
/var/run/calico/bird.ctl show status`), `-bird6-live`, `-bird-ready` and `-bird6-ready`.
The last test layers the folders into an OCI image with docs/calico-node.md's `umoci insert`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .peers import Lan
from .peers.binaries import bird_binaries
from .peers.bird import BgpPeer, BirdConfig, BirdDaemon, StaticRoute
from .peers.fixtures import DIAGNOSTICS, BirdFactory
from .peers.netns import Namespace, Process, run
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO / "deploy" / "calico-node" / "in-image"
SERVICES = ("bird", "bird6", "confd")
AVAILABLE = "/etc/service/available"
V1 = "/calico/bgp/v1"
NODE, PEER = "10.99.0.1", "10.99.0.2"
MESH = f"Mesh_{PEER.replace('.', '_')}"


def datastore(extra_nodes: dict[str, str] | None = None) -> dict[str, object]:
    """Calico's v1 keys for a mesh of node-1 (bgpd) and node-2 (BIRD), plus `extra_nodes`."""
    nodes = {"node-1": NODE, "node-2": PEER, **(extra_nodes or {})}
    data: dict[str, object] = {
        f"{V1}/global/as_num": 64512,
        f"{V1}/global/node_mesh": {"enabled": True},
        f"{V1}/global/loglevel": "info",
    }
    for name, ip in nodes.items():
        data[f"{V1}/host/{name}/ip_addr_v4"] = ip
        data[f"{V1}/host/{name}/ip_addr_v6"] = ""
        data[f"{V1}/host/{name}/rr_cluster_id"] = ""
    return data


@dataclass
class RunitNode:
    """calico-node's runit tree in a private mount namespace inside network namespace `ns`."""

    ns: Namespace
    runsvdir: Process
    work: Path

    def enter(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the node's mount and network namespaces, as a probe exec would."""
        return subprocess.run(
            [
                "nsenter",
                f"--mount=/proc/{self.runsvdir.pid}/ns/mnt",
                f"--net=/run/netns/{self.ns.name}",
                f"--wd={REPO}",
                "--",
                *argv,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            check=False,
        )

    def health(self, *flags: str) -> subprocess.CompletedProcess[str]:
        """calico-node's health command with these flags (e.g. `--bird-live`)."""
        return self.enter([sys.executable, "-m", "tests.integration.calico_health", *flags])

    def sv(self, *args: str) -> str:
        done = self.enter(["sv", *args])
        return done.stdout + done.stderr

    def service_pid(self, service: str) -> int | None:
        status = self.sv("status", f"/etc/service/enabled/{service}")
        match = re.match(r"run: \S+: \(pid (\d+)\)", status)
        return int(match.group(1)) if match else None

    def touch_nodename(self, age: float) -> None:
        """Set the nodename file's mtime `age` seconds back (calico-node's start time)."""
        then = time.time() - age
        self.enter(["touch", "-d", f"@{then:.0f}", "/var/lib/calico/nodename"])

    def diagnostics(self) -> str:
        status = self.sv("status", *(f"/etc/service/enabled/{s}" for s in SERVICES))
        return f"[runsvdir in {self.ns.name}]\n{status}\n{self.runsvdir.output()}"


def _mount_script(work: Path) -> str:
    overlays = {"/etc": "etc", "/var/lib": "var-lib", "/usr/bin": "usr-bin"}
    lines = ["set -e"]
    for target, name in overlays.items():
        lines.append(
            f"mount -t overlay overlay -o lowerdir={target},upperdir={work}/{name}.up,"
            f"workdir={work}/{name}.work {target}"
        )
    lines += ["mount -t tmpfs -o mode=0755 tmpfs /run", "mkdir -p /run/calico"]
    lines.append("exec runsvdir -P /etc/service/enabled")
    return "\n".join(lines)


def _prepare(work: Path, kv: Path) -> dict[str, str]:
    """The overlays' upper layers and calico-node's environment for runsvdir."""
    for name in ("etc", "var-lib", "usr-bin"):
        (work / f"{name}.up").mkdir(parents=True)
        (work / f"{name}.work").mkdir()
    enabled = work / "etc.up" / "service" / "enabled"
    for service in SERVICES:  # rc.local: cp -a /etc/service/available/<s> /etc/service/enabled/
        shutil.copytree(SERVICES_DIR / service, enabled / service, symlinks=True)
    (work / "var-lib.up" / "calico").mkdir()
    (work / "var-lib.up" / "calico" / "nodename").write_text("node-1")
    birdcl = bird_binaries("2").client.with_name("birdcl")
    (work / "usr-bin.up" / "birdcl").symlink_to(birdcl)  # calico-node's image: /bin/birdcl
    bindir = work / "bin"
    bindir.mkdir()
    wrapper = bindir / "bgpd"  # bgpd from this checkout, as the image's `bgpd` command
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m bgpd "$@"\n')
    wrapper.chmod(0o755)
    return {
        "PATH": f"{bindir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "NODENAME": "node-1",  # start_runit: export NODENAME=$(cat /var/lib/calico/nodename)
        "BGPD_CONFD_ARGS": f"--backend file --file {kv}",
    }


@pytest.fixture
def bird_peer(lan: Lan, bird_factory: BirdFactory) -> BirdDaemon:
    config = BirdConfig(
        router_id=PEER,
        peers=(
            BgpPeer(
                name=f"Mesh_{NODE.replace('.', '_')}",
                local_as=64512,
                neighbor_address=NODE,
                neighbor_as=64512,
                local_address=PEER,
            ),
        ),
        static_routes=(StaticRoute(prefix="10.244.2.0/26"),),
    )
    return bird_factory(config, version="2", netns=lan[1].ns)


@pytest.fixture
def runit_node(
    lan: Lan, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], RunitNode]]:
    kv = tmp_path / "calico.yaml"
    kv.write_text(yaml.safe_dump(datastore()))
    work = tmp_path / "node"
    env = _prepare(work, kv)
    started: list[RunitNode] = []

    def start() -> RunitNode:
        ns = lan[0].ns
        proc = ns.spawn(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _mount_script(work)],
            name="runsvdir",
            log_dir=tmp_path,
            env=env,
        )
        node = RunitNode(ns=ns, runsvdir=proc, work=work)
        started.append(node)
        request.node.stash.setdefault(DIAGNOSTICS, []).append(node.diagnostics)
        return node

    yield start
    for node in started:
        # runsvdir's HUP: TERM to each runsv, which stops its service and exits; then
        # runsvdir exits. Every process here is one this fixture started, through runit.
        node.runsvdir.send_signal(signal.SIGHUP)
        node.runsvdir.wait(timeout=15)
        node.runsvdir.stop()
        wait_until(
            lambda ns=node.ns: not ns.pids(),
            timeout=15,
            message=f"every process in {node.ns.name} has exited",
            describe=lambda ns=node.ns: str(ns.pids()),
        )


def _passes(node: RunitNode, *flags: str) -> Callable[[], bool]:
    return lambda: node.health(*flags).returncode == 0


def test_calico_nodes_bird_checks_pass_on_bgpd_and_fail_without_the_speaker(
    runit_node: Callable[[], RunitNode], bird_peer: BirdDaemon, tmp_path: Path
) -> None:
    node = runit_node()
    # confd renders, the speaker starts on its file, the mesh session comes up with BIRD.
    bird_peer.wait_established(f"Mesh_{NODE.replace('.', '_')}", timeout=60)
    for flags in (("--bird-live",), ("--bird6-live",), ("--bird-ready", "--bird6-ready")):
        wait_until(
            _passes(node, *flags),
            timeout=30,
            message=f"calico-node health {' '.join(flags)} passes",
            describe=lambda flags=flags: node.health(*flags),
        )
    # The three services are up under runit, each with its own process.
    pids = {s: node.service_pid(s) for s in SERVICES}
    assert None not in pids.values() and len(set(pids.values())) == 3, pids
    # The watcher reloads the speaker through the pidfile: a third node in the datastore
    # becomes a mesh peer without restarting the speaker. It cannot connect, so within the
    # threshold -bird-ready names it, and after the threshold one Established peer suffices.
    kv = tmp_path / "calico.yaml"
    kv.write_text(yaml.safe_dump(datastore({"node-3": "10.99.0.3"})))
    node.touch_nodename(age=0)
    wait_until(
        lambda: "BGP not established with 10.99.0.3" in node.health("--bird-ready").stdout,
        timeout=30,
        message="-bird-ready names the new, unconnected peer",
        describe=lambda: node.health("--bird-ready").stdout,
    )
    assert node.service_pid("bird") == pids["bird"]
    node.touch_nodename(age=120)
    assert node.health("--bird-ready").returncode == 0

    # The speaker killed and kept down (`sv once`: runsv does not restart it): -bird-live
    # fails on the service, -bird6-live too (bird6 follows bird), -bird-ready on the socket.
    node.sv("once", "/etc/service/enabled/bird")
    speaker = pids["bird"]
    assert speaker is not None
    os.kill(speaker, 9)
    wait_until(
        lambda: node.service_pid("bird") is None,
        timeout=10,
        message="runit reports bird down",
        describe=lambda: node.sv("status", "/etc/service/enabled/bird"),
    )
    live = node.health("--bird-live")
    assert live.returncode == 1
    assert live.stdout.startswith(
        "calico/node is not ready: bird/confd is not live: service bird is not running."
    ), live.stdout
    wait_until(
        lambda: node.health("--bird6-live").returncode == 1,
        timeout=15,
        message="-bird6-live fails once bird6 sees bird down",
    )
    ready = node.health("--bird-ready")
    assert ready.returncode == 1
    assert "unable to connect to BIRDv4 socket" in ready.stdout, ready.stdout

    # Up again: a new speaker, and every check passes once more.
    node.sv("up", "/etc/service/enabled/bird")
    wait_until(
        _passes(node, "--bird-live", "--bird6-live"),
        timeout=30,
        message="-bird-live and -bird6-live pass after the restart",
        describe=lambda: node.health("--bird-live", "--bird6-live").stdout,
    )
    assert node.service_pid("bird") not in (None, speaker)
    bird_peer.wait_established(f"Mesh_{NODE.replace('.', '_')}", timeout=60)


def test_bird_live_fails_while_the_speaker_has_no_config(
    runit_node: Callable[[], RunitNode], tmp_path: Path
) -> None:
    # Bad datastore data: confd renders nothing, so the speaker (like BIRD without its file)
    # cannot start and -bird-live never passes; once the data is fixed, everything comes up.
    kv = tmp_path / "calico.yaml"
    bad = datastore()
    bad[f"{V1}/global/as_num"] = "sixty-four"
    kv.write_text(yaml.safe_dump(bad))
    node = runit_node()
    wait_until(
        lambda: "confd" in node.sv("status", "/etc/service/enabled/confd"),
        timeout=10,
        message="runsvdir started confd",
    )
    # No render within several of runsv's 1 s restarts of the speaker.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        result = node.health("--bird-live")
        assert result.returncode == 1, result.stdout
    assert not (node.work / "etc.up" / "bgpd" / "bgpd.toml").exists()
    kv.write_text(yaml.safe_dump(datastore()))
    wait_until(
        _passes(node, "--bird-live"),
        timeout=30,
        message="-bird-live passes once the datastore is fixed",
        describe=lambda: node.health("--bird-live").stdout,
    )


def test_the_folders_layer_over_calico_nodes_services_with_umoci(tmp_path: Path) -> None:
    # docs/calico-node.md's command, on an OCI layout standing in for calico-node's image: its
    # BIRD run script and the svlogd log service beside it.
    layout = tmp_path / "calico-node"
    run(["umoci", "init", "--layout", str(layout)])
    run(["umoci", "new", "--image", f"{layout}:v3.31.0"])
    image = tmp_path / "image" / "bird"
    (image / "log").mkdir(parents=True)
    (image / "run").write_text("#!/bin/sh\nexec 2>&1\nexec bird -R -s /var/run/calico/bird.ctl\n")
    (image / "log" / "run").write_text("#!/bin/bash\ntee >(svlogd -ttt /var/log/calico/bird)\n")
    run(["umoci", "insert", "--image", f"{layout}:v3.31.0", str(image.parent), AVAILABLE])
    run(
        [
            "umoci",
            "insert",
            "--image",
            f"{layout}:v3.31.0",
            "--tag",
            "v3.31.0-bgpd",
            str(SERVICES_DIR),
            AVAILABLE,
        ]
    )
    run(["umoci", "unpack", "--image", f"{layout}:v3.31.0-bgpd", str(tmp_path / "bundle")])
    available = tmp_path / "bundle" / "rootfs" / AVAILABLE.lstrip("/")
    for service in SERVICES:
        run_script = available / service / "run"
        assert run_script.read_bytes() == (SERVICES_DIR / service / "run").read_bytes()
        assert run_script.stat().st_mode & 0o777 == 0o755
    assert (available / "bird" / "log" / "run").read_text().startswith("#!/bin/bash\ntee")

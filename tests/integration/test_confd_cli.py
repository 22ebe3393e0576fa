"""`bgpd confd` as its own process: --onetime, --dest-root, the file backend with SIGHUP to a
speaker's pidfile (as calico-node runs confd beside BIRD), and etcd over TLS with client
certificates (calico-node's ETCD_* variables)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.config import load_config
from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request
from tests.unit.confd.render.calico_v3 import affinity, bgp_configuration, ip_pool, node

from .etcd_server import EtcdServer
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import spawn
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
V1 = "/calico/bgp/v1"


def v1_cluster(loglevel: str = "info", nodes: int = 2) -> dict[str, Any]:
    """A small cluster written directly as v1 keys (the file backend's handy form)."""
    data: dict[str, Any] = {
        f"{V1}/global/as_num": 64512,
        f"{V1}/global/node_mesh": {"enabled": True},
        f"{V1}/global/loglevel": loglevel,
        f"{V1}/global/bind_mode": "NodeIP",
        f"{V1}/global/listen_port": "1179",
    }
    for i in range(1, nodes + 1):
        data[f"{V1}/host/node-{i}/ip_addr_v4"] = f"127.0.62.{i}"
        data[f"{V1}/host/node-{i}/ip_addr_v6"] = ""
        data[f"{V1}/host/node-{i}/rr_cluster_id"] = ""
    return data


def confd(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgpd", "confd", *args],
        env={**os.environ, **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def node_vars(tmp: Path, name: str) -> list[str]:
    out = []
    for var, value in (
        ("control_socket", tmp / f"{name}.ctl"),
        ("bird_socket", tmp / f"{name}-bird.ctl"),
        ("bird6_socket", tmp / f"{name}-bird6.ctl"),
        ("kernel", "false"),
    ):
        out += ["--var", f"{var}={value}"]
    return out


def test_onetime_renders_once_and_names_bad_data(tmp_path: Path) -> None:
    kv = tmp_path / "calico.yaml"
    kv.write_text(yaml.safe_dump(v1_cluster()))
    done = confd(
        "--backend",
        "file",
        "--file",
        str(kv),
        "--onetime",
        "--dest-root",
        str(tmp_path / "root"),
        env={"NODENAME": "node-1"},
    )
    assert done.returncode == 0, done.stderr
    dest = tmp_path / "root/etc/bgpd/bgpd.toml"
    config = load_config(dest)
    assert [p.name for p in config.all_peers] == ["Mesh_127_0_62_2"]
    assert config.bgp.port == 1179

    bad = v1_cluster()
    bad[f"{V1}/global/as_num"] = "sixty-four"
    kv.write_text(yaml.safe_dump(bad))
    before = dest.read_bytes()
    done = confd(
        "--backend",
        "file",
        "--file",
        str(kv),
        "--onetime",
        "--dest-root",
        str(tmp_path / "root"),
        env={"NODENAME": "node-1"},
    )
    assert done.returncode == 1
    assert f"{V1}/global/as_num" in done.stdout + done.stderr
    assert dest.read_bytes() == before


def _refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("source", ["missing file", "unreachable etcd"])
def test_onetime_fails_at_once_when_its_source_cannot_be_read(tmp_path: Path, source: str) -> None:
    """It used to retry for ever, as the watcher rightly does: a hang for a one-shot run."""
    dest = tmp_path / "root"
    if source == "missing file":
        missing = tmp_path / "nowhere" / "calico.yaml"
        argv = ["--backend", "file", "--file", str(missing)]
        env = {"NODENAME": "node-1"}
        reason = f"{missing}: cannot read: file does not exist"
    else:
        urls = [f"http://127.0.0.1:{_refused_port()}" for _ in range(2)]
        argv = ["--backend", "etcd"]
        env = {"NODENAME": "node-1", "ETCD_ENDPOINTS": ",".join(urls)}
        reason = f"{urls[1]}: UNAVAILABLE"  # each endpoint is tried before it gives up
    done = confd(*argv, "--onetime", "--dest-root", str(dest), env=env, timeout=20)
    assert done.returncode == 1, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"bgpd confd: cannot read the datastore: {reason}"), done.stderr
    assert not dest.exists()


def test_standalone_watcher_reloads_the_speaker_by_pidfile(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kv = tmp_path / "calico.yaml"
    kv.write_text(yaml.safe_dump(v1_cluster()))
    root = tmp_path / "root"
    dest = root / "etc/bgpd/bgpd.toml"
    env = {**os.environ, "NODENAME": "node-1"}
    argv = ["--backend", "file", "--file", str(kv), "--dest-root", str(root)]
    done = confd(*argv, "--onetime", *node_vars(tmp_path, "node-1"), env=env)
    assert done.returncode == 0, done.stderr
    pidfile = tmp_path / "bgpd.pid"
    sock = str(tmp_path / "node-1.ctl")
    speaker = spawn(
        [sys.executable, "-m", "bgpd", "run", "-c", str(dest), "--pidfile", str(pidfile)],
        name="speaker",
        log_dir=tmp_path,
        cwd=REPO,
    )
    watcher = spawn(
        [
            sys.executable,
            "-m",
            "bgpd",
            "confd",
            *argv,
            *node_vars(tmp_path, "node-1"),
            "--pidfile-to-signal",
            str(pidfile),
            "--debounce",
            "0.05",
        ],
        name="confd",
        log_dir=tmp_path,
        env=env,
        cwd=REPO,
    )
    stash = request.node.stash.setdefault(DIAGNOSTICS, [])
    stash += [speaker.output, watcher.output]
    try:

        def config() -> dict[str, Any]:
            reply = call(sock, Request(command="show config"), timeout=2)
            assert reply["ok"], reply
            return tomllib.loads(reply["data"])

        def peers() -> set[str]:
            reply = call(sock, Request(command="show peers"), timeout=2)
            return {p["name"] for p in reply["data"]}

        def poll(check: Callable[[], bool], message: str) -> None:
            wait_until(
                check,
                timeout=30,
                message=message,
                retry_on=(UnreachableError,),
                describe=lambda: speaker.output() + watcher.output(),
            )

        poll(lambda: pidfile.exists() and config()["bgp"]["log_level"] == "info", "speaker up")
        # A live change: the file is re-rendered and the speaker reloaded by SIGHUP.
        kv.write_text(yaml.safe_dump(v1_cluster(loglevel="debug", nodes=3)))
        poll(lambda: config()["bgp"]["log_level"] == "debug", "log level debug after SIGHUP")
        poll(lambda: peers() == {"Mesh_127_0_62_2", "Mesh_127_0_62_3"}, "new mesh peer")
        assert "reload requested by SIGHUP" in speaker.output()
        assert watcher.stop() == 0  # SIGTERM: a clean exit, the installed file stays
        assert dest.exists()
    finally:
        watcher.stop()
        speaker.stop()


def test_onetime_against_etcd_with_client_certificates(
    tmp_path: Path, etcd_factory: Callable[..., EtcdServer]
) -> None:
    etcd = etcd_factory(tls=True)
    etcd.put_many(
        {
            **bgp_configuration(asNumber=64999, bindMode="NodeIP"),
            **node("tls-node", "127.0.63.1/24"),
            **node("other", "127.0.63.2/24"),
            **ip_pool("pool", "10.63.0.0/16"),
            **affinity("tls-node", "10.63.1.0/26"),
        }
    )
    env = {"NODENAME": "tls-node", **etcd.env()}
    assert env["ETCD_ENDPOINTS"].startswith("https://") and "ETCD_CERT_FILE" in env
    done = confd("--onetime", "--dest-root", str(tmp_path / "root"), env=env)
    assert done.returncode == 0, done.stderr
    config = load_config(tmp_path / "root/etc/bgpd/bgpd.toml")
    assert config.bgp.asn == 64999
    assert config.calico is not None
    assert [str(b) for b in config.calico.blocks] == ["10.63.1.0/26"]
    assert [p.name for p in config.all_peers] == ["Mesh_127_0_63_2"]
    assert done.stdout.strip().endswith(": installed")

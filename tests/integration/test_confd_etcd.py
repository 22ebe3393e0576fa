"""bgpd with its confd watcher in-process, driven by calicoctl-shaped resources in a real etcd.

Each test starts Debian's etcd on loopback (the `etcd_factory` fixture), writes v3 resources
as calicoctl stores them (`/calico/resources/v3/projectcalico.org/...`, IPAM affinities), and
runs `bgpd run --confd-backend etcd` per Calico node with calico-node's environment. Nodes use
distinct 127.0.61.x addresses with bindMode NodeIP, so they share the host's loopback; kernel
programming is off (`--var kernel=false`). Session flaps are counted with `bgpctl show peer`'s
`established_transitions`.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request
from tests.unit.confd.render.calico_v3 import affinity, bgp_configuration, bgp_peer, ip_pool, node

from .bgpd_proc import BgpdFactory
from .etcd_server import EtcdServer
from .peers import free_tcp_ports
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Process, spawn
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]


class ConfdNode:
    """One speaker + in-process watcher for node `nodename`; stopped by PID at teardown."""

    def __init__(
        self,
        nodename: str,
        workdir: Path,
        env: Mapping[str, str],
        *extra: str,
        backend: str = "etcd",
    ) -> None:
        self.nodename = nodename
        self.workdir = workdir
        self.config_path = workdir / f"{nodename}.toml"
        self.socket = str(workdir / f"{nodename}.ctl")
        self.argv = [
            sys.executable,
            "-m",
            "bgpd",
            "run",
            "-c",
            str(self.config_path),
            "--confd-backend",
            backend,
            "--var",
            f"control_socket={self.socket}",
            # Per-node BIRD-compatible sockets: [calico] would default them to the host's
            # /var/run/calico/bird*.ctl, which the nodes would then fight over.
            "--var",
            f"bird_socket={workdir / (nodename + '-bird.ctl')}",
            "--var",
            f"bird6_socket={workdir / (nodename + '-bird6.ctl')}",
            "--var",
            "kernel=false",
            "--debounce",
            "0.05",
            *extra,
        ]
        self.env = {**os.environ, "NODENAME": nodename, **env}
        self.proc: Process | None = None

    def start(self, wait: bool = True) -> ConfdNode:
        self.proc = spawn(
            self.argv, name=self.nodename, log_dir=self.workdir, env=self.env, cwd=REPO
        )
        if wait:
            wait_until(
                self._answering,
                timeout=30,
                message=f"{self.nodename} control socket",
                describe=self.output,
            )
        return self

    def _answering(self) -> bool:
        assert self.proc is not None
        if not self.proc.running:
            raise AssertionError(f"{self.nodename} exited early:\n{self.output()}")
        try:
            return bool(call(self.socket, Request(command="show peers"), timeout=2).get("ok"))
        except UnreachableError:
            return False

    def output(self) -> str:
        return self.proc.output(20000) if self.proc else "<not started>"

    def log_has(self, text: str) -> bool:
        return text in self.output()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(10)

    # ------------------------------------------------------------------ state

    def ctl(self, command: str, **args: Any) -> Any:
        reply = call(self.socket, Request(command=command, args=args))
        if not reply.get("ok"):
            raise RuntimeError(f"{self.nodename}: {command}: {reply.get('error')}")
        return reply["data"]

    def peers(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.ctl("show peers")}

    def transitions(self, peer: str) -> int:
        """How many times the session reached Established (a flap adds one)."""
        return int(self.ctl("show peer", name=peer)["established_transitions"])

    def running_config(self) -> dict[str, Any]:
        return tomllib.loads(self.ctl("show config"))

    def rendered(self) -> str:
        return self.config_path.read_text()

    def learned(self, prefix: str) -> dict[str, Any] | None:
        routes = self.ctl("show routes", prefix=prefix)
        return next((r for r in routes if r["peer"] != "static"), None)

    def wait_peers(self, names: set[str], timeout: float = 30) -> None:
        """Until exactly `names` are configured and all Established."""

        def ok() -> bool:
            peers = self.peers()
            return set(peers) == names and all(p["state"] == "Established" for p in peers.values())

        wait_until(
            ok,
            timeout=timeout,
            message=f"{self.nodename}: peers {sorted(names)} Established",
            retry_on=(UnreachableError,),
            describe=lambda: f"{self.peers()}\n{self.output()}",
        )

    def wait_route(self, prefix: str, timeout: float = 30) -> dict[str, Any]:
        route = wait_until(
            lambda: self.learned(prefix),
            timeout=timeout,
            message=f"{self.nodename}: route {prefix}",
            describe=self.output,
        )
        assert route is not None
        return route

    def wait_log(self, text: str, timeout: float = 30) -> None:
        wait_until(
            lambda: self.log_has(text),
            timeout=timeout,
            message=f"{self.nodename}: log line {text!r}",
            describe=self.output,
        )


class ConfdNodes:
    """Factory fixture: `confd_nodes(nodename, etcd_env, *extra_args)`; all stopped at teardown."""

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self._request = request
        self._workdir = workdir
        self.made: list[ConfdNode] = []

    def __call__(
        self,
        nodename: str,
        env: Mapping[str, str],
        *extra: str,
        wait: bool = True,
        backend: str = "etcd",
    ) -> ConfdNode:
        confd_node = ConfdNode(nodename, self._workdir, env, *extra, backend=backend)
        self.made.append(confd_node)
        self._request.node.stash.setdefault(DIAGNOSTICS, []).append(confd_node.output)
        return confd_node.start(wait)

    def close(self) -> None:
        for made in self.made:
            made.stop()


@pytest.fixture
def confd_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConfdNodes]:
    nodes = ConfdNodes(request, tmp_path)
    yield nodes
    nodes.close()


# ---------------------------------------------------------------------------- the cluster

A, B, EXT = "127.0.61.1", "127.0.61.2", "127.0.61.20"
PORT = 1179
GLOBAL_EXT = f"Global_127_0_61_20_port_{PORT}"
V3 = "/calico/resources/v3/projectcalico.org"


def bgp_defaults(**spec: Any) -> dict[str, str]:
    fields = {
        "asNumber": 64512,
        "nodeToNodeMeshEnabled": True,
        "bindMode": "NodeIP",
        "listenPort": PORT,
        "logSeverityScreen": "Info",
        **spec,
    }
    return bgp_configuration(**fields)


def write_cluster(etcd: EtcdServer) -> None:
    etcd.put_many(
        {
            **bgp_defaults(),
            **node("node-a", f"{A}/24"),
            **node("node-b", f"{B}/24"),
            **ip_pool("pool", "10.61.0.0/16"),
            **affinity("node-a", "10.61.1.0/26"),
            **affinity("node-b", "10.61.2.0/26"),
        }
    )


def start_pair(confd_nodes: ConfdNodes, etcd: EtcdServer) -> tuple[ConfdNode, ConfdNode]:
    write_cluster(etcd)
    a = confd_nodes("node-a", etcd.env())
    b = confd_nodes("node-b", etcd.env())
    a.wait_peers({"Mesh_127_0_61_2"})
    b.wait_peers({"Mesh_127_0_61_1"})
    a.wait_route("10.61.2.0/26")
    b.wait_route("10.61.1.0/26")
    return a, b


def external_config(asn_of_nodes: int) -> str:
    peers = "".join(
        f"""
[[peer]]
name = "node_{i}"
address = "{ip}"
port = {PORT}
asn = {asn_of_nodes}
local_address = "{EXT}"
"""
        for i, ip in enumerate((A, B))
    )
    return f"""
[bgp]
asn = 65020
router_id = "{EXT}"
listen = ["{EXT}"]
port = {PORT}

[control]
socket = "@SOCKET@"

[[static]]
prefix = "10.200.0.0/24"
{peers}"""


# ---------------------------------------------------------------------------- tests


def test_changes_in_etcd_have_exactly_their_effect(
    etcd_server: EtcdServer, confd_nodes: ConfdNodes, bgpd_factory: BgpdFactory
) -> None:
    etcd = etcd_server
    a, b = start_pair(confd_nodes, etcd)
    mesh_a = a.transitions("Mesh_127_0_61_2")
    assert a.running_config()["bgp"]["log_level"] == "info"

    # 1. The log level: applied live, nothing else touched.
    etcd.put_many(bgp_defaults(logSeverityScreen="Debug"))
    wait_until(
        lambda: a.running_config()["bgp"]["log_level"] == "debug",
        timeout=30,
        message="node-a runs with log_level debug",
        describe=a.output,
    )
    assert a.transitions("Mesh_127_0_61_2") == mesh_a
    assert a.peers()["Mesh_127_0_61_2"]["state"] == "Established"

    # 2. A BGPPeer to an external router: a new session on every node at once, no flap.
    ext = bgpd_factory(None, external_config(64512), name="ext")
    etcd.put_many(bgp_peer("tor", peerIP=f"{EXT}:{PORT}", asNumber=65020))
    a.wait_peers({"Mesh_127_0_61_2", GLOBAL_EXT})
    b.wait_peers({"Mesh_127_0_61_1", GLOBAL_EXT})
    a.wait_route("10.200.0.0/24")
    ext.wait_route("10.61.1.0/26")
    assert a.transitions("Mesh_127_0_61_2") == mesh_a
    global_a = a.transitions(GLOBAL_EXT)

    # 3. node-b becomes a route reflector: it leaves the mesh (on both sides); node-a's
    # session to the external router does not flap.
    etcd.put_many(node("node-b", f"{B}/24", routeReflectorClusterID="224.0.0.1"))
    a.wait_peers({GLOBAL_EXT})
    b.wait_peers({GLOBAL_EXT})
    assert 'rr_cluster_id = "224.0.0.1"' in b.rendered()
    assert a.transitions(GLOBAL_EXT) == global_a

    # 4. The global AS: every session restarts with the new AS (the router is told too).
    etcd.put_many(bgp_defaults(logSeverityScreen="Debug", asNumber=64700))
    wait_until(
        lambda: a.running_config()["bgp"]["asn"] == 64700,
        timeout=30,
        message="node-a runs with AS 64700",
        describe=a.output,
    )
    ext.write_config(external_config(64700))
    ext.reload()
    a.wait_peers({GLOBAL_EXT})
    assert a.transitions(GLOBAL_EXT) > global_a
    wait_until(
        lambda: ext.peers()["node_0"]["state"] == "Established",
        timeout=30,
        message="ext: node_0 Established with AS 64700",
        describe=ext.output,
    )


def test_etcd_outage_keeps_sessions_and_changes_are_picked_up_after(
    etcd_server: EtcdServer, confd_nodes: ConfdNodes
) -> None:
    etcd = etcd_server
    a, b = start_pair(confd_nodes, etcd)
    before = a.transitions("Mesh_127_0_61_2")
    rendered = a.rendered()

    etcd.stop()
    a.wait_log("confd.etcd.unreachable")
    b.wait_log("confd.etcd.unreachable")
    # The speakers keep running on the last good config, with their sessions and routes.
    assert a.peers()["Mesh_127_0_61_2"]["state"] == "Established"
    assert a.learned("10.61.2.0/26") is not None
    assert a.rendered() == rendered

    # Data changes while the watchers cannot reach etcd, then history is compacted away:
    # when etcd is back they re-read everything and render the new block.
    with etcd.moved_away():
        etcd.put_many(affinity("node-b", "10.61.3.0/26"))
        etcd.put_many(affinity("node-b", "10.61.5.0/26"))  # one more revision to compact
        etcd.compact()  # up to the newest revision: the watchers' resume point is gone
    a.wait_route("10.61.3.0/26", timeout=60)
    a.wait_route("10.61.5.0/26")
    a.wait_log("confd.etcd.compacted")
    assert a.transitions("Mesh_127_0_61_2") == before

    # And a change made once etcd is back is picked up as usual.
    etcd.put_many(affinity("node-b", "10.61.4.0/26"))
    a.wait_route("10.61.4.0/26")
    assert a.transitions("Mesh_127_0_61_2") == before


BAD_DATA = [
    pytest.param(f"{V3}/bgppeers/broken", '{"kind": "BGPPeer", "spec": ', id="malformed-json"),
    pytest.param(
        f"{V3}/bgppeers/bad-as",
        bgp_peer("bad-as", peerIP="127.0.61.99", asNumber=4294967296)[f"{V3}/bgppeers/bad-as"],
        id="invalid-as",
    ),
    pytest.param(
        f"{V3}/bgppeers/bad-selector",
        bgp_peer("bad-selector", nodeSelector="foo(bar)", peerIP="127.0.61.98", asNumber=65000)[
            f"{V3}/bgppeers/bad-selector"
        ],
        id="unknown-selector-function",
    ),
    pytest.param(
        f"{V3}/bgppeers/bad-ip",
        bgp_peer("bad-ip", peerIP="127.0.61.300", asNumber=65000)[f"{V3}/bgppeers/bad-ip"],
        id="bad-peer-ip",
    ),
]


def test_bad_data_is_named_and_the_last_good_config_stays(
    etcd_server: EtcdServer, confd_nodes: ConfdNodes
) -> None:
    etcd = etcd_server
    a, _ = start_pair(confd_nodes, etcd)
    before = a.transitions("Mesh_127_0_61_2")
    good = a.rendered()
    for param in BAD_DATA:
        key, value = param.values
        assert isinstance(key, str) and isinstance(value, str)
        etcd.put(key, value)
        a.wait_log(f"keeping the last good {a.config_path}: {key}: ")
        assert a.rendered() == good, f"{param.id}: the rendered file changed"
        etcd.delete(key)
    assert a.peers()["Mesh_127_0_61_2"]["state"] == "Established"
    assert a.transitions("Mesh_127_0_61_2") == before
    # Once the data is good again, changes flow as before.
    etcd.put_many(bgp_defaults(logSeverityScreen="Debug"))
    wait_until(
        lambda: a.running_config()["bgp"]["log_level"] == "debug",
        timeout=30,
        message="node-a picks up a good change after bad data",
        describe=a.output,
    )


def test_the_watchers_state_is_in_the_speakers_metrics(
    etcd_server: EtcdServer, confd_nodes: ConfdNodes
) -> None:
    etcd = etcd_server
    write_cluster(etcd)
    port = free_tcp_ports(1, A)[0]
    a = confd_nodes("node-a", etcd.env(), "--var", f"metrics_listen={A}:{port}")

    def metric(name: str) -> float | None:
        text = urllib.request.urlopen(f"http://{A}:{port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    wait_until(lambda: metric("bgpd_confd_etcd_connected") == 1, timeout=30, message="etcd up")
    renders = metric("bgpd_confd_renders_total")
    assert renders is not None and renders >= 1
    assert metric("bgpd_confd_render_failures_total") == 0

    key, value = BAD_DATA[0].values
    assert isinstance(key, str) and isinstance(value, str)
    etcd.put(key, value)
    wait_until(
        lambda: (metric("bgpd_confd_render_failures_total") or 0) >= 1,
        timeout=30,
        message="a render failure counted",
        describe=a.output,
    )
    etcd.delete(key)
    etcd.stop()
    wait_until(lambda: metric("bgpd_confd_etcd_connected") == 0, timeout=60, message="etcd down")


# ------------------------------------------------------------- issue 11: the watcher never dies

# A BGPPeer whose node is the JSON string "\ud800" (json.dumps writes the escape, as etcd holds
# it) and a v1 peer key whose port is "²" (str.isdigit() accepts it, int() does not): each once
# made the render pass raise, killing the watcher silently, or bgpd at start with a traceback.
SURROGATE_KEY = f"{V3}/bgppeers/lone-surrogate"
SURROGATE_VALUE = json.dumps(
    {"kind": "BGPPeer", "spec": {"node": "\ud800", "peerIP": EXT, "asNumber": 65020}}
)
SUPERSCRIPT_KEY = "/calico/bgp/v1/global/peer_v4/127.0.61.30"
SUPERSCRIPT_VALUE = '{"ip": "127.0.61.30", "as_num": "65000", "port": "²"}'
ISSUE_11 = [
    (SURROGATE_KEY, SURROGATE_VALUE, "malformed JSON: spec.node holds a lone UTF-16 surrogate"),
    (SUPERSCRIPT_KEY, SUPERSCRIPT_VALUE, "invalid port '²': expected 0..65535"),
]


def test_issue_11_values_are_counted_failures_and_the_in_process_watcher_lives(
    etcd_server: EtcdServer, confd_nodes: ConfdNodes
) -> None:
    etcd = etcd_server
    write_cluster(etcd)
    port = free_tcp_ports(1, A)[0]
    a = confd_nodes("node-a", etcd.env(), "--var", f"metrics_listen={A}:{port}")

    def metric(name: str) -> float | None:
        text = urllib.request.urlopen(f"http://{A}:{port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    wait_until(lambda: metric("bgpd_confd_etcd_connected") == 1, timeout=30, message="etcd up")
    good = a.rendered()
    assert stat.S_IMODE(a.config_path.stat().st_mode) == 0o600  # it may hold MD5 passwords
    for failures, (key, value, message) in enumerate(ISSUE_11, 1):
        etcd.put(key, value)
        a.wait_log(f"keeping the last good {a.config_path}: {key}: {message}")
        wait_until(
            lambda n=failures: metric("bgpd_confd_render_failures_total") == n,  # type: ignore[misc]
            timeout=30,
            message=f"{failures} render failures counted",
            describe=a.output,
        )
        assert a.rendered() == good
        etcd.delete(key)
    assert metric("bgpd_confd_etcd_connected") == 1
    assert "Traceback" not in a.output()
    # The watcher is alive: a later good change is rendered and applied.
    etcd.put_many(bgp_defaults(logSeverityScreen="Debug"))
    wait_until(
        lambda: a.running_config()["bgp"]["log_level"] == "debug",
        timeout=30,
        message="node-a picks up a good change after the issue 11 values",
        describe=a.output,
    )
    assert a.proc is not None and a.proc.running


def test_bgpd_run_started_on_issue_11_values_waits_then_starts_once_fixed(
    etcd_server: EtcdServer, confd_nodes: ConfdNodes
) -> None:
    etcd = etcd_server
    write_cluster(etcd)
    etcd.put_many({key: value for key, value, _ in ISSUE_11})
    a = confd_nodes("node-a", etcd.env(), wait=False)
    # No good config yet: no traceback, no exit; the failure is logged with its key and the
    # speaker waits (not started, so not ready) while the watcher keeps following etcd.
    a.wait_log(f'nothing installed yet dest={a.config_path} error="{SURROGATE_KEY}: ')
    assert a.proc is not None and a.proc.running
    assert not a.config_path.exists()
    assert "Traceback" not in a.output()
    etcd.delete(SURROGATE_KEY)
    a.wait_log(f'nothing installed yet dest={a.config_path} error="{SUPERSCRIPT_KEY}: ')
    assert a.proc.running and not a.config_path.exists()
    etcd.delete(SUPERSCRIPT_KEY)
    wait_until(a._answering, timeout=30, message="node-a starts once the data is fixed")
    assert a.running_config()["bgp"]["asn"] == 64512
    assert "Traceback" not in a.output()


def test_standalone_confd_counts_issue_11_values_and_keeps_watching(
    tmp_path: Path, etcd_server: EtcdServer, request: pytest.FixtureRequest
) -> None:
    etcd = etcd_server
    write_cluster(etcd)
    etcd.put(SURROGATE_KEY, SURROGATE_VALUE)  # bad from the start: nothing to render yet
    root = tmp_path / "root"
    dest = root / "etc/bgpd/bgpd.toml"
    watcher = spawn(
        [
            sys.executable,
            "-m",
            "bgpd",
            "confd",
            "--dest-root",
            str(root),
            "--var",
            "kernel=false",
            "--debounce",
            "0.05",
        ],
        name="confd",
        log_dir=tmp_path,
        env={**os.environ, "NODENAME": "node-a", **etcd.env()},
        cwd=REPO,
    )
    request.node.stash.setdefault(DIAGNOSTICS, []).append(watcher.output)
    try:

        def logged(text: str) -> None:
            wait_until(
                lambda: text in watcher.output(),
                timeout=30,
                message=f"confd log line {text!r}",
                describe=watcher.output,
            )

        logged(f'nothing installed yet dest={dest} error="{SURROGATE_KEY}: {ISSUE_11[0][2]}')
        assert watcher.running and not dest.exists()
        etcd.delete(SURROGATE_KEY)
        logged(f"confd installed dest={dest}")
        good = dest.read_bytes()
        assert stat.S_IMODE(dest.stat().st_mode) == 0o600
        etcd.put(SUPERSCRIPT_KEY, SUPERSCRIPT_VALUE)
        logged(f"keeping the last good {dest}: {SUPERSCRIPT_KEY}: {ISSUE_11[1][2]}")
        assert dest.read_bytes() == good and watcher.running
        etcd.delete(SUPERSCRIPT_KEY)
        etcd.put_many(bgp_defaults(logSeverityScreen="Debug"))
        wait_until(
            lambda: 'log_level = "debug"' in dest.read_text(),
            timeout=30,
            message="a good change after bad data is rendered",
            describe=watcher.output,
        )
        assert "Traceback" not in watcher.output()
        assert watcher.stop() == 0
    finally:
        watcher.stop()

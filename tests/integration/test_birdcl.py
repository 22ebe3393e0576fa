"""BIRD's own clients and Calico's parsing rules against a running bgpd's BIRD sockets.

Two bgpd speakers on loopback (127.0.0.61 and 127.0.0.62, free ports), peered as Calico names
mesh sessions. Their `[control] bird_socket` is read with:
- BIRD 1.6's `birdc` (Debian's bird 1.6 ships no `birdcl`; `birdc` runs the same client code
  when given a command) and BIRD 2's `birdcl`, the binary name calico-node's -bird-live runs;
- raw socket sessions read by tests/unit/control/test_bird_calico.py, a rule-for-rule port of
  calicoctl's `node status`, calico-node's `-bird-ready`/`-bird-live` and its node-status
  reporter, which must read our output unchanged.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.control.test_bird_calico import (
    CalicoPeer,
    bird_live,
    bird_ready,
    gr_in_progress,
    scan_bird_peers,
    scan_bird_routes,
    scan_bird_status,
)

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import free_tcp_ports, wait_until
from .peers.binaries import bird_binaries

A, B = "127.0.0.61", "127.0.0.62"


def node_config(
    me: str, port: int, other: str, other_port: int, bird: Path, extra: str = ""
) -> str:
    octet = me.rsplit(".", 1)[1]
    return f"""
[bgp]
asn = 64512
router_id = "{me}"
listen = ["{me}"]
port = {port}
connect_retry_time = 1
error_wait_min = 1
error_wait_max = 2

[control]
socket = "@SOCKET@"
bird_socket = "{bird}"
bird6_socket = "{bird}6"

[[static]]
prefix = "10.{octet}.0.0/24"
{extra}
[[peer]]
name = "Mesh_{other.replace(".", "_")}"
address = "{other}"
port = {other_port}
asn = 64512
local_address = "{me}"
"""


@dataclass
class Pair:
    a_config: str
    b_config: str
    a_bird: Path
    b_bird: Path


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    port_a, port_b = free_tcp_ports(1, A)[0], free_tcp_ports(1, B)[0]
    a_bird, b_bird = tmp_path / "a-bird.ctl", tmp_path / "b-bird.ctl"
    return Pair(
        a_config=node_config(A, port_a, B, port_b, a_bird),
        b_config=node_config(B, port_b, A, port_a, b_bird),
        a_bird=a_bird,
        b_bird=b_bird,
    )


class BirdSession:
    """One raw connection to a BIRD socket: the greeting, then command -> reply lines."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("r", encoding="utf-8", newline="\n")
        self.greeting = self._reply()

    def _reply(self) -> list[str]:
        lines: list[str] = []
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError(f"connection closed after {lines}")
            line = line.removesuffix("\n")
            lines.append(line)
            # The last line of a reply: four digits and a space (nest/cli.c).
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
                return lines

    def command(self, text: str) -> list[str]:
        self.sock.sendall(text.encode() + b"\n")
        return self._reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def sessions() -> Iterator[list[BirdSession]]:
    opened: list[BirdSession] = []
    yield opened
    for session in opened:
        session.close()


def query(path: Path, command: str) -> list[str]:
    """What calicoctl and calico-node do: connect, send one command, read one reply."""
    session = BirdSession(path)
    try:
        return session.greeting + session.command(command)
    finally:
        session.close()


def birdc(path: Path, *command: str) -> str:
    """BIRD 1.6's client, non-interactive (as `birdcl` would be)."""
    client = bird_binaries("1.6").client
    result = subprocess.run(
        [str(client), "-s", str(path), *command],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return result.stdout


def birdcl(path: Path, *command: str) -> str:
    """BIRD 2's `birdcl`: the binary name calico-node's -bird-live probe runs."""
    client = bird_binaries("2").client.with_name("birdcl")
    result = subprocess.run(
        [str(client), "-s", str(path), *command],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return result.stdout


def mesh_peer(path: Path) -> CalicoPeer:
    peers = scan_bird_peers(query(path, "show protocols"))
    assert len(peers) == 1, peers
    return peers[0]


def test_status_and_liveness_through_birds_clients(bgpd_factory: BgpdFactory, pair: Pair) -> None:
    node = bgpd_factory(None, pair.a_config + '\n[[static]]\nprefix = "fd00:61::/64"\n')
    for output in (birdc(pair.a_bird, "show", "status"), birdcl(pair.a_bird, "show", "status")):
        # -bird-live: the output must start with "BIRD" (the greeting, then the status).
        assert bird_live(output), output
        assert f"Router ID is {A}\n" in output
        assert output.rstrip().endswith("Daemon is up and running")
    lines = query(pair.a_bird, "show status")
    assert gr_in_progress(lines) is False
    status = scan_bird_status(lines)
    assert status.ready and status.version.startswith("v") and status.version.endswith("+bgpd")
    assert status.router_id == A
    assert status.last_boot_time == status.last_reconfig_time
    # The sockets are BIRD's mode, and the IPv6 view is served too.
    assert stat.S_IMODE(os.stat(pair.a_bird).st_mode) == 0o660
    bird6 = Path(f"{pair.a_bird}6")
    assert f"Router ID is {A}" in birdc(bird6, "show", "status")
    # Each socket shows its own family's routes.
    assert [r.dest for r in scan_bird_routes(query(bird6, "show route"))] == ["fd00:61::/64"]
    assert [r.dest for r in scan_bird_routes(query(pair.a_bird, "show route"))] == ["10.61.0.0/24"]
    assert "fd00:61::/64" in birdc(bird6, "show", "route", "for", "fd00:61::1")
    node.stop()
    wait_until(lambda: not pair.a_bird.exists(), timeout=10, message="bird socket removed")


def test_protocol_states_follow_the_peer(
    bgpd_factory: BgpdFactory, pair: Pair, sessions: list[BirdSession]
) -> None:
    a = bgpd_factory(None, pair.a_config)
    peer = mesh_peer(pair.a_bird)
    assert (peer.peer_ip, peer.peer_type, peer.state) == (B, "node-to-node mesh", "start")
    assert peer.bgp_state in ("Idle", "Connect", "Active")
    wait_until(
        lambda: mesh_peer(pair.a_bird).info == "Socket: Connection refused",
        timeout=10,
        message="BIRD's socket error for a peer that is not there",
    )
    # -bird-ready: right after start every peer must be up; later one is enough, and none is.
    assert bird_ready([peer], within_threshold=True, gr=False) == f"BGP not established with {B}"
    assert bird_ready([peer], within_threshold=False, gr=False) == f"BGP not established with {B}"
    # The IPv4 peer is not in the IPv6 view; the local protocols keep its table non-empty.
    assert scan_bird_peers(query(Path(f"{pair.a_bird}6"), "show protocols"), ipv=6) == []

    b = bgpd_factory(None, pair.b_config)
    wait_until(
        lambda: mesh_peer(pair.a_bird).bgp_state == "Established",
        timeout=30,
        message="Established in show protocols",
        describe=a.output,
    )
    up = mesh_peer(pair.a_bird)
    assert (up.state, up.info) == ("up", "")
    assert bird_ready([up], within_threshold=True, gr=False) is None
    table = birdc(pair.a_bird, "show", "protocols")
    assert "name     proto    table    state  since       info\n" in table
    assert "device1  Device   master   up" in table
    assert "static1  Static   master   up" in table
    detail = birdc(pair.a_bird, "show", "protocols", "all", f"Mesh_{B.replace('.', '_')}")
    assert "  BGP state:          Established\n" in detail
    assert f"    Neighbor address: {B}\n" in detail
    assert "    Neighbor AS:      64512\n" in detail

    # The routes, as the node-status reporter reads them.
    wait_until(
        lambda: any(
            r.dest == "10.62.0.0/24" for r in scan_bird_routes(query(pair.a_bird, "show route"))
        ),
        timeout=30,
        message="10.62.0.0/24 learned",
    )
    wait_until(
        lambda: (
            "  Routes:         1 imported, 1 exported, 1 preferred\n"
            in birdc(pair.a_bird, "show", "protocols", "all", f"Mesh_{B.replace('.', '_')}")
        ),
        timeout=30,
        message="route counts in show protocols all",
    )
    routes = scan_bird_routes(query(pair.a_bird, "show route"))
    by_dest = {r.dest: r for r in routes}
    assert (by_dest["10.61.0.0/24"].iface, by_dest["10.61.0.0/24"].learned_from) == (
        "blackhole",
        "static1",
    )
    learned = by_dest["10.62.0.0/24"]
    assert (learned.gateway, learned.learned_from, learned.primary) == (
        B,
        f"Mesh_{B.replace('.', '_')}",
        True,
    )
    assert (
        birdc(pair.a_bird, "show", "route", "count")
        .strip()
        .endswith("2 of 2 routes for 2 networks")
    )
    assert "10.62.0.0/24" in birdc(pair.a_bird, "show", "route", "for", "10.62.0.77")

    b.stop()
    wait_until(
        lambda: mesh_peer(pair.a_bird).state == "start",
        timeout=30,
        message="start after the peer left",
        describe=a.output,
    )
    down = mesh_peer(pair.a_bird)
    assert down.bgp_state != "Established"
    # B's shutdown NOTIFICATION, until a reconnection attempt fails (as BIRD shows it).
    assert down.info.startswith(("Received: Cease", "Socket: Connection refused")), down
    assert bird_ready([down], within_threshold=False, gr=False) == f"BGP not established with {B}"


def test_configure_reloads_the_config_file(
    bgpd_factory: BgpdFactory, pair: Pair, sessions: list[BirdSession]
) -> None:
    node: BgpdProcess = bgpd_factory(None, pair.a_config)
    node.write_config(pair.a_config + '\n[[static]]\nprefix = "10.99.0.0/24"\n')
    output = birdc(pair.a_bird, "configure")
    assert f"Reading configuration from {node.config_path}\nReconfigured\n" in output, output
    assert "10.99.0.0/24" in birdc(pair.a_bird, "show", "route", "10.99.0.0/24")

    node.write_config(pair.a_config.replace("asn = 64512", "asn = banana", 1))
    rejected = BirdSession(pair.a_bird)
    sessions.append(rejected)
    reply = rejected.command("configure")
    assert reply[0] == f"0002-Reading configuration from {node.config_path}"
    assert reply[-1].startswith("8002 "), reply
    assert "running config kept" in "\n".join(reply)
    # Nothing changed: the route of the good reload is still there.
    assert rejected.command("show route 10.99.0.0/24")[0].startswith("1007-10.99.0.0/24 ")
    # `configure check` reads the file without applying it.
    assert rejected.command("configure check")[-1].startswith("8002 ")
    node.write_config(pair.a_config)
    assert rejected.command("configure check")[-1] == "0020 Configuration OK"
    # ... and applies nothing: the route the file no longer has is still there.
    assert rejected.command("show route 10.99.0.0/24")[-1] == "0000 "
    # A restricted session may look but not reload (birdc -r).
    assert rejected.command("restrict") == ["0016 Access restricted"]
    assert rejected.command("configure") == ["8007 Access denied"]

    # A reload that moves the socket: the old path goes, the new one answers.
    moved = pair.a_bird.with_name("moved-bird.ctl")
    node.write_config(
        pair.a_config.replace(f'bird_socket = "{pair.a_bird}"', f'bird_socket = "{moved}"')
    )
    assert "Reconfigured" in birdc(pair.a_bird, "configure")
    wait_until(moved.exists, timeout=10, message="socket at the new path")
    wait_until(lambda: not pair.a_bird.exists(), timeout=10, message="old socket removed")
    assert bird_live(birdc(moved, "show", "status"))


def test_one_session_many_commands(
    bgpd_factory: BgpdFactory, pair: Pair, sessions: list[BirdSession]
) -> None:
    bgpd_factory(None, pair.a_config)
    session = BirdSession(pair.a_bird)
    sessions.append(session)
    assert len(session.greeting) == 1
    assert session.greeting[0].startswith("0001 BIRD v") and session.greeting[0].endswith(" ready.")
    protocols = session.command("show protocols")
    assert protocols[0] == "2002-name     proto    table    state  since       info"
    assert protocols[1].startswith("1002-static1  Static   master   up     ")
    assert all(line.startswith(" ") for line in protocols[2:-1])
    assert protocols[-1] == "0000 "
    assert session.command("show route count") == ["0014 1 of 1 routes for 1 networks"]
    assert session.command("show protocols all nobody") == ["9002 nobody is not a protocol"]
    assert session.command('show protocols "Global_*"') == ["8003 No protocols match"]
    assert session.command("bogus") == ["9001 syntax error"]
    assert session.command("show route 10.1.0.0/16") == ["8001 Network not in table"]
    six = session.command("show route for 2001:db8::1")
    assert six == ["9001 This is an IPv4 router, therefore IPv6 addresses are not supported"]
    # A command longer than BIRD's buffer ends the session, as in BIRD.
    session.sock.sendall(b"show " + b"x" * 2000 + b"\n")
    assert session._reply() == ["9000 Command too long"]
    assert session.file.readline() == ""
    # `quit` closes the connection.
    other = BirdSession(pair.a_bird)
    sessions.append(other)
    other.sock.sendall(b"quit\n")
    assert other.file.readline() == ""


def test_show_route_export_is_what_the_peer_is_sent(bgpd_factory: BgpdFactory, pair: Pair) -> None:
    a = bgpd_factory(None, pair.a_config)
    b = bgpd_factory(None, pair.b_config)
    to_b, to_a = f"Mesh_{B.replace('.', '_')}", f"Mesh_{A.replace('.', '_')}"
    a.wait_established(to_b)
    b.wait_route("10.61.0.0/24")
    a.wait_route("10.62.0.0/24")
    # a sends b its own route, never b's back (BIRD 1.6's client, as an operator types it)
    sent = birdc(pair.a_bird, "show", "route", "export", to_b)
    assert "10.61.0.0/24" in sent and "10.62.0.0/24" not in sent, sent
    assert [r.dest for r in scan_bird_routes(query(pair.a_bird, f"show route export {to_b}"))] == [
        "10.61.0.0/24"
    ]
    assert query(pair.a_bird, f"show route export {to_b} count")[-1] == (
        "0014 1 of 1 routes for 1 networks"
    )
    assert query(pair.b_bird, f"show route for 10.62.0.1 export {to_a}")[1].startswith(
        "1007-10.62.0.0/24"
    )
    assert query(pair.a_bird, "show route export nobody")[-1] == "9001 nobody is not a protocol"

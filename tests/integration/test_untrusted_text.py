"""A peer's shutdown text against a running bgpd: no forged BIRD row, no terminal escape.

Issue 11 point 2: a raw-socket BGP peer (127.0.0.82) opens a session with a real `bgpd run`
(127.0.0.81) and ends it with a NOTIFICATION Cease/Administrative Shutdown whose RFC 8203 text
forges a `show protocols` row (`\\n1002-Mesh_10_0_0_9 ... Established\\n0000 `) and clears the
terminal (`ESC [2J`). calicoctl's and calico-node's -bird-ready parsers (the ports in
tests/unit/control/test_bird_calico.py) must see exactly the real peer, down; BIRD 2's `birdcl`,
bgpctl's tables and bgpd's own log must carry the text escaped, on one line.
Point 8 on the same daemon: `show route 10.0.0.0/²` and deeply nested JSON get an error reply,
and both sockets keep answering.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from bgpd.net import IPV4_UNICAST, parse_router_id
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol
from bgpd.wire.codec import encode_keepalive, encode_notification, encode_open
from bgpd.wire.constants import CeaseSubcode, MessageType
from bgpd.wire.framing import MessageReader, frame
from bgpd.wire.messages import NotificationMessage, OpenMessage
from tests.unit.control.test_bird_calico import bird_ready, scan_bird_peers

from .bgpd_proc import REPO, BgpdFactory, BgpdProcess
from .peers import free_tcp_ports, wait_until
from .test_birdcl import BirdSession, birdcl, query

BGPD, PEER = "127.0.0.81", "127.0.0.82"
PEER_NAME = "Mesh_127_0_0_82"
FORGING = "maintenance\n1002-Mesh_10_0_0_9 BGP master up 12:00:00 Established\n0000 "
CLEAR = "\x1b[2J\x1b[H"
ESCAPED = "maintenance\\n1002-Mesh_10_0_0_9 BGP master up 12:00:00 Established\\n0000 "


def config(port: int, bird: Path) -> str:
    return f"""
[bgp]
asn = 64512
router_id = "{BGPD}"
listen = ["{BGPD}"]
port = {port}

[control]
socket = "@SOCKET@"
bird_socket = "{bird}"

[[peer]]
name = "{PEER_NAME}"
address = "{PEER}"
asn = 64512
passive = true
"""


class RawPeer:
    """A BGP speaker written by hand: OPEN, KEEPALIVE, then whatever bytes the test sends."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.bind((PEER, 0))
        self.sock.connect((BGPD, port))
        self.reader = MessageReader()

    def establish(self) -> None:
        caps = (Multiprotocol(family=IPV4_UNICAST), FourOctetAs(asn=64512))
        opening = OpenMessage(
            asn=64512, hold_time=90, router_id=parse_router_id(PEER), capabilities=caps
        )
        self.sock.sendall(encode_open(opening))
        seen: list[int] = []
        while MessageType.KEEPALIVE not in seen:
            data = self.sock.recv(65536)
            assert data, f"bgpd closed the session after {seen}"
            seen += [msg_type for msg_type, _body in self.reader.feed(data)]
            assert MessageType.NOTIFICATION not in seen, seen
        assert seen[0] == MessageType.OPEN
        self.sock.sendall(encode_keepalive())

    def announce_aggregate(self) -> None:
        """10.99.0.0/24 with AS_PATH `65001 {65002 65003}` (4-octet ASNs: AS4 was agreed)."""
        segments = bytes((2, 1)) + (65001).to_bytes(4, "big")
        segments += bytes((1, 2)) + (65002).to_bytes(4, "big") + (65003).to_bytes(4, "big")
        attributes = (
            bytes((0x40, 1, 1, 0))  # ORIGIN IGP
            + bytes((0x40, 2, len(segments)))
            + segments
            + bytes((0x40, 3, 4))
            + socket.inet_aton(PEER)  # NEXT_HOP
            + bytes((0x40, 5, 4))
            + (100).to_bytes(4, "big")  # LOCAL_PREF
        )
        body = b"\0\0" + len(attributes).to_bytes(2, "big") + attributes + bytes((24, 10, 99, 0))
        self.sock.sendall(frame(MessageType.UPDATE, body))

    def shut_down(self, text: str) -> None:
        notification = NotificationMessage.shutdown(CeaseSubcode.ADMIN_SHUTDOWN, text)
        assert notification.shutdown_text == text  # the exact bytes go out
        self.sock.sendall(encode_notification(notification))

    def close(self) -> None:
        self.sock.close()


def bgpctl(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bgpd.control.bgpctl", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    return result.stdout


def assert_one_reply(lines: list[str]) -> None:
    for line in lines[:-1]:
        assert line.startswith(" ") or (line[:4].isdigit() and line[4] == "-"), lines
    assert lines[-1][:4].isdigit() and lines[-1][4] == " ", lines


def check_as_set(node: BgpdProcess, bird: Path, peer: RawPeer) -> None:
    """Point 8: an AS_SET shows as a set in bgpctl, on the BIRD socket, and in JSON."""
    peer.announce_aggregate()
    route = node.wait_route("10.99.0.0/24")
    assert route["as_path_segments"] == [
        {"type": "AS_SEQUENCE", "asns": [65001]},
        {"type": "AS_SET", "asns": [65002, 65003]},
    ]
    rows = bgpctl("-s", node.socket, "show", "routes", "10.99.0.0/24").splitlines()
    assert rows[1].split()[3:8] == [PEER_NAME, "65001", "{65002", "65003}", "100"], rows
    lines = query(bird, "show route all 10.99.0.0/24")
    assert " \tBGP.as_path: 65001 { 65002 65003 }" in lines, lines
    # BIRD names no origin AS for a path that ends with a set.
    assert lines[1].endswith("] * (100/0) [i]"), lines


def test_a_forging_shutdown_text_reaches_no_reader_raw(
    bgpd_factory: BgpdFactory, tmp_path: Path
) -> None:
    port = free_tcp_ports(1, BGPD)[0]
    bird = tmp_path / "bird.ctl"
    node = bgpd_factory(None, config(port, bird))
    peer = RawPeer(port)
    try:
        peer.establish()
        node.wait_established(PEER_NAME)
        assert [p.bgp_state for p in scan_bird_peers(query(bird, "show protocols"))] == [
            "Established"
        ]
        check_as_set(node, bird, peer)
        peer.shut_down(FORGING + CLEAR)
        wait_until(
            lambda: "maintenance" in node.peers()[PEER_NAME]["last_error"],
            timeout=20,
            message="the shutdown text is the peer's last error",
            describe=node.output,
        )
    finally:
        peer.close()
    # JSON carries the exact text (JSON-escaped): nothing is lost for scripts.
    view = json.loads(bgpctl("-s", node.socket, "show", "peers", "--json"))
    assert view[0]["last_error"] == f"Received: Cease/Administrative Shutdown: {FORGING}{CLEAR}"

    # calicoctl node status and calico-node's -bird-ready read the real peer only, down.
    lines = query(bird, "show protocols")
    assert_one_reply(lines[1:])
    peers = scan_bird_peers(lines)
    assert [(p.peer_ip, p.state) for p in peers] == [(PEER, "start")]
    assert peers[0].bgp_state != "Established"
    assert peers[0].info.endswith(f"{ESCAPED}\\x1b[2J\\x1b[H"), peers[0].info
    assert bird_ready(peers, within_threshold=False, gr=False) == (
        f"BGP not established with {PEER}"
    )
    detail = query(bird, f"show protocols all {PEER_NAME}")
    assert_one_reply(detail[1:])
    assert any(line.startswith("     Last error:       Received: Cease") for line in detail)

    # BIRD's own client, as calico-node runs it: one row for the peer, no escape code.
    table = birdcl(bird, "show", "protocols")
    assert "\x1b" not in table
    rows = [line for line in table.splitlines() if " BGP " in line]
    assert len(rows) == 1 and rows[0].startswith(PEER_NAME), table

    # bgpctl's tables: one row, the text visible and inert.
    for out in (
        bgpctl("-s", node.socket, "show", "peers"),
        bgpctl("-s", node.socket, "show", "peer", PEER_NAME),
    ):
        assert "\x1b" not in out and ESCAPED in out, out
        assert not any(line.startswith(("1002-", "0000")) for line in out.splitlines()), out
    assert len(bgpctl("-s", node.socket, "show", "peers").splitlines()) == 2

    # bgpd's own log: the text on the line of its event, escaped.
    log = node.output()
    assert "\x1b" not in log
    assert not any(line.startswith(("1002-", "0000")) for line in log.splitlines()), log
    assert any(PEER_NAME in line and "maintenance\\n1002-" in line for line in log.splitlines())


def test_malformed_input_gets_an_error_and_both_sockets_stay_up(
    bgpd_factory: BgpdFactory, tmp_path: Path
) -> None:
    port = free_tcp_ports(1, BGPD)[0]
    bird = tmp_path / "bird.ctl"
    node = bgpd_factory(None, config(port, bird))
    session = BirdSession(bird)
    try:
        assert session.command("show route 10.0.0.0/²") == ["9001 Invalid prefix length"]
        assert session.command("show route for 10.0.0.0/٣") == ["9001 Invalid prefix length"]
        assert session.command('show protocols "' + "*?" * 12 + 'x"') == ["8003 No protocols match"]
        assert session.command("show status")[-1] == "0013 Daemon is up and running"
    finally:
        session.close()

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(node.socket)
        replies = sock.makefile("rb")
        sock.sendall(b"[" * 60_000 + b"\n")
        assert json.loads(replies.readline()) == {
            "ok": False,
            "error": "request is nested too deeply",
        }
        sock.sendall(b'{"command": "show routes", "args": {"prefix": ["10.0.0.0/8"]}}\n')
        refused = json.loads(replies.readline())
        assert refused["ok"] is False and refused["error"].startswith("bad prefix: ")
        sock.sendall(b'{"command": "show peers"}\n')
        assert json.loads(replies.readline())["data"][0]["name"] == PEER_NAME
    assert PEER_NAME in bgpctl("-s", node.socket, "show", "peers")

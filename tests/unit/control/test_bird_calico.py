"""Calico's readers of BIRD's control socket, ported rule for rule, run on BIRD's and our text.

The functions below follow, line by line, the Go code that reads BIRD's socket in Calico:
- `scan_bird_peers`: calicoctl/calicoctl/commands/node/status.go `scanBIRDPeers` and
  `unmarshalBIRD` (identical in node/pkg/health/bird/bird.go `GetPeers`);
- `gr_in_progress`: node/pkg/health/bird/bird.go `GRInProgress` (`show status`);
- `bird_ready`: node/pkg/health/health.go `checkBIRDReady` (the `-bird-ready` probe);
- `bird_live`: health.go's `-bird-live` check of `birdcl -s ... show status` output;
- `scan_bird_status` / `scan_bird_routes`: node/pkg/status/populators (the node-status
  reporter behind CalicoNodeStatus).
They raise `CalicoParseError` where the Go code returns an error. The integration tests
(tests/integration/test_birdcl.py) apply them to a running bgpd's sockets; here they are checked
against text captured from a real BIRD 1.6.8 so that the port itself is known to be faithful.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

EXPECTED_HEADINGS = ["name", "proto", "table", "state", "since", "info"]
PEER_NAME = re.compile(r"^(Global|Node|Mesh)_(.+)$")
PEER_TYPES = {"Global": "global", "Mesh": "node-to-node mesh", "Node": "node specific"}


class CalicoParseError(Exception):
    """Where Calico's Go code returns an error for BIRD's output."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CalicoPeer:
    peer_ip: str
    peer_type: str
    state: str
    since: str
    bgp_state: str
    info: str


def _unmarshal_peer(line: str, ip_sep: str) -> CalicoPeer | None:
    columns = line.split()  # strings.Fields
    if len(columns) < 6 or columns[1] != "BGP":
        return None
    match = PEER_NAME.match(columns[0])
    if match is None or match.group(1) not in PEER_TYPES:
        return None
    return CalicoPeer(
        peer_ip=match.group(2).replace("_", ip_sep),
        peer_type=PEER_TYPES[match.group(1)],
        state=columns[3],
        since=columns[4],
        bgp_state=columns[5],
        info=" ".join(columns[6:]),
    )


def scan_bird_peers(lines: Iterable[str], ipv: int = 4) -> list[CalicoPeer]:
    """calicoctl's scanBIRDPeers over the reply to `show protocols`."""
    ip_sep = ":" if ipv == 6 else "."
    peers: list[CalicoPeer] = []
    for line in lines:
        if line.startswith("0000"):
            break
        if line.startswith("0001"):
            continue
        if line.startswith("2002"):
            if line[5:].split() != EXPECTED_HEADINGS:
                raise CalicoParseError("unknown BIRD table output format")
        elif line.startswith("1002"):
            peer = _unmarshal_peer(line[5:], ip_sep)
            if peer is not None:
                peers.append(peer)
        elif line.startswith(" "):
            peer = _unmarshal_peer(line[1:], ip_sep)
            if peer is not None:
                peers.append(peer)
        else:
            raise CalicoParseError(f"unexpected output line from BIRD: {line!r}")
    return peers


def gr_in_progress(lines: Iterable[str]) -> bool:
    """health/bird GRInProgress over the reply to `show status`."""
    for line in lines:
        if line.startswith("0013"):
            break
        if line.startswith("0024"):
            return True
        if not line.startswith(("0001", "1000", "1011", " ")):
            raise CalicoParseError(f"unexpected output line from BIRD: {line!r}")
    return False


def bird_ready(peers: list[CalicoPeer], *, within_threshold: bool, gr: bool) -> str | None:
    """health.go checkBIRDReady: None when ready, else the reason it reports."""
    down = [p.peer_ip for p in peers if p.bgp_state != "Established"]
    established = len(peers) - len(down)
    if not peers:
        return None
    if within_threshold:
        if down:
            return f"BGP not established with {','.join(down)}"
        return "graceful restart in progress" if gr else None
    if established > 0:
        return None
    return f"BGP not established with {','.join(down)}"


def bird_live(birdcl_stdout: str) -> bool:
    """health.go -bird-live: `birdcl -s <sock> show status` output must start with "BIRD"."""
    return birdcl_stdout.startswith("BIRD")


@dataclass(frozen=True, slots=True, kw_only=True)
class CalicoBirdStatus:
    ready: bool = False
    version: str = ""
    router_id: str = ""
    server_time: str = ""
    last_boot_time: str = ""
    last_reconfig_time: str = ""


def scan_bird_status(lines: Iterable[str]) -> CalicoBirdStatus:
    """populators/bird_status.go scanBIRDStatus + unmarshalBIRD."""
    fields: dict[str, object] = {}

    def unmarshal(text: str) -> None:
        if "BIRD" in text and "ready" in text:
            fields["ready"] = True
        elif text.startswith("BIRD v"):
            fields["version"] = text.removeprefix("BIRD ")
        for key, prefix in (
            ("router_id", "Router ID is "),
            ("server_time", "Current server time is "),
            ("last_boot_time", "Last reboot on "),
            ("last_reconfig_time", "Last reconfiguration on "),
        ):
            if text.startswith(prefix):
                fields[key] = text.removeprefix(prefix)

    for line in lines:
        if line.startswith("0013"):
            break
        if line.startswith(("0001", "1000", "1011")):
            unmarshal(line[5:])
        elif line.startswith(" "):
            unmarshal(line[1:])
        else:
            break  # the Go code logs a warning and stops reading
    return CalicoBirdStatus(**fields)  # type: ignore[arg-type]


VIA = re.compile(
    r"(?P<dest>\S*)\s*via\s(?P<gateway>\S*)\s*on\s(?P<iface>.*)\s\[(?P<from>\S*)\s.*\].*"
)
DEV = re.compile(r"(?P<dest>\S*)\s*dev\s(?P<iface>.*)\s\[(?P<from>\S*)\s.*\].*")
BLACKHOLE = re.compile(r"(?P<dest>\S*)\s*blackhole\s\[(?P<from>\S*)\s.*\].*")
UNREACHABLE = re.compile(r"(?P<dest>\S*)\s*unreachable\s\[(?P<from>\S*)\s.*\].*")


@dataclass(frozen=True, slots=True, kw_only=True)
class CalicoRoute:
    dest: str
    gateway: str
    iface: str
    learned_from: str
    primary: bool


def _unmarshal_route(line: str, previous: str) -> CalicoRoute | None:
    found: dict[str, str] = {}
    for marker, regex, fixed in (
        (" via ", VIA, {}),
        (" dev ", DEV, {"gateway": "N/A"}),
        (" blackhole ", BLACKHOLE, {"gateway": "N/A", "iface": "blackhole"}),
        (" unreachable ", UNREACHABLE, {"gateway": "N/A", "iface": "unreachable"}),
    ):
        if marker in line:
            # Go's FindStringSubmatch: leftmost match anywhere in the line.
            match = regex.search(line)
            if match is None:
                return None  # "Failed to parse"
            found = {**match.groupdict(), **fixed}
            break
    dest = found.get("dest") or previous
    if not dest:
        return None
    return CalicoRoute(
        dest=dest,
        gateway=found.get("gateway", ""),
        iface=found.get("iface", ""),
        learned_from=found.get("from", ""),
        primary="] *" in line,
    )


def scan_bird_routes(lines: Iterable[str]) -> list[CalicoRoute]:
    """populators/route.go scanBIRDRoutes over the reply to `show route`."""
    routes: list[CalicoRoute] = []
    previous = ""
    for line in lines:
        if line.startswith("0000"):
            break
        if line.startswith("0001"):
            continue
        if line.startswith(("1007", " ")):
            route = _unmarshal_route(line[5:] if line.startswith("1007") else line[1:], previous)
            if route is not None:
                previous = route.dest
                routes.append(route)
        else:
            raise CalicoParseError(f"unexpected output line from BIRD: {line}")
    return routes


# ------------------------------------------------------------------ the port, on BIRD's text

# Captured from BIRD 1.6.8 (Debian bird 1.6.8-2.1) on loopback: two BGP sessions, one up.
BIRD_PROTOCOLS = [
    "0001 BIRD 1.6.8 ready.",
    "2002-name     proto    table    state  since       info",
    "1002-device1  Device   master   up     11:43:04    ",
    " static1  Static   master   up     11:43:04    ",
    " Mesh_127_0_0_52 BGP      master   up     11:43:06    Established   ",
    " Mesh_127_0_0_53 BGP      master   start  11:43:04    Active        "
    "Socket: Connection refused",
    "0000 ",
]

BIRD_STATUS = """\
0001 BIRD 1.6.8 ready.
1000-BIRD 1.6.8
1011-Router ID is 127.0.0.51
 Current server time is 2026-11-26 11:43:12
 Last reboot on 2026-11-26 11:43:04
 Last reconfiguration on 2026-11-26 11:43:04
0013 Daemon is up and running
""".splitlines()

# calico-node's own example (node/pkg/health/bird/bird.go), a restart in progress.
BIRD_STATUS_GR = """\
0001 BIRD v0.3.2+birdv1.6.3 ready.
1000-BIRD v0.3.2+birdv1.6.3
1011-Router ID is 172.18.0.4
 Current server time is 2018-04-03 22:59:51
 Last reboot on 2018-04-03 22:59:26
 Last reconfiguration on 2018-04-03 22:59:26
0024-Graceful restart recovery in progress
   Waiting for 1 protocols to recover
   Wait timer is 215/240
0013 Daemon is up and running
""".splitlines()

# The node-status reporter's own example (node/pkg/status/populators/route.go).
BIRD_ROUTES = """\
0001 BIRD v0.3.3+birdv1.6.8 ready.
1007-0.0.0.0/0          via 172.17.0.1 on eth0 [kernel1 20:10:57] * (10)
 192.168.110.128/26 via 172.17.0.5 on eth0 [Mesh_172_17_0_5 20:10:57] * (100/0) [i]
 192.168.162.128/26 blackhole [static1 20:10:56] * (200)
 192.168.162.129/32 dev calie58e37f9a7f [kernel1 20:11:10] * (10)
0000
""".splitlines()


def test_port_reads_bird_protocols() -> None:
    peers = scan_bird_peers(BIRD_PROTOCOLS)
    assert [(p.peer_ip, p.peer_type, p.state, p.bgp_state, p.info) for p in peers] == [
        ("127.0.0.52", "node-to-node mesh", "up", "Established", ""),
        ("127.0.0.53", "node-to-node mesh", "start", "Active", "Socket: Connection refused"),
    ]
    assert peers[0].since == "11:43:06"


def test_port_rejects_what_calicoctl_rejects() -> None:
    with pytest.raises(CalicoParseError, match="unexpected output"):
        scan_bird_peers(["0001 BIRD 1.6.8 ready.", "8003 No protocols match"])
    with pytest.raises(CalicoParseError, match="table output format"):
        scan_bird_peers(["2002-name proto table state since"])


def test_port_reads_bird_status_and_graceful_restart() -> None:
    assert gr_in_progress(BIRD_STATUS) is False
    assert gr_in_progress(BIRD_STATUS_GR) is True
    status = scan_bird_status(BIRD_STATUS_GR)
    assert status.ready and status.version == "v0.3.2+birdv1.6.3"
    assert status.router_id == "172.18.0.4"
    assert status.last_reconfig_time == "2018-04-03 22:59:26"


def test_port_readiness_rule() -> None:
    peers = scan_bird_peers(BIRD_PROTOCOLS)
    assert bird_ready(peers, within_threshold=True, gr=False) == (
        "BGP not established with 127.0.0.53"
    )
    assert bird_ready(peers, within_threshold=False, gr=False) is None
    assert bird_ready(peers[:1], within_threshold=True, gr=True) == "graceful restart in progress"
    assert bird_ready([], within_threshold=True, gr=True) is None


def test_port_reads_bird_routes() -> None:
    routes = scan_bird_routes(BIRD_ROUTES)
    assert [(r.dest, r.gateway, r.iface, r.learned_from, r.primary) for r in routes] == [
        ("0.0.0.0/0", "172.17.0.1", "eth0", "kernel1", True),
        ("192.168.110.128/26", "172.17.0.5", "eth0", "Mesh_172_17_0_5", True),
        ("192.168.162.128/26", "N/A", "blackhole", "static1", True),
        ("192.168.162.129/32", "N/A", "calie58e37f9a7f", "kernel1", True),
    ]

"""BirdControl's command handling over bgpd-shaped views (no sockets: those are integration).

The hooks here hand out fixed views (from their JSON), as `Speaker.peer_views` would; the running
daemon's wiring is tested end to end in tests/integration/test_birdcl.py.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bgpd.config import parse_config
from bgpd.control.bird_protocol import ReplyEncoder, ReplyLine, parse_command
from bgpd.control.bird_server import BirdControl, BirdHooks, ConfigureRejectedError, TableRow
from bgpd.speaker.steps import Steps, Stream
from bgpd.views import PeerView, RouteView
from tests.unit.config.helpers import MINIMAL

from .test_bird_calico import scan_bird_peers

CONFIG = parse_config(MINIMAL + '\n[[peer]]\nname = "Mesh_fd00__2"\naddress = "fd00::2"\nasn = 1\n')
PEERS: list[dict[str, Any]] = [
    {
        "name": name,
        "address": address,
        "asn": asn,
        "state": "Active",
        "uptime_s": None,
        "prefixes_accepted": 0,
        "prefixes_sent": 0,
        "last_error": "",
    }
    for name, address, asn in (
        ("Mesh_127_0_0_2", "127.0.0.2", 64512),
        ("Mesh_fd00__2", "fd00::2", 1),
    )
]
ROUTES: list[dict[str, Any]] = [
    {"prefix": "10.10.1.0/24", "next_hop": None, "peer": "static", "source": "static", "best": True}
]


class World:
    """The state the hooks read, and what reload/check were asked."""

    def __init__(self) -> None:
        self.peers = [dict(p) for p in PEERS]
        self.reloads = 0
        self.reject: str | None = None

    def reload(self) -> object:
        if self.reject:
            raise ConfigureRejectedError(self.reject)
        self.reloads += 1
        return []

    def routes(self, version: int) -> list[RouteView]:
        return [RouteView.from_json(r) for r in ROUTES if (":" in r["prefix"]) == (version == 6)]

    def table(self, version: int, source: str | None, best: bool) -> Stream[TableRow]:
        yield []  # a walk: the rows come after a step
        yield [
            (r.prefix, r)
            for r in self.routes(version)
            if (source is None or r.peer == source) and (r.best or not best)
        ]

    def table_counts(self, version: int) -> tuple[int, int]:
        routes = self.routes(version)
        return len({r.prefix for r in routes}), len(routes)

    def source_counts(self, name: str, version: int) -> Steps[tuple[int, int]]:
        routes = [r for r in self.routes(version) if r.peer == name]
        yield
        return len(routes), sum(r.best for r in routes)

    def hooks(self) -> BirdHooks:
        return BirdHooks(
            config=lambda: CONFIG,
            config_path=lambda: "/etc/bgpd.toml",
            peers=lambda: [PeerView.from_json(p) for p in self.peers],
            peer=lambda name: next(
                (PeerView.from_json(p) for p in self.peers if p["name"] == name), None
            ),
            routes=lambda prefix: [RouteView.from_json(r) for r in ROUTES if r["prefix"] == prefix],
            table=self.table,
            table_counts=self.table_counts,
            source_counts=self.source_counts,
            kernel_routes=list,
            reload=self.reload,
            check=lambda: None,
            graceful_restart=lambda: None,
        )


def run(control: BirdControl, line: str, version: int = 4, restricted: bool = False) -> list[str]:
    command = parse_command(line, 4 if version == 4 else 6)
    lines: list[ReplyLine] = control.execute(command, 4 if version == 4 else 6, restricted)
    return ReplyEncoder().encode(lines).decode().splitlines()


def test_each_socket_shows_its_family() -> None:
    control = BirdControl(World().hooks())
    v4 = run(control, "show protocols")
    assert [line.split()[0].removeprefix("1002-") for line in v4[1:-1]] == [
        "static1",
        "device1",
        "Mesh_127_0_0_2",
    ]
    v6 = run(control, "show protocols", version=6)
    assert [p.peer_ip for p in scan_bird_peers(v6, ipv=6)] == ["fd00::2"]
    assert "static1" not in "\n".join(v6)  # no IPv6 static route configured
    assert run(control, "show route", version=6) == ["0000 "]
    assert run(control, "show route protocol kernel1") == ["9001 kernel1 is not a protocol"]


def test_socket_errors_show_until_something_newer() -> None:
    # The peer view's last error is the newest of NOTIFICATION and socket error (the session
    # counters decide, see tests/unit/session/test_counters.py); the socket shows it as BIRD.
    world = World()
    control = BirdControl(world.hooks())
    world.peers[0]["last_error"] = "Socket: Connection refused"
    (peer,) = scan_bird_peers(run(control, "show protocols"))
    assert (peer.bgp_state, peer.info) == ("Active", "Socket: Connection refused")
    world.peers[0]["last_error"] = "Received: Cease/Administrative Shutdown"
    (peer,) = scan_bird_peers(run(control, "show protocols"))
    assert peer.info == "Received: Cease/Administrative Shutdown"
    world.peers[0]["last_error"] = "Socket: Connection timed out"
    (peer,) = scan_bird_peers(run(control, "show protocols"))
    assert peer.info == "Socket: Connection timed out"
    world.peers[0].update(state="Established", uptime_s=1.0)
    (peer,) = scan_bird_peers(run(control, "show protocols"))
    assert peer.info == ""


def test_configure() -> None:
    world = World()
    control = BirdControl(world.hooks())
    assert run(control, "configure") == [
        "0002-Reading configuration from /etc/bgpd.toml",
        "0003 Reconfigured",
    ]
    assert world.reloads == 1
    assert run(control, "configure", restricted=True) == ["8007 Access denied"]
    assert run(control, 'configure "/etc/other.toml"') == [
        "0002-Reading configuration from /etc/other.toml",
        "8002 bgpd reads only its own config file /etc/bgpd.toml",
    ]
    world.reject = "config rejected, running config kept:\nbgp.asn: not a number"
    assert run(control, "configure soft") == [
        "0002-Reading configuration from /etc/bgpd.toml",
        "8002-config rejected, running config kept:",
        "8002 bgp.asn: not a number",
    ]
    assert world.reloads == 1
    assert run(control, "configure check") == [
        "0002-Reading configuration from /etc/bgpd.toml",
        "0020 Configuration OK",
    ]


def test_reload_dates_the_reconfiguration() -> None:
    clock = iter([100.0, 250.0, 300.0])
    control = BirdControl(World().hooks(), wall=lambda: next(clock))
    control.reconfigured()  # no socket paths changed: nothing to move
    status = control.status()
    assert (status.boot_time, status.reconfigured_at, status.now) == (100.0, 250.0, 300.0)


def test_show_route_export_lists_what_the_peer_is_sent() -> None:
    sent = {
        "Mesh_127_0_0_2": [
            {"prefix": "10.10.1.0/24", "peer": "static", "source": "static", "best": True},
            {"prefix": "10.20.0.0/16", "next_hop": "127.0.0.1", "peer": "x", "best": True},
        ]
    }

    def advertised(
        name: str, _version: int, network: str | None, longest: bool
    ) -> Stream[TableRow] | None:
        if name not in sent:
            return None
        rows = [(r["prefix"], RouteView.from_json(r)) for r in sent[name]]
        if network is not None:  # the network, or with `longest` the ones covering it
            want = ipaddress.ip_network(network)
            rows = [
                row
                for row in rows
                if ipaddress.ip_network(row[0]) == want
                or (longest and want.subnet_of(ipaddress.ip_network(row[0])))  # type: ignore[arg-type]
            ]
        return stream(rows)

    def stream(rows: list[TableRow]) -> Stream[TableRow]:
        yield []  # a walk of the Adj-RIB-Out
        yield rows

    hooks = World().hooks()
    hooks = BirdHooks(
        **{f: getattr(hooks, f) for f in hooks.__dataclass_fields__ if f != "advertised"},
        advertised=advertised,
    )
    control = BirdControl(hooks)
    lines = run(control, "show route export Mesh_127_0_0_2")
    assert [line.removeprefix("1007-").split()[0] for line in lines[:-1]] == [
        "10.10.1.0/24",
        "10.20.0.0/16",
    ]
    assert run(control, "show route export Mesh_127_0_0_2 count") == [
        "0014 2 of 2 routes for 2 networks"
    ]
    assert run(control, "show route for 10.20.1.1 export Mesh_127_0_0_2")[0].startswith(
        "1007-10.20.0.0/16"
    )
    assert run(control, "show route 10.30.0.0/16 export Mesh_127_0_0_2") == [
        "8001 Network not in table"
    ]
    assert run(control, "show route export nobody") == ["9001 nobody is not a protocol"]
    # the v6 peer is sent nothing (it is not up)
    assert run(control, "show route export Mesh_fd00__2", version=6) == ["0000 "]

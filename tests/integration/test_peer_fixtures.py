"""Self-test of the real-peer fixtures: real BIRD 1.6, BIRD 2 and GoBGP talking to each other,
and every config builder option (BIRD, GoBGP, FRR, OpenBGPD) accepted by the real daemon.

If these fail, interop tests of the speaker cannot be trusted: the helpers would misreport
sessions, routes or attributes, or leak namespaces and processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from .peers import (
    BgpPeer,
    BirdConfig,
    BirdError,
    FrrNeighbor,
    GobgpDaemon,
    GobgpNeighbor,
    Lan,
    Namespace,
    OpenbgpdDaemon,
    OpenbgpdNeighbor,
    Route,
    StaticRoute,
    free_tcp_ports,
)
from .peers.bird import check_bird_config, parse_show_route
from .peers.fixtures import BirdFactory, FrrFactory, GobgpFactory, OpenbgpdFactory
from .peers.frr import FRR_RUN_DIRS
from .peers.netns import NETNS_DIR, remove_stale_namespaces, run

BIRD_AS, GOBGP_AS = 65001, 65002
INTEGRATION_DIR = Path(__file__).resolve().parent


def _originated_by_bird() -> tuple[StaticRoute, ...]:
    return (
        StaticRoute(
            prefix="10.10.0.0/24",
            as_path_prepend=(65100,),
            communities=((65000, 100), (65000, 101)),
            large_communities=((1, 2, 3),),
            med=50,
        ),
        StaticRoute(
            prefix="fd00:10::/64",
            as_path_prepend=(65106,),
            communities=((65000, 106),),
            large_communities=((1, 2, 6),),
            med=60,
        ),
    )


def _assert_bird_route_at_gobgp(route: Route, static: StaticRoute, next_hop: str) -> None:
    assert route.next_hop == next_hop
    assert route.as_path == (BIRD_AS, *static.as_path_prepend)
    assert route.communities == static.communities
    assert route.large_communities == static.large_communities
    assert route.med == static.med
    assert route.origin == "IGP"


def _add_gobgp_routes(gobgp: GobgpDaemon, v4_next_hop: str, v6_next_hop: str) -> None:
    gobgp.add_route(
        "10.20.0.0/24",
        v4_next_hop,
        as_path=(65200,),
        communities=[(65000, 200)],
        large_communities=[(2, 3, 4)],
        med=70,
    )
    gobgp.add_route(
        "fd00:20::/64",
        v6_next_hop,
        as_path=(65206,),
        communities=[(65000, 206)],
        large_communities=[(2, 3, 6)],
        med=76,
    )


def _assert_gobgp_route_at_bird(route: Route, *, next_hop: str, last_as: int, n: int) -> None:
    assert route.next_hop == next_hop
    assert route.as_path == (GOBGP_AS, last_as)
    assert route.communities == ((65000, n),)
    assert route.med == 70 + n - 200
    assert route.origin == "IGP"


def test_bird2_and_gobgp_exchange_routes_with_attributes_over_veth(
    lan: Lan, bird_factory: BirdFactory, gobgp_factory: GobgpFactory
) -> None:
    a, b = lan.hosts
    statics = _originated_by_bird()
    bird = bird_factory(
        BirdConfig(
            router_id=str(a.ipv4),
            static_routes=statics,
            peers=(
                BgpPeer(
                    name="gobgp4",
                    local_as=BIRD_AS,
                    neighbor_address=str(b.ipv4),
                    neighbor_as=GOBGP_AS,
                ),
                BgpPeer(
                    name="gobgp6",
                    local_as=BIRD_AS,
                    neighbor_address=str(b.ipv6),
                    neighbor_as=GOBGP_AS,
                ),
            ),
        ),
        netns=a.ns,
    )
    gobgp = gobgp_factory(
        asn=GOBGP_AS,
        router_id=str(b.ipv4),
        netns=b.ns,
        neighbors=[
            GobgpNeighbor(address=str(a.ipv4), peer_as=BIRD_AS),
            GobgpNeighbor(address=str(a.ipv6), peer_as=BIRD_AS),
        ],
    )
    _add_gobgp_routes(gobgp, str(b.ipv4), str(b.ipv6))

    bird.wait_established("gobgp4")
    bird.wait_established("gobgp6")
    assert gobgp.neighbor_state(str(a.ipv4)) == "Established"
    assert gobgp.neighbor_state(str(a.ipv6)) == "Established"

    # BIRD -> GoBGP: eBGP prepends BIRD's AS before the configured prepends.
    (v4,) = gobgp.wait_route("10.10.0.0/24")
    _assert_bird_route_at_gobgp(v4, statics[0], str(a.ipv4))
    (v6,) = gobgp.wait_route("fd00:10::/64")
    _assert_bird_route_at_gobgp(v6, statics[1], str(a.ipv6))
    assert v4.source == str(a.ipv4) and v6.source == str(a.ipv6)

    # GoBGP -> BIRD.
    (r4,) = bird.wait_route("10.20.0.0/24")
    _assert_gobgp_route_at_bird(r4, next_hop=str(b.ipv4), last_as=65200, n=200)
    assert r4.large_communities == ((2, 3, 4),)
    assert (r4.source, r4.gateway, r4.best) == ("gobgp4", str(b.ipv4), True)
    (r6,) = bird.wait_route("fd00:20::/64")
    _assert_gobgp_route_at_bird(r6, next_hop=str(b.ipv6), last_as=65206, n=206)
    assert r6.large_communities == ((2, 3, 6),)
    assert r6.source == "gobgp6"
    assert set(bird.routes()) >= {"10.10.0.0/24", "10.20.0.0/24", "fd00:10::/64", "fd00:20::/64"}

    gobgp.del_route("10.20.0.0/24")
    bird.wait_no_route("10.20.0.0/24")
    assert bird.routes_for("fd00:20::/64"), "only the withdrawn prefix may disappear"


def test_bird16_v4_and_v6_daemons_exchange_routes_with_gobgp(
    lan: Lan, bird_factory: BirdFactory, gobgp_factory: GobgpFactory
) -> None:
    a, b = lan.hosts
    statics = _originated_by_bird()
    config = BirdConfig(
        router_id=str(a.ipv4),
        static_routes=statics,
        peers=(
            BgpPeer(
                name="gobgp4", local_as=BIRD_AS, neighbor_address=str(b.ipv4), neighbor_as=GOBGP_AS
            ),
            BgpPeer(
                name="gobgp6", local_as=BIRD_AS, neighbor_address=str(b.ipv6), neighbor_as=GOBGP_AS
            ),
        ),
    )
    # BIRD 1.6 needs one daemon per family; the same config renders the right half for each.
    bird4 = bird_factory(config, version="1.6", family=4, netns=a.ns)
    bird6 = bird_factory(config, version="1.6", family=6, netns=a.ns)
    gobgp = gobgp_factory(
        asn=GOBGP_AS,
        router_id=str(b.ipv4),
        netns=b.ns,
        neighbors=[
            GobgpNeighbor(address=str(a.ipv4), peer_as=BIRD_AS),
            GobgpNeighbor(address=str(a.ipv6), peer_as=BIRD_AS),
        ],
    )
    _add_gobgp_routes(gobgp, str(b.ipv4), str(b.ipv6))

    bird4.wait_established("gobgp4")
    bird6.wait_established("gobgp6")
    (v4,) = gobgp.wait_route("10.10.0.0/24")
    _assert_bird_route_at_gobgp(v4, statics[0], str(a.ipv4))
    (v6,) = gobgp.wait_route("fd00:10::/64")
    _assert_bird_route_at_gobgp(v6, statics[1], str(a.ipv6))

    (r4,) = bird4.wait_route("10.20.0.0/24")
    _assert_gobgp_route_at_bird(r4, next_hop=str(b.ipv4), last_as=65200, n=200)
    assert r4.large_communities == ((2, 3, 4),)
    (r6,) = bird6.wait_route("fd00:20::/64")
    _assert_gobgp_route_at_bird(r6, next_hop=str(b.ipv6), last_as=65206, n=206)
    assert "fd00:20::/64" not in bird4.routes(), "the IPv4 daemon must not carry IPv6"


def test_bird16_and_bird2_ibgp_on_loopback_with_md5(bird_factory: BirdFactory) -> None:
    port1, port2 = free_tcp_ports(2)
    static = StaticRoute(
        prefix="10.30.0.0/24",
        communities=((65000, 300),),
        large_communities=((3, 0, 1),),
        med=30,
        local_pref=300,
    )
    password = "s3cret pass"
    bird16 = bird_factory(
        BirdConfig(
            router_id="127.0.0.2",
            static_routes=(static,),
            peers=(
                BgpPeer(
                    name="to_bird2",
                    local_address="127.0.0.2",
                    local_port=port1,
                    neighbor_address="127.0.0.3",
                    neighbor_port=port2,
                    local_as=65000,
                    neighbor_as=65000,
                    password=password,
                ),
            ),
        ),
        version="1.6",
    )
    bird2 = bird_factory(
        BirdConfig(
            router_id="127.0.0.3",
            peers=(
                BgpPeer(
                    name="to_bird16",
                    local_address="127.0.0.3",
                    local_port=port2,
                    neighbor_address="127.0.0.2",
                    neighbor_port=port1,
                    local_as=65000,
                    neighbor_as=65000,
                    password=password,
                ),
            ),
        ),
        version="2",
    )
    bird2.wait_established("to_bird16")
    assert bird16.protocol_state("to_bird2") == "Established"

    (route,) = bird2.wait_route("10.30.0.0/24")
    assert route.next_hop == "127.0.0.2"
    assert route.as_path == ()  # iBGP: nobody prepends
    assert route.local_pref == 300  # LOCAL_PREF crosses iBGP
    assert (route.med, route.communities, route.large_communities) == (
        30,
        ((65000, 300),),
        ((3, 0, 1),),
    )
    # Loopback next hops do not resolve (no IGP): BIRD keeps the route as unreachable.
    assert route.kind == "unreachable"

    # TCP MD5 is really on: a SYN without the signature from the neighbour's address is
    # dropped by the kernel, so a plain connect gets no answer at all (RFC 2385 §2).
    with pytest.raises(TimeoutError):
        socket.create_connection(("127.0.0.2", port1), timeout=0.5, source_address=("127.0.0.3", 0))


def test_bird_lifecycle_reconfigure_freeze_and_kill_restart(
    lan: Lan, bird_factory: BirdFactory
) -> None:
    # BIRD on both sides: GoBGP waits a hard-coded 5 s in Idle after a session drops.
    a, b = lan.hosts
    peer_a = BgpPeer(name="to_b", local_as=BIRD_AS, neighbor_address=str(b.ipv4), neighbor_as=65003)
    peer_b = BgpPeer(name="to_a", local_as=65003, neighbor_address=str(a.ipv4), neighbor_as=BIRD_AS)
    bird = bird_factory(BirdConfig(router_id=str(a.ipv4), peers=(peer_a,)), netns=a.ns)
    other = bird_factory(
        BirdConfig(router_id=str(b.ipv4), peers=(peer_b,)), version="1.6", netns=b.ns
    )
    other.wait_established("to_a")

    # A live reconfiguration adds an originated route.
    bird.reconfigure(
        BirdConfig(
            router_id=str(a.ipv4),
            peers=(peer_a,),
            static_routes=(StaticRoute(prefix="10.40.0.0/24", med=4),),
        )
    )
    (route,) = other.wait_route("10.40.0.0/24")
    assert route.med == 4 and route.as_path == (BIRD_AS,)

    # Frozen, BIRD answers nothing; thawed, it answers again.
    first_pid = bird.pid
    bird.freeze()
    with pytest.raises(BirdError, match="timed out"):
        bird.birdc("show status", timeout=0.5)
    bird.thaw()
    assert "Daemon is up and running" in bird.birdc("show status")

    # SIGKILL sends no NOTIFICATION; the peer notices the closed socket and withdraws.
    bird.kill()
    other.wait_no_route("10.40.0.0/24")
    assert other.protocol_state("to_a") != "Established"
    bird.start()
    assert bird.pid != first_pid
    other.wait_established("to_a")
    other.wait_route("10.40.0.0/24")


def test_every_builder_option_is_accepted_by_the_real_daemons(
    gobgp_factory: GobgpFactory,
) -> None:
    statics = (
        StaticRoute(
            prefix="10.50.0.0/24",
            via="10.0.0.9",
            as_path_prepend=(65500, 65501),
            communities=((1, 2),),
            large_communities=((1, 2, 3),),
            med=5,
            local_pref=200,
        ),
        StaticRoute(prefix="fd00:50::/64", med=6),
    )
    full = {
        "local_as": 65000,
        "neighbor_port": 1179,
        "passive": True,
        "password": "pw",
        "hold_time": 9,
        "keepalive_time": 3,
        "graceful_restart": True,
        "graceful_restart_time": 30,
        "add_paths": "on",
        "rr_client": True,
        "rr_cluster_id": "1.2.3.4",
        "next_hop_self": True,
        "gateway": "recursive",
        "import_filter": "where bgp_path.len < 10",
        "extra": "# raw extra line",
    }
    peers = (
        BgpPeer(name="ibgp4", neighbor_address="10.0.0.2", neighbor_as=65000, **full),  # type: ignore[arg-type]
        BgpPeer(name="ibgp6", neighbor_address="fd00::2", neighbor_as=65000, **full),  # type: ignore[arg-type]
        BgpPeer(
            name="ebgp_hops",
            local_as=65000,
            neighbor_address="10.0.0.3",
            neighbor_as=65003,
            multihop=3,
            families=(4, 6),
        ),
        BgpPeer(
            name="ebgp_gtsm",
            local_as=65000,
            neighbor_address="10.0.0.4",
            neighbor_as=65004,
            ttl_security=True,
            export_filter="none",
        ),
        BgpPeer(
            name="ebgp_lo",
            local_as=65000,
            local_address="127.0.0.1",
            local_port=11790,
            neighbor_address="127.0.0.5",
            neighbor_as=65005,
        ),
    )
    config = BirdConfig(router_id="10.0.0.1", peers=peers, static_routes=statics, debug=True)
    text2 = check_bird_config(config, "2")
    assert "multihop 2;" in text2  # loopback eBGP gets multihop on its own
    for family in (4, 6):
        text16 = check_bird_config(
            BirdConfig(router_id="10.0.0.1", peers=peers[:4], static_routes=statics), "1.6", family
        )
        assert ("fd00:50::/64" in text16) == (family == 6)
    with pytest.raises(BirdError, match="config rejected"):
        check_bird_config("protocol bgp { this is not bird }", "2")

    gobgp = gobgp_factory(
        asn=65001,
        router_id="10.0.0.1",
        listen_port=-1,
        neighbors=[
            GobgpNeighbor(
                address="127.0.0.9",
                peer_as=65009,
                local_as=65010,
                local_address="127.0.0.1",
                remote_port=1179,
                passive=True,
                password="pw",
                hold_time=9,
                keepalive_interval=3,
                graceful_restart=True,
                restart_time=33,
                add_paths_receive=True,
                add_paths_send_max=4,
                multihop_ttl=5,
                route_reflector_client=True,
                route_reflector_cluster_id="1.2.3.4",
                families=("ipv4-unicast", "ipv6-unicast"),
            ),
            GobgpNeighbor(address="127.0.0.8", peer_as=65008, ttl_security_min=254),
        ],
    )
    full_n, gtsm_n = gobgp.neighbor_json("127.0.0.9"), gobgp.neighbor_json("127.0.0.8")
    assert full_n["conf"]["local_asn"] == 65010 and full_n["conf"]["auth_password"] == "pw"
    assert full_n["transport"] == {
        "local_address": "127.0.0.1",
        "passive_mode": True,
        "remote_port": 1179,
    }
    assert full_n["timers"]["config"]["hold_time"] == 9
    assert full_n["graceful_restart"]["restart_time"] == 33
    assert full_n["ebgp_multihop"] == {"enabled": True, "multihop_ttl": 5}
    assert full_n["route_reflector"]["route_reflector_client"] is True
    assert [f["add_paths"]["config"] for f in full_n["afi_safis"]] == [
        {"receive": True, "send_max": 4}
    ] * 2
    assert gtsm_n["ttl_security"] == {"enabled": True, "ttl_min": 254}


def test_every_builder_option_is_accepted_by_frr_and_openbgpd(
    netns_factory: Callable[..., Namespace],
    frr_factory: FrrFactory,
    openbgpd_factory: OpenbgpdFactory,
) -> None:
    """The config builders' options all reach the real daemons (a rejected line fails start)."""
    big = StaticRoute(
        prefix="10.50.0.0/24",
        as_path_prepend=(65500, 65501),
        communities=tuple((1, i) for i in range(1, 600)),  # split over route-map entries
        large_communities=((1, 2, 3),),
        med=5,
        local_pref=200,
    )
    small = StaticRoute(prefix="fd00:50::/64", communities=((1, 2),), med=6)
    frr = frr_factory(
        asn=65001,
        router_id="10.0.0.1",
        netns=netns_factory(),
        routes=[big, small],
        graceful_restart_time=33,
        neighbors=[
            FrrNeighbor(
                address="10.0.0.2",
                remote_as=65002,
                password="pw",
                hold_time=9,
                keepalive_time=2,
                passive=True,
                update_source="10.0.0.1",
                route_map_out="OUT",
            ),
            FrrNeighbor(address="fd00::2", remote_as=65001),
        ],
        extra_config="route-map OUT permit 10\n!",
    )
    running = frr.vtysh("show running-config")
    for line in (
        "neighbor 10.0.0.2 password pw",
        "neighbor 10.0.0.2 timers 2 9",
        "neighbor 10.0.0.2 passive",
        "neighbor 10.0.0.2 update-source 10.0.0.1",
        "neighbor 10.0.0.2 route-map OUT out",
        "neighbor fd00::2 activate",
        "bgp graceful-restart restart-time 33",
        "network 10.50.0.0/24 route-map ORIGINATE-0",
        "set community 1:251 1:252",  # the second route-map entry of the long list
        "on-match next",
    ):
        assert line in running, line
    local = frr.routes(4)["10.50.0.0/24"][0]
    assert local.communities == big.communities and local.as_path == (65500, 65501)
    frr.stop()
    assert not (FRR_RUN_DIRS / f"bgpd.{frr.pid}").exists()  # FRR leaves it; the fixture does not

    obgpd = openbgpd_factory(
        asn=65001,
        router_id="10.0.0.1",
        netns=netns_factory(),
        routes=[StaticRoute(prefix="10.50.0.0/24", communities=((1, 2),), med=5, local_pref=200)],
        neighbors=[
            OpenbgpdNeighbor(
                address="10.0.0.2",
                remote_as=65002,
                password="pw",
                hold_time=9,
                passive=True,
                local_address="10.0.0.1",
                extra='descr "full"',
            ),
            OpenbgpdNeighbor(address="fd00::2", remote_as=65001),
        ],
    )
    full = obgpd.neighbor_json("10.0.0.2")
    assert full["config"]["passive"] is True and full["config"]["holdtime"] == 9
    assert full["description"] == "full"
    (local_v4,) = obgpd.routes(4)["10.50.0.0/24"]
    assert local_v4.communities == ((1, 2),) and local_v4.local_pref == 200
    with pytest.raises(ValueError, match="foreign AS path"):
        OpenbgpdDaemon(asn=1, router_id="10.0.0.1", routes=[big]).config_text()


def test_namespace_entered_creates_sockets_inside_and_returns_home(lan: Lan) -> None:
    a, b = lan.hosts
    home = os.stat("/proc/thread-self/ns/net").st_ino
    for family, addr_a, addr_b in (
        (socket.AF_INET, str(a.ipv4), str(b.ipv4)),
        (socket.AF_INET6, str(a.ipv6), str(b.ipv6)),
    ):
        with b.ns.entered():
            server = socket.socket(family, socket.SOCK_STREAM)
        assert os.stat("/proc/thread-self/ns/net").st_ino == home
        with a.ns.entered():
            client = socket.socket(family, socket.SOCK_STREAM)
        with server, client:
            server.bind((addr_b, 0))  # only possible inside b: the address exists nowhere else
            server.listen()
            client.settimeout(5)
            client.connect((addr_b, server.getsockname()[1]))
            conn, peer = server.accept()
            conn.close()
            assert peer[0] == addr_a


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


INNER_TEST = """
import json, os
from pathlib import Path
from peers import BirdConfig, BgpPeer, GobgpNeighbor

def test_inner(lan, bird_factory, gobgp_factory):
    a, b = lan.hosts
    bird = bird_factory(BirdConfig(router_id=str(a.ipv4), peers=(
        BgpPeer(name="peer", local_as=1, neighbor_address=str(b.ipv4), neighbor_as=2),)),
        netns=a.ns)
    gobgp = gobgp_factory(asn=2, router_id=str(b.ipv4), netns=b.ns,
                          neighbors=[GobgpNeighbor(address=str(a.ipv4), peer_as=1)])
    Path(os.environ["BGPDT_RECORD"]).write_text(json.dumps({
        "namespaces": [ns.name for ns in lan.namespaces],
        "pids": [bird.pid, gobgp.pid],
    }))
    raise RuntimeError("boom: the body failed")
"""


def test_fixtures_clean_up_when_the_test_body_raises(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    record = tmp_path / "record.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(INTEGRATION_DIR), os.environ.get("PYTHONPATH", "")]),
        "BGPDT_RECORD": str(record),
    }
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "peers.fixtures", "-p", "no:cacheprovider"),
            *("-q", "--basetemp", str(tmp_path / "inner"), "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout and "boom: the body failed" in proc.stdout
    # The failure report carries the daemons' state and logs.
    assert "peer daemon diagnostics" in proc.stdout
    assert "BIRD" in proc.stdout or "bird" in proc.stdout
    seen = json.loads(record.read_text())
    assert len(seen["namespaces"]) == 2 and len(seen["pids"]) == 2
    for name in seen["namespaces"]:
        assert not (NETNS_DIR / name).exists(), f"namespace {name} leaked"
    for pid in seen["pids"]:
        assert not _alive(pid), f"daemon pid {pid} leaked"


ATEXIT_SCRIPT = """
import json, sys
from peers import BirdConfig, BirdDaemon, Lan
lan = Lan(2)
bird = BirdDaemon(BirdConfig(router_id="10.99.0.1"), netns=lan[0].ns).start()
print(json.dumps({"namespaces": [ns.name for ns in lan.namespaces], "pid": bird.pid}))
sys.exit(0)  # no close(): the atexit fallback must clean up
"""


def test_atexit_fallback_cleans_up_after_an_unclosed_run() -> None:
    env = {**os.environ, "PYTHONPATH": str(INTEGRATION_DIR)}
    proc = subprocess.run(
        [sys.executable, "-c", ATEXIT_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["namespaces"]
    for name in seen["namespaces"]:
        assert not (NETNS_DIR / name).exists(), f"namespace {name} leaked"
    assert not _alive(seen["pid"])


def test_stale_namespaces_of_dead_runs_are_removed_and_live_ones_kept(
    netns_factory: Callable[..., Namespace],
) -> None:
    live = netns_factory()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"bgpdt-{dead.pid}-0a1b2c"
    run(["ip", "netns", "add", stale])
    try:
        removed = remove_stale_namespaces()
        assert stale in removed
        assert not (NETNS_DIR / stale).exists()
        assert live.exists and live.name not in removed
    finally:
        run(["ip", "netns", "del", stale], check=False)


# Captured from BIRD 2.0.12 and 1.6.8 on this project's CI image (see peers/bird.py).
BIRD2_TWO_PATHS = """BIRD 2.0.12 ready.
Table master6:
fd00:20::/64         unicast [gobgp 09:22:29.617 from 10.99.0.2] * (100) [AS65200?]
\tvia fd00:99::2 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 65002 65200
\tBGP.next_hop: fd00:99::2 fe80::1
\tBGP.med: 76
\tBGP.local_pref: 100
\tBGP.community: (65000,206) (65000,7)
\tBGP.large_community: (2, 3, 6)
                     unicast [gobgp6 09:22:29.617] (100) [AS65200?]
\tvia fd00:99::2 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 65002 {65200 65201}
\tBGP.next_hop: fd00:99::2
\tBGP.local_pref: 100
fd00:10::/64         blackhole [s6 09:22:28.547] * (200)
\tType: static univ
"""

BIRD16_ROUTE = """BIRD 1.6.8 ready.
10.20.0.0/24       via 10.99.0.2 on eth0 [gobgp4 09:19:07 from 10.99.0.2] * (100/-) [AS65200i]
\tType: BGP unicast univ
\tBGP.origin: IGP
\tBGP.as_path: 65002 65200
\tBGP.next_hop: 10.99.0.2
\tBGP.local_pref: 100
\tBGP.originator_id: 10.0.0.9
\tBGP.cluster_list: 10.0.0.1 10.0.0.2
"""


def test_bird_route_parser_handles_both_versions_and_secondary_paths() -> None:
    table = parse_show_route(BIRD2_TWO_PATHS)
    first, second = table["fd00:20::/64"]
    assert (first.source, first.best, second.source, second.best) == (
        "gobgp",
        True,
        "gobgp6",
        False,
    )
    assert first.next_hop == "fd00:99::2" and first.gateway == "fd00:99::2"
    assert first.communities == ((65000, 7), (65000, 206))
    assert first.origin == "Incomplete" and first.med == 76
    assert second.as_path == (65002, 65200, 65201) and second.med is None
    assert table["fd00:10::/64"][0].kind == "blackhole"

    (old,) = parse_show_route(BIRD16_ROUTE)["10.20.0.0/24"]
    assert (old.gateway, old.kind, old.as_path) == ("10.99.0.2", "via", (65002, 65200))
    assert old.originator_id == "10.0.0.9" and old.cluster_list == ("10.0.0.1", "10.0.0.2")

"""The bgpd and bgpctl commands as an operator meets them: check, run, signals, reload, errors.

Two speakers on loopback addresses (127.0.0.x, free ports): no namespace is needed here.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.unit.config.helpers import MINIMAL  # the minimal file, verbatim

from .bgpd_proc import REPO, BgpdFactory
from .peers import free_tcp_ports, wait_until


def bgpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgpd", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )


def bgpctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgpd.control.bgpctl", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )


def pair_configs(port_a: int, port_b: int, statics_b: str = "") -> tuple[str, str]:
    """Node a on 127.0.0.11, node b on 127.0.0.12, iBGP between them."""

    def one(me: str, port: int, other: str, other_port: int, statics: str) -> str:
        return f"""
[bgp]
asn = 64512
router_id = "{me}"
listen = ["{me}"]
port = {port}

[control]
socket = "@SOCKET@"
{statics}
[[peer]]
name = "peer"
address = "{other}"
port = {other_port}
asn = 64512
local_address = "{me}"
"""

    return (
        one("127.0.0.11", port_a, "127.0.0.12", port_b, ""),
        one("127.0.0.12", port_b, "127.0.0.11", port_a, statics_b),
    )


STATIC_B = '[[static]]\nprefix = "10.12.0.0/24"\ncommunities = ["64512:12"]\n'


def test_check_accepts_the_minimal_file(tmp_path: Path) -> None:
    path = tmp_path / "bgpd.toml"
    path.write_text(MINIMAL)
    result = bgpd("check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok (1 peers, 1 static routes)" in result.stdout


def test_check_prints_every_problem_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        MINIMAL.replace("asn = 64512\nlocal_address", "asn = 99999999999\nlocal_address")
        .replace('prefix = "10.10.1.0/24"', 'prefix = "10.10.1.1/24"')
        .replace("port = 1179\nlog_level", "prot = 1179\nlog_level")
    )
    result = bgpd("check", "-c", str(path))
    assert result.returncode == 1
    err = result.stderr
    assert 'peer[0].asn (name "Mesh_127_0_0_2")' in err
    assert "static[0].prefix" in err
    assert "bgp.prot" in err and "port" in err  # unknown key, with the suggestion


def test_run_with_a_bad_file_never_starts_a_speaker(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    sock = tmp_path / "never.ctl"
    path.write_text(MINIMAL.replace("/tmp/bgpd-a.ctl", str(sock)).replace("asn = 64512\n", "", 1))
    result = bgpd("run", "-c", str(path))
    assert result.returncode == 1
    assert "bgp.asn" in result.stderr
    assert not sock.exists()


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    (port,) = free_tcp_ports(1, "127.0.0.21")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.21", port))
        squatter.listen()
        path = tmp_path / "a.toml"
        path.write_text(
            MINIMAL.replace('"127.0.0.1"]', '"127.0.0.21"]')
            .replace("port = 1179\nlog_level", f"port = {port}\nlog_level")
            .replace("/tmp/bgpd-a.ctl", str(tmp_path / "a.ctl"))
        )
        result = bgpd("run", "-c", str(path))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.21 port {port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_bgpctl_says_clearly_when_the_daemon_is_absent(tmp_path: Path) -> None:
    result = bgpctl("-s", str(tmp_path / "nothing.ctl"), "show", "peers")
    assert result.returncode == 2
    assert "no control socket at" in result.stderr and "is bgpd running" in result.stderr


def test_sigterm_sends_cease_and_exits_within_seconds(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b, STATIC_B)
    a = bgpd_factory(None, cfg_a, name="a")
    b = bgpd_factory(None, cfg_b, name="b")
    a.wait_established("peer")
    a.wait_route("10.12.0.0/24")
    assert b.proc is not None
    started = time.monotonic()
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    wait_until(
        lambda: "Administrative Shutdown" in (a.peers()["peer"]["last_error"] or ""),
        timeout=10,
        message="a received Cease/Administrative Shutdown",
    )
    assert a.learned("10.12.0.0/24") is None
    assert not Path(b.socket).exists()


def test_sighup_reload_applies_a_good_file_and_keeps_running_on_a_bad_one(
    bgpd_factory: BgpdFactory,
) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b, STATIC_B)
    a = bgpd_factory(None, cfg_a, name="a")
    b = bgpd_factory(None, cfg_b, name="b")
    a.wait_established("peer")
    a.wait_route("10.12.0.0/24")
    flaps = a.ctl("show peer", name="peer")["established_transitions"]

    # A good change: one more static route. It arrives without a session reset.
    b.write_config(cfg_b + STATIC_B.replace("10.12.0.0", "10.13.0.0"))
    b.reload()
    a.wait_route("10.13.0.0/24")
    assert a.ctl("show peer", name="peer")["established_transitions"] == flaps

    # A bad file: rejected, the running config stays, routes stay, the session stays.
    running = b.ctl("show config")
    b.write_config(cfg_b.replace("asn = 64512", "asn = -1", 1))
    b.reload()
    wait_until(
        lambda: "reload rejected" in b.output(), timeout=10, message="b logged the rejection"
    )
    assert b.ctl("show config") == running
    assert a.learned("10.13.0.0/24") is not None
    assert a.state("peer") == "Established"
    assert a.ctl("show peer", name="peer")["established_transitions"] == flaps

    # The same through bgpctl: a clear error, exit status 1.
    result = bgpctl("-s", b.socket, "reload")
    assert result.returncode == 1
    assert "config rejected, running config kept" in result.stderr
    assert "bgp.asn" in result.stderr


def test_bgpctl_tables_and_json(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b, STATIC_B)
    a = bgpd_factory(None, cfg_a, name="a")
    bgpd_factory(None, cfg_b, name="b")
    a.wait_route("10.12.0.0/24")
    table = bgpctl("-s", a.socket, "show", "peers").stdout
    assert table.splitlines()[0].split()[:4] == ["NAME", "ADDRESS", "ASN", "STATE"]
    assert "Established" in table
    (peer,) = json.loads(bgpctl("-s", a.socket, "--json", "show", "peers").stdout)
    assert {
        "name",
        "address",
        "asn",
        "state",
        "uptime_s",
        "prefixes_received",
        "prefixes_sent",
    } <= peer.keys()
    assert peer["prefixes_received"] == 1 and peer["prefixes_sent"] == 0
    (route,) = json.loads(bgpctl("-s", a.socket, "--json", "show", "routes", "10.12.0.0/24").stdout)
    assert route == route | {
        "prefix": "10.12.0.0/24",
        "next_hop": "127.0.0.12",
        "as_path": [],
        "peer": "peer",
        "communities": ["64512:12"],
        "large_communities": [],
        "med": None,
        "local_pref": 100,
    }
    unknown = bgpctl("-s", a.socket, "show", "peer", "nope")
    assert unknown.returncode == 1 and "no peer named 'nope'" in unknown.stderr


def test_peer_reset_hard_flaps_once_and_soft_does_not(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b, STATIC_B)
    a = bgpd_factory(None, cfg_a, name="a")
    bgpd_factory(None, cfg_b, name="b")
    a.wait_route("10.12.0.0/24")
    flaps = a.ctl("show peer", name="peer")["established_transitions"]

    soft = bgpctl("-s", a.socket, "peer", "peer", "reset", "--soft")
    assert soft.returncode == 0, soft.stderr
    refreshes = lambda: a.ctl("show peer", name="peer")["messages_out"]["ROUTE_REFRESH"]  # noqa: E731
    wait_until(lambda: refreshes() >= 1, timeout=10, message="a sent ROUTE-REFRESH")
    assert a.ctl("show peer", name="peer")["established_transitions"] == flaps
    assert a.learned("10.12.0.0/24") is not None

    hard = bgpctl("-s", a.socket, "peer", "peer", "reset")
    assert hard.returncode == 0, hard.stderr
    wait_until(
        lambda: (
            a.ctl("show peer", name="peer")["established_transitions"] == flaps + 1
            and a.state("peer") == "Established"
        ),
        timeout=30,
        message="a re-established after the hard reset",
    )
    a.wait_route("10.12.0.0/24")


def test_a_new_listen_address_moves_listeners_without_touching_sessions(
    bgpd_factory: BgpdFactory,
) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b)
    a = bgpd_factory(None, cfg_a, name="a")
    bgpd_factory(None, cfg_b, name="b")
    a.wait_established("peer")
    flaps = a.ctl("show peer", name="peer")["established_transitions"]

    # a also listens on 127.0.0.13 (as a Calico node gaining an address): the new listener
    # accepts connections, the old one is still there, the session does not move.
    a.write_config(
        cfg_a.replace('listen = ["127.0.0.11"]', 'listen = ["127.0.0.11", "127.0.0.13"]')
    )
    a.reload()

    def accepts(address: str) -> bool:
        try:
            with socket.create_connection((address, port_a), timeout=1):
                return True
        except OSError:
            return False

    wait_until(lambda: accepts("127.0.0.13"), timeout=10, message="a listens on 127.0.0.13")
    assert accepts("127.0.0.11")
    assert a.state("peer") == "Established"
    assert a.ctl("show peer", name="peer")["established_transitions"] == flaps

    # Dropping the old address closes that listener only.
    a.write_config(cfg_a.replace('listen = ["127.0.0.11"]', 'listen = ["127.0.0.13"]'))
    a.reload()
    wait_until(lambda: not accepts("127.0.0.11"), timeout=10, message="127.0.0.11 closed")
    assert accepts("127.0.0.13")
    assert a.ctl("show peer", name="peer")["established_transitions"] == flaps


def test_a_refused_connection_is_the_peers_last_error(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, _ = pair_configs(port_a, port_b)  # nobody listens at 127.0.0.12:port_b
    a = bgpd_factory(
        None,
        cfg_a.replace(
            "asn = 64512\nlocal_address", "asn = 64512\nconnect_retry_time = 1\nlocal_address"
        ),
        name="a",
    )
    wait_until(
        lambda: a.ctl("show peer", name="peer")["last_error"] == "Socket: Connection refused",
        timeout=20,
        message="the refused connection shows in bgpctl",
    )
    result = bgpctl("-s", a.socket, "show", "peers")
    assert "Socket: Connection refused" in result.stdout

"""A reload naming a listener that cannot be opened is refused whole: the old listeners (BGP,
metrics, control socket) keep serving and the running config stays. And a move between a
wildcard and a specific address (which Linux refuses to bind side by side) still works."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import Namespace, free_tcp_ports, wait_until
from .test_daemon import STATIC_B, bgpctl, pair_configs

NOT_HERE = "203.0.113.77"  # TEST-NET-3: on no interface of this machine or the namespace


def accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def metric(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None


def scrape(port: int, address: str = "127.0.0.11") -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def test_an_unbindable_listen_address_refuses_the_reload_and_keeps_the_old_listeners(
    bgpd_factory: BgpdFactory, tmp_path: Path
) -> None:
    with socket.socket() as probe, pytest.raises(OSError):  # the premise: not our address
        probe.bind((NOT_HERE, 0))
    port_a, port_b, port_m = free_tcp_ports(3, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b)
    metrics = f'\n[metrics]\nlisten = "127.0.0.11:{port_m}"\n'
    a = bgpd_factory(None, cfg_a + metrics, name="a")
    b = bgpd_factory(None, cfg_b, name="b")
    a.wait_established("peer")
    flaps = a.ctl("show peer", name="peer")["established_transitions"]

    # The new file adds an address that is not on this host, and a static route.
    bad = cfg_a.replace('listen = ["127.0.0.11"]', f'listen = ["127.0.0.11", "{NOT_HERE}"]')
    a.write_config(bad.replace("[[peer]]", STATIC_B + "\n[[peer]]") + metrics)
    result = bgpctl("-s", a.socket, "reload")
    assert result.returncode != 0
    assert "listener cannot be opened, running config kept" in result.stderr
    assert f"cannot listen on {NOT_HERE} port {port_a}" in result.stderr
    # SIGHUP says the same in the log, and neither says "reload done".
    a.reload()
    wait_until(
        lambda: a.output().count("reload rejected action=keep_running_config") == 2,
        timeout=10,
        message="a logs both refusals",
    )
    assert "reload done" not in a.output()

    # The old listener still accepts, the session was not touched, nothing of the file applied.
    assert accepts("127.0.0.11", port_a)
    assert a.state("peer") == "Established"
    assert a.ctl("show peer", name="peer")["established_transitions"] == flaps
    assert NOT_HERE not in a.ctl("show config")
    assert a.routes("10.12.0.0/24") == [] and b.learned("10.12.0.0/24") is None
    text = scrape(port_m)
    assert metric(text, 'bgpd_config_reloads_total{result="failure"}') == 2.0
    assert metric(text, "bgpd_config_last_reload_successful") == 0.0

    # A metrics listener or control socket that cannot be opened is refused the same way.
    a.write_config(cfg_a + metrics.replace("127.0.0.11:", f"{NOT_HERE}:"))
    assert "listener cannot be opened" in bgpctl("-s", a.socket, "reload").stderr
    assert metric(scrape(port_m), 'bgpd_config_reloads_total{result="failure"}') == 3.0
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    a.write_config(cfg_a.replace('socket = "@SOCKET@"', f'socket = "{blocker}/x.ctl"') + metrics)
    assert "listener cannot be opened" in bgpctl("-s", a.socket, "reload").stderr
    assert a.state("peer") == "Established"  # the control socket still answers

    # The same file with only reachable addresses is applied.
    a.write_config(
        cfg_a.replace('listen = ["127.0.0.11"]', 'listen = ["127.0.0.11", "127.0.0.13"]') + metrics
    )
    assert bgpctl("-s", a.socket, "reload").returncode == 0
    wait_until(lambda: accepts("127.0.0.13", port_a), timeout=10, message="a on 127.0.0.13")


def config_in_ns(listen: list[str], port: int, metrics_listen: str) -> str:
    return f"""
[bgp]
asn = 64512
router_id = "10.0.0.1"
listen = {listen!r}
port = {port}

[control]
socket = "@SOCKET@"

[metrics]
listen = "{metrics_listen}"
""".replace("'", '"')


def ns_accepts(ns: Namespace, address: str, port: int) -> bool:
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, {port}), timeout=1).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    return ns.run([sys.executable, "-c", code], check=False).returncode == 0


def test_moving_between_wildcard_and_specific_addresses(
    netns_factory: Callable[..., Namespace], bgpd_factory: BgpdFactory
) -> None:
    ns = netns_factory()
    port, mport = 1179, 9191
    speaker: BgpdProcess = bgpd_factory(ns, config_in_ns(["127.0.0.1"], port, f"127.0.0.1:{mport}"))
    assert ns_accepts(ns, "127.0.0.1", port)
    assert not ns_accepts(ns, "127.0.0.2", port)

    # specific -> wildcard: the port is held by our own listener; it moves all the same.
    speaker.write_config(config_in_ns(["0.0.0.0"], port, f"0.0.0.0:{mport}"))
    assert bgpctl("-s", speaker.socket, "reload").returncode == 0
    wait_until(lambda: ns_accepts(ns, "127.0.0.2", port), timeout=10, message="wildcard BGP")
    wait_until(lambda: ns_accepts(ns, "127.0.0.2", mport), timeout=10, message="wildcard metrics")

    # wildcard -> specific + an address not here: refused, and the wildcard listener that had
    # to make room for the specific one is back.
    speaker.write_config(config_in_ns(["127.0.0.1", NOT_HERE], port, f"0.0.0.0:{mport}"))
    assert "listener cannot be opened" in bgpctl("-s", speaker.socket, "reload").stderr
    wait_until(lambda: ns_accepts(ns, "127.0.0.2", port), timeout=10, message="wildcard kept")
    speaker.write_config(config_in_ns(["0.0.0.0"], port, f"{NOT_HERE}:{mport}"))
    assert "listener cannot be opened" in bgpctl("-s", speaker.socket, "reload").stderr
    assert ns_accepts(ns, "127.0.0.2", mport)

    # wildcard -> specific, for real.
    speaker.write_config(config_in_ns(["127.0.0.1"], port, f"127.0.0.1:{mport}"))
    assert bgpctl("-s", speaker.socket, "reload").returncode == 0
    wait_until(lambda: not ns_accepts(ns, "127.0.0.2", port), timeout=10, message="specific")
    assert ns_accepts(ns, "127.0.0.1", port) and ns_accepts(ns, "127.0.0.1", mport)
    assert not ns_accepts(ns, "127.0.0.2", mport)


def test_a_moved_control_socket_answers_at_its_new_path_and_the_old_one_goes(
    bgpd_factory: BgpdFactory, tmp_path: Path
) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, _ = pair_configs(port_a, port_b)
    a = bgpd_factory(None, cfg_a, name="a")
    moved = tmp_path / "moved.ctl"
    a.write_config(cfg_a.replace('socket = "@SOCKET@"', f'socket = "{moved}"'))
    assert bgpctl("-s", a.socket, "reload").returncode == 0
    wait_until(lambda: not Path(a.socket).exists(), timeout=10, message="old control socket gone")
    assert bgpctl("-s", str(moved), "show", "peers").returncode == 0

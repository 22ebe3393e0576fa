"""bgpctl for the operator's day, next to the BIRD sockets: every command, `--json` anywhere,
and clear errors (nothing listening, a BIRD socket given by mistake, a refused command).

test_daemon.py covers the tables and the reload/reset basics; this adds the rest of the list in
issue 6 item 4 on two bgpd speakers on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .bgpd_proc import REPO, BgpdFactory
from .peers import free_tcp_ports, wait_until
from .test_birdcl import A, B, node_config


def bgpctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgpd.control.bgpctl", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )


def as_json(*args: str) -> Any:
    result = bgpctl(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


PEER_B = f"Mesh_{B.replace('.', '_')}"


def test_every_command_with_json_after_it(bgpd_factory: BgpdFactory, tmp_path: Path) -> None:
    port_a, port_b = free_tcp_ports(1, A)[0], free_tcp_ports(1, B)[0]
    a = bgpd_factory(None, node_config(A, port_a, B, port_b, tmp_path / "a-bird.ctl"))
    bgpd_factory(None, node_config(B, port_b, A, port_a, tmp_path / "b-bird.ctl"))
    a.wait_route("10.62.0.0/24")
    s = ("-s", a.socket)

    (peer,) = as_json(*s, "show", "peers", "--json")
    assert (peer["name"], peer["state"]) == (PEER_B, "Established")
    detail = as_json(*s, "show", "peer", PEER_B, "--json")
    assert detail["negotiated"]["hold_time"] == 240 and detail["negotiated"]["as4"] is True
    # The table nests the negotiated capabilities and counters instead of printing dicts.
    text = bgpctl(*s, "show", "peer", PEER_B).stdout
    assert "negotiated:\n" in text and "\n  hold_time:" in text
    assert "{" not in text, text
    routes = as_json(*s, "show", "routes", "--peer", PEER_B, "--json")
    assert [r["prefix"] for r in routes] == ["10.62.0.0/24"]
    assert as_json(*s, "show", "routes", "10.61.0.0/24", "--json")[0]["source"] == "static"
    assert "[control]" in as_json(*s, "show", "config", "--json")
    assert as_json(*s, "reload", "--json") == {"changes": []}
    flaps = detail["established_transitions"]
    assert as_json(*s, "peer", PEER_B, "reset", "--soft", "--json") == {
        "peer": PEER_B,
        "reset": "soft",
    }
    assert as_json(*s, "--json", "show", "peer", PEER_B)["established_transitions"] == flaps


def test_clear_errors_in_text_and_json(bgpd_factory: BgpdFactory, tmp_path: Path) -> None:
    port_a, port_b = free_tcp_ports(1, A)[0], free_tcp_ports(1, B)[0]
    config = node_config(A, port_a, B, port_b, tmp_path / "a-bird.ctl")
    config = config.replace('local_address = "', 'password = "hunter2"\nlocal_address = "')
    a = bgpd_factory(None, config)

    shown = bgpctl("-s", a.socket, "show", "config")
    assert shown.returncode == 0 and "hunter2" not in shown.stdout and "password" in shown.stdout

    kernel = bgpctl("-s", a.socket, "show", "kernel", "--json")
    assert kernel.returncode == 1
    assert "kernel sync is off" in kernel.stderr
    assert "kernel sync is off" in json.loads(kernel.stdout)["error"]

    absent = bgpctl("-s", str(tmp_path / "nothing.ctl"), "show", "peers", "--json")
    assert absent.returncode == 2
    assert json.loads(absent.stdout) == {
        "error": f"no control socket at {tmp_path / 'nothing.ctl'}: is bgpd running? (use -s PATH)",
        "unreachable": True,
    }
    # The BIRD socket speaks another protocol: bgpctl says so instead of a traceback.
    wrong = bgpctl("-s", str(tmp_path / "a-bird.ctl"), "show", "peers")
    assert wrong.returncode == 2
    assert "not bgpd's protocol (a BIRD socket?)" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    a.stop()
    wait_until(lambda: not Path(a.socket).exists(), timeout=10, message="socket removed")
    gone = bgpctl("-s", a.socket, "show", "peers")
    assert gone.returncode == 2 and "is bgpd running" in gone.stderr

"""Logs of a running bgpd: the level follows `log_level` on SIGHUP with nothing else disturbed,
and `log_format = "json"` gives one parseable event per line.

Two speakers on loopback (127.0.0.41/42, free ports); speaker b originates the routes whose
arrival makes speaker a write (or not write) its per-route debug lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import free_tcp_ports, wait_until

A, B = "127.0.0.41", "127.0.0.42"


def config(
    me: str,
    port: int,
    other: str,
    other_port: int,
    *,
    level: str,
    fmt: str = "text",
    statics: tuple[str, ...] = (),
) -> str:
    routes = "".join(f'[[static]]\nprefix = "{p}"\n' for p in statics)
    return f"""
[bgp]
asn = 64512
router_id = "{me}"
listen = ["{me}"]
port = {port}
log_level = "{level}"
log_format = "{fmt}"

[control]
socket = "@SOCKET@"

{routes}
[[peer]]
name = "peer"
address = "{other}"
port = {other_port}
asn = 64512
local_address = "{me}"
"""


def stderr(proc: BgpdProcess) -> str:
    """The whole log so far (`output()` keeps only its tail)."""
    assert proc.proc is not None
    return Path(proc.proc.stderr_path).read_text(errors="replace")


def wait_log(proc: BgpdProcess, text: str, count: int = 1) -> None:
    wait_until(
        lambda: stderr(proc).count(text) >= count,
        timeout=20,
        message=f"{proc.name}: {count} x {text!r} in the log",
        describe=proc.output,
    )


def session(proc: BgpdProcess) -> dict[str, Any]:
    detail: dict[str, Any] = proc.ctl("show peer", name="peer")
    return detail


def reload_with(proc: BgpdProcess, text: str, reloads_before: int) -> None:
    proc.write_config(text)
    proc.reload()
    wait_log(proc, "reload done", reloads_before + 1)


def test_sighup_changes_the_level_live_and_nothing_else(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, A)

    def cfg_a(level: str) -> str:
        return config(A, port_a, B, port_b, level=level)

    def cfg_b(*statics: str) -> str:
        return config(B, port_b, A, port_a, level="info", statics=statics)

    a = bgpd_factory(None, cfg_a("info"), name="a")
    b = bgpd_factory(None, cfg_b("10.41.1.0/24"), name="b")
    a.wait_established("peer")
    a.wait_route("10.41.1.0/24")

    log = stderr(a)
    # every peer line names the peer's address too (issue 17)
    changed = f"INFO bgpd.session.fsm: peer state changed peer=peer address={B} from=OpenConfirm"
    assert f"{changed} to=Established" in log
    up = f"INFO bgpd.session.fsm: peer established peer=peer address={B} asn=64512 router_id={B}"
    assert up in log
    # text times are RFC 3339 with the zone's offset
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d INFO ", log)
    assert " DEBUG " not in log  # routes arrived, but at info their lines are not written
    before = session(a)
    assert before["state"] == "Established" and before["established_transitions"] == 1

    # a to debug: the next route from b is logged, rate-limited, with its stable keys.
    reload_with(a, cfg_a("debug"), 0)
    reload_with(b, cfg_b("10.41.1.0/24", "10.41.2.0/24"), 0)
    # b's reload, in the order it happened: started, each action, done
    reload_lines = [ln.split(": ", 1)[1] for ln in stderr(b).splitlines() if ": reload " in ln]
    assert reload_lines == [
        "reload requested by SIGHUP",
        f"reload started config={b.config_path}",
        'reload action="static routes re-exported"',
        "reload done changes=1",
    ]
    a.wait_route("10.41.2.0/24")
    wait_log(
        a, f"DEBUG bgpd.session.fsm: routes received peer=peer address={B} family=ipv4-unicast"
    )

    # back to info: the next route arrives silently.
    reload_with(a, cfg_a("info"), 1)
    mark = len(stderr(a))
    reload_with(b, cfg_b("10.41.1.0/24", "10.41.2.0/24", "10.41.3.0/24"), 1)
    a.wait_route("10.41.3.0/24")
    assert " DEBUG " not in stderr(a)[mark:]

    # The level changes touched nothing else: the same session, never reset, still counting.
    after = session(a)
    assert after["state"] == "Established"
    assert after["established_transitions"] == before["established_transitions"]
    assert after["established_for_s"] >= before["established_for_s"]
    assert after["messages_in"]["UPDATE"] > before["messages_in"]["UPDATE"]
    assert a.peers()["peer"]["prefixes_accepted"] == 3
    assert "peer down" not in stderr(a) and "peer down" not in stderr(b)
    assert b.ctl("show peer", name="peer")["established_transitions"] == 1


def test_json_lines_carry_the_event_and_its_keys(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, A)
    a = bgpd_factory(None, config(A, port_a, B, port_b, level="info", fmt="json"), name="a")
    b = bgpd_factory(None, config(B, port_b, A, port_a, level="info"), name="b")
    a.wait_established("peer")
    b.stop()  # Cease from b: a logs the session going down, a warning
    wait_log(a, '"event": "peer down"')

    events = []
    for line in stderr(a).splitlines():
        obj = json.loads(line)  # every line is one JSON object
        assert {"ts", "level", "logger", "event", "msg"} <= set(obj)
        events.append(obj)
    changes = [e for e in events if e["event"] == "peer state changed"]
    assert {
        "peer": "peer",
        "address": B,
        "from": "OpenConfirm",
        "to": "Established",
    }.items() <= next(e for e in changes if e["to"] == "Established").items()
    assert all(e["level"] == "info" and e["logger"] == "bgpd.session.fsm" for e in changes)
    (down,) = [e for e in events if e["event"] == "peer down"]
    assert down["level"] == "warning" and down["peer"] == "peer"
    assert "received NOTIFICATION: Cease" in down["reason"] and isinstance(down["graceful"], bool)
    (started,) = [e for e in events if e["event"] == "bgpd started"]
    assert (started["asn"], started["router_id"], started["peers"]) == (64512, A, 1)

"""A route reflector starts cold unless its clients may still hold its routes
(`[bgp] restart_state_file`, bgpd/speaker/start_mode.py), with real BIRD 2 clients.

One LAN: the bgpd reflector, two BIRD 2 clients (A announces a route) and a third configured
client that is a raw peer (tests/integration/silent_peer.py): it comes up with the Graceful
Restart capability, reads the reflector's OPEN, and never sends an UPDATE, so never End-of-RIB.

Proves:
- cold start, empty state file location: the reflector's OPEN has no R bit, and A's route
  reaches B through the reflector while the third client has still not sent End-of-RIB (a
  restarting reflector would hold it back until graceful_restart_wait); the state file appears
  once sessions are up;
- SIGKILL and start again within the window (the file left by that run): the reflector is a
  restarting speaker again (R bit in its OPEN, `start restarting reason=sessions_up_recently`),
  B keeps A's route meanwhile (stale: the reflector held it back until the wait ran out), and
  gets it again, fresh, only after the wait.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from .bgpd_proc import REPO, BgpdFactory, BgpdProcess
from .peers import Lan, LanHost, Process, wait_until
from .peers.bird import BgpPeer, BirdConfig, BirdDaemon, StaticRoute
from .peers.fixtures import BirdFactory

ASN = 64512
ROUTE = "198.51.100.0/24"
WAIT = 8  # graceful_restart_wait: the restarted reflector's bound on the silent client


def reflector_config(me: LanHost, clients: list[LanHost], state_file: Path) -> str:
    """Passive towards its clients, as in bench/reflect_bench.py: a refused dial would count
    a client as unreachable and end a restarting reflector's wait for it at once."""
    peers = "".join(
        f'\n[[peer]]\nname = "c{c.index}"\naddress = "{c.ipv4}"\nasn = {ASN}\n'
        f'local_address = "{me.ipv4}"\nrr_client = true\npassive = true\n'
        for c in clients
    )
    return f"""
[bgp]
asn = {ASN}
router_id = "{me.ipv4}"
listen = ["{me.ipv4}"]
cluster_id = "224.0.0.1"
log_level = "debug"
hold_time = 9
keepalive_time = 3
connect_retry_time = 1
error_wait_min = 1
error_wait_max = 2
graceful_restart_wait = {WAIT}
restart_state_file = "{state_file}"

[control]
socket = "@SOCKET@"
{peers}"""


def bird_client(me: LanHost, rr: LanHost, *, announce: bool) -> BirdConfig:
    peer = BgpPeer(
        name="reflector",
        local_as=ASN,
        neighbor_address=str(rr.ipv4),
        neighbor_as=ASN,
        local_address=str(me.ipv4),
        hold_time=9,
        keepalive_time=3,
        graceful_restart=True,
    )
    statics = (StaticRoute(prefix=ROUTE),) if announce else ()
    return BirdConfig(router_id=str(me.ipv4), peers=(peer,), static_routes=statics)


def silent_peer(host: LanHost, rr: LanHost, log_dir: Path, name: str) -> Process:
    argv = [sys.executable, "-m", "tests.integration.silent_peer", str(rr.ipv4), str(ASN)]
    return host.ns.spawn([*argv, str(host.ipv4)], name=name, log_dir=log_dir, cwd=REPO)


def restart_flags(proc: Process) -> int:
    """The Restart Flags of the reflector's OPEN, as the silent peer printed them."""
    line: list[str] = []

    def printed() -> bool:
        line[:] = [s for s in proc.stdout_path.read_text().split() if s.startswith("restart")]
        return bool(line)

    wait_until(printed, timeout=20, message="the silent peer read the reflector's OPEN")
    return int(line[0].split("=")[1], 16)


def established(rr: BgpdProcess, peer: str) -> bool:
    return any(p["name"] == peer and p["state"] == "Established" for p in rr.ctl("show peers"))


def test_a_cold_reflector_reflects_at_once_and_a_restarted_one_defers(
    lan_factory: Callable[..., Lan],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
    tmp_path: Path,
) -> None:
    lan = lan_factory(4)
    rr_host, a_host, b_host, silent_host = lan.hosts
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_file = state_dir / "restart-state.json"
    config = reflector_config(rr_host, [a_host, b_host, silent_host], state_file)
    rr = bgpd_factory(lan, config, host=0, name="rr")
    assert "start cold reason=no_previous_run" in rr.output()

    # The third client comes up first and stays silent: no End-of-RIB, ever.
    silent = silent_peer(silent_host, rr_host, tmp_path, "silent-1")
    assert restart_flags(silent) & 0x8 == 0, "a cold reflector's OPEN has no R bit"
    wait_until(lambda: established(rr, f"c{silent_host.index}"), timeout=20, message="silent up")

    a = bird_factory(bird_client(a_host, rr_host, announce=True), netns=a_host.ns, name="a")
    b = bird_factory(bird_client(b_host, rr_host, announce=False), netns=b_host.ns, name="b")
    # Reflected at once (well inside graceful_restart_wait), the silent client still up.
    b.wait_route(ROUTE, timeout=WAIT - 2)
    assert established(rr, f"c{silent_host.index}") and silent.running
    wait_until(state_file.exists, timeout=10, message="the restart state file is written")
    record = json.loads(state_file.read_text())
    assert record["version"] == 1 and record["clean_stop"] is False

    # Killed with its sessions up, started again at once: the clients may hold its routes.
    rr.kill()
    wait_until(lambda: not silent.running, timeout=20, message="the silent peer saw it go")
    rr.start()
    assert "start restarting reason=sessions_up_recently" in rr.output()
    silent2 = silent_peer(silent_host, rr_host, tmp_path, "silent-2")
    assert restart_flags(silent2) & 0x8, "a restarting reflector's OPEN has the R bit"
    b.wait_established("reflector", timeout=20)
    a.wait_established("reflector", timeout=20)
    # B (a graceful-restart helper) keeps the route while the reflector defers: it waits for
    # the silent client's End-of-RIB until graceful_restart_wait, and sends B nothing before.
    wait_until(
        lambda: deferred_then_released(rr, b),
        timeout=WAIT + 20,
        message="the reflector deferred until graceful_restart_wait",
        describe=rr.output,
    )
    b.wait_route(ROUTE, timeout=10)
    assert silent2.running


def deferred_then_released(rr: BgpdProcess, b: BirdDaemon) -> bool:
    assert b.routes_for(ROUTE), "B lost the route while the reflector restarted"
    return "graceful restart end-of-rib wait over" in rr.output()

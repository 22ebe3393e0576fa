"""The operator takes a peer down and brings it back, against a real BIRD 2 on a two-host LAN:
`bgpctl peer bird disable --message "maintenance"` reaches BIRD as Cease/Administrative
Shutdown with the RFC 8203 message (BIRD 2 shows it in `show protocols all`), the peer stays
down across a reload, and BIRD's own client on bgpd's BIRD socket (`birdcl disable`/`enable`)
does the same; `show peer` shows the peer's role, local end and per-family capabilities."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .bgpd_proc import BgpdFactory, BgpdProcess
from .peers import BgpPeer, BirdConfig, BirdDaemon, Lan, StaticRoute, wait_until
from .peers.binaries import bird_binaries
from .peers.fixtures import BirdFactory

AS = 65001


def bgpd_config(lan: Lan, bird_socket: Path) -> str:
    a, b = lan.hosts
    return f"""
[bgp]
asn = {AS}
router_id = "{a.ipv4}"
listen = ["{a.ipv4}"]

[control]
socket = "@SOCKET@"
bird_socket = "{bird_socket}"

[[static]]
prefix = "10.10.0.0/24"

[[peer]]
name = "bird"
address = "{b.ipv4}"
asn = {AS}
local_address = "{a.ipv4}"
description = "lab BIRD 2"
"""


def birdcl(socket: Path, command: str) -> str:
    """BIRD 2's `birdcl` on bgpd's BIRD socket: its output (it exits 1 on an error reply)."""
    client = bird_binaries("2").client.with_name("birdcl")
    result = subprocess.run(
        [str(client), "-s", str(socket), command],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout + result.stderr


def bird_side(bird: BirdDaemon) -> str:
    return bird.birdc("show protocols all bgpd")


def test_disable_with_a_message_reaches_bird_and_holds_until_enabled(
    lan: Lan, bgpd_factory: BgpdFactory, bird_factory: BirdFactory, tmp_path: Path
) -> None:
    a, b = lan.hosts
    socket = tmp_path / "bgpd-bird.ctl"
    bgpd: BgpdProcess = bgpd_factory(lan, bgpd_config(lan, socket))
    bird = bird_factory(
        BirdConfig(
            router_id=str(b.ipv4),
            static_routes=(StaticRoute(prefix="10.20.0.0/24"),),
            peers=(
                BgpPeer(name="bgpd", local_as=AS, neighbor_address=str(a.ipv4), neighbor_as=AS),
            ),
        ),
        version="2",
        netns=b.ns,
    )
    bgpd.wait_established("bird")
    bgpd.wait_route("10.20.0.0/24")

    view = bgpd.ctl("show peer", name="bird")
    assert (view["role"], view["description"], view["flaps"]) == ("ibgp", "lab BIRD 2", 1)
    assert view["local_address"] == str(a.ipv4) and isinstance(view["local_port"], int)
    # BIRD 2 is "graceful restart aware" by default: the capability, no family it restarts
    assert view["negotiated"]["family_capabilities"] == {"ipv4-unicast": []}
    assert view["graceful_restart"] == "gr"

    reply = bgpd.ctl("peer disable", name="bird", message="maintenance")
    assert reply == {"peer": "bird", "disabled": True, "changed": True}
    wait_until(
        lambda: "Message:        maintenance" in bird_side(bird),
        timeout=15,
        message="BIRD shows the shutdown communication",
        describe=lambda: bird_side(bird),
    )
    assert "Last error:       Received: Administrative shutdown" in bird_side(bird)
    bgpd.wait_no_route("10.20.0.0/24")
    peer = bgpd.peers()["bird"]
    assert peer["state"] == "Idle" and peer["disabled"] is True
    assert peer["down_reason"] == "disabled by operator: maintenance"

    bgpd.reload()  # the operator's disable outlives a reload
    assert bgpd.state("bird") == "Idle"
    assert "Established" not in birdcl(socket, "show protocols bird")

    assert "bird: enabled" in birdcl(socket, "enable bird")
    bgpd.wait_established("bird")
    bird.wait_established("bgpd")
    bgpd.wait_route("10.20.0.0/24")

    assert "bird: disabled" in birdcl(socket, 'disable bird "back at noon"')
    wait_until(
        lambda: "Message:        back at noon" in bird_side(bird),
        timeout=15,
        message="BIRD shows the message birdcl gave",
        describe=lambda: bird_side(bird),
    )
    assert "already disabled" in birdcl(socket, "disable bird")
    assert "'show interfaces' is not supported by bgpd" in birdcl(socket, "show interfaces")
    assert "bird: enabled" in birdcl(socket, "enable bird")
    bgpd.wait_established("bird")

"""A table load forwarded while bgpd's input is backlogged: the export is held over several
reads (`bgpd.runtime.export_hold`) and what the next router gets is still exactly the table.

Three hosts on one bridged LAN (``10.99.0.0/24``): bgpd (AS 64512) on ``.1`` between a BIRD 2
sender (AS 65010) on ``.2`` and a BIRD 2 collector (AS 65020) on ``.3``, eBGP both ways. The
sender loads its table before the session comes up, so BIRD feeds it in small UPDATEs (an
attribute set's prefixes spread over the stream). The backlog is made, not hoped for: once the
collector has the first routes bgpd is stopped (SIGSTOP) and continues once its socket holds
half a megabyte of the rest (a bigger receive buffer in bgpd's namespace leaves room). The
collector must end with every prefix and the right attributes, and, once the sender drops
half of its table, with exactly the other half. bgpd runs at debug level, which says when a
batch that saw the backlog ended (how many turns it was held depends on the machine's speed:
the unit tests pin that down).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable

from .bgpd_proc import BgpdFactory
from .peers import BgpPeer, BirdConfig, BirdDaemon, Lan, wait_until
from .peers.fixtures import BirdFactory

OUR_AS = 64512
SENDER_AS = 65010
COLLECTOR_AS = 65020
PREFIXES = 60_000
SETS = 6_000  # ten prefixes per attribute set, interleaved over the table
BACKLOG = 1 << 19  # what bgpd's socket holds unread before it continues


def prefix(i: int) -> str:
    return f"20.{i >> 8}.{i & 255}.0/24"


def set_of(i: int) -> int:
    return i % SETS


def route_line(i: int) -> str:
    s = set_of(i)
    statements = f"bgp_path.prepend({65100 + s % 50}); bgp_community.add(({SENDER_AS},{s}));"
    return f"  route {prefix(i)} blackhole {{ {statements} }};"


def sender_config(lan: Lan, routes: range | list[int]) -> str:
    me = lan.hosts[0]
    bgp = BirdConfig(
        router_id=str(lan.hosts[1].ipv4),
        peers=(
            BgpPeer(
                name="bgpd",
                local_as=SENDER_AS,
                neighbor_address=str(me.ipv4),
                neighbor_as=OUR_AS,
                import_filter="none",
            ),
        ),
    ).render("2")
    table = "\n".join(route_line(i) for i in routes)
    return f"{bgp}\nprotocol static bulk {{\n  ipv4;\n{table}\n}}\n"


def collector_config(lan: Lan) -> BirdConfig:
    return BirdConfig(
        router_id=str(lan.hosts[2].ipv4),
        peers=(
            BgpPeer(
                name="bgpd",
                local_as=COLLECTOR_AS,
                neighbor_address=str(lan.hosts[0].ipv4),
                neighbor_as=OUR_AS,
                export_filter="none",
            ),
        ),
    )


def bgpd_config(lan: Lan) -> str:
    me, sender, collector = lan.hosts
    text = f"""
[bgp]
asn = {OUR_AS}
router_id = "{me.ipv4}"
listen = ["{me.ipv4}"]
families = ["ipv4-unicast"]
connect_retry_time = 1
log_level = "debug"

[control]
socket = "@SOCKET@"
"""
    for name, host, asn in (("sender", sender, SENDER_AS), ("collector", collector, COLLECTOR_AS)):
        text += f"""
[[peer]]
name = "{name}"
address = "{host.ipv4}"
asn = {asn}
local_address = "{me.ipv4}"
"""
    return text


def unread(lan: Lan) -> int:
    """Bytes bgpd's connection from the sender holds unread (its Recv-Q)."""
    out = (
        lan.hosts[0]
        .ns.run(["ss", "-Htn", "state", "established", "dst", str(lan.hosts[1].ipv4)])
        .stdout
    )
    return max((int(line.split()[0]) for line in out.splitlines() if line.strip()), default=0)


def held(bird: BirdDaemon) -> int:
    """How many routes the collector holds (`show route count`)."""
    match = re.search(r"(\d+) of \d+ routes", bird.birdc("show route count"))
    return int(match.group(1)) if match else 0


def test_a_backlogged_table_load_reaches_the_next_router_whole(
    lan_factory: Callable[..., Lan],
    bgpd_factory: BgpdFactory,
    bird_factory: BirdFactory,
) -> None:
    lan = lan_factory(3)
    # Room for the backlog while bgpd is stopped (the default buffer starts at 128 KiB).
    lan.hosts[0].ns.sysctl({"net.ipv4.tcp_rmem": f"4096 {4 * BACKLOG} {16 * BACKLOG}"})
    bgpd = bgpd_factory(lan, bgpd_config(lan))
    collector = bird_factory(collector_config(lan), version="2", netns=lan.hosts[2].ns)
    bgpd.wait_established("collector")
    collector.wait_established("bgpd")
    sender = bird_factory(sender_config(lan, range(PREFIXES)), version="2", netns=lan.hosts[1].ns)
    wait_until(lambda: held(collector) > 0, timeout=30, message="the first routes went through")

    assert bgpd.proc is not None
    bgpd.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(
            lambda: unread(lan) >= BACKLOG,
            timeout=30,
            message="the rest of the sender's table waits in bgpd's socket",
            describe=lambda: f"unread {unread(lan)}, collector holds {held(collector)}",
        )
    finally:
        bgpd.proc.send_signal(signal.SIGCONT)
    wait_until(
        lambda: held(collector) == PREFIXES,
        timeout=90,
        message=f"the collector holds all {PREFIXES} prefixes",
        describe=lambda: f"collector holds {held(collector)}",
    )
    log = bgpd.proc.stderr_path.read_text(errors="replace")
    assert "export hold ended" in log  # the case this test is about happened
    for i in (0, 1, SETS - 1, SETS, PREFIXES // 2 + 7, PREFIXES - 1):
        [route] = collector.routes_for(prefix(i))
        assert route.as_path == (OUR_AS, SENDER_AS, 65100 + set_of(i) % 50), route
        assert (SENDER_AS, set_of(i)) in route.communities, route
        assert route.next_hop == str(lan.hosts[0].ipv4), route

    kept = list(range(0, PREFIXES, 2))
    sender.reconfigure(sender_config(lan, kept))
    wait_until(
        lambda: held(collector) == len(kept),
        timeout=90,
        message=f"the collector holds the {len(kept)} prefixes left",
        describe=lambda: f"collector holds {held(collector)}",
    )
    assert collector.routes_for(prefix(1)) == []
    assert len(collector.routes_for(prefix(2))) == 1
    assert bgpd.state("sender") == "Established"

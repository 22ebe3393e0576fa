"""IPv6 routes over an IPv4-only session, between two real bgpd in namespaces with the kernel:
the next hop is derived from the interface, or configured (`next_hop_v6`), and lands in the
peer's kernel; with no IPv6 address at all the peer's flag, log line and metric say so."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from .bgpd_proc import BgpdFactory
from .peers import Lan, LanHost, free_tcp_ports, wait_until

V6_PREFIX = "fd00:77:1::/64"
V4_PREFIX = "10.77.1.0/24"


def node_config(me: LanHost, other: LanHost, *, statics: bool, extra: str = "") -> str:
    own = (
        f'[[static]]\nprefix = "{V4_PREFIX}"\n\n[[static]]\nprefix = "{V6_PREFIX}"\n'
        if statics
        else ""
    )
    return f"""
[bgp]
asn = 64512
router_id = "{me.ipv4}"
listen = ["{me.ipv4}"]
graceful_restart = false

[control]
socket = "@SOCKET@"

[kernel]
enabled = true

{own}
[[peer]]
name = "peer"
address = "{other.ipv4}"
asn = 64512
local_address = "{me.ipv4}"
families = ["ipv4-unicast", "ipv6-unicast"]
{extra}
"""


def v6_route(host: LanHost, prefix: str) -> dict[str, Any] | None:
    """Our (protocol 12) IPv6 route for `prefix` in the host's kernel, if any."""
    routes = host.ns.kernel_routes(6, protocol="12")
    return next((r for r in routes if r["dst"] == prefix), None)


def wait_v6_gateway(host: LanHost, gateway: str) -> None:
    wait_until(
        lambda: (r := v6_route(host, V6_PREFIX)) is not None and r.get("gateway") == gateway,
        timeout=30,
        message=f"{V6_PREFIX} via {gateway} in the kernel",
        describe=lambda: host.ns.ip("-6", "route"),
    )


def test_ipv6_over_ipv4_derived_configured_and_missing_next_hop(
    lan_factory: Callable[..., Lan], bgpd_factory: BgpdFactory
) -> None:
    lan = lan_factory(2)
    a, b = lan.hosts
    (metrics_port,) = free_tcp_ports(1)
    metrics = f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
    cfg_a = node_config(a, b, statics=True)
    speaker_a = bgpd_factory(lan, cfg_a + metrics, host=0, name="a")
    speaker_b = bgpd_factory(lan, node_config(b, a, statics=False), host=1, name="b")
    speaker_a.wait_established("peer")

    # Nothing configured for IPv6: a's eth0 holds the session's 10.99.0.1 and fd00:99::1.
    wait_v6_gateway(b, str(a.ipv6))
    assert speaker_b.wait_route(V4_PREFIX)["next_hop"] == str(a.ipv4)
    assert speaker_a.ctl("show peer", name="peer")["families_without_next_hop"] == []

    # next_hop_v6 wins over the interface; a reload applies it without a reset.
    a.ns.add_address(a.ifname, "fd00:99::101/64")
    flaps = speaker_a.ctl("show peer", name="peer")["established_transitions"]
    speaker_a.write_config(
        node_config(a, b, statics=True, extra='next_hop_v6 = "fd00:99::101"') + metrics
    )
    speaker_a.reload()
    wait_v6_gateway(b, "fd00:99::101")
    assert speaker_a.ctl("show peer", name="peer")["established_transitions"] == flaps

    # No IPv6 address on a at all and none configured: after the session comes back, a says
    # so (flag, log line, metric) and b's kernel loses the route it can no longer be sent.
    a.ns.ip("-6", "addr", "flush", "dev", a.ifname, "scope", "global")
    speaker_a.write_config(cfg_a + metrics)
    speaker_a.reload()
    speaker_a.ctl("peer reset", name="peer")
    wait_until(
        lambda: (
            speaker_a.ctl("show peer", name="peer")["families_without_next_hop"] == ["ipv6-unicast"]
        ),
        timeout=30,
        message="a flags ipv6-unicast without next hop",
        describe=speaker_a.output,
    )
    wait_until(
        lambda: v6_route(b, V6_PREFIX) is None, timeout=30, message="b withdrew the v6 route"
    )
    assert speaker_b.learned(V4_PREFIX) is not None  # IPv4 unaffected
    assert re.search(
        r"peer family without next hop peer=peer address=\S+ family=ipv6-unicast",
        speaker_a.output(),
    )
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    scrape = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).read().decode())"
    text = a.ns.run([sys.executable, "-c", scrape]).stdout
    assert (
        'bgpd_peer_family_without_next_hop{address="10.99.0.2",afi="ipv6",peer="peer",'
        'safi="unicast"} 1.0' in text
    )

"""Routes of the other IP version on a session (IPv6 over IPv4 and the reverse): our next hop
for them comes from `next_hop_v6`/`next_hop_v4`, the session, `[node]` or the interface, and a
family with none is said out loud (log, `bgpctl show peer`, metric), never silently empty."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from bgpd.config import parse_config
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.speaker.peer_state import families_without_next_hop, own_next_hops
from bgpd.views import PeerView, RouteView

from .harness import Net, config, cut

STATICS = """
[[static]]
prefix = "10.10.1.0/24"

[[static]]
prefix = "fd00:10:1::/64"
"""


def v4_pair(extra_peer_a: str = "", interface_address: str = "") -> Net:
    """a and b peering over IPv4 with both families; a originates one route of each."""
    net = Net()
    cfg_a = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], STATICS, extra_peer_a)
    net.add("a", "127.0.0.1", cfg_a, interface_address)
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    return net


def routes(net: Net, node: str, prefix: str) -> list[RouteView]:
    return net.nodes[node].speaker.route_views(prefix)


def view(net: Net, node: str) -> PeerView:
    return net.nodes[node].speaker.peer_views(net.now)[0]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("peer family without next")
    ]


def test_ipv6_over_ipv4_without_an_ipv6_address_is_flagged_not_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bgpd.speaker.core")
    net = v4_pair()
    assert routes(net, "b", "10.10.1.0/24")[0].next_hop == "127.0.0.1"
    assert routes(net, "b", "fd00:10:1::/64") == []  # no next hop of ours to give it
    # b still got End-of-RIB for both families: it is converged, not waiting
    assert net.nodes["b"].speaker.converged()
    assert view(net, "a").families_without_next_hop == ("ipv6-unicast",)
    assert view(net, "b").families_without_next_hop == ("ipv6-unicast",)
    (line,) = [w for w in warnings(caplog) if "peer=to_b" in w]
    assert "family=ipv6-unicast" in line
    assert "hint=set_next_hop_v6" in line

    # once per session up: the session coming back says it again
    cut(net, "a", "to_b")
    net.advance(130)
    assert view(net, "a").state == "Established"
    assert len([w for w in warnings(caplog) if "peer=to_b" in w]) == 2


def test_next_hop_v6_gives_ipv6_routes_that_next_hop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bgpd.speaker.core")
    net = v4_pair('next_hop_v6 = "fd00::1"')
    (route,) = routes(net, "b", "fd00:10:1::/64")
    assert route.next_hop == "fd00::1"
    assert routes(net, "b", "10.10.1.0/24")[0].next_hop == "127.0.0.1"
    assert view(net, "a").families_without_next_hop == ()
    assert not [w for w in warnings(caplog) if "peer=to_b" in w]


def test_the_address_the_runtime_found_on_the_interface_is_the_next_hop() -> None:
    net = v4_pair(interface_address="fd00::11")
    (route,) = routes(net, "b", "fd00:10:1::/64")
    assert route.next_hop == "fd00::11"
    assert view(net, "a").families_without_next_hop == ()


def test_a_configured_next_hop_wins_over_the_interface() -> None:
    net = v4_pair('next_hop_v6 = "fd00::1"', interface_address="fd00::11")
    assert routes(net, "b", "fd00:10:1::/64")[0].next_hop == "fd00::1"


def test_reload_adding_next_hop_v6_sends_the_routes_without_a_reset() -> None:
    net = v4_pair()
    assert routes(net, "b", "fd00:10:1::/64") == []
    flaps = net.nodes["a"].speaker.peer_view("to_b", net.now).detail.session.established_transitions
    cfg = config(
        64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], STATICS, 'next_hop_v6 = "fd00::1"'
    )
    actions = net.reload("a", cfg)
    assert actions == ["peer to_b policy re-applied"]
    assert routes(net, "b", "fd00:10:1::/64")[0].next_hop == "fd00::1"
    assert view(net, "a").families_without_next_hop == ()
    after = net.nodes["a"].speaker.peer_view("to_b", net.now)
    assert after is not None and after.detail.session.established_transitions == flaps


def v6_config(me: str, router_id: str, other: str, extra: str = "", statics: str = "") -> str:
    return f"""
[bgp]
asn = 64512
router_id = "{router_id}"
listen = ["{me}"]

[control]
socket = "/tmp/unused-{router_id}.ctl"
{statics}
[[peer]]
name = "peer"
address = "{other}"
asn = 64512
local_address = "{me}"
{extra}
"""


def test_ipv4_over_ipv6_takes_next_hop_v4_or_is_flagged() -> None:
    statics = '[[static]]\nprefix = "10.20.0.0/24"\n'
    for extra, expected in (("", None), ('next_hop_v4 = "192.0.2.1"', "192.0.2.1")):
        net = Net()
        net.add("a", "fd00::1", v6_config("fd00::1", "10.0.0.1", "fd00::2", extra, statics))
        net.add("b", "fd00::2", v6_config("fd00::2", "10.0.0.2", "fd00::1"))
        net.start()
        got = routes(net, "b", "10.20.0.0/24")
        if expected is None:
            assert got == []
            assert view(net, "a").families_without_next_hop == ("ipv4-unicast",)
        else:
            assert got[0].next_hop == expected
            assert view(net, "a").families_without_next_hop == ()


def test_next_hop_preference_config_then_session_then_node_then_interface() -> None:
    cfg = parse_config(
        """
[bgp]
asn = 64512
router_id = "10.0.0.1"

[node]
name = "n"
ipv4 = "10.0.0.1/24"
ipv6 = "fd00::100/64"

[control]
socket = "/tmp/unused.ctl"

[[peer]]
name = "explicit"
address = "10.0.0.2"
asn = 64512
next_hop_v6 = "fd00::1"

[[peer]]
name = "plain"
address = "10.0.0.3"
asn = 64512
"""
    )
    packed = ipaddress.ip_address
    explicit = cfg.peer_settings("explicit")
    plain = cfg.peer_settings("plain")
    # configured beats everything, the session's own address beats [node]
    assert own_next_hops(explicit, cfg.node, "10.0.0.9", "fd00::11") == (
        packed("10.0.0.9").packed,
        packed("fd00::1").packed,
    )
    assert own_next_hops(plain, cfg.node, "10.0.0.9", "fd00::11")[1] == packed("fd00::100").packed
    # without [node], the interface's address serves
    assert own_next_hops(plain, None, "10.0.0.9", "fd00::11")[1] == packed("fd00::11").packed
    assert own_next_hops(plain, None, "10.0.0.9", "") == (packed("10.0.0.9").packed, b"")
    both = (IPV4_UNICAST, IPV6_UNICAST)
    assert families_without_next_hop(both, b"\x0a\0\0\x09", b"") == {IPV6_UNICAST}


def test_reload_giving_the_node_an_ipv6_address_sends_ipv6_routes_without_a_reset() -> None:
    """Calico: a node gaining an IPv6 address re-exports IPv6 over its IPv4 sessions."""
    node = '[node]\nname = "a"\nipv4 = "127.0.0.1/8"\n'
    net = Net()
    peers = [("to_b", "127.0.0.2", 64512)]
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", peers, STATICS + node))
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    assert routes(net, "b", "fd00:10:1::/64") == []
    flaps = net.nodes["a"].speaker.peer_view("to_b", net.now).detail.session.established_transitions
    actions = net.reload(
        "a", config(64512, "127.0.0.1", peers, STATICS + node + 'ipv6 = "fd00::7/64"\n')
    )
    assert actions == ["node addresses re-applied"]
    assert routes(net, "b", "fd00:10:1::/64")[0].next_hop == "fd00::7"
    assert view(net, "a").families_without_next_hop == ()
    after = net.nodes["a"].speaker.peer_view("to_b", net.now)
    assert after is not None and after.detail.session.established_transitions == flaps

"""The views' JSON is `bgpctl --json`'s contract: pinned here, and read back without loss.

For a speaker in a few states (a peer never started, an Established one with what it
negotiated and what its input cost it, one held down for a missing password, a route kept
stale for a restarting peer, a route with an AS_SET, kernel rows), every view's `to_json()`
is the JSON below key for key and in order (scripts and dashboards read it), and bgpctl's
`from_json()` after the socket gives back the very same view.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bgpd.control import bgpctl
from bgpd.kernel import KernelRoute
from bgpd.kernel.kernel_route import NextHop
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.rib import SourceKind
from bgpd.runtime.kernel_wiring import felix_view, kernel_view
from bgpd.speaker.views import route_view
from bgpd.views import KernelRouteRow, PeerView, RouteView, ViewDecodeError
from tests.unit.rib.helpers import P1, attrs, cand, source

from .harness import Net, config, cut

View = PeerView | RouteView | KernelRouteRow

STATICS = """
[[static]]
prefix = "10.10.1.0/24"
communities = ["64512:100"]
large_communities = ["64512:1:2"]
med = 10
"""
REASON = "secret kube-system/bgp-secrets has no key peer-a"
HELD = f'password_unavailable = "{REASON}"'

IDLE = {
    "name": "to_a",
    "address": "127.0.0.1",
    "port": 179,
    "asn": 64512,
    "local_asn": 64512,
    "state": "Idle",
    "uptime_s": None,
    "prefixes_received": 0,
    "prefixes_accepted": 0,
    "prefixes_sent": 0,
    "last_error": "",
    "families_without_next_hop": [],
    "down_reason": None,
    "bfd": None,
    "bfd_failures": 0,
    "disabled": False,
    "local_address": None,
    "local_port": None,
    "role": "ibgp",
    "description": "",
    "flaps": 0,
    "last_error_age_s": None,
    "graceful_restart": "",
    "established_for_s": None,
    "connections": {},
    "error_wait_s": 0.0,
    "refused_capabilities": [],
    "capabilities_disabled": False,
    "messages_in": {"OPEN": 0, "UPDATE": 0, "NOTIFICATION": 0, "KEEPALIVE": 0, "ROUTE_REFRESH": 0},
    "messages_out": {"OPEN": 0, "UPDATE": 0, "NOTIFICATION": 0, "KEEPALIVE": 0, "ROUTE_REFRESH": 0},
    "established_transitions": 0,
    "prefixes_withheld_too_big": 0,
    "graceful_restart_stale": [],
    "long_lived_stale": [],
    "rfc7606_actions": {"afi-safi-disable": 0, "treat-as-withdraw": 0, "attribute-discard": 0},
    "next_hop_refused": {},
    "last_input_problem": "",
    "last_input_problem_age_s": None,
}

ESTABLISHED = {
    "name": "a",
    "address": "127.0.0.1",
    "port": 179,
    "asn": 65001,
    "local_asn": 65001,
    "state": "Established",
    "uptime_s": 7.5,
    "prefixes_received": 1,
    "prefixes_accepted": 1,
    "prefixes_sent": 0,
    "last_error": "",
    "families_without_next_hop": ["ipv6-unicast"],
    "down_reason": None,
    "bfd": None,
    "bfd_failures": 0,
    "disabled": False,
    "local_address": "127.0.0.2",
    "local_port": 40003,
    "role": "ibgp",
    "description": "",
    "flaps": 1,
    "last_error_age_s": None,
    "graceful_restart": "gr",
    "established_for_s": 7.5,
    "connections": {"3": "Established"},
    "error_wait_s": 0.0,
    "refused_capabilities": [],
    "capabilities_disabled": False,
    "messages_in": {"OPEN": 2, "UPDATE": 3, "NOTIFICATION": 0, "KEEPALIVE": 1, "ROUTE_REFRESH": 0},
    "messages_out": {"OPEN": 2, "UPDATE": 2, "NOTIFICATION": 1, "KEEPALIVE": 1, "ROUTE_REFRESH": 0},
    "established_transitions": 1,
    "negotiated": {
        "peer_asn": 65001,
        "peer_router_id": "127.0.0.1",
        "hold_time": 240,
        "keepalive_time": 80.0,
        "as4": True,
        "families": ["ipv4-unicast", "ipv6-unicast"],
        "add_path_receive": [],
        "add_path_send": [],
        "extended_message": True,
        "route_refresh": True,
        "enhanced_route_refresh": True,
        "peer_graceful_restart": {"restart_time": 120, "restarting": False},
        "family_capabilities": {
            "ipv4-unicast": ["graceful-restart"],
            "ipv6-unicast": ["graceful-restart"],
        },
    },
    "prefixes_withheld_too_big": 0,
    "graceful_restart_stale": [],
    "long_lived_stale": [],
    "rfc7606_actions": {"afi-safi-disable": 0, "treat-as-withdraw": 1, "attribute-discard": 0},
    "next_hop_refused": {"martian": 2},
    "last_input_problem": "next hop 0.0.0.0 refused (martian)",
    "last_input_problem_age_s": 2.25,
}

HELD_SUMMARY = {
    "name": "to_b",
    "address": "127.0.0.2",
    "port": 179,
    "asn": 64512,
    "local_asn": 64512,
    "state": "Idle",
    "uptime_s": None,
    "prefixes_received": 0,
    "prefixes_accepted": 0,
    "prefixes_sent": 0,
    "last_error": "password unavailable: secret kube-system/bgp-secrets has no key peer-a",
    "families_without_next_hop": [],
    "down_reason": "password unavailable: secret kube-system/bgp-secrets has no key peer-a",
    "bfd": None,
    "bfd_failures": 0,
    "disabled": False,
    "local_address": None,
    "local_port": None,
    "role": "ibgp",
    "description": "",
    "flaps": 0,
    "last_error_age_s": None,
    "graceful_restart": "",
}

STALE_ROUTES = {
    "prefix": "10.10.1.0/24",
    "path_id": None,
    "next_hop": "127.0.0.1",
    "as_path": [],
    "as_path_segments": [],
    "peer": "a",
    "source": "ibgp",
    "communities": ["64512:100"],
    "large_communities": ["64512:1:2"],
    "med": 10,
    "local_pref": 100,
    "origin": "IGP",
    "originator_id": None,
    "cluster_list": [],
    "best": True,
    "stale": True,
}

AS_SET = {
    "prefix": "10.1.0.0/24",
    "path_id": 3,
    "next_hop": "192.0.2.1",
    "as_path": [64512, 64513, 64514],
    "as_path_segments": [
        {"type": "AS_SEQUENCE", "asns": [64512]},
        {"type": "AS_SET", "asns": [64513, 64514]},
    ],
    "peer": "Global_10_0_0_1",
    "source": "ebgp",
    "communities": [],
    "large_communities": [],
    "med": 5,
    "local_pref": 200,
    "origin": "IGP",
    "originator_id": "10.0.0.9",
    "cluster_list": ["10.0.0.1"],
    "best": False,
    "stale": False,
}

KERNEL = [
    {
        "prefix": "10.0.0.0/24",
        "family": "ipv4",
        "status": "installed",
        "kind": "unicast",
        "protocol": 12,
        "next_hops": ["via 10.1.1.1 dev eth0"],
        "metric": 0,
        "owner": "bgpd",
    },
    {
        "prefix": "fd00::/64",
        "family": "ipv6",
        "status": "learned",
        "kind": "blackhole",
        "protocol": 12,
        "next_hops": [],
        "metric": 1024,
        "owner": "",
    },
    {
        "prefix": "10.244.3.0/26",
        "family": "ipv4",
        "status": "not-installed",
        "kind": "unicast",
        "protocol": 0,
        "next_hops": ["via 10.0.0.3"],
        "metric": 0,
        "owner": "felix",
    },
]


def over_the_socket(view: View) -> Any:
    """The view's JSON as bgpctl receives it."""
    return json.loads(json.dumps(view.to_json()))


def assert_pinned(view: View, expected: dict[str, Any]) -> None:
    # compared as text: the keys' order is part of the contract (`bgpctl --json` prints it)
    assert json.dumps(view.to_json(), indent=2) == json.dumps(expected, indent=2)
    assert type(view).from_json(over_the_socket(view)) == view


def idle() -> Net:
    net = Net()
    net.add("c", "127.0.0.3", config(64512, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    return net  # not started: its peer stays Idle


def established() -> Net:
    """b's peer a is Established (7.5 s), and a's input cost it a refused next hop."""
    net = Net()
    net.add("a", "127.0.0.1", config(65001, "127.0.0.1", [("b", "127.0.0.2", 65001)], STATICS))
    net.add("b", "127.0.0.2", config(65001, "127.0.0.2", [("a", "127.0.0.1", 65001)]))
    net.start()
    net.advance(7.5)
    session = net.nodes["b"].speaker.peer_session("a")
    assert session is not None
    counters = session.counters
    counters.next_hop_refused["martian"] = 2
    counters.rfc7606_actions["treat-as-withdraw"] = 1
    counters.last_input_problem = ("next hop 0.0.0.0 refused (martian)", net.now - 2.25)
    return net


def held() -> Net:
    net = Net()
    text = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)]).replace(
        'local_address = "127.0.0.1"\n', f'local_address = "127.0.0.1"\n{HELD}\n', 1
    )
    net.add("a", "127.0.0.1", text)
    net.start()
    net.advance(3)
    return net


def every_view(net: Net, node: str) -> list[View]:
    speaker = net.nodes[node].speaker
    details = [speaker.peer_view(name, net.now) for name in speaker.peer_names()]
    return [*speaker.peer_views(net.now), *(d for d in details if d), *speaker.route_views()]


def test_an_idle_peer() -> None:
    net = idle()
    view = net.nodes["c"].speaker.peer_view("to_a", net.now)
    assert view is not None and view.detail is not None
    assert_pinned(view, IDLE)
    (row,) = net.nodes["c"].speaker.peer_views(net.now)
    assert row.detail is None and "established_for_s" not in row.to_json()
    assert PeerView.from_json(over_the_socket(row)) == row


def test_an_established_peer_with_what_it_negotiated_and_its_input_problems() -> None:
    net = established()
    view = net.nodes["b"].speaker.peer_view("a", net.now)
    assert view is not None
    assert_pinned(view, ESTABLISHED)
    for each in every_view(net, "b") + every_view(net, "a"):
        assert type(each).from_json(over_the_socket(each)) == each


def test_a_peer_held_down_says_why() -> None:
    net = held()
    (row,) = net.nodes["a"].speaker.peer_views(net.now)
    assert_pinned(row, HELD_SUMMARY)
    detail = net.nodes["a"].speaker.peer_view("to_b", net.now)
    assert detail is not None
    assert PeerView.from_json(over_the_socket(detail)) == detail


def test_a_route_kept_stale_for_a_restarting_peer() -> None:
    net = established()
    cut(net, "a", "b")  # a "crashes"; Graceful Restart keeps its routes at b, stale
    b = net.nodes["b"].speaker
    (route,) = b.route_views("10.10.1.0/24")
    assert_pinned(route, STALE_ROUTES)
    peer = b.peer_view("a", net.now)
    assert peer is not None and peer.detail is not None
    assert peer.detail.graceful_restart_stale == ("ipv4-unicast", "ipv6-unicast")
    assert "negotiated" not in peer.to_json()  # the key is absent while not Established
    assert PeerView.from_json(over_the_socket(peer)) == peer


def test_a_route_with_an_as_set_and_reflection_attributes() -> None:
    peer = source("Global_10_0_0_1", SourceKind.EBGP, asn=64512)
    path = attrs(
        path=(64512,),
        as_set=(64513, 64514),
        med=5,
        local_pref=200,
        originator_id="10.0.0.9",
        cluster_list=("10.0.0.1",),
    )
    view = route_view(IPV4_UNICAST, P1, cand(peer, path, path_id=3), best=False)
    assert_pinned(view, AS_SET)
    assert view.as_path == (64512, 64513, 64514)


def test_kernel_rows() -> None:
    gateway = NextHop(gateway="10.1.1.1", ifname="eth0")
    installed = KernelRoute(family=IPV4_UNICAST, prefix="10.0.0.0/24", nexthops=(gateway,))
    learned = KernelRoute(family=IPV6_UNICAST, prefix="fd00::/64", kind="blackhole")
    rows = [
        kernel_view(installed, "installed", owner="bgpd"),
        kernel_view(learned, "learned"),
        felix_view(IPV4_UNICAST, "10.244.3.0/26", ("10.0.0.3",)),
    ]
    for row, expected in zip(rows, KERNEL, strict=True):
        assert_pinned(row, expected)


# ------------------------------------------------------------------------ what bgpctl reads


def test_a_view_of_an_older_daemon_reads_with_defaults_and_its_flat_path() -> None:
    old = {"prefix": "10.0.0.0/24", "peer": "p", "as_path": [64512, 64513]}
    route = RouteView.from_json(old)
    assert [(s.type, s.asns) for s in route.as_path_segments] == [("AS_SEQUENCE", (64512, 64513))]
    assert (route.best, route.stale, route.origin, route.communities) == (
        False,
        False,
        "INCOMPLETE",
        (),
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**HELD_SUMMARY, "asn": "64512"}, "'asn' is not an integer"),
        ({**HELD_SUMMARY, "uptime_s": True}, "'uptime_s' is not a number"),
        ({**HELD_SUMMARY, "families_without_next_hop": [4]}, "not a list of strings"),
        ({k: v for k, v in HELD_SUMMARY.items() if k != "name"}, "'name' is missing"),
        ({**IDLE, "connections": {"x": "Idle"}}, "key 'x' is not a number"),
        ([], "expected an object, got list"),
    ],
)
def test_a_view_of_the_wrong_shape_is_an_error_naming_the_key(bad: Any, message: str) -> None:
    with pytest.raises(ViewDecodeError, match=message):
        PeerView.from_json(bad)


def test_bgpctl_tables_of_a_reply_it_cannot_read_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = {"ok": True, "data": [{**HELD_SUMMARY, "asn": None}]}
    monkeypatch.setattr(bgpctl, "call", lambda _path, _request: reply)
    assert bgpctl.main(["show", "peers"]) == 2
    assert (
        capsys.readouterr().err
        == "bgpctl: cannot read the reply: peer: 'asn' is not an integer (NoneType)\n"
    )
    # --json prints the data as sent, whatever its shape
    assert bgpctl.main(["--json", "show", "peers"]) == 0
    assert json.loads(capsys.readouterr().out) == reply["data"]

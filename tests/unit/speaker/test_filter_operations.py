"""BGPFilter's conditions and operations in the speaker: the routes a peer keeps and sends.

Speakers on a fake clock (tests/unit/speaker/harness.py). Node `b` (AS 65002) is the one with
filters; `a` (AS 65001) originates routes into it, `c` and `d` (eBGP) and `e` (iBGP) receive
its exports. Expected values are Calico's BIRD filter's (template_funcs.go, see
tests/unit/policy/test_filter_conditions.py for the table per condition). Calico's BIRD is a
BIRD 1.6.8 fork, whose export filter runs after the protocol's export preparation: toward eBGP
our AS is already in the path, so the prepended ASNs come in front of it (the path "starts with
these AS numbers", as Calico's API documents), and LOCAL_PREF (set_priority) does not leave
the AS.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.speaker import Send

from .harness import Net

MAX = 2_147_483_647
A_ROUTES = """
[[static]]
prefix = "10.1.0.0/24"
communities = ["65000:100"]

[[static]]
prefix = "10.2.0.0/24"

[[static]]
prefix = "fd00:1::/64"
next_hop = "fd00::1"
communities = ["65000:100"]
"""

FILTERS = """
[[filter]]
name = "out"

[[filter.export_v4]]               # tagged routes: tag again, lengthen the path, prefer
action = "accept"
community = "65000:100"
[[filter.export_v4.operations]]
add_community = "65000:200"
[[filter.export_v4.operations]]
prepend_as_path = [65100, 65101]
[[filter.export_v4.operations]]
set_priority = 512

[[filter.export_v4]]               # nothing else toward eBGP
action = "reject"
peer_type = "ebgp"

[[filter.export_v6]]
action = "accept"
community = "65000:100"
operations = [{add_community = "65000:1:2"}, {prepend_as_path = [64999]}]

[[filter]]
name = "in"

[[filter.import_v4]]               # what came through AS 65001, in 10.2.0.0/16: tag, prefer
action = "accept"
as_path_prefix = [65001]
cidr = "10.2.0.0/16"
match_operator = "in"
operations = [{add_community = "65000:300"}, {set_priority = 100}]

[[filter.import_v4]]               # iBGP routes of priority 512: not wanted
action = "reject"
peer_type = "ibgp"
priority = 512

[[filter.import_v6]]
action = "reject"
as_path_prefix = [65001]
peer_type = "ibgp"
"""


@dataclass(frozen=True)
class P:
    name: str
    address: str
    asn: int
    extra: str = ""


def node_config(asn: int, router_id: str, peers: list[P], more: str = "") -> str:
    text = f"""
[bgp]
asn = {asn}
router_id = "{router_id}"
listen = ["{router_id}"]

[control]
socket = "/tmp/unused-{router_id}.ctl"

[node]
name = "n{router_id}"
ipv4 = "{router_id}/8"
ipv6 = "fd00::{router_id.rsplit(".", 1)[1]}/64"
{more}
"""
    for p in peers:
        text += f"""
[[peer]]
name = "{p.name}"
address = "{p.address}"
asn = {p.asn}
local_address = "{router_id}"
families = ["ipv4-unicast", "ipv6-unicast"]
{p.extra}
"""
    return text


OUT = 'export_filters = ["out"]'
IN = 'import_filters = ["in"]'


def network(e_routes: str = "", filters: str = FILTERS) -> Net:
    net = Net()
    net.add(
        "a", "127.0.0.1", node_config(65001, "127.0.0.1", [P("b", "127.0.0.2", 65002)], A_ROUTES)
    )
    b_peers = [
        P("a", "127.0.0.1", 65001, IN),
        P("c", "127.0.0.3", 65003, OUT),
        P("d", "127.0.0.4", 65004, OUT),
        P("e", "127.0.0.5", 65002, f"{OUT}\n{IN}"),
    ]
    net.add("b", "127.0.0.2", node_config(65002, "127.0.0.2", b_peers, filters))
    for name, address, asn in (("c", "127.0.0.3", 65003), ("d", "127.0.0.4", 65004)):
        net.add(name, address, node_config(asn, address, [P("b", "127.0.0.2", 65002)]))
    net.add(
        "e", "127.0.0.5", node_config(65002, "127.0.0.5", [P("b", "127.0.0.2", 65002)], e_routes)
    )
    net.record = {}
    net.start()
    return net


def routes(net: Net, node: str, peer: str = "b") -> dict[str, tuple[object, ...]]:
    """prefix -> (AS path, communities, large communities, LOCAL_PREF) learned from `peer`."""
    return {
        r.prefix: (r.as_path, r.communities, r.large_communities, r.local_pref)
        for r in net.nodes[node].speaker.route_views()
        if r.peer == peer
    }


def test_export_rule_adds_a_community_prepends_and_sets_the_priority() -> None:
    net = network()
    # eBGP: the prepended ASNs, then our AS, then the route's path; no LOCAL_PREF.
    # 10.2.0.0/24 has no 65000:100 and falls to `reject` for eBGP peers.
    expected_c = {
        "10.1.0.0/24": ((65100, 65101, 65002, 65001), ("65000:100", "65000:200"), (), None),
        "fd00:1::/64": ((64999, 65002, 65001), ("65000:100",), ("65000:1:2",), None),
    }
    assert routes(net, "c") == expected_c
    assert routes(net, "d") == expected_c
    # iBGP: the prepended ASNs only, LOCAL_PREF 2147483647 - 512; the reject rule is for eBGP
    # peers, so 10.2.0.0/24 goes on to the default (advertised), with the import rule's tag.
    assert routes(net, "e") == {
        "10.1.0.0/24": ((65100, 65101, 65001), ("65000:100", "65000:200"), (), MAX - 512),
        "10.2.0.0/24": ((65001,), ("65000:300",), (), MAX - 100),
        "fd00:1::/64": ((64999, 65001), ("65000:100",), ("65000:1:2",), 100),
    }


def test_import_rule_changes_the_route_bgpd_keeps() -> None:
    net = network()
    got = routes(net, "b", peer="a")
    # as_path_prefix [65001] and 10.2.0.0/16: tagged 65000:300, LOCAL_PREF 2147483647 - 100.
    assert got["10.2.0.0/24"] == ((65001,), ("65000:300",), (), MAX - 100)
    # Outside the cidr: the rule does not match, the route is kept as it came.
    assert got["10.1.0.0/24"] == ((65001,), ("65000:100",), (), None)


def test_import_rules_on_peer_type_and_priority() -> None:
    e_routes = f"""
[[static]]
prefix = "10.5.0.0/24"
local_pref = {MAX - 512}

[[static]]
prefix = "10.6.0.0/24"

[[static]]
prefix = "fd00:5::/64"
next_hop = "fd00::5"
"""
    net = network(e_routes)
    # From e (iBGP): priority 512 rejected, the normal one kept.
    assert set(routes(net, "b", peer="e")) == {"10.6.0.0/24", "fd00:5::/64"}
    b_view = next(p for p in net.nodes["b"].speaker.peer_views(net.now) if p.name == "e")
    assert b_view.prefixes_received == 3 and b_view.prefixes_accepted == 2
    # From a (eBGP) the iBGP-only rules never apply: everything is kept.
    assert set(routes(net, "b", peer="a")) == {"10.1.0.0/24", "10.2.0.0/24", "fd00:1::/64"}


def attribute_types(stream: list[bytes]) -> set[int]:
    """The path attribute type codes of every UPDATE in the sent bytes."""
    types: set[int] = set()
    data = b"".join(stream)
    while data:
        length = int.from_bytes(data[16:18], "big")
        message, data = data[:length], data[length:]
        if message[18] != 2:  # not an UPDATE
            continue
        withdrawn = int.from_bytes(message[19:21], "big")
        at = 21 + withdrawn
        end = at + 2 + int.from_bytes(message[at : at + 2], "big")
        at += 2
        while at < end:
            flags, code = message[at], message[at + 1]
            size = 2 if flags & 0x10 else 1
            value_length = int.from_bytes(message[at + 2 : at + 2 + size], "big")
            types.add(code)
            at += 2 + size + value_length
    return types


def test_set_priority_never_sends_local_pref_to_ebgp() -> None:
    net = network()
    assert net.record is not None
    sent: dict[str, list[bytes]] = {}
    for out in net.record["b"]:
        if isinstance(out, Send):
            sent.setdefault(out.peer, []).append(out.data)
    local_pref = 5  # RFC 4271 §5.1.5: not sent to external peers
    assert local_pref not in attribute_types(sent["c"])
    assert local_pref in attribute_types(sent["e"])


def test_peers_with_the_same_export_filter_share_one_update_group() -> None:
    net = network()
    sizes = net.nodes["b"].speaker.update_group_sizes()
    assert sorted(sizes) == [1, 1, 2], sizes  # a alone, e alone (iBGP), c and d together
    assert net.record is not None
    sent: dict[str, list[bytes]] = {}
    for out in net.record["b"]:
        if isinstance(out, Send):
            sent.setdefault(out.peer, []).append(out.data)
    # Encoded once for the group: c and d were handed the same UPDATE bytes.
    updates_c = [d for d in sent["c"] if d[18] == 2]
    updates_d = [d for d in sent["d"] if d[18] == 2]
    assert updates_c and updates_c == updates_d


def test_export_as_path_prefix_sees_our_as_toward_ebgp_only() -> None:
    # Calico's BIRD 1.6: toward eBGP the export filter's bgp_path is `65002 65001` already.
    filters = """
[[filter]]
name = "out"

[[filter.export_v4]]
action = "reject"
as_path_prefix = [65002, 65001]

[[filter.export_v4]]
action = "accept"
as_path_prefix = [65001]
operations = [{add_community = "65000:7"}]

[[filter]]
name = "in"
"""
    net = network(filters=filters)
    assert routes(net, "c") == {"fd00:1::/64": ((65002, 65001), ("65000:100",), (), None)}
    assert routes(net, "e") == {
        "10.1.0.0/24": ((65001,), ("65000:100", "65000:7"), (), 100),
        "10.2.0.0/24": ((65001,), ("65000:7",), (), 100),
        "fd00:1::/64": ((65001,), ("65000:100",), (), 100),
    }

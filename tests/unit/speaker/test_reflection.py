"""RFC 4456 route reflection in the sans-IO speaker: 100 clients and two reflectors of one
cluster, no sockets, a fake clock."""

from __future__ import annotations

import pytest

from bgpd.net import IPV4_UNICAST, pack_prefix

from .harness import Net

CLIENTS = 100
CLUSTER = "10.255.0.1"


def reflector_config(me: str, other_rr: str) -> str:
    text = f"""
[bgp]
asn = 64512
router_id = "{me}"
cluster_id = "{CLUSTER}"

[control]
socket = "/tmp/unused-{me}.ctl"

[[peer]]
name = "rr_peer"
address = "{other_rr}"
asn = 64512
local_address = "{me}"
"""
    for i in range(1, CLIENTS + 1):
        text += f"""
[[peer]]
name = "client{i}"
address = "127.0.1.{i}"
asn = 64512
local_address = "{me}"
rr_client = true
"""
    return text


def client_config(i: int) -> str:
    me = f"127.0.1.{i}"
    text = f"""
[bgp]
asn = 64512
router_id = "{me}"

[control]
socket = "/tmp/unused-{me}.ctl"

[[static]]
prefix = "10.100.{i}.0/24"
"""
    for n, rr in enumerate(("127.0.0.1", "127.0.0.2"), start=1):
        text += f"""
[[peer]]
name = "rr{n}"
address = "{rr}"
asn = 64512
local_address = "{me}"
"""
    return text


def cluster() -> Net:
    net = Net()
    net.add("rr1", "127.0.0.1", reflector_config("127.0.0.1", "127.0.0.2"))
    net.add("rr2", "127.0.0.2", reflector_config("127.0.0.2", "127.0.0.1"))
    for i in range(1, CLIENTS + 1):
        net.add(f"c{i}", f"127.0.1.{i}", client_config(i))
    net.start()
    return net


@pytest.fixture(scope="module")
def built() -> Net:
    return cluster()


def test_every_client_gets_every_other_clients_route_stamped_as_rfc_4456_says(built: Net) -> None:
    net = built
    for i in (1, 37, CLIENTS):  # a sample of clients, checked in full
        speaker = net.nodes[f"c{i}"].speaker
        learned = {r.prefix: r for r in speaker.route_views() if r.peer != "static" and r.best}
        expected = {f"10.100.{j}.0/24" for j in range(1, CLIENTS + 1) if j != i}
        assert set(learned) == expected
        j = 1 if i != 1 else 2
        route = learned[f"10.100.{j}.0/24"]
        assert route.next_hop == f"127.0.1.{j}"  # next hop left unchanged
        assert route.originator_id == f"127.0.1.{j}"  # the client that originated it
        assert route.cluster_list == (CLUSTER,)
        # Both reflectors deliver it: two paths, one best.
        paths = speaker.route_views(f"10.100.{j}.0/24")
        assert sorted(p.peer for p in paths) == ["rr1", "rr2"]
    # Every client got exactly the other 99 prefixes (no echo of its own).
    for i in range(1, CLIENTS + 1):
        speaker = net.nodes[f"c{i}"].speaker
        assert speaker.rib.count(IPV4_UNICAST)[0] == CLIENTS


def test_a_reflector_drops_what_its_own_cluster_already_reflected(built: Net) -> None:
    net = built
    rr2 = net.nodes["rr2"].speaker
    # rr1 reflects client 5's route to rr2 with CLUSTER_LIST [our cluster]: rr2 drops that
    # copy (RFC 4456 §8) and keeps only the one straight from the client.
    paths = rr2.rib.candidates(IPV4_UNICAST, pack_prefix("10.100.5.0/24"))
    assert [p.source.name for p in paths] == ["client5"]


def test_a_withdrawal_reaches_every_client() -> None:
    net = cluster()
    net.reload("c7", client_config(7).replace('prefix = "10.100.7.0/24"', 'prefix = "10.7.7.0/24"'))
    for i in (1, 50, CLIENTS):
        views = net.nodes[f"c{i}"].speaker.route_views("10.100.7.0/24")
        assert views == []
        assert len(net.nodes[f"c{i}"].speaker.route_views("10.7.7.0/24")) == 2


def test_without_a_cluster_id_the_router_id_serves_as_one() -> None:
    """RFC 4456 §7 (and BIRD): `rr_client` on a neighbour makes us a reflector even without
    `[bgp] cluster_id`; the router id is the cluster id. Before, nothing was reflected."""
    net = Net()
    text = reflector_config("127.0.0.1", "127.0.0.2").replace(f'cluster_id = "{CLUSTER}"\n', "")
    net.add("rr1", "127.0.0.1", text.split('[[peer]]\nname = "client3"')[0])
    for i in (1, 2):
        net.add(f"c{i}", f"127.0.1.{i}", client_config(i).split('[[peer]]\nname = "rr2"')[0])
    net.add(
        "plain",
        "127.0.0.2",
        client_config(9).replace("127.0.1.9", "127.0.0.2").split('[[peer]]\nname = "rr2"')[0],
    )
    net.start()
    c2 = net.nodes["c2"].speaker
    (route,) = c2.route_views("10.100.1.0/24")  # client to client
    assert route.originator_id == "127.0.1.1" and route.cluster_list == ("127.0.0.1",)
    assert [r.peer for r in c2.route_views("10.100.9.0/24")] == ["rr1"]  # non-client to client
    plain = net.nodes["plain"].speaker
    assert [r.peer for r in plain.route_views("10.100.2.0/24")] == ["rr1"]  # client to non-client

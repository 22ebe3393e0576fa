"""Update groups and ADD-PATH send in the sans-IO speaker: one reflector and its clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.outbound import adj_out
from tests.unit.speaker.harness import Net, cut

CLIENTS = 20
RR = "127.0.0.1"


def rr_config(clients: int = CLIENTS, client_extra: str = "") -> str:
    text = f"""
[bgp]
asn = 64512
router_id = "{RR}"
cluster_id = "10.255.0.1"

[control]
socket = "/tmp/unused-rr.ctl"
"""
    for i in range(1, clients + 1):
        text += f"""
[[peer]]
name = "client{i}"
address = "127.0.1.{i}"
asn = 64512
local_address = "{RR}"
rr_client = true
{client_extra}
"""
    return text


def client_config(i: int, statics: tuple[str, ...] = (), extra: str = "") -> str:
    me = f"127.0.1.{i}"
    prefixes = statics or (f"10.100.{i}.0/24",)
    text = f"""
[bgp]
asn = 64512
router_id = "{me}"

[control]
socket = "/tmp/unused-{me}.ctl"
"""
    for prefix in prefixes:
        text += f'\n[[static]]\nprefix = "{prefix}"\n'
    text += f"""
[[peer]]
name = "rr"
address = "{RR}"
asn = 64512
local_address = "{me}"
{extra}
"""
    return text


def build(clients: int = CLIENTS, rr_extra: str = "", client_extra: str = "") -> Net:
    net = Net()
    net.add("rr", RR, rr_config(clients, rr_extra))
    for i in range(1, clients + 1):
        net.add(f"c{i}", f"127.0.1.{i}", client_config(i, extra=client_extra))
    net.start()
    return net


def learned(net: Net, node: str) -> set[str]:
    return {r.prefix for r in net.nodes[node].speaker.route_views() if r.peer == "rr"}


@pytest.fixture
def net() -> Iterator[Net]:
    yield build()


def test_clients_with_identical_treatment_share_one_group(net: Net) -> None:
    assert net.nodes["rr"].speaker.update_group_sizes() == [CLIENTS]
    for i in (1, 7, CLIENTS):
        assert learned(net, f"c{i}") == {
            f"10.100.{j}.0/24" for j in range(1, CLIENTS + 1) if j != i
        }


def test_an_update_is_encoded_once_and_the_same_bytes_reach_every_member(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def counted(name: str) -> None:
        real = getattr(adj_out, name)

        def counting(*args: object, **kwargs: object) -> list[bytes]:
            calls.append(1)
            return real(*args, **kwargs)  # type: ignore[no-any-return]

        monkeypatch.setattr(adj_out, name, counting)

    counted("pack_announcements")
    counted("pack_ipv4_announcements")
    net.record = {}
    net.reload("c3", client_config(3, ("10.100.3.0/24", "10.33.0.0/16")))
    # One packing at c3 (toward the reflector) and ONE at the reflector for all 19 other
    # clients, not one per client.
    assert len(calls) == 2
    payloads: dict[str, bytes] = {}
    for out in net.record["rr"]:
        payloads[out.peer] = payloads.get(out.peer, b"") + out.data
    assert "client3" not in payloads  # its own route is not sent back
    assert len(payloads) == CLIENTS - 1
    assert len(set(payloads.values())) == 1  # byte-identical for every other member
    for i in (1, CLIENTS):
        assert "10.33.0.0/16" in learned(net, f"c{i}")


def test_a_members_own_route_is_never_sent_back_and_replaced_paths_are_withdrawn(
    net: Net,
) -> None:
    # c2 holds c1's prefix through the reflector; then c2 originates the same prefix with a
    # better (higher local-pref) path: the reflector's best becomes c2's own route, which c2
    # must not receive, and c2 must drop the c1 path it held from us.
    assert "10.100.1.0/24" in learned(net, "c2")
    text = client_config(2).replace(
        '[[static]]\nprefix = "10.100.2.0/24"\n',
        '[[static]]\nprefix = "10.100.2.0/24"\n\n[[static]]\nprefix = "10.100.1.0/24"\n'
        "local_pref = 500\n",
    )
    net.reload("c2", text)
    rr = net.nodes["rr"].speaker
    best = rr.rib.best(IPV4_UNICAST, pack_prefix("10.100.1.0/24"))
    assert best is not None and best.source.name == "client2"
    assert "10.100.1.0/24" not in learned(net, "c2")
    # Everyone else now holds c2's path, originator c2.
    views = net.nodes["c5"].speaker.route_views("10.100.1.0/24")
    assert [v.originator_id for v in views if v.best] == ["127.0.1.2"]
    # c2 withdraws its better path: c1's path comes back to c2.
    net.reload("c2", client_config(2))
    assert "10.100.1.0/24" in learned(net, "c2")


def test_a_slow_member_is_split_off_and_catches_up_when_it_drains(net: Net) -> None:
    rr = net.nodes["rr"].speaker
    conn = next(c for c, end in net.ends.items() if end[:2] == ("rr", "client9"))
    rr.set_writable("client9", conn, False, net.now)
    assert sorted(rr.update_group_sizes()) == [1, CLIENTS - 1]
    # Churn while client9 is blocked: the others get it at once, client9 nothing yet.
    net.reload("c4", client_config(4, ("10.44.0.0/16",)))
    net.reload("c5", client_config(5, ("10.55.0.0/16",)))
    assert "10.44.0.0/16" in learned(net, "c1")
    assert "10.44.0.0/16" not in learned(net, "c9")
    assert "10.100.4.0/24" in learned(net, "c9")
    rr.set_writable("client9", conn, True, net.now)
    net.settle()
    assert learned(net, "c9") == learned(net, "c1") - {"10.100.9.0/24"} | {"10.100.1.0/24"}
    assert "10.100.4.0/24" not in learned(net, "c9")
    assert rr.update_group_sizes() == [CLIENTS]  # folded back into the main group


def test_a_member_going_down_leaves_the_group_and_a_new_one_joins_with_the_table(
    net: Net,
) -> None:
    rr = net.nodes["rr"].speaker
    cut(net, "c6", "rr")
    assert rr.update_group_sizes() == [CLIENTS - 1]
    net.advance(60)  # reconnect
    assert rr.update_group_sizes() == [CLIENTS]
    assert learned(net, "c6") == {f"10.100.{j}.0/24" for j in range(1, CLIENTS + 1) if j != 6}


def test_different_treatment_means_different_groups() -> None:
    net = Net()
    text = rr_config(4).replace(
        'name = "client4"\naddress = "127.0.1.4"\nasn = 64512\nlocal_address = "127.0.0.1"\n'
        "rr_client = true",
        'name = "client4"\naddress = "127.0.1.4"\nasn = 64512\nlocal_address = "127.0.0.1"\n'
        "rr_client = false",
    )
    net.add("rr", RR, text)
    for i in range(1, 5):
        net.add(f"c{i}", f"127.0.1.{i}", client_config(i))
    net.start()
    rr = net.nodes["rr"].speaker
    assert sorted(rr.update_group_sizes()) == [1, 3]
    # The non-client gets the clients' routes; the clients get the non-client's.
    assert learned(net, "c4") == {"10.100.1.0/24", "10.100.2.0/24", "10.100.3.0/24"}
    assert "10.100.4.0/24" in learned(net, "c1")
    # Making it a client (no session reset) moves it into the clients' group.
    closed_before = len(net.closed)
    net.reload("rr", rr_config(4))
    assert rr.update_group_sizes() == [4]
    assert learned(net, "c4") == {"10.100.1.0/24", "10.100.2.0/24", "10.100.3.0/24"}
    assert len(net.closed) == closed_before  # no session was reset


def test_add_path_delivers_every_path_to_clients_that_negotiated_it() -> None:
    # c1 and c2 both originate 10.9.0.0/16; with ADD-PATH the other clients receive both
    # paths (ECMP-capable), without it only the best.
    net = Net()
    net.add("rr", RR, rr_config(4, 'add_path = "both"'))
    for i in range(1, 5):
        statics = (f"10.100.{i}.0/24", "10.9.0.0/16") if i <= 2 else ()
        extra = 'add_path = "both"' if i != 4 else ""
        net.add(f"c{i}", f"127.0.1.{i}", client_config(i, statics, extra))
    net.start()
    rr = net.nodes["rr"].speaker
    assert sorted(rr.update_group_sizes()) == [1, 3]  # c4 did not negotiate ADD-PATH
    both = net.nodes["c3"].speaker.route_views("10.9.0.0/16")
    assert sorted(v.originator_id for v in both) == ["127.0.1.1", "127.0.1.2"]
    assert sorted(v.next_hop for v in both) == ["127.0.1.1", "127.0.1.2"]
    multipath = net.nodes["c3"].speaker.rib.multipath(IPV4_UNICAST, pack_prefix("10.9.0.0/16"))
    assert len(multipath) == 2  # installable as an ECMP route
    assert len(net.nodes["c4"].speaker.route_views("10.9.0.0/16")) == 1
    # c1 receives c2's path but never its own.
    c1_paths = [v for v in net.nodes["c1"].speaker.route_views("10.9.0.0/16") if v.peer == "rr"]
    assert [v.originator_id for v in c1_paths] == ["127.0.1.2"]
    # One path goes away: only that path id is withdrawn, the other stays.
    net.reload("c1", client_config(1, ("10.100.1.0/24",), 'add_path = "both"'))
    after = net.nodes["c3"].speaker.route_views("10.9.0.0/16")
    assert [v.originator_id for v in after] == ["127.0.1.2"]

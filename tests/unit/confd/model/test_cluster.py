"""A 100-node cluster with 3 route reflectors selected by label, as calicoctl would set it up.

The Calico docs' recipe: label the reflectors, give them a cluster id, turn the mesh off, and
add BGPPeers `!has(rr) -> has(rr)` (clients to reflectors) and `has(rr) -> has(rr)`
(reflectors among themselves); plus a rack's top-of-rack router by nodeSelector.
"""

from __future__ import annotations

import json

import pytest

from bgpd.confd.model import derive_bgp_keys
from tests.unit.confd.model.calico_data import bgp_configuration, bgp_peer, node, snapshot

RRS = ("node-000", "node-033", "node-066")
RR_IPS = {n: f"10.0.{int(n[-3:]) // 256}.{int(n[-3:]) % 256 + 1}" for n in RRS}


def _ip(i: int) -> str:
    return f"10.0.{i // 256}.{i % 256 + 1}"


def _cluster() -> dict[str, str]:
    items = [
        bgp_configuration(asNumber=65000, nodeToNodeMeshEnabled=False, logSeverityScreen="Info"),
        bgp_peer(
            "peer-to-rrs", nodeSelector="!has(route-reflector)", peerSelector="has(route-reflector)"
        ),
        bgp_peer(
            "rr-mesh", nodeSelector="has(route-reflector)", peerSelector="has(route-reflector)"
        ),
        bgp_peer("rack-1-tor", nodeSelector="rack == 'r1'", peerIP="192.0.2.1", asNumber=65100),
    ]
    for i in range(100):
        name = f"node-{i:03d}"
        labels = {"rack": f"r{i % 4}"}
        rr_id = None
        if name in RRS:
            labels["route-reflector"] = "true"
            rr_id = "244.0.0.1"
        items.append(
            node(name, f"{_ip(i)}/16", f"fd00::{i + 1:x}/64", rr_cluster_id=rr_id, labels=labels)
        )
    return snapshot(*items)


@pytest.fixture(scope="module")
def view() -> dict[str, str]:
    return derive_bgp_keys(_cluster())


def _host_peers(view: dict[str, str], host: str, family: int = 4) -> dict[str, dict[str, object]]:
    prefix = f"/calico/bgp/v1/host/{host}/peer_v{family}/"
    return {k[len(prefix) :]: json.loads(v) for k, v in view.items() if k.startswith(prefix)}


def test_globals(view: dict[str, str]) -> None:
    assert view["/calico/bgp/v1/global/as_num"] == "65000"
    assert view["/calico/bgp/v1/global/node_mesh"] == '{"enabled":false}'
    assert not [k for k in view if k.startswith("/calico/bgp/v1/global/peer_")]


def test_every_client_peers_with_the_three_reflectors_only(view: dict[str, str]) -> None:
    for i in range(100):
        name = f"node-{i:03d}"
        if name in RRS:
            continue
        peers = _host_peers(view, name)
        expected = set(RR_IPS.values()) | ({"192.0.2.1"} if i % 4 == 1 else set())
        assert set(peers) == expected, name
        for ip in RR_IPS.values():
            assert peers[ip]["rr_cluster_id"] == "244.0.0.1"
            assert peers[ip]["as_num"] == "65000"
        v6 = _host_peers(view, name, 6)
        assert len(v6) == 3


def test_reflectors_peer_with_every_node_and_each_other(view: dict[str, str]) -> None:
    for rr in RRS:
        peers = _host_peers(view, rr)
        # 97 clients (reverse of peer-to-rrs) + the 3 reflectors (rr-mesh, itself included:
        # Calico emits it and the template skips a peer equal to the node's own IP).
        assert set(peers) == {_ip(i) for i in range(100)} | (
            {"192.0.2.1"} if int(rr[-3:]) % 4 == 1 else set()
        )
        clients = [ip for ip in peers if ip not in RR_IPS.values() and ip != "192.0.2.1"]
        assert len(clients) == 97
        assert all(peers[ip]["rr_cluster_id"] == "" for ip in clients)
        assert all(peers[ip]["rr_cluster_id"] == "244.0.0.1" for ip in RR_IPS.values())


def test_rack_tor_only_on_its_rack(view: dict[str, str]) -> None:
    tor_hosts = {k.split("/")[5] for k in view if k.endswith("/peer_v4/192.0.2.1")}
    assert tor_hosts == {f"node-{i:03d}" for i in range(100) if i % 4 == 1}
    # The ToR is no Calico node: no reverse peering appears for it anywhere else.
    assert len(tor_hosts) == 25


def test_peer_key_count(view: dict[str, str]) -> None:
    v4 = [k for k in view if "/peer_v4/" in k]
    v6 = [k for k in view if "/peer_v6/" in k]
    assert len(v4) == 97 * 3 + 3 * 100 + 25
    assert len(v6) == 97 * 3 + 3 * 100


def test_relabelling_a_node_moves_only_its_peerings() -> None:
    base = _cluster()
    before = derive_bgp_keys(base)
    key, value = node("node-050", f"{_ip(50)}/16", f"fd00::{51:x}/64", labels={"rack": "r1"})
    after = derive_bgp_keys(base | {key: value})
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {key, "/calico/bgp/v1/host/node-050/peer_v4/192.0.2.1"}

"""Local workload peers: Felix's endpoint status files + `localWorkloadSelector` BGPPeers ->
`local_bgp_peer` peerings (client.go localBGPPeerDataAsBGPPeers, local_bgp_peer_watcher.go)."""

from __future__ import annotations

import json
from ipaddress import ip_address
from typing import Any

import pytest

from bgpd.confd.model import derive_bgp_keys, new_derive_cache
from bgpd.confd.model.errors import CalicoDataError
from bgpd.confd.model.workloads import EndpointStatusError, read_endpoint_status
from tests.unit.confd.model.calico_data import bgp_peer, endpoint_status, node, snapshot

G4 = "/calico/bgp/v1/global/peer_v4/"
G6 = "/calico/bgp/v1/global/peer_v6/"
WEP = "k8s default%2Fbird-0 eth0"  # Felix's file name: orchestrator, workload, endpoint


def peers_of(view: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {k: json.loads(v) for k, v in view.items() if "/peer_v" in k}


def lws_peer(name: str = "wl", **spec: Any) -> tuple[str, str]:
    return bgp_peer(name, localWorkloadSelector="app == 'bird'", asNumber=65100, **spec)


def nodes() -> list[tuple[str, str]]:
    return [node("a", "10.0.0.1/24", labels={"edge": "yes"}), node("b", "10.0.0.2/24")]


def test_each_workload_address_becomes_a_passive_local_workload_peer() -> None:
    view = derive_bgp_keys(
        snapshot(
            *nodes(),
            lws_peer(filters=["only-pods"]),
            endpoint_status(WEP, "wl", ["10.65.0.5/32"], ["fd00:65::5/128"]),
        )
    )
    assert set(peers_of(view)) == {G4 + "10.65.0.5", G6 + "fd00:65::5"}
    # The value client.go localBGPPeerDataAsBGPPeers marshals (backends.BGPPeer's field
    # order): AS, local AS and filters from the BGPPeer, no source address, passive,
    # local_bgp_peer; nothing else of the spec.
    assert view[G4 + "10.65.0.5"] == (
        '{"ip":"10.65.0.5","as_num":"65100","local_as_num":"0","rr_cluster_id":"",'
        '"password":null,"source_addr":"None","restart_time":"","keepalive_time":"",'
        '"port":0,"keep_next_hop":false,"calico_node":false,"num_allow_local_as":0,'
        '"ttl_security":0,"filters":["only-pods"],"reachable_by":"","passive_mode":true,'
        '"local_bgp_peer":true,"next_hop_mode":""}'
    )
    assert peers_of(view)[G6 + "fd00:65::5"]["local_bgp_peer"] is True


def test_only_files_naming_the_bgppeer_make_peers() -> None:
    view = derive_bgp_keys(
        snapshot(
            *nodes(),
            lws_peer("wl"),
            lws_peer("other"),
            endpoint_status("f1", "wl", ["10.65.0.5/32"]),
            endpoint_status("f2", "other", ["10.65.0.6/32"]),
            endpoint_status("f3", None, ["10.65.0.7/32"]),  # not chosen by any BGPPeer
            endpoint_status("f4", "gone", ["10.65.0.8/32"]),  # names no BGPPeer
        )
    )
    assert set(peers_of(view)) == {G4 + "10.65.0.5", G4 + "10.65.0.6"}


def test_no_bgppeer_no_peer_and_no_file_no_peer() -> None:
    alone = derive_bgp_keys(snapshot(*nodes(), endpoint_status("f", "wl", ["10.65.0.5/32"])))
    assert peers_of(alone) == {}
    assert peers_of(derive_bgp_keys(snapshot(*nodes(), lws_peer()))) == {}


def test_node_selector_scopes_the_peers_to_the_selected_nodes() -> None:
    values = snapshot(
        *nodes(),
        lws_peer(nodeSelector="edge == 'yes'"),
        endpoint_status("f", "wl", ["10.65.0.5/32"]),
    )
    view = derive_bgp_keys(values)
    # Only node a is selected: b's confd would not configure this peering.
    assert set(peers_of(view)) == {"/calico/bgp/v1/host/a/peer_v4/10.65.0.5"}
    by_node = derive_bgp_keys(
        snapshot(*nodes(), lws_peer(node="b"), endpoint_status("f", "wl", ["10.65.0.5/32"]))
    )
    assert set(peers_of(by_node)) == {"/calico/bgp/v1/host/b/peer_v4/10.65.0.5"}


def test_only_the_first_address_of_each_family_peers() -> None:
    view = derive_bgp_keys(
        snapshot(
            *nodes(),
            lws_peer(),
            endpoint_status("f", "wl", ["10.65.0.5/32", "10.65.0.9/32"], ["fd00:65::5/128"]),
        )
    )
    assert set(peers_of(view)) == {G4 + "10.65.0.5", G6 + "fd00:65::5"}


def test_a_workload_peer_makes_no_reverse_peering() -> None:
    # The workload's address is no node's: nothing points back (client.go skips the reverse
    # pass for localWorkloadSelector); a node's address as a workload's changes nothing either.
    view = derive_bgp_keys(
        snapshot(*nodes(), lws_peer(), endpoint_status("f", "wl", ["10.0.0.2/32"]))
    )
    assert set(peers_of(view)) == {G4 + "10.0.0.2"}
    assert peers_of(view)[G4 + "10.0.0.2"]["local_bgp_peer"] is True


def test_removing_the_file_or_the_bgppeer_removes_the_peer_through_the_cache() -> None:
    cache = new_derive_cache()
    status = endpoint_status("f", "wl", ["10.65.0.5/32"])
    full = snapshot(*nodes(), lws_peer(), status)
    assert G4 + "10.65.0.5" in derive_bgp_keys(full, cache=cache)
    without_file = {k: v for k, v in full.items() if k != status[0]}
    assert peers_of(derive_bgp_keys(without_file, cache=cache)) == {}
    assert G4 + "10.65.0.5" in derive_bgp_keys(full, cache=cache)
    moved = dict(full) | dict([endpoint_status("f", "wl", ["10.65.0.6/32"])])
    assert set(peers_of(derive_bgp_keys(moved, cache=cache))) == {G4 + "10.65.0.6"}
    without_peer = {k: v for k, v in full.items() if "bgppeers" not in k}
    assert peers_of(derive_bgp_keys(without_peer, cache=cache)) == {}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"asNumber": None}, "spec.asNumber: required with localWorkloadSelector"),
        ({"peerSelector": "all()"}, "mutually exclusive"),
        ({"peerIP": "10.1.1.1"}, "mutually exclusive"),
    ],
)
def test_calicos_validation_of_local_workload_bgppeers(spec: dict[str, Any], problem: str) -> None:
    full = {"localWorkloadSelector": "app == 'x'", "asNumber": 65100} | spec
    full = {k: v for k, v in full.items() if v is not None}
    with pytest.raises(CalicoDataError, match=problem):
        derive_bgp_keys(snapshot(bgp_peer("wl", **full)))


def test_session_fields_the_workload_peers_do_not_get_are_reported() -> None:
    cache = new_derive_cache()
    derive_bgp_keys(
        snapshot(lws_peer(password={"secretKeyRef": {"name": "s", "key": "k"}}, ttlSecurity=2)),
        cache=cache,
    )
    refused = [r for rs in cache.state.refusals.values() for r in rs]
    assert [(r.name, r.field) for r in refused] == [
        ("wl", "spec.password"),
        ("wl", "spec.ttlSecurity"),
    ]
    assert "Local_Workload" in refused[0].reason
    # The same fields on an ordinary BGPPeer are applied: nothing reported.
    cache = new_derive_cache()
    derive_bgp_keys(
        snapshot(bgp_peer("tor", peerIP="10.1.1.1", asNumber=1, ttlSecurity=2)), cache=cache
    )
    assert cache.state.refusals == {}


def test_a_bad_status_key_is_a_data_error_naming_it() -> None:
    # The source keeps bad files out of the view; a key written by hand is checked anyway.
    with pytest.raises(CalicoDataError, match="endpoint-status/f: endpoint status: malformed"):
        derive_bgp_keys({"/calico/endpoint-status/f": "{"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty file"),
        ('{"ipv4Nets": ["10.65.0.5/3', "malformed JSON"),
        ("[]", "expected a JSON object"),
        ('{"bgpPeerName": 7}', "bgpPeerName must be a string"),
        ('{"ipv4Nets": "10.65.0.5/32"}', "ipv4Nets must be a list"),
        ('{"ipv4Nets": ["10.65.0.5"]}', "is not an IPv4 CIDR"),
        ('{"ipv4Nets": ["fd00::1/128"]}', "is not an IPv4 CIDR"),
        ('{"ipv6Nets": ["nonsense/1"]}', "is not a CIDR"),
    ],
)
def test_read_endpoint_status_refuses_what_go_would_not_read(raw: str, message: str) -> None:
    with pytest.raises(EndpointStatusError, match=message):
        read_endpoint_status(raw)


def test_read_endpoint_status_reads_felixs_file() -> None:
    # As Felix's status file reporter writes it (json.Marshal of WorkloadEndpointStatus).
    raw = (
        '{"ifaceName":"cali1b2c3d4e5f6","mac":"ee:ee:ee:ee:ee:ee","ipv4Nets":["10.65.0.5/32"],'
        '"ipv6Nets":["fd00:65::5/128"],"bgpPeerName":"wl","future":1}'
    )
    status = read_endpoint_status(raw)
    assert status.bgp_peer_name == "wl"
    assert status.ipv4 == ip_address("10.65.0.5")
    assert status.ipv6 == ip_address("fd00:65::5")
    assert read_endpoint_status('{"ipv4Nets":null}').ipv4 is None


def test_a_local_workload_peer_takes_the_bgppeers_local_as() -> None:
    # Calico's main copies localASNumber onto these peers too (client.go
    # localBGPPeerDataAsBGPPeers); it is a session field they do get, so nothing is reported.
    view = derive_bgp_keys(
        snapshot(
            *nodes(),
            lws_peer(localASNumber=65200),
            endpoint_status(WEP, "wl", ["10.65.0.5/32"], []),
        )
    )
    assert '"local_as_num":"65200"' in view[G4 + "10.65.0.5"]

"""BGPPeer resources -> v1 peer keys: every rule of calico-bgp.md §1.5 (client.go updatePeersV1)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bgpd.confd.model import derive_bgp_keys
from bgpd.confd.model.errors import CalicoDataError
from bgpd.confd.model.resources import read_bgp_peer
from bgpd.confd.model.values import Problems
from tests.unit.confd.model.calico_data import (
    bgp_configuration,
    bgp_peer,
    node,
    secret,
    snapshot,
)

G4 = "/calico/bgp/v1/global/peer_v4/"
G6 = "/calico/bgp/v1/global/peer_v6/"


def h4(host: str, ip: str) -> str:
    return f"/calico/bgp/v1/host/{host}/peer_v4/{ip}"


def h6(host: str, ip: str) -> str:
    return f"/calico/bgp/v1/host/{host}/peer_v6/{ip}"


def peers_of(view: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {k: json.loads(v) for k, v in view.items() if "/peer_v" in k}


def three_nodes(**extra_labels: dict[str, str]) -> list[tuple[str, str]]:
    return [
        node("a", "10.0.0.1/24", "fd00::1/64", labels={"rr": "true", **extra_labels.get("a", {})}),
        node("b", "10.0.0.2/24", labels=extra_labels.get("b")),
        node("c", "10.0.0.3/24", asn=64600, labels=extra_labels.get("c")),
    ]


# --- The value JSON ------------------------------------------------------------------------------


def test_peer_value_has_calicos_fields_in_struct_order() -> None:
    view = derive_bgp_keys(snapshot(bgp_peer("tor", peerIP="192.0.2.1", asNumber=65010)))
    raw = view[G4 + "192.0.2.1"]
    # confd/pkg/backends/types.go BGPPeer, in its order
    assert raw == (
        '{"ip":"192.0.2.1","as_num":"65010","local_as_num":"0","rr_cluster_id":"",'
        '"password":null,"source_addr":"UseNodeIP","restart_time":"","keepalive_time":"",'
        '"port":0,"keep_next_hop":false,"calico_node":false,"num_allow_local_as":0,'
        '"ttl_security":0,"filters":null,"reachable_by":"","passive_mode":false,'
        '"local_bgp_peer":false,"next_hop_mode":""}'
    )


def test_explicit_peer_fields_are_carried() -> None:
    view = derive_bgp_keys(
        snapshot(
            bgp_peer(
                "tor",
                peerIP="192.0.2.1",
                asNumber="1.10",  # asdot
                keepOriginalNextHop=True,
                sourceAddress="None",
                maxRestartTime="2m30.6s",
                numAllowedLocalASNumbers=2,
                ttlSecurity=1,
                reachableBy="10.0.0.254",
                filters=["f-in", "f-out"],
            )
        )
    )
    p = json.loads(view[G4 + "192.0.2.1"])
    assert p["as_num"] == str((1 << 16) + 10)
    assert p["keep_next_hop"] is True
    assert p["source_addr"] == "None"
    assert p["restart_time"] == "151"  # 150.6 s rounded to whole seconds (rule 4)
    assert p["num_allow_local_as"] == 2
    assert p["ttl_security"] == 1
    assert p["reachable_by"] == "10.0.0.254"
    assert p["filters"] == ["f-in", "f-out"]
    assert (p["local_as_num"], p["keepalive_time"], p["next_hop_mode"]) == ("0", "", "")


def test_explicit_peer_session_fields_are_carried() -> None:
    view = derive_bgp_keys(
        snapshot(
            bgp_peer(
                "tor",
                peerIP="192.0.2.1",
                asNumber=65010,
                localASNumber="1.20",  # asdot, as numorstring.ASNumber reads it
                keepaliveTime="20.5s",
                nextHopMode="Self",
                keepOriginalNextHop=True,
            )
        )
    )
    p = json.loads(view[G4 + "192.0.2.1"])
    assert p["local_as_num"] == str((1 << 16) + 20)
    assert p["keepalive_time"] == "21"  # Go's math.Round: halves away from zero
    # client.go getNextHopMode: a set nextHopMode wins, keepOriginalNextHop is then ignored
    assert (p["next_hop_mode"], p["keep_next_hop"]) == ("Self", False)


def test_keep_original_next_hop_alone_is_carried_as_keep_next_hop() -> None:
    view = derive_bgp_keys(
        snapshot(bgp_peer("tor", peerIP="192.0.2.1", asNumber=65010, keepOriginalNextHop=True))
    )
    p = json.loads(view[G4 + "192.0.2.1"])
    assert (p["next_hop_mode"], p["keep_next_hop"]) == ("", True)


def test_selector_peers_take_next_hop_mode_and_keepalive_but_not_the_local_as() -> None:
    # client.go nodeAsBGPPeers: getNextHopMode and setPeerConfigFieldsFromV3Resource apply,
    # LocalASNum and NumAllowLocalAS are left at zero.
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            bgp_peer(
                "to-rr",
                peerSelector="rr == 'true'",
                localASNumber=65099,
                numAllowedLocalASNumbers=3,
                keepaliveTime="1m",
                nextHopMode="Keep",
            ),
        )
    )
    p = json.loads(view[G4 + "10.0.0.1"])
    assert (p["next_hop_mode"], p["keepalive_time"]) == ("Keep", "60")
    assert (p["local_as_num"], p["num_allow_local_as"]) == ("0", 0)


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"keepaliveTime": "0s"}, "keepaliveTime", "out of range 1s..239s"),
        ({"keepaliveTime": "4m"}, "keepaliveTime", "below the hold time 240 s"),
        ({"keepaliveTime": "often"}, "keepaliveTime", "not a duration"),
        ({"nextHopMode": "self"}, "nextHopMode", "not Auto, Self or Keep"),
        ({"localASNumber": "x"}, "localASNumber", ""),
    ],
)
def test_bad_session_fields_are_reported_and_dropped(
    spec: dict[str, object], field: str, message: str
) -> None:
    problems = Problems()
    raw = json.dumps({"spec": {"peerIP": "192.0.2.1", "asNumber": 65010, **spec}})
    res = read_bgp_peer("/k/tor", "tor", raw, problems)
    assert res is not None
    assert (res.keepalive_time, res.next_hop_mode, res.local_as_number) == ("", "", 0)
    assert any(f"spec.{field}" in p.message and message in p.message for p in problems.items), [
        p.message for p in problems.items
    ]


# --- Rule 1: the global pass --------------------------------------------------------------------


def test_rule1_peer_without_node_or_selector_is_global() -> None:
    view = derive_bgp_keys(
        snapshot(*three_nodes(), bgp_peer("tor", peerIP="192.0.2.1", asNumber=65010))
    )
    assert G4 + "192.0.2.1" in view
    assert not [k for k in view if k.startswith("/calico/bgp/v1/host/") and "peer_v" in k]


def test_rule1_global_peer_selector_expands_to_v4_and_v6_of_each_node() -> None:
    view = derive_bgp_keys(snapshot(*three_nodes(), bgp_peer("to-rr", peerSelector="rr == 'true'")))
    peers = peers_of(view)
    # Rule 3 (reverse): the RR gets peerings back to every node (no node side = all()),
    # except to its own addresses: a global peering to that IP exists (rule 2's skip).
    assert set(peers) == {
        G4 + "10.0.0.1",
        G6 + "fd00::1",
        h4("a", "10.0.0.2"),
        h4("a", "10.0.0.3"),
    }
    assert peers[G4 + "10.0.0.1"]["as_num"] == "64512"  # the global AS (default)
    assert peers[G6 + "fd00::1"]["ip"] == "fd00::1"


def test_rule1_selector_peer_takes_node_as_cluster_id_and_listen_port() -> None:
    view = derive_bgp_keys(
        snapshot(
            node("r1", "10.0.0.1/24", asn=65001, rr_cluster_id="1.0.0.1", labels={"rr": "true"}),
            node("r2", "10.0.0.2/24", rr_cluster_id="1.0.0.1", labels={"rr": "true"}),
            bgp_configuration("default", asNumber=65000, listenPort=1790),
            bgp_configuration("node.r1", listenPort=1791),
            bgp_peer("to-rr", peerSelector="has(rr)"),
        )
    )
    r1 = json.loads(view[G4 + "10.0.0.1-1791"])  # node-specific port, key suffix
    r2 = json.loads(view[G4 + "10.0.0.2-1790"])  # falls back to the global port
    assert (r1["as_num"], r1["rr_cluster_id"], r1["port"]) == ("65001", "1.0.0.1", 1791)
    assert (r2["as_num"], r2["rr_cluster_id"], r2["port"]) == ("65000", "1.0.0.1", 1790)
    # nodeAsBGPPeers leaves these at their zero values.
    assert (r1["calico_node"], r1["keep_next_hop"], r1["num_allow_local_as"]) == (False, False, 0)


def test_port_suffix_only_for_ports_other_than_0_and_179() -> None:
    view = derive_bgp_keys(
        snapshot(
            bgp_peer("p1", peerIP="192.0.2.1:179", asNumber=65010),
            bgp_peer("p2", peerIP="192.0.2.2:1790", asNumber=65010),
            bgp_peer("p3", peerIP="[2001:db8::3]:1791", asNumber=65010),
            bgp_peer("p4", peerIP="2001:db8::4", asNumber=65010),
        )
    )
    assert json.loads(view[G4 + "192.0.2.1"])["port"] == 179
    assert json.loads(view[G4 + "192.0.2.2-1790"])["port"] == 1790
    assert json.loads(view[G6 + "2001:db8::3-1791"])["port"] == 1791
    assert json.loads(view[G6 + "2001:db8::4"])["port"] == 0


def test_explicit_peer_to_a_calico_node_uses_its_listen_port_and_is_flagged() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            bgp_configuration("node.b", listenPort=1800),
            bgp_peer("to-b", peerIP="10.0.0.2", asNumber=64512),
            bgp_peer("to-c-wrong-as", peerIP="10.0.0.3", asNumber=65999),
        )
    )
    b = json.loads(view[G4 + "10.0.0.2-1800"])
    assert (b["port"], b["calico_node"]) == (1800, True)
    # An AS that is not the node's: no listen-port lookup, but still a Calico node's address.
    c = json.loads(view[G4 + "10.0.0.3"])
    assert (c["port"], c["calico_node"]) == (0, True)


# --- Rule 2: the node pass ----------------------------------------------------------------------


def test_rule2_node_and_node_selector_peers_are_per_host() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(b={"rack": "4"}, c={"rack": "4"}),
            bgp_peer("only-a", node="a", peerIP="192.0.2.1", asNumber=65010),
            bgp_peer("rack4", nodeSelector="rack == '4'", peerIP="192.0.2.4", asNumber=65014),
        )
    )
    peers = peers_of(view)
    assert set(peers) == {h4("a", "192.0.2.1"), h4("b", "192.0.2.4"), h4("c", "192.0.2.4")}


def test_rule2_node_peering_skipped_when_a_global_one_to_the_same_ip_port_exists() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            bgp_peer("z-global", peerIP="192.0.2.1", asNumber=65010),
            bgp_peer("a-node", node="a", peerIP="192.0.2.1", asNumber=65099),
            bgp_peer("b-node-other-port", node="b", peerIP="192.0.2.1:1790", asNumber=65099),
        )
    )
    assert h4("a", "192.0.2.1") not in view
    assert json.loads(view[G4 + "192.0.2.1"])["as_num"] == "65010"
    # A different port is a different peering: kept.
    assert json.loads(view[h4("b", "192.0.2.1-1790")])["as_num"] == "65099"


def test_first_bgppeer_by_name_wins_a_key() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            bgp_peer("b-second", node="a", peerIP="192.0.2.1", asNumber=65002),
            bgp_peer("a-first", node="a", peerIP="192.0.2.1", asNumber=65001),
        )
    )
    assert json.loads(view[h4("a", "192.0.2.1")])["as_num"] == "65001"


# --- Rule 3: the reverse pass -------------------------------------------------------------------


def test_rule3_one_bgppeer_configures_clients_and_reflectors() -> None:
    view = derive_bgp_keys(
        snapshot(
            node("rr1", "10.0.0.1/24", rr_cluster_id="1.0.0.1", labels={"rr": "true"}),
            node("n2", "10.0.0.2/24"),
            node("n3", "10.0.0.3/24"),
            bgp_peer("rr-mesh", nodeSelector="all()", peerSelector="rr == 'true'"),
        )
    )
    peers = peers_of(view)
    # Forward: every node (the RR too) peers with the RR.
    for n in ("rr1", "n2", "n3"):
        assert peers[h4(n, "10.0.0.1")]["rr_cluster_id"] == "1.0.0.1"
    # Reverse: the RR peers with every node.
    for ip in ("10.0.0.2", "10.0.0.3"):
        assert peers[h4("rr1", ip)]["rr_cluster_id"] == ""
    assert len(peers) == 5


def test_rule3_peer_ip_matching_a_node_gets_the_reverse_peering() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            # b peers with c by address; c's AS is 64600, so c matches and peers back.
            bgp_peer("b-to-c", node="b", peerIP="10.0.0.3", asNumber=64600),
            # a points at b with the wrong AS: b is not that peer, no reverse.
            bgp_peer("a-to-b", node="a", peerIP="10.0.0.2", asNumber=65999),
        )
    )
    back = json.loads(view[h4("c", "10.0.0.2")])
    assert (back["ip"], back["as_num"]) == ("10.0.0.2", "64512")
    assert h4("b", "10.0.0.1") not in view


def test_rule3_reverse_of_ip_peering_stays_in_its_family() -> None:
    view = derive_bgp_keys(
        snapshot(
            node("a", "10.0.0.1/24", "fd00::1/64"),
            node("b", "10.0.0.2/24", "fd00::2/64"),
            bgp_peer("a-to-b6", node="a", peerIP="fd00::2", asNumber=64512),
        )
    )
    assert h6("b", "fd00::1") in view
    assert h4("b", "10.0.0.1") not in view


def test_rule3_explicit_peering_wins_over_a_reverse_one() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            bgp_peer("a-to-b", node="a", peerIP="10.0.0.2", asNumber=64512, ttlSecurity=2),
            # Explicit b -> a with its own settings; the reverse of a-to-b must not replace it.
            bgp_peer("b-to-a", node="b", peerIP="10.0.0.1", asNumber=64512, ttlSecurity=5),
        )
    )
    assert json.loads(view[h4("b", "10.0.0.1")])["ttl_security"] == 5
    assert json.loads(view[h4("a", "10.0.0.2")])["ttl_security"] == 2


def test_rule3_global_peer_selector_reverses_to_all_nodes() -> None:
    view = derive_bgp_keys(
        snapshot(*three_nodes(), bgp_peer("all-to-c", peerSelector="kubernetes.io/hostname == 'c'"))
    )
    # c's peering to itself is skipped: the global peering to 10.0.0.3 exists.
    assert {k for k in view if k.startswith("/calico/bgp/v1/host/c/peer_v4/")} == {
        h4("c", "10.0.0.1"),
        h4("c", "10.0.0.2"),
    }
    assert json.loads(view[G4 + "10.0.0.3"])["as_num"] == "64600"


def test_rule3_manual_reverse_peering_makes_no_reverse_peering() -> None:
    # client.go automaticReversePeering: Manual skips the reverse pass for this BGPPeer only.
    auto = bgp_peer("rr-mesh", nodeSelector="all()", peerSelector="rr == 'true'")
    manual = bgp_peer(
        "rr-mesh", nodeSelector="all()", peerSelector="rr == 'true'", reversePeering="Manual"
    )
    nodes = (
        node("rr1", "10.0.0.1/24", rr_cluster_id="1.0.0.1", labels={"rr": "true"}),
        node("n2", "10.0.0.2/24"),
    )
    with_auto = peers_of(derive_bgp_keys(snapshot(*nodes, auto)))
    with_manual = peers_of(derive_bgp_keys(snapshot(*nodes, manual)))
    # The forward peerings are the same; only the RR's peering back to n2 is gone.
    assert set(with_auto) - set(with_manual) == {h4("rr1", "10.0.0.2")}
    assert {k: with_manual[k] for k in with_manual} == {
        k: v for k, v in with_auto.items() if k != h4("rr1", "10.0.0.2")
    }


def manual_b_to_c() -> tuple[str, str]:
    return bgp_peer("b-to-c", node="b", peerIP="10.0.0.3", asNumber=64600, reversePeering="Manual")


def test_rule3_manual_reverse_of_a_peer_ip_peering() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            manual_b_to_c(),
            # The reverse written by hand, as Manual asks: it is the only c -> b peering.
            bgp_peer("c-to-b", node="c", peerIP="10.0.0.2", asNumber=64512, ttlSecurity=3),
        )
    )
    assert json.loads(view[h4("b", "10.0.0.3")])["as_num"] == "64600"
    assert json.loads(view[h4("c", "10.0.0.2")])["ttl_security"] == 3
    # c-to-b is Auto: its own reverse (b -> c) exists already as b-to-c's explicit peering.
    assert json.loads(view[h4("b", "10.0.0.3")])["ttl_security"] == 0


def test_rule3_manual_reverse_peering_of_one_bgppeer_leaves_others_alone() -> None:
    view = derive_bgp_keys(
        snapshot(
            *three_nodes(),
            manual_b_to_c(),
            bgp_peer("a-to-c", node="a", peerIP="10.0.0.3", asNumber=64600),
        )
    )
    assert h4("c", "10.0.0.1") in view  # a-to-c (Auto) is reversed
    assert h4("c", "10.0.0.2") not in view  # b-to-c (Manual) is not


@pytest.mark.parametrize("value", ["manual", "Off", ""])
def test_reverse_peering_must_be_auto_or_manual(value: str) -> None:
    snap = snapshot(*three_nodes(), bgp_peer("b-to-c", node="b", peerIP="10.0.0.3", asNumber=64600))
    bad = snapshot(
        *three_nodes(),
        bgp_peer("b-to-c", node="b", peerIP="10.0.0.3", asNumber=64600, reversePeering=value),
    )
    if not value:
        # empty: the default, Auto (the CRD's enum allows "")
        assert peers_of(derive_bgp_keys(bad)) == peers_of(derive_bgp_keys(snap))
        return
    with pytest.raises(CalicoDataError, match=r"reversePeering.*not Auto or Manual"):
        derive_bgp_keys(bad)


# --- Rule 4: password, source address, restart time ---------------------------------------------


def test_rule4_password_from_secret_or_null() -> None:
    snap = snapshot(
        bgp_peer(
            "tor",
            peerIP="192.0.2.1",
            asNumber=65010,
            password={"secretKeyRef": {"name": "bgp-secrets", "key": "tor"}},
        )
    )
    without = json.loads(derive_bgp_keys(snap)[G4 + "192.0.2.1"])
    # Unlike Calico, a Secret that cannot be read is never "no password" (test_secrets.py).
    assert without["password"] is None and without["password_unavailable"]
    with_secret = derive_bgp_keys({**snap, **dict([secret("bgp-secrets", tor="s3cret")])})
    assert json.loads(with_secret[G4 + "192.0.2.1"])["password"] == "s3cret"
    assert "password_unavailable" not in json.loads(with_secret[G4 + "192.0.2.1"])


def test_rule4_source_address_defaults_to_use_node_ip_for_selector_peers_too() -> None:
    view = derive_bgp_keys(
        snapshot(*three_nodes(), bgp_peer("rr", peerSelector="has(rr)", maxRestartTime="90s"))
    )
    p = json.loads(view[G4 + "10.0.0.1"])
    assert (p["source_addr"], p["restart_time"]) == ("UseNodeIP", "90")


# --- Rule 5: a pure function of the data --------------------------------------------------------


def test_rule5_same_data_same_view_and_changes_stay_local() -> None:
    items = [*three_nodes(), bgp_peer("rr", nodeSelector="all()", peerSelector="has(rr)")]
    before = derive_bgp_keys(snapshot(*items))
    assert derive_bgp_keys(snapshot(*reversed(items))) == before
    after = derive_bgp_keys(snapshot(*items, node("d", "10.0.0.4/24")))
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {
        "/calico/bgp/v1/host/d/ip_addr_v4",
        "/calico/bgp/v1/host/d/ip_addr_v6",
        "/calico/bgp/v1/host/d/network_v4",
        "/calico/bgp/v1/host/d/rr_cluster_id",
        "/calico/bgp/v1/host/d/wireguard_addr_v4",
        "/calico/bgp/v1/host/d/wireguard_addr_v6",
        "/calico/resources/v3/projectcalico.org/nodes/d",
        h4("d", "10.0.0.1"),  # d is a client of the RR
        h6("d", "fd00::1"),  # in both families, although d has no IPv6 (templates skip it)
        h4("a", "10.0.0.4"),  # and the RR peers back
    }


@pytest.mark.parametrize("nodes_without_v6", [True, False])
def test_nodes_without_an_address_family_get_no_peer_in_it(nodes_without_v6: bool) -> None:
    v6 = None if nodes_without_v6 else "fd00::9/64"
    view = derive_bgp_keys(
        snapshot(
            node("x", "10.0.0.9/24", v6, labels={"rr": "true"}),
            bgp_peer("rr", peerSelector="has(rr)"),
        )
    )
    assert (G6 + "fd00::9" in view) is not nodes_without_v6

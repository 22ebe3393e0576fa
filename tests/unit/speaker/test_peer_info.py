"""`show peer NAME` / `show peers --wide`: the peer's role (Calico's name prefixes and the
reflection settings), its local end, flaps, last error with its age, description, the
capabilities negotiated per family and its graceful restart state."""

from __future__ import annotations

import pytest

from bgpd.config import parse_config
from bgpd.control.tables import render_peers_wide
from bgpd.speaker.peer_info import peer_role
from bgpd.views import PeerView

from .harness import Net, config, cut


def view(net: Net, node: str, peer: str) -> PeerView:
    v = net.nodes[node].speaker.peer_view(peer, net.now)
    assert v is not None
    return v


@pytest.mark.parametrize(
    ("name", "asn", "extra", "bgp", "role"),
    [
        ("Node_127_0_0_2", 64512, "", "", "node-specific"),
        ("Global_127_0_0_2", 64513, "", "", "global"),
        ("Local_Workload_127_0_0_2", 64513, "", "", "local-workload"),
        ("Dynamic_127_0_0_2", 64512, "", "", "dynamic"),
        ("Node_127_0_0_2", 64512, "rr_client = true", "", "reflector-client"),
        ("rr2", 64512, "", 'cluster_id = "1.1.1.1"', "reflector-non-client"),
        ("plain", 64512, "", "", "ibgp"),
        ("plain", 64513, "", "", "ebgp"),
    ],
)
def test_roles(name: str, asn: int, extra: str, bgp: str, role: str) -> None:
    text = config(64512, "127.0.0.1", [(name, "127.0.0.2", asn)], extra_peer=extra)
    text = text.replace("[bgp]\n", f"[bgp]\n{bgp}\n", 1)
    cfg = parse_config(text)
    assert peer_role(cfg, cfg.peer(name)) == role


def test_the_mesh_role_comes_from_the_mesh() -> None:
    text = config(64512, "127.0.0.1", []) + (
        '\n[node]\nname = "n1"\nipv4 = "127.0.0.1/8"\n\n[mesh]\n'
        '\n[[cluster_node]]\nname = "n1"\nipv4 = "127.0.0.1"\n'
        '\n[[cluster_node]]\nname = "n2"\nipv4 = "127.0.0.2"\n'
    )
    cfg = parse_config(text)
    (peer,) = cfg.mesh_peers
    assert peer_role(cfg, peer) == "mesh"


def pair(extra: str = "") -> Net:
    net = Net()
    a = config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)], extra_peer=extra)
    a = a.replace(
        'local_address = "127.0.0.1"\n', 'local_address = "127.0.0.1"\ndescription = "rack 7"\n', 1
    )
    net.add("a", "127.0.0.1", a)
    net.add(
        "b",
        "127.0.0.2",
        config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], extra_peer=extra),
    )
    net.start()
    return net


def test_local_end_flaps_last_error_age_and_graceful_restart_state() -> None:
    net = pair()
    up = view(net, "a", "to_b")
    assert (up.local_address, up.description, up.flaps) == ("127.0.0.1", "rack 7", 1)
    assert up.local_port in (179, 40001, 40002, 40003)  # whichever connection won
    assert up.graceful_restart == "gr" and up.last_error_age_s is None
    cut(net, "b", "to_a")  # b "crashes": a keeps b's routes stale (RFC 4724)
    down = view(net, "a", "to_b")
    assert down.local_address is None and down.local_port is None
    assert down.graceful_restart == "stale"
    net.advance(5)
    after = view(net, "a", "to_b")
    assert after.state == "Established" and after.flaps == 2
    net.nodes["b"].speaker.reset_peer("to_a", net.now, soft=False)
    net.settle()
    net.advance(2, step=0.5)
    reset = view(net, "a", "to_b")
    assert reset.last_error == "Received: Cease/Administrative Reset: reset by operator"
    assert reset.last_error_age_s is not None and 1.5 <= reset.last_error_age_s <= 2.5
    wide = render_peers_wide([PeerView.from_json(reset.to_json())])
    assert "ibgp" in wide and "rack 7" in wide and " ago)" in wide


def test_capabilities_per_family() -> None:
    net = pair('add_path = "both"\nrestart_mode = "llgr"\n')
    up = view(net, "a", "to_b")
    assert up.detail is not None and up.detail.session.negotiated is not None
    caps = dict(up.detail.session.negotiated.family_capabilities)
    assert caps["ipv4-unicast"][:3] == ("add-path-rx", "add-path-tx", "graceful-restart")
    assert caps["ipv4-unicast"][3].startswith("long-lived-gr ")
    assert up.graceful_restart == "llgr"

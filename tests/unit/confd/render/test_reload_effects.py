"""What the speaker's reload diff makes of Calico changes as confd renders them.

Each case renders a node's config before and after one datastore change and checks the
`diff_configs` classification the speaker applies: only the sessions that must restart are
reset (the integration tests count real session resets; these pin the whole matrix fast).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import Config, ConfigDiff, diff_configs, parse_config

from . import calico_v3
from .calico_data import V1, block, globals_, host, peer_json, peer_key, pool

CONFDIR = DEFAULT_CONFDIR


def render(view: Mapping[str, str], node: str = "a") -> str:
    resources = load_resources(CONFDIR, node)
    ctx = TemplateContext(nodename=node, variables={"kernel": "false"})
    return Renderer(CONFDIR, resources, ctx).render_text(resources[0], view)


def base() -> dict[str, str]:
    view = globals_(bind_mode="NodeIP")
    view.update(host("a", "10.0.0.1", network_v4="10.0.0.0/24"))
    view.update(host("b", "10.0.0.2"))
    view.update(pool("192.168.0.0/16"))
    view.update(block("a", "192.168.1.0/26"))
    view[peer_key("global", "10.0.0.254")] = peer_json("10.0.0.254", 65000)
    return view


def diff(change: Callable[[dict[str, str]], None]) -> ConfigDiff:
    before = base()
    after = dict(before)
    change(after)
    return diff_configs(parse_config(render(before)), parse_config(render(after)))


def no_resets(d: ConfigDiff) -> bool:
    return not d.global_session_changed and not d.session_changed and not d.peers_removed


def test_log_level_touches_nothing_else() -> None:
    d = diff(lambda v: v.__setitem__(f"{V1}/global/loglevel", "debug"))
    assert d.log_level_changed and no_resets(d) and not d.peers_added
    assert d == ConfigDiff(log_level_changed=True)


def test_a_new_node_adds_one_mesh_peer() -> None:
    d = diff(lambda v: v.update(host("c", "10.0.0.3")))
    assert d.peers_added == ("Mesh_10_0_0_3",) and no_resets(d)


def test_a_new_block_re_exports_without_resets() -> None:
    d = diff(lambda v: v.update(block("a", "192.168.2.0/26")))
    assert d.export_policy_changed and d.statics_changed and no_resets(d)
    assert not d.peers_added


def test_a_new_bgp_peer_starts_alone() -> None:
    d = diff(lambda v: v.__setitem__(peer_key("global", "10.0.0.253"), peer_json("10.0.0.253", 1)))
    assert d.peers_added == ("Global_10_0_0_253",) and no_resets(d)


def test_a_peer_password_resets_that_peer_only() -> None:
    d = diff(
        lambda v: v.__setitem__(
            peer_key("global", "10.0.0.254"), peer_json("10.0.0.254", 65000, password="pw")
        )
    )
    assert d.session_changed == ("Global_10_0_0_254",) and not d.global_session_changed


def test_another_node_becoming_a_reflector_drops_only_its_mesh_session() -> None:
    d = diff(lambda v: v.update(host("b", "10.0.0.2", rr_cluster_id="224.0.0.1")))
    assert d.peers_removed == ("Mesh_10_0_0_2",)
    assert not d.global_session_changed and not d.session_changed


def test_the_global_as_resets_every_session() -> None:
    d = diff(lambda v: v.__setitem__(f"{V1}/global/as_num", "64600"))
    assert d.global_session_changed


def render_v3(values: Mapping[str, str], node: str) -> Config:
    """A node's config rendered from v3 resources (the model first, as `bgpd confd` does)."""
    view = derive_view(values, LocalNode(nodename=node))
    resources = load_resources(CONFDIR, node)
    ctx = TemplateContext(nodename=node, variables={})
    return parse_config(Renderer(CONFDIR, resources, ctx).render_text(resources[0], view))


def reflector_cluster(**peer_spec: str) -> dict[str, str]:
    values = calico_v3.bgp_configuration(nodeToNodeMeshEnabled=False)
    for name, ip in (("w1", "10.0.0.11/24"), ("w2", "10.0.0.12/24")):
        values |= calico_v3.node(name, ip)
    values |= calico_v3.node(
        "rr", "10.0.0.2/24", labels={"rr": "true"}, routeReflectorClusterID="224.0.0.1"
    )
    values |= calico_v3.bgp_peer(
        "to-rr", nodeSelector="!has(rr)", peerSelector="has(rr)", **peer_spec
    )
    values |= calico_v3.bgp_peer("tor", peerIP="192.0.2.1", asNumber=65000, **peer_spec)
    return values


def test_reverse_peering_manual_removes_only_the_reverse_peers() -> None:
    auto, manual = reflector_cluster(), reflector_cluster(reversePeering="Manual")
    d = diff_configs(render_v3(auto, "rr"), render_v3(manual, "rr"))
    assert d == ConfigDiff(peers_removed=("Node_10_0_0_11", "Node_10_0_0_12"))
    d = diff_configs(render_v3(manual, "rr"), render_v3(auto, "rr"))
    assert d == ConfigDiff(peers_added=("Node_10_0_0_11", "Node_10_0_0_12"))
    # The workers' own peerings do not depend on it.
    assert diff_configs(render_v3(auto, "w1"), render_v3(manual, "w1")).is_empty


def test_reachable_by_change_moves_the_route_only() -> None:
    def tor(gateway: str) -> dict[str, str]:
        values = calico_v3.node("w1", "10.0.0.11/24")
        return values | calico_v3.bgp_peer(
            "tor", peerIP="192.0.2.1", asNumber=65000, reachableBy=gateway
        )

    d = diff_configs(render_v3(tor("10.0.0.1"), "w1"), render_v3(tor("10.0.0.254"), "w1"))
    assert d == ConfigDiff(settings_changed=("Global_192_0_2_1",), kernel_changed=True)


def test_reachable_by_on_a_mesh_address_is_dropped_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The mesh already peers with w2; the explicit BGPPeer is not configured twice, and the
    route only it carried is named in a warning rather than dropped silently."""
    values = (
        calico_v3.node("w1", "10.0.0.11/24")
        | calico_v3.node("w2", "10.0.0.12/24")
        | calico_v3.bgp_peer("to-w2", peerIP="10.0.0.12", asNumber=64512, reachableBy="10.0.0.1")
    )
    with caplog.at_level(logging.WARNING, logger="bgpd.confd.calico_node"):
        config = render_v3(values, "w1")
    assert [p.address for p in config.peers] == []
    assert all(p.reachable_by is None for p in config.all_peers)
    assert any(str(p.address) == "10.0.0.12" for p in config.all_peers)  # the mesh peer
    (line,) = [r.getMessage() for r in caplog.records if "peer_field_dropped" in r.getMessage()]
    assert "field=reachableBy address=10.0.0.12" in line

"""What the speaker's reload diff makes of Calico changes as confd renders them.

Each case renders a node's config before and after one datastore change and checks the
`diff_configs` classification the speaker applies: only the sessions that must restart are
reset (the integration tests count real session resets; these pin the whole matrix fast).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import ConfigDiff, diff_configs, parse_config

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

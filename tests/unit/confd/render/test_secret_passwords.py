"""Secrets → rendered config → reload diff: only the sessions using a Secret re-key.

From the v3 resources and the Secrets the Kubernetes source publishes, through the model, the
real templates and bgpd's config loader, to the diff the speaker applies on reload.
"""

from __future__ import annotations

from collections.abc import Mapping

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import derive_view
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import Config, diff_configs, parse_config
from bgpd.config.toml_writer import render_config_toml
from tests.unit.confd.model.calico_data import (
    bgp_configuration,
    bgp_peer,
    node,
    secret,
    snapshot,
)

CONFDIR = DEFAULT_CONFDIR


def ref(key: str, name: str = "bgp-secrets") -> dict[str, object]:
    return {"secretKeyRef": {"name": name, "key": key}}


def render(values: Mapping[str, str]) -> str:
    resources = load_resources(CONFDIR, "a")
    ctx = TemplateContext(nodename="a", variables={"kernel": "false"})
    return Renderer(CONFDIR, resources, ctx).render_text(resources[0], derive_view(values))


def cluster(**secret_data: str) -> dict[str, str]:
    """Nodes a, b, c in a mesh keyed by `mesh`; tor1 keyed by `tor1`, tor2 by another Secret."""
    items = [
        node("a", "10.0.0.1/24"),
        node("b", "10.0.0.2/24"),
        node("c", "10.0.0.3/24"),
        bgp_configuration(nodeMeshPassword=ref("mesh")),
        bgp_peer("tor1", peerIP="192.0.2.1", asNumber=65010, password=ref("tor1")),
        bgp_peer("tor2", peerIP="192.0.2.2", asNumber=65010, password=ref("tor2", "other")),
        secret("other", tor2="t2-s3cret"),
    ]
    if secret_data:
        items.append(secret("bgp-secrets", **secret_data))
    return snapshot(*items)


def load(values: Mapping[str, str]) -> Config:
    return parse_config(render(values))


def held(cfg: Config) -> dict[str, str | None]:
    return {p.name: p.down_reason for p in cfg.all_peers}


def test_passwords_land_on_their_peers() -> None:
    cfg = load(cluster(mesh="m", tor1="t1"))
    assert {p.name: p.password for p in cfg.all_peers} == {
        "Global_192_0_2_1": "t1",
        "Global_192_0_2_2": "t2-s3cret",
        "Mesh_10_0_0_2": "m",
        "Mesh_10_0_0_3": "m",
    }
    assert set(held(cfg).values()) == {None}


def test_a_missing_key_renders_the_peer_held_down_with_the_reason() -> None:
    text = render(cluster(mesh="m"))
    assert 'password_unavailable = "secret kube-system/bgp-secrets has no key tor1"' in text
    cfg = parse_config(text)
    assert held(cfg)["Global_192_0_2_1"] == (
        "password unavailable: secret kube-system/bgp-secrets has no key tor1"
    )
    assert cfg.peer("Global_192_0_2_1").password is None
    assert held(cfg)["Mesh_10_0_0_2"] is None and held(cfg)["Global_192_0_2_2"] is None


def test_a_missing_mesh_secret_holds_every_mesh_session_down() -> None:
    cfg = load(cluster())
    assert cfg.mesh.password is None
    for name in ("Mesh_10_0_0_2", "Mesh_10_0_0_3", "Global_192_0_2_1"):
        assert "secret kube-system/bgp-secrets is missing or not readable" in str(held(cfg)[name])
    assert held(cfg)["Global_192_0_2_2"] is None  # another Secret, there


def test_rotation_resets_only_the_sessions_using_that_key() -> None:
    before = load(cluster(mesh="m", tor1="t1"))
    after = load(cluster(mesh="m", tor1="t1-rotated"))
    d = diff_configs(before, after)
    assert d.session_changed == ("Global_192_0_2_1",)
    assert not (d.peers_added or d.peers_removed or d.policy_changed or d.global_session_changed)
    mesh = diff_configs(before, load(cluster(mesh="m2", tor1="t1")))
    assert sorted(mesh.session_changed) == ["Mesh_10_0_0_2", "Mesh_10_0_0_3"]


def test_an_unrelated_key_in_the_secret_renders_the_same_config() -> None:
    assert render(cluster(mesh="m", tor1="t1")) == render(cluster(mesh="m", tor1="t1", x="y"))


def test_the_password_appearing_restarts_only_that_peer() -> None:
    d = diff_configs(load(cluster(mesh="m")), load(cluster(mesh="m", tor1="t1")))
    assert d.session_changed == ("Global_192_0_2_1",) and not d.peers_added


def test_the_masked_config_shows_the_reason_and_no_password() -> None:
    cfg = load(cluster(tor1="s3cret-t1"))
    shown = render_config_toml(cfg, mask_secrets=True)
    assert "s3cret" not in shown
    assert 'password_unavailable = "secret kube-system/bgp-secrets has no key mesh"' in shown

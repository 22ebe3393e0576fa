"""BGPPeer's per-peer session fields, end to end without sockets: v3 resources -> the model's v1
keys -> the rendered bgpd.toml (golden) -> the loaded config -> the speaker's sessions.

`localASNumber` -> `local_asn`, `keepaliveTime` -> `keepalive_time`, `nextHopMode` /
`keepOriginalNextHop` -> `next_hop_mode`, `numAllowedLocalASNumbers` -> `allow_local_as`, with
the rules of Calico's bgp_processor.go (buildPeerFromData) and client.go (getNextHopMode).
"""

from __future__ import annotations

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import Config, NextHopMode, parse_config
from tests.unit.speaker.harness import Net, config

from .calico_v3 import bgp_configuration, bgp_peer, node
from .test_golden import check_golden

NODE_AS = 64512
NOT_TOR = ("/ebgp-keep", "/ibgp-keep", "/moved", "/auto", "/keep")


def cluster() -> dict[str, str]:
    values: dict[str, str] = {}
    values |= bgp_configuration(asNumber=NODE_AS)
    values |= node("a", "10.0.0.1/24")
    # eBGP from a local AS of its own, every session field set.
    values |= bgp_peer(
        "tor",
        peerIP="10.0.0.254",
        asNumber=65000,
        localASNumber=65100,
        keepaliveTime="20s",
        nextHopMode="Self",
        numAllowedLocalASNumbers=2,
    )
    # The older keepOriginalNextHop: keep toward eBGP ...
    values |= bgp_peer("ebgp-keep", peerIP="10.0.0.250", asNumber=65001, keepOriginalNextHop=True)
    # ... and nothing toward iBGP (judged against the node's AS).
    values |= bgp_peer("ibgp-keep", peerIP="10.0.0.251", asNumber=NODE_AS, keepOriginalNextHop=True)
    # iBGP by AS number, made eBGP by its local AS: keepOriginalNextHop applies again.
    values |= bgp_peer(
        "moved",
        peerIP="10.0.0.252",
        asNumber=NODE_AS,
        localASNumber=65200,
        keepOriginalNextHop=True,
    )
    # nextHopMode wins over keepOriginalNextHop.
    values |= bgp_peer(
        "auto", peerIP="10.0.0.253", asNumber=65001, nextHopMode="Auto", keepOriginalNextHop=True
    )
    values |= bgp_peer("keep", peerIP="10.0.0.249", asNumber=NODE_AS, nextHopMode="Keep")
    return values


def render(values: dict[str, str], nodename: str = "a") -> str:
    resources = load_resources(DEFAULT_CONFDIR, nodename)
    renderer = Renderer(DEFAULT_CONFDIR, resources, TemplateContext(nodename=nodename))
    return renderer.render_text(resources[0], derive_view(values, LocalNode(nodename=nodename)))


def rendered() -> Config:
    return check_golden("peer_session_fields", render(cluster()))


def test_rendered_peers_carry_the_session_fields() -> None:
    cfg = rendered()
    peers = {p.name: cfg.peer_settings(p) for p in cfg.peers}
    tor = peers["Global_10_0_0_254"]
    assert (tor.local_asn, tor.is_ebgp, tor.keepalive_time, tor.keepalive_explicit) == (
        65100,
        True,
        20,
        True,
    )
    assert (tor.next_hop_mode, tor.allow_local_as) == (NextHopMode.SELF, 2)
    modes = {name: s.next_hop_mode for name, s in peers.items()}
    assert modes == {
        "Global_10_0_0_254": NextHopMode.SELF,
        "Global_10_0_0_250": NextHopMode.KEEP,
        "Global_10_0_0_251": NextHopMode.AUTO,
        "Global_10_0_0_252": NextHopMode.KEEP,
        "Global_10_0_0_253": NextHopMode.AUTO,
        "Global_10_0_0_249": NextHopMode.KEEP,
    }
    assert peers["Global_10_0_0_252"].local_asn == 65200 and peers["Global_10_0_0_252"].is_ebgp
    # untouched peers keep the node's AS and bgpd's keepalive (a third of the hold time)
    ebgp_keep = peers["Global_10_0_0_250"]
    assert (ebgp_keep.local_asn, ebgp_keep.keepalive_explicit, ebgp_keep.allow_local_as) == (
        NODE_AS,
        False,
        0,
    )


def test_rr_client_is_judged_against_the_local_as() -> None:
    # bgp_processor.go: rr client when ASNumber == effectiveNodeAS on a reflector node.
    values = cluster()
    values |= node("a", "10.0.0.1/24", routeReflectorClusterID="224.0.0.1")
    values |= bgp_peer("client", peerIP="10.0.0.248", asNumber=65300, localASNumber=65300)
    cfg = parse_config(render(values))
    peers = {p.name: p for p in cfg.peers}
    assert peers["Global_10_0_0_248"].rr_client  # iBGP on its own local AS
    assert peers["Global_10_0_0_251"].rr_client  # iBGP on the node's AS
    assert not peers["Global_10_0_0_252"].rr_client  # node's AS, but eBGP from 65200


def test_the_session_opens_with_the_local_as_and_keeps_the_keepalive() -> None:
    # The rendered config runs a speaker; a plain speaker at the ToR's address answers.
    values = {k: v for k, v in cluster().items() if not k.endswith(NOT_TOR)}
    net = Net()
    net.add("a", "10.0.0.1", render(values))
    net.add("tor", "10.0.0.254", config(65000, "10.0.0.254", [("to_a", "10.0.0.1", 65100)]))
    net.start()
    session = net.nodes["a"].speaker.peer_session("Global_10_0_0_254")
    assert session is not None and session.negotiated is not None
    assert session.keepalive_interval == 20  # keepaliveTime, not hold/3 (80)
    theirs = net.nodes["tor"].speaker.peer_session("to_a")
    assert theirs is not None and theirs.negotiated is not None
    # The OPEN's My AS (and AS4 capability) was the local AS: the ToR's session to AS 65100
    # came up, which it would refuse (Bad Peer AS) had we opened with the node's 64512.
    assert theirs.negotiated.peer_asn == 65100
    assert not theirs.negotiated.ibgp

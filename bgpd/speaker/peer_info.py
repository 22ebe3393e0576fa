"""What `bgpctl show peer NAME` and `show peers --wide` say about a peer beyond its session:
its role, the capabilities negotiated per family, and its graceful restart state.

Role: pure functions over the config and the negotiated capabilities, read by
`bgpd.speaker.views`; one home for the role rule (Calico's protocol name prefixes and the
reflection settings) so every view names roles alike.

Invariants: no state, no clock; the names returned are the ones docs/config.md lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from bgpd.config import Config, PeerConfig
from bgpd.net import Family
from bgpd.wire.negotiated import Negotiated

# Calico's protocol name prefixes (calico_node/calico_names), in the order they are tested.
_NAME_ROLES = (
    ("Mesh_", "mesh"),
    ("Dynamic_", "dynamic"),
    ("Node_", "node-specific"),
    ("Global_", "global"),
    ("Local_Workload_", "local-workload"),
)


def peer_role(config: Config, peer: PeerConfig) -> str:
    """ "reflector-client" for a peer we reflect to as a client (RFC 4456), else its Calico
    kind by name ("mesh", "dynamic", "node-specific", "global", "local-workload"), else
    "reflector-non-client" for an iBGP peer of a reflector (we have a cluster id), else
    "ibgp" or "ebgp"."""
    settings = config.peer_settings(peer)
    if settings.rr_client:
        return "reflector-client"
    if config.is_mesh_peer(peer.name):
        return "mesh"
    for prefix, role in _NAME_ROLES:
        if peer.name.startswith(prefix):
            return role
    if settings.is_ebgp:
        return "ebgp"
    return "reflector-non-client" if settings.cluster_id is not None else "ibgp"


def family_capabilities(n: Negotiated) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per negotiated family, what else was negotiated for it: "add-path-rx"/"add-path-tx"
    (RFC 7911), "graceful-restart" (the peer restarts it, RFC 4724; "+forwarding" when it
    keeps forwarding), "long-lived-gr" (RFC 9494, with its stale time)."""
    gr = n.peer_graceful_restart
    gr_families = {f.family: f.forwarding_preserved for f in gr.families} if gr else {}
    llgr = n.long_lived_stale_times()
    out: list[tuple[str, tuple[str, ...]]] = []
    for family in _sorted(n.families):
        caps: list[str] = []
        if family in n.add_path_receive:
            caps.append("add-path-rx")
        if family in n.add_path_send:
            caps.append("add-path-tx")
        if family in gr_families:
            caps.append("graceful-restart" + ("+forwarding" if gr_families[family] else ""))
        if family in llgr:
            caps.append(f"long-lived-gr {llgr[family]}s")
        out.append((str(family), tuple(caps)))
    return tuple(out)


def graceful_restart_state(
    n: Negotiated | None, stale: Iterable[Family], long_lived: Iterable[Family]
) -> str:
    """The peer's graceful restart state in one word: "long-lived-stale" (its routes kept
    past the restart time, RFC 9494), "stale" (kept while it restarts, RFC 4724), "restarting"
    (it came back saying it restarted: R bit), "llgr" / "gr" (negotiated), "" (neither)."""
    if any(True for _ in long_lived):
        return "long-lived-stale"
    if any(True for _ in stale):
        return "stale"
    if n is None or n.peer_graceful_restart is None:
        return ""
    if n.peer_graceful_restart.restart_state:
        return "restarting"
    return "llgr" if n.long_lived else "gr"


def _sorted(families: Iterable[Family]) -> list[Family]:
    return sorted(families, key=str)

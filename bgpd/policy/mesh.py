"""The node-to-node mesh: which sessions a Calico node opens to its peers.

Role: the policy-side view of the mesh. The rules themselves (calico-bgp.md §2.3, §2.9) are
applied where the configuration is resolved, `bgpd.config.schema.derive_mesh_peers`, because the
config must validate the derived peers against explicit ones (no name or address used twice)
and reload must diff them as ordinary peers; this module is the stable entry point for them.

Rules, as Calico's bird.cfg / bird6.cfg templates apply them:
- no mesh when `[mesh].enabled` is false, without `[node]`, or when this node has an
  `rr_cluster_id` (a route reflector peers only through explicit peers);
- per family in which this node has an address, one session to each `[[cluster_node]]` with an
  address of that family, except this node itself (same address) and nodes that have an
  `rr_cluster_id`;
- named `Mesh_<address with . and : replaced by _>`; AS = the node's, else `[bgp].asn`; port =
  the node's, else `[bgp].port`; source address = ours; `[mesh]` password and restart time;
- passive (we wait for them) when the peer's address is greater than ours as a STRING.

Invariants: the result is a pure function of the config; mesh peers are `PeerConfig`s, so
`Config.peer_settings` resolves them like any `[[peer]]`.
"""

from __future__ import annotations

from bgpd.config import Config, PeerConfig
from bgpd.config.calico_names import greater_address_is_passive as mesh_passive
from bgpd.config.schema import mesh_peer_name

__all__ = ["is_mesh_peer", "mesh_passive", "mesh_peer_name", "mesh_peers"]


def mesh_peers(config: Config) -> tuple[PeerConfig, ...]:
    """The mesh sessions of this node (IPv4 ones first), derived by Calico's rules."""
    return config.mesh_peers


def is_mesh_peer(config: Config, name: str) -> bool:
    """True when the peer called `name` comes from the mesh rather than a `[[peer]]` entry."""
    return config.is_mesh_peer(name)

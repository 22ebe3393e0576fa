"""Policy: Calico's export rules and node-to-node mesh (sans-IO, pure).

Role: decide what each peer is sent (`ExportPolicy`) and which sessions the node-to-node mesh
needs (`mesh_peers`). Both read a validated `bgpd.config.Config`; neither does I/O.
"""

from bgpd.policy.export_policy import (
    ExportDecision,
    ExportPolicy,
    ExportRoute,
    ExportRule,
    SourceKindName,
    merge_communities,
)
from bgpd.policy.mesh import is_mesh_peer, mesh_passive, mesh_peer_name, mesh_peers

__all__ = [
    "ExportDecision",
    "ExportPolicy",
    "ExportRoute",
    "ExportRule",
    "SourceKindName",
    "is_mesh_peer",
    "mesh_passive",
    "mesh_peer_name",
    "mesh_peers",
    "merge_communities",
]

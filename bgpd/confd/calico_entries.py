"""The values `CalicoNode` hands a template: one frozen entry per TOML table it fills.

Role: the shapes of Calico's derived settings as the templates print them (`[node]`,
`[[cluster_node]]`, the mesh, `[[peer]]`, `[[filter]]`, `[calico]`'s pools and
advertisements). Computing them is `bgpd.confd.calico_node`'s job; these are only values.

Invariants:
- Entries are frozen and carry already-validated values (addresses in canonical form, numbers
  in range), so a template only formats them.
- Passwords are kept out of `repr`, so an entry in a log or a traceback never shows one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ClusterNodeEntry",
    "FilterEntry",
    "MeshEntry",
    "NodeEntry",
    "PeerEntry",
    "PoolEntry",
    "PrefixAdvertisementEntry",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeEntry:
    """This node, for `[node]`."""

    name: str
    ipv4: str  # "ADDRESS/LENGTH" or ""
    ipv6: str
    asn: int | None  # only when the node overrides the global AS
    rr_cluster_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterNodeEntry:
    """One `/bgp/v1/host/<name>`, for `[[cluster_node]]`."""

    name: str
    ipv4: str
    ipv6: str
    asn: int | None
    rr_cluster_id: str
    port: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshEntry:
    enabled: bool
    password: str | None = field(repr=False)
    restart_time: int | None
    # Why the nodeMeshPassword Secret gave no password (the mesh then stays down).
    password_unavailable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerEntry:
    """One explicit peer (`Global_*`, `Node_*`, `Local_Workload_*`), for `[[peer]]`."""

    name: str
    address: str
    port: int | None
    asn: int
    local_address: str | None
    passive: bool
    password: str | None = field(repr=False)
    ttl_security: int
    multihop: int | None
    graceful_restart_time: int | None
    families: tuple[str, ...]
    rr_client: bool
    description: str
    filters: tuple[str, ...] = ()  # BGPFilter names, applied on import and export in order
    # Why the password.secretKeyRef gave no password (the peer then stays down).
    password_unavailable: str | None = None
    # The gateway of the static route to the peer (bird_aggr.cfg `route <ip>/32 via <gw>`).
    reachable_by: str | None = None
    local_asn: int | None = None  # BGPPeer localASNumber: our AS on this session
    keepalive_time: int | None = None  # BGPPeer keepaliveTime, whole seconds
    next_hop_mode: str = "auto"  # "auto", "self", "keep" (nextHopMode / keepOriginalNextHop)
    allow_local_as: int = 0  # BGPPeer numAllowedLocalASNumbers
    # Calico Enterprise restartMode LongLivedGracefulRestart: "llgr", with maxRestartTime as
    # the long-lived stale time (graceful_restart_time then stays the default).
    restart_mode: str | None = None
    llgr_stale_time: int | None = None
    # BFD to this peer (failureDetectionMode BFDIfDirectlyConnected, the peer on our subnet)
    bfd: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterEntry:
    """One BGPFilter as `[[filter]]`: rule lists of `{TOML key: value}` (the model's form)."""

    name: str
    rules: tuple[tuple[str, tuple[Mapping[str, object], ...]], ...]  # (list name, rules)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolEntry:
    cidr: str
    ipip: str
    vxlan: str
    disabled: bool
    disable_bgp_export: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixAdvertisementEntry:
    cidr: str
    communities: tuple[str, ...]

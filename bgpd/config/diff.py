"""What changed between two configs, classified by the least disruptive way to apply it.

Role: drives hitless reload. BIRD restarts only the protocols whose configuration changed
(`sv hup bird`, section 3.2 of the Calico reference); `diff_configs` gives the runtime the same
granularity: which peers to add, drop, reset, re-advertise to, or merely update in place.

Invariants:
- Peers are matched by name. A renamed peer is one removal plus one addition.
- Peer changes are judged on *effective* settings (`Config.peer_settings`), so a change of an
  inherited `[bgp]` default (say `hold_time`) lands on every peer that inherits it.
- Each peer appears in at most one of `peers_added`, `peers_removed`, `session_changed`,
  `policy_changed`, `settings_changed`: the strongest needed action wins
  (session reset > policy refresh > in-place update).
- `global_session_changed` means every session must be reset (our identity changed); the
  per-peer lists are still filled in as if it were not set. A change of the listening
  addresses or port (`listen_changed`) only moves the listeners: sessions already up do not
  depend on them (in Calico a node gaining an IPv6 address must not reset its IPv4 sessions).
- Mesh peers derived from `[[cluster_node]]` are peers like any other (`Config.all_peers`):
  adding a cluster node adds its mesh peer(s) and touches no other peer; a `[mesh]` password
  change resets every mesh session. Likewise Calico's originated blocks and service ranges are
  statics (`Config.all_statics`).
- `export_policy_changed`: what Calico's export rules accept changed (`[calico]` export data,
  route priorities, who programs the IPIP routes, or whether we are a route reflector); every
  peer's exports must be re-evaluated.
- `node_changed`: `[node]` changed (its addresses are next hops we announce and our own
  addresses in the next hop checks); every running session's exports are re-derived.
- `kernel_changed`: what kernel sync learns or installs changed (`[kernel]` with its ignored
  interfaces, pools, reject ranges, blocks, the node's IPv4 subnet, who programs the cluster
  routes, WireGuard peers, route priorities, the static routes to peers of `reachable_by`).
  A peer whose `reachable_by` alone changed is only `settings_changed` (updated in place):
  moving the route to a peer never touches its session.
- None of `[calico]`'s compat, program_cluster_routes, normal route priorities or WireGuard
  peers, nor `[kernel]` ignored_interfaces, touches a session: they re-plan the kernel, re-run
  the export policy and re-announce our own routes (their LOCAL_PREF), never reset a peer.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.config.calico import CalicoSection
from bgpd.config.peer import PeerSettings
from bgpd.config.schema import Config, IPNetwork, StaticRoute

__all__ = [
    "GLOBAL_SESSION_FIELDS",
    "POLICY_FIELDS",
    "SESSION_FIELDS",
    "SETTINGS_FIELDS",
    "ConfigDiff",
    "diff_configs",
]

# PeerSettings fields whose change needs the session torn down: they are sent in or decided by
# the OPEN exchange (RFC 4271 §4.2, capabilities RFC 5492; our AS on the session, `local_asn`,
# is the OPEN's My AS), or shape the TCP connection itself (addresses, MD5 key RFC 2385,
# TTL / GTSM RFC 5082, who connects).
SESSION_FIELDS = frozenset(
    {
        "address",
        "port",
        "asn",
        "local_asn",
        "local_address",
        "password",
        "password_unavailable",
        "ttl_security",
        "multihop",
        "passive",
        "hold_time",
        "graceful_restart",
        "graceful_restart_time",
        "restart_mode",
        "llgr_stale_time",
        "families",
        "add_path",
    }
)
# Fields that only change what we send or accept: re-run export to the peer, no reset (the
# reflection role and next-hop rewriting are outbound treatment, RFC 4456 §7 / RFC 4271
# §5.1.3); import rules and the loop check's allowance re-evaluate what the peer sent (a
# route refresh, RFC 2918, when the peer supports it).
POLICY_FIELDS = frozenset(
    {
        "rr_client",
        "next_hop_mode",
        "next_hop_v4",
        "next_hop_v6",
        "import_filters",
        "export_filters",
        "allow_local_as",
    }
)
# Fields used only for reconnect pacing, display, or our own KEEPALIVE pace (ours to choose
# below the negotiated hold time, RFC 4271 §4.4: the running session takes it at its next
# KEEPALIVE): update in place. (`reachable_by` is the kernel route to the peer: kernel sync
# moves it, see `kernel_changed`; the session stays.)
SETTINGS_FIELDS = frozenset(
    {
        "connect_retry_time",
        "error_wait_min",
        "error_wait_max",
        "description",
        "keepalive_time",
        "keepalive_explicit",
        "reachable_by",
    }
)
# PeerSettings fields copied from [bgp] identity; covered by `global_session_changed`.
GLOBAL_SESSION_FIELDS = frozenset({"name", "router_id", "cluster_id"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigDiff:
    """The classified difference between an old and a new `Config`. Names are peer names."""

    peers_added: tuple[str, ...] = ()
    peers_removed: tuple[str, ...] = ()
    session_changed: tuple[str, ...] = ()
    policy_changed: tuple[str, ...] = ()
    settings_changed: tuple[str, ...] = ()
    # New or changed static routes, to (re-)originate; a changed route replaces the old one.
    statics_updated: tuple[StaticRoute, ...] = ()
    # Prefixes no longer configured at all, to withdraw.
    statics_removed: tuple[IPNetwork, ...] = ()
    log_level_changed: bool = False
    log_format_changed: bool = False
    persist_routes_changed: bool = False
    control_changed: bool = False
    metrics_changed: bool = False
    global_session_changed: bool = False
    export_policy_changed: bool = False
    listen_changed: bool = False
    kernel_changed: bool = False
    node_changed: bool = False

    @property
    def statics_changed(self) -> bool:
        return bool(self.statics_updated or self.statics_removed)

    @property
    def is_empty(self) -> bool:
        """True when the two configs are equivalent (a reload would do nothing)."""
        return self == ConfigDiff()


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    """Classify every difference between `old` and `new`."""
    ob, nb = old.bgp, new.bgp
    old_peers = {p.name: p for p in old.all_peers}
    new_peers = {p.name: p for p in new.all_peers}

    session: list[str] = []
    policy: list[str] = []
    settings: list[str] = []
    for name, peer in new_peers.items():
        if name not in old_peers:
            continue
        changed = _changed_fields(old.peer_settings(old_peers[name]), new.peer_settings(peer))
        if changed & SESSION_FIELDS:
            session.append(name)
        elif changed & POLICY_FIELDS:
            policy.append(name)
        elif changed & SETTINGS_FIELDS:
            settings.append(name)

    old_statics = set(old.all_statics)
    new_prefixes = {s.prefix for s in new.all_statics}
    return ConfigDiff(
        peers_added=tuple(n for n in new_peers if n not in old_peers),
        peers_removed=tuple(n for n in old_peers if n not in new_peers),
        session_changed=tuple(session),
        policy_changed=tuple(policy),
        settings_changed=tuple(settings),
        statics_updated=tuple(s for s in new.all_statics if s not in old_statics),
        statics_removed=tuple(s.prefix for s in old.all_statics if s.prefix not in new_prefixes),
        log_level_changed=ob.log_level != nb.log_level,
        log_format_changed=ob.log_format != nb.log_format,
        persist_routes_changed=ob.persist_routes != nb.persist_routes,
        control_changed=old.control != new.control,
        metrics_changed=old.metrics != new.metrics,
        global_session_changed=(
            ob.asn != nb.asn
            or old.local_asn != new.local_asn
            or ob.router_id != nb.router_id
            or old.reflector_cluster_id != new.reflector_cluster_id
        ),
        listen_changed=set(ob.listen) != set(nb.listen) or ob.port != nb.port,
        export_policy_changed=_export_inputs(old) != _export_inputs(new),
        kernel_changed=_kernel_inputs(old) != _kernel_inputs(new),
        node_changed=old.node != new.node,
    )


def _export_inputs(cfg: Config) -> tuple[object, ...]:
    """Everything Calico's export rules read (see bgpd.policy.export_policy)."""
    c = cfg.calico
    if c is None:
        return (None,)
    rr = cfg.bgp.cluster_id is not None
    pools = tuple((p.cidr, p.disable_bgp_export) for p in c.pools)
    # rule 2's IPIP device (when Felix programs it) and rule 5's elevated-priority escape
    tunnel = None if c.cluster_routes.ipip else cfg.kernel.tunnel_device
    return (
        pools,
        c.blocks,
        c.advertise,
        c.lb_ranges,
        c.prefix_advertisements,
        rr,
        tunnel,
        _priorities(c),
    )


def _priorities(c: CalicoSection) -> tuple[int, int] | None:
    return (c.normal_priority(4), c.normal_priority(6)) if c.route_priorities else None


def _kernel_inputs(cfg: Config) -> tuple[object, ...]:
    """Everything kernel sync reads besides the routes themselves."""
    c = cfg.calico
    network_v4 = None if cfg.node is None else cfg.node.network_v4
    # the static routes to peers behind a gateway (`reachable_by`): not a session setting
    peer_routes = frozenset((p.address, p.reachable_by) for p in cfg.peers if p.reachable_by)
    if c is None:
        return (cfg.kernel, None, network_v4, peer_routes)
    return (
        cfg.kernel,
        c.pools,
        c.reject,
        c.blocks,
        network_v4,
        c.cluster_routes,
        c.wireguard_peers,
        _priorities(c),
        peer_routes,
    )


def _changed_fields(old: PeerSettings, new: PeerSettings) -> frozenset[str]:
    return frozenset(
        name
        for name in PeerSettings.__dataclass_fields__
        if getattr(old, name) != getattr(new, name)
    )

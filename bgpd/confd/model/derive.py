"""The whole key view: raw etcd keys in, Calico's `/calico/bgp/v1/...` layout out.

Role: `derive_bgp_keys` does what confd's Calico backend (confd/pkg/backends/calico/client.go,
v3.30) builds in memory from the BGP syncer's updates, for every node at once
(calico-bgp.md §1):

- globals from BGPConfiguration `default`, with client.go's defaults when absent
  (`as_num` 64512, `node_mesh` `{"enabled": true}`, `loglevel` info);
- per-host keys from Nodes (bgpnodeprocessor.go) and from `node.<name>` BGPConfigurations;
- peers from BGPPeers (`bgpd.confd.model.peers`), with the local workload peers of Felix's
  endpoint status files at `/calico/endpoint-status/<file>` (`bgpd.confd.model.workloads`);
- IPPools as v1 pools (IPPoolV3ToV1), confirmed block affinities (pending ones hidden);
- service ranges and this node's per-Service routes as `/calico/staticroutes*` and
  `/calico/rejectcidrs*` (`bgpd.confd.model.services`, from `/kubernetes/...` keys);
- the raw v3 BGPConfiguration, Node, BGPPeer and BGPFilter values at their own keys (Calico's
  cache holds them there too; its templates read BGPFilters from
  `/calico/resources/v3/projectcalico.org/bgpfilters/<name>`), and each BGPFilter as bgpd's
  declarative rules at `/calico/bgp/v1/filters/<name>` (`[[filter]]`'s TOML keys).

v1 keys already present in the input (`/calico/bgp/v1/...`, `/calico/v1/ipam/...`,
`/calico/staticroutes*`, `/calico/rejectcidrs*`: the Calico v2 layout, or a hand-written
small setup) are passed through and win over anything derived, defaults included.

Invariants: pure (no I/O, no clock); the output is a function of the input alone, sorted by
key; every problem of the snapshot is collected and raised together as `CalicoDataError`,
each naming its key; nothing is returned when there is any problem.

BGP passwords come from the Secrets at `/kubernetes/secrets/<namespace>/<name>` (calico-node's
`NAMESPACE`), through `bgpd.confd.model.secrets`: a referenced Secret or key that is missing
never means "no password" (as it does in Calico): the peering carries `password_unavailable`
and the mesh `node_mesh_password_unavailable`, which keep those sessions down.

Node-local inputs Calico reads outside etcd are parameters: `namespace` (where the password
Secrets live), `node_name` (this node, for the
`exclude-from-external-load-balancers` label that withholds service routes, and for the
endpoints of `Local` Services unless `k8s_node_ref`, calico-node's CALICO_K8S_NODE_REF, names
its Kubernetes Node differently) and `advertise_cluster_ips` (CALICO_ADVERTISE_CLUSTER_IPS).
"""

from __future__ import annotations

from collections.abc import Mapping

from bgpd.confd.model.bgpfilter import filter_json
from bgpd.confd.model.errors import CalicoDataError
from bgpd.confd.model.peers import PeerContext, derive_peer_keys
from bgpd.confd.model.resources import BgpConfig, BgpPeerResource, PoolInfo, SecretRef
from bgpd.confd.model.secrets import SecretPasswords
from bgpd.confd.model.services import ServiceInputs, ServiceRouteMemo, service_route_keys
from bgpd.confd.model.snapshot import HOST_PREFIX, V3_PREFIX, ClusterState, DeriveCache
from bgpd.confd.model.values import Problems, go_json, parse_decimal
from bgpd.errors import ConfigProblem

__all__ = [
    "DEFAULT_AS",
    "V3_PREFIX",
    "DeriveCache",
    "derive_bgp_keys",
    "new_derive_cache",
]

DEFAULT_AS = "64512"
_GLOBAL = "/calico/bgp/v1/global/"
_HOST = HOST_PREFIX

# client.go globalDefaults (note the space in node_mesh: the default is that literal string).
_GLOBAL_DEFAULTS = {
    _GLOBAL + "as_num": DEFAULT_AS,
    _GLOBAL + "node_mesh": '{"enabled": true}',
    _GLOBAL + "loglevel": "info",
}
_EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
_NODE_CONFIG_PREFIX = "node."


def _log_level(severity: str) -> str:
    # client.go getLogSeverityKVPair: BIRD knows debug, info and none; others become none.
    level = severity.lower()
    return level if level in ("debug", "info") else "none"


def _prefix_advertisements(config: BgpConfig, key: str, problems: Problems) -> tuple[str, str]:
    """(ip_v4 JSON, ip_v6 JSON) as client.go getPrefixAdvertisementsKVPair writes them."""
    defined = dict(reversed(config.communities))  # the first definition of a name wins
    v4: list[dict[str, object]] = []
    v6: list[dict[str, object]] = []
    for adv in config.prefix_advertisements or ():
        values: set[str] = set()
        for community in adv.communities:
            if _is_community(community):
                values.add(community)
            elif community in defined:
                values.add(defined[community])
            else:
                problems.add(
                    key,
                    f"spec.prefixAdvertisements: community {community!r} is neither a value "
                    "nor a name defined in spec.communities",
                )
        # Go marshals an empty (nil) slice as null, for the list and for each communities.
        entry: dict[str, object] = {"cidr": adv.cidr, "communities": sorted(values) or None}
        (v6 if ":" in adv.cidr else v4).append(entry)
    return go_json(v4 or None), go_json(v6 or None)


def _is_community(text: str) -> bool:
    parts = text.split(":")
    return len(parts) in (2, 3) and all(parse_decimal(p) is not None for p in parts)


def _global_keys(config: BgpConfig | None, key: str, problems: Problems) -> dict[str, str]:
    """client.go updateBGPConfigCache for `default` (defaults applied by the caller)."""
    out: dict[str, str] = {}
    if config is None:
        return out
    if config.prefix_advertisements is not None:
        v4, v6 = _prefix_advertisements(config, key, problems)
        out[_GLOBAL + "prefix_advertisements/ip_v4"] = v4
        out[_GLOBAL + "prefix_advertisements/ip_v6"] = v6
    if config.listen_port:
        out[_GLOBAL + "listen_port"] = str(config.listen_port)
    if config.bind_mode is not None:
        out[_GLOBAL + "bind_mode"] = config.bind_mode
    if config.as_number is not None:
        out[_GLOBAL + "as_num"] = str(config.as_number)
    for name, cidrs in (
        ("svc_external_ips", config.service_external_ips),
        ("svc_cluster_ips", config.service_cluster_ips),
        ("svc_loadbalancer_ips", config.service_loadbalancer_ips),
    ):
        if cidrs:
            out[_GLOBAL + name] = ",".join(cidrs)
    if config.mesh_enabled is not None:
        out[_GLOBAL + "node_mesh"] = go_json({"enabled": config.mesh_enabled})
    if config.log_severity:
        out[_GLOBAL + "loglevel"] = _log_level(config.log_severity)
    if config.mesh_restart_time is not None:
        out[_GLOBAL + "node_mesh_restart_time"] = str(config.mesh_restart_time)
    if config.ignored_interfaces is not None:
        out[_GLOBAL + "ignored_interfaces"] = ",".join(config.ignored_interfaces)
    # Calico's newer confd reads these from the BGPConfiguration itself (bgp_processor.go);
    # bgpd's templates read keys, named like the older ones.
    if config.program_cluster_routes is not None:
        out[_GLOBAL + "program_cluster_routes"] = config.program_cluster_routes
    for version, priority in (
        (4, config.ipv4_normal_route_priority),
        (6, config.ipv6_normal_route_priority),
    ):
        if priority is not None:
            out[_GLOBAL + f"ipv{version}_normal_route_priority"] = str(priority)
    return out


def _node_config_keys(node: str, config: BgpConfig, key: str, problems: Problems) -> dict[str, str]:
    """`node.<name>` BGPConfiguration: only prefixAdvertisements, listenPort, logSeverity."""
    prefix = f"{_HOST}{node}/"
    out: dict[str, str] = {}
    if config.prefix_advertisements is not None:
        v4, v6 = _prefix_advertisements(config, key, problems)
        out[prefix + "prefix_advertisements/ip_v4"] = v4
        out[prefix + "prefix_advertisements/ip_v6"] = v6
    if config.listen_port:
        out[prefix + "listen_port"] = str(config.listen_port)
    if config.log_severity:
        out[prefix + "loglevel"] = _log_level(config.log_severity)
    return out


def _pool_keys(pools: list[PoolInfo]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pool in sorted(pools, key=lambda p: p.name):
        cidr = str(pool.cidr)
        key = f"/calico/v1/ipam/v{pool.cidr.version}/pool/{cidr.replace('/', '-', 1)}"
        if key in out:
            continue  # two pools with one CIDR: the first by name wins
        out[key] = go_json(
            {
                "cidr": cidr,
                "ipip": "tunl0" if pool.ipip_mode else "",
                "ipip_mode": pool.ipip_mode,
                "vxlan_mode": pool.vxlan_mode,
                "masquerade": pool.nat_outgoing,
                "ipam": not pool.disabled,
                "disabled": pool.disabled,
                "disableBGPExport": pool.disable_bgp_export,
                "assignment_mode": pool.assignment_mode,
            }
        )
    return out


def new_derive_cache() -> DeriveCache:
    """An empty cache for `derive_bgp_keys(..., cache=)`: one per watcher."""
    return DeriveCache()


class _PeerMemo:
    """The peer keys of the last derive and every input they were computed from: a change
    that touches none of them (an endpoint move, a Service, an affinity) reuses them."""

    __slots__ = ("inputs", "keys", "problems")

    def __init__(
        self,
        inputs: tuple[object, ...],
        keys: dict[str, str],
        problems: tuple[ConfigProblem, ...],
    ) -> None:
        self.inputs = inputs
        self.keys = keys
        self.problems = problems


def _peer_keys(
    state: ClusterState,
    ctx_args: tuple[str, int, dict[str, int], SecretRef | None],
    secrets: SecretPasswords,
    problems: Problems,
    memos: dict[str, object],
) -> dict[str, str]:
    global_as, global_port, node_ports, mesh_ref = ctx_args
    peers: tuple[BgpPeerResource, ...] = tuple(state.peers.values())
    # Compared by value; the Nodes and peers are the cached objects, so this is mostly
    # identity checks. The Secrets and the mesh's reference decide the passwords and the
    # problems their resolution records.
    inputs: tuple[object, ...] = (
        dict(state.nodes),
        peers,
        global_as,
        global_port,
        node_ports,
        dict(state.secrets),
        mesh_ref,
        dict(state.statuses),
    )
    memo = memos.get("peers")
    if isinstance(memo, _PeerMemo) and memo.inputs == inputs:
        problems.items.extend(memo.problems)
        return memo.keys
    before = len(problems.items)
    ctx = PeerContext(
        nodes=state.nodes,
        global_as=global_as,
        global_port=global_port,
        node_ports=node_ports,
        secrets=secrets,
        statuses=state.statuses,
    )
    keys = derive_peer_keys(ctx, peers)
    memos["peers"] = _PeerMemo(inputs, keys, tuple(problems.items[before:]))
    return keys


def derive_bgp_keys(
    values: Mapping[str, str],
    *,
    namespace: str = "kube-system",
    node_name: str | None = None,
    k8s_node_ref: str | None = None,
    advertise_cluster_ips: str = "",
    cache: DeriveCache | None = None,
) -> dict[str, str]:
    """The `/calico/...` key view confd's Calico backend presents to templates.

    `cache` (`new_derive_cache`, one per watcher) keeps the parsed resources of the previous
    call, so only the keys whose value changed are parsed again; the result is the same.
    Raises `CalicoDataError` listing every problem (each naming its key) when the data is bad.
    """
    problems = Problems()
    if cache is None:
        cache = DeriveCache()  # a derive from scratch is the update of an empty cache
    snap = cache.update(values)
    for key in sorted(snap.problems):
        problems.items.extend(snap.problems[key])

    out: dict[str, str] = dict(_GLOBAL_DEFAULTS)
    default = snap.configs.get("default")
    default_key = V3_PREFIX + "bgpconfigurations/default"
    out.update(_global_keys(default, default_key, problems))
    secrets = SecretPasswords(values, namespace, problems)
    mesh_ref = default.mesh_password if default is not None else None
    mesh = secrets.resolve(mesh_ref)
    if mesh.text is not None:
        # Plaintext, as client.go getNodeMeshPasswordKVPair stores it (redacted in its logs).
        out[_GLOBAL + "node_mesh_password"] = mesh.text
    elif mesh.unavailable is not None:
        out[_GLOBAL + "node_mesh_password_unavailable"] = mesh.unavailable
    node_ports: dict[str, int] = {}
    for name, config in sorted(snap.configs.items()):
        if not name.startswith(_NODE_CONFIG_PREFIX):
            continue  # client.go: any other name is ignored with a warning
        node = name[len(_NODE_CONFIG_PREFIX) :]
        key = V3_PREFIX + "bgpconfigurations/" + name
        out.update(_node_config_keys(node, config, key, problems))
        if config.listen_port:
            node_ports[node] = config.listen_port
    out.update(snap.node_keys)
    out.update(_pool_keys(list(snap.pools.values())))
    for key in sorted(snap.affinity_keys):  # in key order: two keys may name one block
        out.update(snap.affinity_keys[key])
    local = snap.nodes.get(node_name) if node_name is not None else None
    excluded = local is not None and local.labels.get(_EXCLUDE_LABEL) == "true"
    inputs = ServiceInputs(
        config=default,
        excluded=excluded,
        node_ref=k8s_node_ref or node_name,
        cluster_ips_env=advertise_cluster_ips,
    )
    memo = cache.memos.setdefault("services", ServiceRouteMemo())
    assert isinstance(memo, ServiceRouteMemo)
    out.update(service_route_keys(inputs, snap.services, snap.slices, problems, memo))
    out.update(snap.raw_v3)
    for bgp_filter in snap.filters.values():
        out[f"/calico/bgp/v1/filters/{bgp_filter.name}"] = go_json(filter_json(bgp_filter))

    as_key = _GLOBAL + "as_num"
    global_as = snap.v1.get(as_key, out[as_key])
    global_port = default.listen_port if default is not None else 0
    args = (global_as, global_port, node_ports, mesh_ref)
    out.update(_peer_keys(snap, args, secrets, problems, cache.memos))
    out.update(snap.v1)
    if problems.items:
        raise CalicoDataError(problems.items)
    return dict(sorted(out.items()))

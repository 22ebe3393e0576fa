"""The whole key view: raw etcd keys in, Calico's `/calico/bgp/v1/...` layout out.

Role: `derive_bgp_keys` does what confd's Calico backend (confd/pkg/backends/calico/client.go,
v3.30) builds in memory from the BGP syncer's updates, for every node at once
(calico-bgp.md §1):

- globals from BGPConfiguration `default`, with client.go's defaults when absent
  (`as_num` 64512, `node_mesh` `{"enabled": true}`, `loglevel` info);
- per-host keys from Nodes (bgpnodeprocessor.go) and from `node.<name>` BGPConfigurations;
- peers from BGPPeers (`bgpd.confd.model.peers`);
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

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bgpd.confd.model.bgpfilter import filter_json, read_bgp_filter
from bgpd.confd.model.cache import ParseCache
from bgpd.confd.model.errors import CalicoDataError, DataProblem
from bgpd.confd.model.peers import PeerContext, derive_peer_keys
from bgpd.confd.model.resources import (
    Affinity,
    BgpConfig,
    BgpPeerResource,
    NodeInfo,
    PoolInfo,
    read_affinity,
    read_bgp_configuration,
    read_bgp_peer,
    read_ip_pool,
    read_node,
)
from bgpd.confd.model.secrets import SecretPasswords
from bgpd.confd.model.services import (
    ENDPOINT_SLICES_PREFIX,
    SERVICES_PREFIX,
    EndpointSlice,
    Service,
    ServiceInputs,
    read_endpoint_slice,
    read_service,
    service_route_keys,
)
from bgpd.confd.model.values import (
    Problems,
    decode_json,
    go_json,
    is_ipv4_text,
    parse_asn,
    parse_cidr,
    parse_decimal,
    parse_ip,
    unencodable,
)
from bgpd.config.filters import FilterConfig

__all__ = [
    "DEFAULT_AS",
    "V3_PREFIX",
    "DeriveCache",
    "derive_bgp_keys",
    "new_derive_cache",
]

V3_PREFIX = "/calico/resources/v3/projectcalico.org/"
DEFAULT_AS = "64512"
_GLOBAL = "/calico/bgp/v1/global/"
_HOST = "/calico/bgp/v1/host/"

# client.go globalDefaults (note the space in node_mesh: the default is that literal string).
_GLOBAL_DEFAULTS = {
    _GLOBAL + "as_num": DEFAULT_AS,
    _GLOBAL + "node_mesh": '{"enabled": true}',
    _GLOBAL + "loglevel": "info",
}
_V1_PREFIXES = (
    "/calico/bgp/v1/",
    "/calico/v1/ipam/",
    "/calico/staticroutes/",
    "/calico/staticroutesv6/",
    "/calico/rejectcidrs/",
    "/calico/rejectcidrsv6/",
)
# model/block_affinity.go matchBlockAffinity, host affinities only (what the BGP syncer lists).
_AFFINITY_RE = re.compile(r"^/?calico/ipam/v2/host/([^/]+)/ipv[46]/block/([^/]+)$")
# Host-local IPAM (USE_POD_CIDR): the Kubernetes source's Node.spec.podCIDRs are the node's
# blocks, confirmed (Calico's KDD node processor turns them into affinities the same way).
_POD_CIDRS_RE = re.compile(r"^/kubernetes/nodes/([^/]+)/podcidrs$")
_PASS_THROUGH_KINDS = frozenset({"bgpconfigurations", "nodes", "bgppeers", "bgpfilters"})
_EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
_NODE_CONFIG_PREFIX = "node."


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parsed:
    """What the reader made of one key's raw value (a `ParseCache` entry): at most one
    resource, the problems found, and whether the raw value is kept as it is."""

    problems: tuple[DataProblem, ...] = ()
    node: NodeInfo | None = None
    peer: BgpPeerResource | None = None
    config: BgpConfig | None = None
    pool: PoolInfo | None = None
    bgp_filter: FilterConfig | None = None
    affinities: tuple[Affinity, ...] = ()
    service: Service | None = None
    endpoint_slice: EndpointSlice | None = None
    raw_v3: bool = False  # a v3 value Calico's cache holds at its own key
    v1: bool = False  # a v1 key passed through


def _parse_key(key: str, raw: str) -> _Parsed:
    """One key of a snapshot, parsed: a pure function of (key, raw)."""
    problems = Problems()
    parsed = _parse_into(key, raw, problems)
    if problems.items:
        return replace(parsed, problems=tuple(problems.items))
    return parsed


def _parse_into(key: str, raw: str, problems: Problems) -> _Parsed:
    if not _encodable(key, raw, problems):
        return _NOTHING
    if key.startswith(V3_PREFIX):
        return _parse_v3(key, raw, problems)
    if (m := _AFFINITY_RE.match(key)) is not None:
        affinity = read_affinity(key, m.group(1), m.group(2), raw, problems)
        return _Parsed(affinities=(affinity,)) if affinity is not None else _NOTHING
    if (m := _POD_CIDRS_RE.match(key)) is not None:
        return _Parsed(affinities=tuple(_pod_cidr_affinities(key, m.group(1), raw, problems)))
    if key.startswith(_V1_PREFIXES):
        _check_v1(key, raw, problems)
        return _Parsed(v1=True)
    if key.startswith(SERVICES_PREFIX):
        return _Parsed(service=read_service(key, raw, problems))
    if key.startswith(ENDPOINT_SLICES_PREFIX):
        return _Parsed(endpoint_slice=read_endpoint_slice(key, raw, problems))
    return _NOTHING


def _parse_v3(key: str, raw: str, problems: Problems) -> _Parsed:
    kind, _, name = key[len(V3_PREFIX) :].partition("/")
    if not name or "/" in name:
        return _NOTHING  # not a cluster-scoped resource of a kind we read
    raw_v3 = kind in _PASS_THROUGH_KINDS
    if kind == "nodes":
        return _Parsed(raw_v3=raw_v3, node=read_node(key, name, raw, problems))
    if kind == "bgppeers":
        return _Parsed(raw_v3=raw_v3, peer=read_bgp_peer(key, name, raw, problems))
    if kind == "bgpconfigurations":
        return _Parsed(raw_v3=raw_v3, config=read_bgp_configuration(key, name, raw, problems))
    if kind == "ippools":
        return _Parsed(raw_v3=raw_v3, pool=read_ip_pool(key, name, raw, problems))
    if kind == "bgpfilters":
        return _Parsed(raw_v3=raw_v3, bgp_filter=read_bgp_filter(key, name, raw, problems))
    return _Parsed(raw_v3=raw_v3)


_NOTHING = _Parsed()

DeriveCache = ParseCache[_Parsed]


def new_derive_cache() -> DeriveCache:
    """An empty cache for `derive_bgp_keys(..., cache=)`: one per watcher."""
    return ParseCache()


class _Snapshot:
    """The typed resources of one snapshot (the reader half of derive_bgp_keys)."""

    __slots__ = (
        "affinities",
        "configs",
        "filters",
        "nodes",
        "peers",
        "pools",
        "raw_v3",
        "services",
        "slices",
        "v1",
    )

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.peers: list[BgpPeerResource] = []
        self.configs: dict[str, BgpConfig] = {}
        self.pools: list[PoolInfo] = []
        self.filters: list[FilterConfig] = []
        self.affinities: list[Affinity] = []
        self.raw_v3: dict[str, str] = {}
        self.v1: dict[str, str] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.slices: list[EndpointSlice] = []

    def read(
        self, values: Mapping[str, str], problems: Problems, cache: ParseCache[_Parsed] | None
    ) -> None:
        for key in sorted(values):
            raw = values[key]
            parsed = _parse_key(key, raw) if cache is None else cache.lookup(key, raw, _parse_key)
            problems.items.extend(parsed.problems)
            self.add(key, raw, parsed)
        if cache is not None:
            cache.sweep()

    def add(self, key: str, raw: str, parsed: _Parsed) -> None:
        if parsed.raw_v3:
            self.raw_v3[key] = raw
        if parsed.v1:
            self.v1[key] = raw
        if parsed.node is not None:
            self.nodes[parsed.node.name] = parsed.node
        elif parsed.peer is not None:
            self.peers.append(parsed.peer)
        elif parsed.config is not None:
            self.configs[parsed.config.name] = parsed.config
        elif parsed.pool is not None:
            self.pools.append(parsed.pool)
        elif parsed.bgp_filter is not None:
            self.filters.append(parsed.bgp_filter)
        elif parsed.affinities:
            self.affinities.extend(parsed.affinities)
        elif parsed.service is not None:
            service = parsed.service
            self.services[service.namespace, service.name] = service
        elif parsed.endpoint_slice is not None:
            self.slices.append(parsed.endpoint_slice)


def _pod_cidr_affinities(key: str, host: str, raw: str, problems: Problems) -> list[Affinity]:
    try:
        cidrs = decode_json(raw)
    except ValueError as exc:
        problems.add(key, f"malformed JSON: {exc}")
        return []
    if not isinstance(cidrs, list):
        problems.add(key, "expected a JSON array of CIDRs")
        return []
    out: list[Affinity] = []
    for text in cidrs:
        cidr = parse_cidr(text) if isinstance(text, str) else None
        if cidr is None:
            problems.add(key, f"{text!r} is not a CIDR (Node.spec.podCIDRs)")
            continue
        out.append(Affinity(host=host, cidr=cidr, state="confirmed", deleted=False))
    return out


def _encodable(key: str, raw: str, problems: Problems) -> bool:
    """False (recorded) for a key or value holding a character UTF-8 cannot encode: the
    rendered file, the logs and the TOML loader could not carry it."""
    if unencodable(key) is not None:
        # The key itself cannot be printed as it is: name it with the character escaped.
        problems.add(ascii(key)[1:-1], "the key holds a lone UTF-16 surrogate")
        return False
    at = unencodable(raw)
    if at is not None:
        problems.add(key, f"the value holds a lone UTF-16 surrogate at character {at}")
        return False
    return True


def _check_v1(key: str, raw: str, problems: Problems) -> None:
    """Light checks of v1 keys written directly: the values the speaker config depends on."""
    leaf = key.rsplit("/", 1)[-1]
    parent = key.rsplit("/", 2)[-2] if key.count("/") >= 2 else ""
    if leaf == "as_num" and key.startswith(("/calico/bgp/v1/global/", _HOST)):
        _, message = parse_asn(raw)
        if message is not None:
            problems.add(key, message)
    elif leaf in ("ip_addr_v4", "ip_addr_v6") and raw:
        address = parse_ip(raw)
        if address is None or address.version != int(leaf[-1]):
            problems.add(key, f"{raw!r} is not an IPv{leaf[-1]} address")
    elif leaf == "rr_cluster_id" and raw and not is_ipv4_text(raw):
        problems.add(key, f"{raw!r} is not an IPv4-formatted cluster id")
    elif parent in ("peer_v4", "peer_v6"):
        _check_v1_peer(key, raw, int(parent[-1]), problems)
    elif parent == "pool" and key.startswith("/calico/v1/ipam/"):
        value = _json_object(key, raw, problems)
        if value is not None and parse_cidr(str(value.get("cidr", ""))) is None:
            problems.add(key, f"cidr {value.get('cidr')!r} is not a CIDR")
    elif key == _GLOBAL + "node_mesh":
        _json_object(key, raw, problems)


def _json_object(key: str, raw: str, problems: Problems) -> dict[str, object] | None:
    try:
        value = decode_json(raw)
    except ValueError as exc:
        problems.add(key, f"malformed JSON: {exc}")
        return None
    if not isinstance(value, dict):
        problems.add(key, "expected a JSON object")
        return None
    return value


def _check_v1_peer(key: str, raw: str, version: int, problems: Problems) -> None:
    value = _json_object(key, raw, problems)
    if value is None:
        return
    ip = value.get("ip")
    address = parse_ip(ip) if isinstance(ip, str) else None
    if address is None or address.version != version:
        problems.add(key, f"ip {ip!r} is not an IPv{version} address")
    _, message = parse_asn(value.get("as_num"))
    if message is not None:
        problems.add(key, f"as_num: {message}")


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


def _node_keys(node: NodeInfo) -> dict[str, str]:
    """bgpnodeprocessor.go: IPs and cluster id always present, network and AS when set."""
    prefix = f"{_HOST}{node.name}/"
    out = {
        prefix + "ip_addr_v4": node.ipv4,
        prefix + "ip_addr_v6": node.ipv6,
        prefix + "rr_cluster_id": node.rr_cluster_id,
    }
    if node.network_v4 is not None:
        out[prefix + "network_v4"] = node.network_v4
    if node.network_v6 is not None:
        out[prefix + "network_v6"] = node.network_v6
    if node.as_num is not None:
        out[prefix + "as_num"] = node.as_num
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


def _affinity_keys(affinities: list[Affinity]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in affinities:
        if a.state == "pending":
            continue  # client.go updateCache: pending affinities are treated as deleted
        block = str(a.cidr).replace("/", "-", 1)
        key = f"/calico/ipam/v2/host/{a.host}/ipv{a.cidr.version}/block/{block}"
        out[key] = go_json({"state": a.state, "deleted": a.deleted})
    return out


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
    snap = _Snapshot()
    snap.read(values, problems, cache)

    out: dict[str, str] = dict(_GLOBAL_DEFAULTS)
    default = snap.configs.get("default")
    default_key = V3_PREFIX + "bgpconfigurations/default"
    out.update(_global_keys(default, default_key, problems))
    secrets = SecretPasswords(values, namespace, problems)
    mesh = secrets.resolve(default.mesh_password if default is not None else None)
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
    for node_info in snap.nodes.values():
        out.update(_node_keys(node_info))
    out.update(_pool_keys(snap.pools))
    out.update(_affinity_keys(snap.affinities))
    local = snap.nodes.get(node_name) if node_name is not None else None
    excluded = local is not None and local.labels.get(_EXCLUDE_LABEL) == "true"
    inputs = ServiceInputs(
        config=default,
        excluded=excluded,
        node_ref=k8s_node_ref or node_name,
        cluster_ips_env=advertise_cluster_ips,
    )
    out.update(service_route_keys(inputs, snap.services, snap.slices, problems))
    out.update(snap.raw_v3)
    for bgp_filter in snap.filters:
        out[f"/calico/bgp/v1/filters/{bgp_filter.name}"] = go_json(filter_json(bgp_filter))

    as_key = _GLOBAL + "as_num"
    ctx = PeerContext(
        nodes=snap.nodes,
        global_as=snap.v1.get(as_key, out[as_key]),
        global_port=default.listen_port if default is not None else 0,
        node_ports=node_ports,
        secrets=secrets,
    )
    out.update(derive_peer_keys(ctx, snap.peers))
    out.update(snap.v1)
    if problems.items:
        raise CalicoDataError(problems.items)
    return dict(sorted(out.items()))

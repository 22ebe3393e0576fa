"""One watcher's snapshots, parsed and indexed, updated by what changed between them.

Role: `derive_bgp_keys` derives the whole key view for every snapshot, but from one snapshot to
the next only a few keys change. `DeriveCache` (one per watcher) keeps the previous snapshot's
raw values, what the reader made of each key (`Parsed`: JSON, addresses, selectors, and what
the key alone derives, such as a Node's host keys) and `ClusterState`, the resources indexed
as the derivation reads them (Nodes by name, EndpointSlices by Service, ...). `update` compares
the new snapshot with the previous one and re-parses and re-indexes only the keys whose value
changed, was added or was removed.

Invariants:
- An entry is a function of (key, raw value) only: the readers are pure and every parsed value
  is frozen (a Node's labels are a read-only mapping), so sharing one between snapshots cannot
  change what a later derive sees. `ClusterState` after `update(values)` is the state built
  from `values` alone (an empty cache updated once): the output of a derive with a cache is
  the output without one.
- The problems found while parsing a key are part of its entry and reported again on every
  derive that reads it.
- Not thread-safe: one watcher's render passes run one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from bgpd.confd.model.bgpfilter import read_bgp_filter
from bgpd.confd.model.field_ledger import Refusal, may_refuse, refused_fields
from bgpd.confd.model.resources import (
    Affinity,
    BgpConfig,
    BgpPeerResource,
    NodeInfo,
    PoolInfo,
    decode_object,
    read_affinity,
    read_bgp_configuration,
    read_bgp_peer,
    read_ip_pool,
    read_node,
)
from bgpd.confd.model.secrets import SECRETS_PREFIX
from bgpd.confd.model.services import (
    ENDPOINT_SLICES_PREFIX,
    SERVICES_PREFIX,
    EndpointSlice,
    Service,
    read_endpoint_slice,
    read_service,
)
from bgpd.confd.model.values import (
    Problems,
    decode_json,
    go_json,
    is_ipv4_text,
    parse_asn,
    parse_cidr,
    parse_ip,
    unencodable,
)
from bgpd.confd.model.workloads import (
    ENDPOINT_STATUS_PREFIX,
    EndpointStatus,
    EndpointStatusError,
    ignored_local_workload_fields,
    read_endpoint_status,
)
from bgpd.config.filter_section import FilterConfig
from bgpd.errors import ConfigProblem

__all__ = ["HOST_PREFIX", "V3_PREFIX", "ClusterState", "DeriveCache", "Parsed", "parse_key"]

V3_PREFIX = "/calico/resources/v3/projectcalico.org/"
HOST_PREFIX = "/calico/bgp/v1/host/"
_GLOBAL = "/calico/bgp/v1/global/"
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
# The ledger's kind of each resource plural the model reads.
_KINDS = {
    "nodes": "Node",
    "bgppeers": "BGPPeer",
    "bgpconfigurations": "BGPConfiguration",
    "ippools": "IPPool",
    "bgpfilters": "BGPFilter",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """What the reader made of one key's raw value (a `DeriveCache` entry): at most one
    resource, the problems found, and whether the raw value is kept as it is."""

    problems: tuple[ConfigProblem, ...] = ()
    node: NodeInfo | None = None
    peer: BgpPeerResource | None = None
    config: BgpConfig | None = None
    pool: PoolInfo | None = None
    bgp_filter: FilterConfig | None = None
    affinities: tuple[Affinity, ...] = ()
    service: Service | None = None
    endpoint_slice: EndpointSlice | None = None
    endpoint_status: EndpointStatus | None = None  # a Felix endpoint status file
    raw_v3: bool = False  # a v3 value Calico's cache holds at its own key
    v1: bool = False  # a v1 key passed through
    secret: bool = False  # a password Secret (read by `SecretPasswords` from the values)
    # What this key alone derives (a Node's host keys, an affinity's block key): computed once
    # per (key, raw value), like the parse.
    derived: tuple[tuple[str, str], ...] = ()
    # The fields bgpd cannot honour that this resource sets (bgpd.confd.model.field_ledger).
    refusals: tuple[Refusal, ...] = ()


def parse_key(key: str, raw: str) -> Parsed:
    """One key of a snapshot, parsed: a pure function of (key, raw)."""
    problems = Problems()
    parsed = _parse_into(key, raw, problems)
    if problems.items:
        parsed = replace(parsed, problems=tuple(problems.items))
    refusals = _refusals(key, raw) + _value_refusals(key, parsed)
    if refusals:
        parsed = replace(parsed, refusals=refusals)
    return parsed


def _value_refusals(key: str, parsed: Parsed) -> tuple[Refusal, ...]:
    """A value bgpd does not know in a field it honours, used as unset as Calico does."""
    config = parsed.config
    if config is None or not config.unknown_program_cluster_routes:
        return ()
    return (
        Refusal(
            kind="BGPConfiguration",
            name=config.name,
            field="spec.programClusterRoutes",
            reason=(
                f"unknown value {config.unknown_program_cluster_routes!r}: treated as unset "
                "(the default of [calico] compat), as Calico does"
            ),
        ),
    )


def _refusals(key: str, raw: str) -> tuple[Refusal, ...]:
    """The REFUSED fields a v3 resource sets, and the session fields a localWorkloadSelector
    BGPPeer sets that its peers do not get; its JSON is decoded again only when it holds the
    name of one (a Node never does)."""
    if not key.startswith(V3_PREFIX):
        return ()
    plural, _, name = key[len(V3_PREFIX) :].partition("/")
    kind = _KINDS.get(plural)
    if kind is None:
        return ()
    if not may_refuse(kind, raw) and not (kind == "BGPPeer" and _LOCAL_WORKLOAD_MARK in raw):
        return ()
    try:
        value = decode_json(raw)
    except ValueError:
        return ()  # reported as a problem by the reader
    refused = refused_fields(kind, name, value)
    if kind == "BGPPeer" and isinstance(value, dict) and isinstance(value.get("spec"), dict):
        named = {r.field for r in refused}
        refused += tuple(
            Refusal(kind=kind, name=name, field=path, reason=_LOCAL_WORKLOAD_REASON)
            for path in ignored_local_workload_fields(value["spec"])
            if path not in named
        )
    return refused


_LOCAL_WORKLOAD_MARK = '"localWorkloadSelector"'
_LOCAL_WORKLOAD_REASON = (
    "not applied to the Local_Workload peers of a localWorkloadSelector BGPPeer: Calico's "
    "confd gives them only asNumber and filters"
)


def _parse_into(key: str, raw: str, problems: Problems) -> Parsed:
    if not _encodable(key, raw, problems):
        return _NOTHING
    if key.startswith(V3_PREFIX):
        return _parse_v3(key, raw, problems)
    if (m := _AFFINITY_RE.match(key)) is not None:
        affinity = read_affinity(key, m.group(1), m.group(2), raw, problems)
        return _affinities((affinity,)) if affinity is not None else _NOTHING
    if (m := _POD_CIDRS_RE.match(key)) is not None:
        return _affinities(tuple(_pod_cidr_affinities(key, m.group(1), raw, problems)))
    if key.startswith(SECRETS_PREFIX):
        return _SECRET
    if key.startswith(_V1_PREFIXES):
        _check_v1(key, raw, problems)
        return Parsed(v1=True)
    if key.startswith(ENDPOINT_STATUS_PREFIX):
        try:
            return Parsed(endpoint_status=read_endpoint_status(raw))
        except EndpointStatusError as exc:
            problems.add(key, f"endpoint status: {exc}")
            return _NOTHING
    if key.startswith(SERVICES_PREFIX):
        return Parsed(service=read_service(key, raw, problems))
    if key.startswith(ENDPOINT_SLICES_PREFIX):
        return Parsed(endpoint_slice=read_endpoint_slice(key, raw, problems))
    return _NOTHING


def _parse_v3(key: str, raw: str, problems: Problems) -> Parsed:
    kind, _, name = key[len(V3_PREFIX) :].partition("/")
    if not name or "/" in name:
        return _NOTHING  # not a cluster-scoped resource of a kind we read
    raw_v3 = kind in _PASS_THROUGH_KINDS
    if kind == "nodes":
        node = read_node(key, name, raw, problems)
        derived = tuple(_node_keys(node).items()) if node is not None else ()
        return Parsed(raw_v3=raw_v3, node=node, derived=derived)
    if kind == "bgppeers":
        return Parsed(raw_v3=raw_v3, peer=read_bgp_peer(key, name, raw, problems))
    if kind == "bgpconfigurations":
        return Parsed(raw_v3=raw_v3, config=read_bgp_configuration(key, name, raw, problems))
    if kind == "ippools":
        return Parsed(raw_v3=raw_v3, pool=read_ip_pool(key, name, raw, problems))
    if kind == "bgpfilters":
        return Parsed(raw_v3=raw_v3, bgp_filter=read_bgp_filter(key, name, raw, problems))
    return Parsed(raw_v3=raw_v3)


_NOTHING = Parsed()
_SECRET = Parsed(secret=True)


def _affinities(affinities: tuple[Affinity, ...]) -> Parsed:
    return Parsed(affinities=affinities, derived=tuple(_affinity_keys(affinities).items()))


def _node_keys(node: NodeInfo) -> dict[str, str]:
    """bgpnodeprocessor.go: IPs and cluster id always present, network and AS when set."""
    prefix = f"{HOST_PREFIX}{node.name}/"
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
    # Blank when unset, as bgpnodeprocessor.go writes them (processWireguardPeerFilter).
    out[prefix + "wireguard_addr_v4"] = node.wireguard_v4
    out[prefix + "wireguard_addr_v6"] = node.wireguard_v6
    return out


def _affinity_keys(affinities: Iterable[Affinity]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in affinities:
        if a.state == "pending":
            continue  # client.go updateCache: pending affinities are treated as deleted
        block = str(a.cidr).replace("/", "-", 1)
        key = f"/calico/ipam/v2/host/{a.host}/ipv{a.cidr.version}/block/{block}"
        out[key] = go_json({"state": a.state, "deleted": a.deleted})
    return out


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
    if leaf == "as_num" and key.startswith(("/calico/bgp/v1/global/", HOST_PREFIX)):
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
        pool = decode_object(key, raw, problems)
        if pool is not None and parse_cidr(str(pool.obj.get("cidr", ""))) is None:
            problems.add(key, f"cidr {pool.obj.get('cidr')!r} is not a CIDR")
    elif key == _GLOBAL + "node_mesh":
        decode_object(key, raw, problems)


def _check_v1_peer(key: str, raw: str, version: int, problems: Problems) -> None:
    fields = decode_object(key, raw, problems)
    if fields is None:
        return
    value = fields.obj
    ip = value.get("ip")
    address = parse_ip(ip) if isinstance(ip, str) else None
    if address is None or address.version != version:
        problems.add(key, f"ip {ip!r} is not an IPv{version} address")
    _, message = parse_asn(value.get("as_num"))
    if message is not None:
        problems.add(key, f"as_num: {message}")


class ClusterState:
    """The typed resources of one snapshot, indexed as the derivation reads them.

    Every index is keyed so that a key's removal undoes exactly its addition; where the
    derivation's result could depend on the order of keys (two affinity keys naming one
    block), it iterates the source keys sorted, as a derive from scratch does.
    """

    __slots__ = (
        "affinity_keys",
        "configs",
        "filters",
        "node_keys",
        "nodes",
        "peers",
        "pools",
        "problems",
        "raw_v3",
        "refusals",
        "secrets",
        "services",
        "slices",
        "statuses",
        "v1",
    )

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}  # by name
        self.node_keys: dict[str, str] = {}  # every Node's host keys (names are unique)
        self.peers: dict[str, BgpPeerResource] = {}  # by source key
        self.configs: dict[str, BgpConfig] = {}  # by name
        self.pools: dict[str, PoolInfo] = {}  # by source key
        self.filters: dict[str, FilterConfig] = {}  # by source key
        self.affinity_keys: dict[str, tuple[tuple[str, str], ...]] = {}  # by source key
        self.raw_v3: dict[str, str] = {}
        self.v1: dict[str, str] = {}
        self.secrets: dict[str, str] = {}
        self.services: dict[tuple[str, str], Service] = {}
        # EndpointSlices by their Service; a tuple replaced (never changed) when one of them
        # changes, so an unchanged Service's slices are the same object as before.
        self.slices: dict[tuple[str, str], tuple[EndpointSlice, ...]] = {}
        self.statuses: dict[str, EndpointStatus] = {}  # by file name
        self.problems: dict[str, tuple[ConfigProblem, ...]] = {}  # by source key
        self.refusals: dict[str, tuple[Refusal, ...]] = {}  # by source key

    def add(self, key: str, raw: str, parsed: Parsed) -> None:
        if parsed.problems:
            self.problems[key] = parsed.problems
        if parsed.refusals:
            self.refusals[key] = parsed.refusals
        if parsed.raw_v3:
            self.raw_v3[key] = raw
        if parsed.v1:
            self.v1[key] = raw
        if parsed.secret:
            self.secrets[key] = raw
        if parsed.node is not None:
            self.nodes[parsed.node.name] = parsed.node
            self.node_keys.update(parsed.derived)
        elif parsed.peer is not None:
            self.peers[key] = parsed.peer
        elif parsed.config is not None:
            self.configs[parsed.config.name] = parsed.config
        elif parsed.pool is not None:
            self.pools[key] = parsed.pool
        elif parsed.bgp_filter is not None:
            self.filters[key] = parsed.bgp_filter
        elif parsed.affinities:
            self.affinity_keys[key] = parsed.derived
        elif parsed.service is not None:
            service = parsed.service
            self.services[service.namespace, service.name] = service
        elif parsed.endpoint_slice is not None and parsed.endpoint_slice.service:
            eps = parsed.endpoint_slice
            ref = (eps.namespace, eps.service)
            self.slices[ref] = (*self.slices.get(ref, ()), eps)
        elif parsed.endpoint_status is not None:
            self.statuses[key[len(ENDPOINT_STATUS_PREFIX) :]] = parsed.endpoint_status

    def remove(self, key: str, parsed: Parsed) -> None:
        """Undo `add(key, _, parsed)`."""
        self.problems.pop(key, None)
        self.refusals.pop(key, None)
        self.raw_v3.pop(key, None)
        self.v1.pop(key, None)
        self.secrets.pop(key, None)
        if parsed.node is not None:
            del self.nodes[parsed.node.name]
            for name, _ in parsed.derived:
                del self.node_keys[name]
        elif parsed.peer is not None:
            del self.peers[key]
        elif parsed.config is not None:
            del self.configs[parsed.config.name]
        elif parsed.pool is not None:
            del self.pools[key]
        elif parsed.bgp_filter is not None:
            del self.filters[key]
        elif parsed.affinities:
            del self.affinity_keys[key]
        elif parsed.service is not None:
            del self.services[parsed.service.namespace, parsed.service.name]
        elif parsed.endpoint_slice is not None and parsed.endpoint_slice.service:
            eps = parsed.endpoint_slice
            ref = (eps.namespace, eps.service)
            rest = tuple(s for s in self.slices[ref] if s is not eps)
            if rest:
                self.slices[ref] = rest
            else:
                del self.slices[ref]
        elif parsed.endpoint_status is not None:
            del self.statuses[key[len(ENDPOINT_STATUS_PREFIX) :]]


class DeriveCache:
    """The previous snapshot of one watcher, parsed and indexed; see the module docstring.

    The derivation keeps its own memos here too (`memos`, by name: per-Service routes, the
    peer keys), each valid for the inputs it records.
    """

    __slots__ = ("_parsed", "_raws", "hits", "memos", "misses", "state")

    def __init__(self) -> None:
        self._raws: dict[str, str] = {}
        self._parsed: dict[str, Parsed] = {}
        self.state = ClusterState()
        self.memos: dict[str, object] = {}
        self.hits = 0  # keys whose entry was reused, over the cache's life
        self.misses = 0  # keys parsed

    def __len__(self) -> int:
        return len(self._parsed)

    def update(self, values: Mapping[str, str]) -> ClusterState:
        """The state of `values`: only keys changed since the previous call are re-read."""
        raws = self._raws
        changed = [key for key, raw in values.items() if raws.get(key) != raw]
        added = sum(1 for key in changed if key not in raws)
        # Without removals every old key is still there: no need to look for them.
        removed = raws.keys() - values.keys() if len(raws) + added != len(values) else set()
        for key in removed:
            self.state.remove(key, self._parsed.pop(key))
            del raws[key]
        for key in changed:
            old = self._parsed.get(key)
            if old is not None:
                self.state.remove(key, old)
            raw = values[key]
            parsed = self._parsed[key] = parse_key(key, raw)
            raws[key] = raw
            self.state.add(key, raw, parsed)
        self.misses += len(changed)
        self.hits += len(values) - len(changed)
        return self.state

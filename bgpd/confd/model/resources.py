"""Calico's v3 resources (and IPAM affinities) as read from etcd, typed and validated.

Role: one reader per kind the BGP syncer watches (libcalico-go bgpsyncer: Node, BGPPeer,
BGPConfiguration, IPPool, BGPFilter, and block affinities). Each takes the etcd key and its raw
JSON value and returns a frozen value, recording a `ConfigProblem` for anything Calico's
validation or its confd backend would refuse or mangle (a bad IP, an invalid AS, a selector
that does not parse, a malformed duration or CIDR).

Invariants: a reader returns None exactly when the value cannot be used at all (not JSON, not
an object); otherwise it returns the resource with bad fields neutralised, their problems
recorded, so the caller can keep going and report every problem of the snapshot at once. The
resource name is the last path element of the key, as libcalico-go's KeyFromDefaultPath reads
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bgpd.confd.model.values import (
    Fields,
    Problems,
    decode_json,
    is_ipv4_text,
    parse_cidr,
    parse_decimal,
    parse_go_duration,
    parse_ip,
    parse_ip_or_cidr,
    round_seconds,
    split_host_port,
)
from bgpd.config.calico import check_interface_pattern
from bgpd.config.calico_release import MAX_NORMAL_PRIORITY, PROGRAM_CLUSTER_ROUTES
from bgpd.config.selector import Selector, SelectorError, parse_selector
from bgpd.net import IPAddress, IPNetwork

__all__ = [
    "Affinity",
    "BgpConfig",
    "BgpPeerResource",
    "NodeInfo",
    "PoolInfo",
    "PrefixAdvertisementSpec",
    "SecretRef",
    "decode_object",
    "read_affinity",
    "read_bgp_configuration",
    "read_bgp_peer",
    "read_ip_pool",
    "read_node",
]


def decode_object(key: str, raw: str, problems: Problems) -> Fields | None:
    """The top-level JSON object of a value, or None (recorded) when it is not one."""
    try:
        value = decode_json(raw)
    except ValueError as exc:
        problems.add(key, f"malformed JSON: {exc}")
        return None
    if not isinstance(value, dict):
        problems.add(key, "expected a JSON object")
        return None
    return Fields(key, value, "", problems)


def _spec(top: Fields) -> Fields:
    return top.sub("spec") or Fields(top.key, {}, "spec", top.problems)


def _selector(fields: Fields, name: str) -> Selector | None:
    """Field `name` parsed as a selector; None when absent or empty (recorded when bad)."""
    text = fields.text(name)
    if not text:
        return None
    try:
        return parse_selector(text)
    except SelectorError as exc:
        fields.bad(name, f"{exc.message} at position {exc.position} of {text!r}")
        return None


def _duration_seconds(fields: Fields, name: str) -> int | None:
    text = fields.text(name)
    if not fields.has(name):
        return None
    seconds = parse_go_duration(text)
    if seconds is None or seconds < 0:
        fields.bad(name, f'{text!r} is not a duration such as "120s" or "2m"')
        return None
    return round_seconds(seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """A `secretKeyRef`: the Kubernetes Secret and the key inside it holding a password."""

    name: str
    key: str


def _secret_ref(fields: Fields, name: str) -> SecretRef | None:
    password = fields.sub(name)
    if password is None:
        return None
    ref = password.sub("secretKeyRef")
    if ref is None:
        return None
    secret, key = ref.text("name"), ref.text("key")
    if not secret or not key:
        ref.bad("name" if not secret else "key", "missing (a secretKeyRef needs name and key)")
        return None
    return SecretRef(name=secret, key=key)


# --- Node --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """What confd uses of a Node (bgpnodeprocessor.go): labels and the BGP spec, as strings.

    `ipv4`/`ipv6`/`rr_cluster_id` are "" when unset (the v1 keys are then present but empty);
    `ipv4`/`ipv6` are canonical text (`str` of the parsed address: the peers compare them);
    `network_v4`/`network_v6`/`as_num` are None when unset (their v1 keys are then absent).
    """

    name: str
    labels: Mapping[str, str]  # read-only: a parsed Node is shared between snapshots
    ipv4: str
    ipv6: str
    network_v4: str | None
    network_v6: str | None
    as_num: str | None
    rr_cluster_id: str
    # spec.wireguard.interfaceIPv4Address / IPv6Address as written ("" when unset): the node
    # runs WireGuard (bgpnodeprocessor.go wireguard_addr_v4 / wireguard_addr_v6).
    wireguard_v4: str = ""
    wireguard_v6: str = ""


def _node_address(bgp: Fields, name: str, version: int) -> tuple[str, str | None]:
    text = bgp.text(name)
    if not text:
        return "", None
    parsed = parse_ip_or_cidr(text)
    if parsed is None:
        bgp.bad(name, f"{text!r} is not an IPv{version} address or CIDR")
        return "", None
    address, network = parsed
    if address.version != version:
        bgp.bad(name, f"{text!r} is not an IPv{version} address")
        return "", None
    return str(address), str(network)


def read_node(key: str, name: str, raw: str, problems: Problems) -> NodeInfo | None:
    top = decode_object(key, raw, problems)
    if top is None:
        return None
    metadata = top.sub("metadata")
    labels = metadata.labels("labels") if metadata is not None else {}
    ipv4 = ipv6 = rr_cluster_id = ""
    network_v4 = network_v6 = as_num = None
    bgp = _spec(top).sub("bgp")
    if bgp is not None:
        ipv4, network_v4 = _node_address(bgp, "ipv4Address", 4)
        ipv6, network_v6 = _node_address(bgp, "ipv6Address", 6)
        asn = bgp.asn("asNumber")
        as_num = None if asn is None else str(asn)
        rr_cluster_id = bgp.text("routeReflectorClusterID")
        if rr_cluster_id and not is_ipv4_text(rr_cluster_id):
            bgp.bad(
                "routeReflectorClusterID",
                f"{rr_cluster_id!r} is not an IPv4-formatted cluster id",
            )
            rr_cluster_id = ""
    wireguard_v4 = wireguard_v6 = ""
    wireguard = _spec(top).sub("wireguard")
    if wireguard is not None:
        wireguard_v4 = wireguard.text("interfaceIPv4Address")
        wireguard_v6 = wireguard.text("interfaceIPv6Address")
    return NodeInfo(
        name=name,
        labels=MappingProxyType(labels),
        ipv4=ipv4,
        ipv6=ipv6,
        network_v4=network_v4,
        network_v6=network_v6,
        as_num=as_num,
        rr_cluster_id=rr_cluster_id,
        wireguard_v4=wireguard_v4,
        wireguard_v6=wireguard_v6,
    )


# --- BGPPeer -----------------------------------------------------------------------------------

_SOURCE_ADDRESSES = ("UseNodeIP", "None")
_NEXT_HOP_MODES = ("Auto", "Self", "Keep")  # bgppeer.go NextHopMode's kubebuilder enum
# Calico Enterprise's BGPPeer failureDetectionMode: BFD toward peers on the node's own subnet.
_FAILURE_DETECTION_MODES = ("None", "BFDIfDirectlyConnected")
_HOLD_TIME = 240  # every Calico peering's (bgpd's [bgp] default, as BIRD's)


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpPeerResource:
    """A BGPPeer's spec (api/pkg/apis/projectcalico/v3/bgppeer.go), validated.

    `peer_address`/`peer_port` are the parsed `peerIP` (None/0 when it has none);
    `peer_host` is its host part as written, which Calico compares with node addresses.
    """

    name: str
    key: str
    node: str
    node_selector: Selector | None
    peer_host: str
    peer_address: IPAddress | None
    peer_port: int
    as_number: int  # 0 when unset (numorstring.ASNumber's zero value)
    peer_selector: Selector | None
    keep_original_next_hop: bool
    next_hop_mode: str  # "Auto", "Self", "Keep"; "" when unset (keepOriginalNextHop applies)
    local_as_number: int  # 0 when unset (the node's AS)
    keepalive_time: str  # whole seconds as a string, "" when unset
    password: SecretRef | None
    source_address: str
    restart_time: str  # whole seconds as a string, "" when unset
    num_allowed_local_as: int
    # Calico Enterprise restartMode: "GracefulRestart", "LongLivedGracefulRestart"; "" unset.
    restart_mode: str
    ttl_security: int
    reachable_by: str
    filters: tuple[str, ...] | None
    local_workload_selector: str
    # failureDetectionMode BFDIfDirectlyConnected (Calico Enterprise): BFD where the peer is on
    # the node's subnet (decided per node, bgpd.confd.calico_node)
    bfd_if_directly_connected: bool = False
    # reversePeering: False for Manual, when the nodes this BGPPeer points at do not peer back
    # automatically (client.go automaticReversePeering).
    automatic_reverse: bool = True


_REVERSE_PEERINGS = ("Auto", "Manual")
_RESTART_MODES = ("GracefulRestart", "LongLivedGracefulRestart")


def read_bgp_peer(key: str, name: str, raw: str, problems: Problems) -> BgpPeerResource | None:
    top = decode_object(key, raw, problems)
    if top is None:
        return None
    spec = _spec(top)
    node = spec.text("node")
    node_selector = _selector(spec, "nodeSelector")
    if node and spec.text("nodeSelector"):
        spec.bad("node", "node and nodeSelector are mutually exclusive")
    peer_selector = _selector(spec, "peerSelector")
    local_workload_selector = spec.text("localWorkloadSelector")
    if local_workload_selector:
        _selector(spec, "localWorkloadSelector")
    peer_ip = spec.text("peerIP")
    as_number = spec.asn("asNumber") or 0
    peer_host, peer_port = split_host_port(peer_ip)
    peer_address: IPAddress | None = None
    uses_selector = bool(spec.text("peerSelector")) or bool(local_workload_selector)
    if peer_ip and uses_selector:
        spec.bad("peerIP", "peerIP and peerSelector/localWorkloadSelector are mutually exclusive")
    elif not uses_selector:
        peer_address = parse_ip(peer_host)
        if peer_address is None:
            what = repr(peer_ip) if peer_ip else "missing"
            spec.bad(
                "peerIP",
                f"{what}: need an IP address, IP:port or [IPv6]:port (or a peerSelector)",
            )
        elif not as_number and not spec.has("asNumber"):
            # Calico would render `neighbor ... as 0`, which BIRD refuses.
            spec.bad("asNumber", "required with peerIP")
    if spec.has("asNumber") and spec.text("peerSelector"):
        spec.bad("asNumber", "must be empty with peerSelector (the nodes' own AS is used)")
    if local_workload_selector:
        # validator.go validateBGPPeerSpec
        if spec.text("peerSelector"):
            spec.bad(
                "peerSelector", "peerSelector and localWorkloadSelector are mutually exclusive"
            )
        if not as_number:
            spec.bad("asNumber", "required with localWorkloadSelector")
    source_address = spec.text("sourceAddress")
    if source_address and source_address not in _SOURCE_ADDRESSES:
        spec.bad("sourceAddress", f"{source_address!r} is not UseNodeIP or None")
        source_address = ""
    restart = _duration_seconds(spec, "maxRestartTime")
    restart_mode = spec.text("restartMode")
    if restart_mode and restart_mode not in _RESTART_MODES:
        spec.bad(
            "restartMode", f"{restart_mode!r} is not GracefulRestart or LongLivedGracefulRestart"
        )
        restart_mode = ""
    keepalive = _duration_seconds(spec, "keepaliveTime")
    if keepalive is not None and not 1 <= keepalive < _HOLD_TIME:
        # Calico renders `keepalive time N;`, which BIRD refuses outside 1..65535, and a
        # keepalive not below the hold time (BIRD's 240 s, which Calico keeps) would let the
        # peer's hold timer expire (RFC 4271 §4.4): the peering keeps the default instead.
        spec.bad(
            "keepaliveTime",
            f"{keepalive} s is out of range 1s..{_HOLD_TIME - 1}s (below the hold time "
            f"{_HOLD_TIME} s)",
        )
        keepalive = None
    next_hop_mode = spec.text("nextHopMode")
    if next_hop_mode and next_hop_mode not in _NEXT_HOP_MODES:
        spec.bad("nextHopMode", f"{next_hop_mode!r} is not Auto, Self or Keep")
        next_hop_mode = ""
    reachable_by = spec.text("reachableBy")
    if reachable_by:
        gateway = parse_ip(reachable_by)
        if gateway is None:
            spec.bad("reachableBy", f"{reachable_by!r} is not an IP address")
            reachable_by = ""
        elif peer_address is not None and gateway.version != peer_address.version:
            spec.bad("reachableBy", "address family differs from peerIP")
            reachable_by = ""
        elif not peer_ip:
            spec.bad("reachableBy", "needs peerIP")
            reachable_by = ""
    filters = spec.str_list("filters")
    detection = spec.text("failureDetectionMode") or "None"
    if detection not in _FAILURE_DETECTION_MODES:
        spec.bad("failureDetectionMode", f"{detection!r} is not None or BFDIfDirectlyConnected")
        detection = "None"
    reverse = spec.text("reversePeering") or "Auto"
    if reverse not in _REVERSE_PEERINGS:
        spec.bad("reversePeering", f"{reverse!r} is not Auto or Manual")
        reverse = "Auto"
    return BgpPeerResource(
        name=name,
        key=key,
        node=node,
        node_selector=node_selector,
        peer_host=peer_host if peer_ip else "",
        peer_address=peer_address,
        peer_port=peer_port if peer_address is not None else 0,
        as_number=as_number,
        peer_selector=peer_selector,
        keep_original_next_hop=spec.flag("keepOriginalNextHop"),
        next_hop_mode=next_hop_mode,
        local_as_number=spec.asn("localASNumber") or 0,
        keepalive_time="" if keepalive is None else str(keepalive),
        password=_secret_ref(spec, "password"),
        source_address=source_address,
        restart_time="" if restart is None else str(restart),
        restart_mode=restart_mode,
        num_allowed_local_as=spec.integer("numAllowedLocalASNumbers", 0, 2**31 - 1) or 0,
        ttl_security=spec.integer("ttlSecurity", 0, 255) or 0,
        reachable_by=reachable_by,
        filters=filters,
        local_workload_selector=local_workload_selector,
        bfd_if_directly_connected=detection == "BFDIfDirectlyConnected",
        automatic_reverse=reverse == "Auto",
    )


# --- BGPConfiguration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixAdvertisementSpec:
    cidr: str
    communities: tuple[str, ...]


_BIND_MODES = ("None", "NodeIP")
_AGGREGATION = ("Enabled", "Disabled")


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpConfig:
    """A BGPConfiguration's spec (`default` or `node.<name>`); None/0 means unset."""

    name: str
    as_number: int | None
    log_severity: str
    mesh_enabled: bool | None
    listen_port: int
    bind_mode: str | None
    mesh_restart_time: int | None
    mesh_password: SecretRef | None
    ignored_interfaces: tuple[str, ...] | None
    service_cluster_ips: tuple[str, ...] | None
    service_external_ips: tuple[str, ...] | None
    service_loadbalancer_ips: tuple[str, ...] | None
    # serviceLoadBalancerAggregation: Enabled (True, the default) advertises the LB ranges
    # from every node; Disabled advertises each Service's LB IPs instead.
    service_lb_aggregation: bool
    communities: tuple[tuple[str, str], ...]
    prefix_advertisements: tuple[PrefixAdvertisementSpec, ...] | None
    # programClusterRoutes when it is one of the values bgpd knows, else None; an unknown
    # value (a newer API's) is kept in `unknown_program_cluster_routes` and means unset, as
    # in Calico (clusterRoutePolicyFromBGPConfig), said out loud (`value_refusals`).
    program_cluster_routes: str | None = None
    unknown_program_cluster_routes: str = ""
    ipv4_normal_route_priority: int | None = None
    ipv6_normal_route_priority: int | None = None


def _valid_community(text: str) -> bool:
    # client.go isValidCommunity: `a:b` or `a:b:c` of digits (ranges checked by the validator).
    numbers = [parse_decimal(p) for p in text.split(":")]
    limit = 0xFFFF if len(numbers) == 2 else 0xFFFFFFFF
    return len(numbers) in (2, 3) and all(n is not None and n <= limit for n in numbers)


def _service_cidrs(spec: Fields, name: str) -> tuple[str, ...] | None:
    blocks = spec.subs(name)
    if blocks is None:
        return None
    out: list[str] = []
    for block in blocks:
        cidr = block.text("cidr")
        if not cidr:
            continue  # client.go: the CRD allows an empty CIDR; it is ignored
        if parse_cidr(cidr) is None:
            block.bad("cidr", f"{cidr!r} is not a CIDR")
            continue
        out.append(cidr)
    return tuple(out)


def read_bgp_configuration(key: str, name: str, raw: str, problems: Problems) -> BgpConfig | None:
    top = decode_object(key, raw, problems)
    if top is None:
        return None
    spec = _spec(top)
    bind_mode: str | None = None
    if spec.has("bindMode"):
        bind_mode = spec.text("bindMode")
        if bind_mode not in _BIND_MODES:
            spec.bad("bindMode", f"{bind_mode!r} is not None or NodeIP")
            bind_mode = None
    communities: list[tuple[str, str]] = []
    for community in spec.subs("communities") or []:
        value = community.text("value")
        if not _valid_community(value):
            community.bad("value", f"{value!r} is not a community (a:b) or large community (a:b:c)")
            continue
        communities.append((community.text("name"), value))
    advertisements: list[PrefixAdvertisementSpec] | None = None
    listed = spec.subs("prefixAdvertisements")
    if listed is not None:
        advertisements = []
        for adv in listed:
            cidr = adv.text("cidr")
            if parse_cidr(cidr) is None:
                adv.bad("cidr", f"{cidr!r} is not a CIDR")
                continue
            advertisements.append(
                PrefixAdvertisementSpec(cidr=cidr, communities=adv.str_list("communities") or ())
            )
    aggregation = spec.text("serviceLoadBalancerAggregation", "Enabled")
    if aggregation not in _AGGREGATION:
        spec.bad("serviceLoadBalancerAggregation", f"{aggregation!r} is not Enabled or Disabled")
        aggregation = "Enabled"
    mesh_enabled: bool | None = None
    if spec.has("nodeToNodeMeshEnabled"):
        mesh_enabled = spec.flag("nodeToNodeMeshEnabled", True)
    ignored = spec.str_list("ignoredInterfaces")
    for i, pattern in enumerate(ignored or ()):
        problem = check_interface_pattern(pattern)
        if problem is not None:
            spec.bad(f"ignoredInterfaces[{i}]", problem)
    if ignored is not None:
        ignored = tuple(p for p in ignored if check_interface_pattern(p) is None)
    program: str | None = spec.text("programClusterRoutes") or None
    unknown = ""
    if program is not None and program not in PROGRAM_CLUSTER_ROUTES:
        unknown = program
        program = None
    return BgpConfig(
        name=name,
        as_number=spec.asn("asNumber"),
        log_severity=spec.text("logSeverityScreen"),
        mesh_enabled=mesh_enabled,
        listen_port=spec.integer("listenPort", 1, 65535) or 0,
        bind_mode=bind_mode,
        mesh_restart_time=_duration_seconds(spec, "nodeMeshMaxRestartTime"),
        mesh_password=_secret_ref(spec, "nodeMeshPassword"),
        ignored_interfaces=ignored,
        service_cluster_ips=_service_cidrs(spec, "serviceClusterIPs"),
        service_external_ips=_service_cidrs(spec, "serviceExternalIPs"),
        service_loadbalancer_ips=_service_cidrs(spec, "serviceLoadBalancerIPs"),
        service_lb_aggregation=aggregation == "Enabled",
        communities=tuple(communities),
        prefix_advertisements=None if advertisements is None else tuple(advertisements),
        program_cluster_routes=program,
        unknown_program_cluster_routes=unknown,
        ipv4_normal_route_priority=spec.integer("ipv4NormalRoutePriority", 1, MAX_NORMAL_PRIORITY),
        ipv6_normal_route_priority=spec.integer("ipv6NormalRoutePriority", 1, MAX_NORMAL_PRIORITY),
    )


# --- IPPool ------------------------------------------------------------------------------------

_IPIP_MODES = {"": "", "Never": "", "Always": "always", "CrossSubnet": "cross-subnet"}
_VXLAN_MODES = _IPIP_MODES


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolInfo:
    """An IPPool as its v1 model.IPPool (IPPoolV3ToV1)."""

    name: str
    cidr: IPNetwork
    ipip_mode: str  # "", "always" or "cross-subnet"
    vxlan_mode: str
    nat_outgoing: bool
    disabled: bool
    disable_bgp_export: bool
    assignment_mode: str


def read_ip_pool(key: str, name: str, raw: str, problems: Problems) -> PoolInfo | None:
    top = decode_object(key, raw, problems)
    if top is None:
        return None
    spec = _spec(top)
    cidr_text = spec.text("cidr")
    cidr = parse_cidr(cidr_text)
    if cidr is None:
        spec.bad("cidr", f"{cidr_text!r} is not a CIDR" if cidr_text else "missing")
    modes: list[str] = []
    for field, table in (("ipipMode", _IPIP_MODES), ("vxlanMode", _VXLAN_MODES)):
        mode = spec.text(field)
        if mode not in table:
            spec.bad(field, f"{mode!r} is not Never, Always or CrossSubnet")
            mode = ""
        modes.append(table[mode])
    # Calico's IPPool validation: one encapsulation per pool, and IPIP carries IPv4 only.
    if modes[0] and modes[1]:
        spec.bad("vxlanMode", "a pool cannot use both IPIP and VXLAN")
    if modes[0] and cidr is not None and cidr.version == 6:
        spec.bad("ipipMode", "IPIP is IPv4 only; an IPv6 pool must use Never")
    assignment = spec.text("assignmentMode") or "Automatic"
    nat = spec.flag("natOutgoing")
    disabled = spec.flag("disabled")
    no_export = spec.flag("disableBGPExport")
    if cidr is None:
        return None
    return PoolInfo(
        name=name,
        cidr=cidr,
        ipip_mode=modes[0],
        vxlan_mode=modes[1],
        nat_outgoing=nat,
        disabled=disabled,
        disable_bgp_export=no_export,
        assignment_mode=assignment,
    )


# --- IPAM block affinities ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Affinity:
    """A block affinity (model.BlockAffinity); `state` "" is older data, implicitly confirmed."""

    host: str
    cidr: IPNetwork
    state: str
    deleted: bool


def read_affinity(
    key: str, host: str, cidr_text: str, raw: str, problems: Problems
) -> Affinity | None:
    cidr = parse_cidr(cidr_text.replace("-", "/", 1))
    if cidr is None:
        problems.add(key, f"{cidr_text!r} is not a block CIDR (like 10.244.1.0-26)")
        return None
    top = decode_object(key, raw, problems)
    if top is None:
        return None
    return Affinity(host=host, cidr=cidr, state=top.text("state"), deleted=top.flag("deleted"))

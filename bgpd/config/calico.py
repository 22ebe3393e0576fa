"""The Calico-facing sections of `bgpd.toml`: this node, the cluster's nodes, the mesh, the
Calico export-policy data and kernel synchronisation.

Role: typed, validated values for `[node]`, `[[cluster_node]]`, `[mesh]`, `[calico]` (with
`[[calico.pool]]` and `[[calico.prefix_advertisement]]`) and `[kernel]`. They hold *data* in the
shape of Calico's keys (calico-bgp.md §1.4), so a confd template can fill them in one key at a
time; the rules that act on that data live in code, never in the file: mesh peers are derived
by `bgpd.config.schema.derive_mesh_peers`, the export rules by `bgpd.policy.export_policy`.

Invariants:
- As in `bgpd.config.schema`, every class validates itself in `validate`, called by
  `__post_init__`, and raises `ConfigError` with locations relative to the instance (`cidr`,
  `blocks[2]`, `labels.rack`); the loader adds no check of its own.
- TOML key names equal dataclass field names, except that an array of tables is stored under
  the plural of its key (`[[calico.pool]]` -> `CalicoSection.pools`), as `Config.peers` is.
- Every section is optional; without them bgpd is a plain BGP router.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

from bgpd.config.calico_release import (
    DEFAULT_COMPAT,
    DEFAULT_NORMAL_PRIORITY,
    ClusterRoutePolicy,
    check_compat,
    check_normal_priority,
    check_program_cluster_routes,
    cluster_route_policy,
    has_route_priorities,
)
from bgpd.config.checks import (
    MAX_RESTART_TIME,
    Collector,
    Community,
    LargeCommunity,
    add_password_problems,
    check_asn,
    check_cluster_id,
    check_port,
    first_duplicate,
    raise_problems,
)
from bgpd.net import IPAddress, IPNetwork

__all__ = [
    "CalicoSection",
    "ClusterNode",
    "EncapMode",
    "KernelSection",
    "Labels",
    "MeshSection",
    "NodeSection",
    "Pool",
    "PrefixAdvertisement",
    "check_node_address",
    "check_node_name",
    "check_ifname",
    "check_interface_pattern",
    "check_route_protocol",
    "check_mesh_restart_time",
    "check_converge_timeout",
    "check_label_key",
    "check_label_value",
    "label_suffix",
]

# Kubernetes node names are DNS subdomains (RFC 1123, at most 253 characters).
MAX_NODE_NAME = 253
# IFNAMSIZ is 16 on Linux, including the terminating NUL.
MAX_IFNAME = 15
# rtm_protocol is one octet (rtnetlink(7)).
MAX_ROUTE_PROTOCOL = 255
# The routes bgpd itself installs carry RTPROT_BIRD (12), as BIRD's did in calico-node.
OUR_ROUTE_PROTOCOL = 12
# RTPROT_KERNEL: routes the kernel derives from interface addresses; BIRD 1.6 never learns them.
KERNEL_ROUTE_PROTOCOL = 2
MAX_CONVERGE_TIMEOUT = 3600


class EncapMode(StrEnum):
    """An IP pool's `ipipMode` / `vxlanMode`, spelt as Calico's v1 pool keys spell them."""

    NEVER = "never"
    ALWAYS = "always"
    CROSS_SUBNET = "cross-subnet"


# --- Field checks: each returns a message or None. ---------------------------------------------


def check_node_name(v: str) -> str | None:
    if not v:
        return "node name must not be empty"
    if len(v) > MAX_NODE_NAME:
        return f"node name is {len(v)} characters; at most {MAX_NODE_NAME}"
    if any(ch.isspace() or not ch.isprintable() for ch in v):
        return f"node name {json.dumps(v)} must not contain spaces or control characters"
    return None


def check_node_address(v: IPAddress | IPv4Interface | IPv6Interface) -> str | None:
    ip = v.ip if isinstance(v, IPv4Interface | IPv6Interface) else v
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} must be a unicast address of the node"
    return None


def check_ifname(v: str) -> str | None:
    if not v or len(v.encode()) > MAX_IFNAME:
        return f"interface name {json.dumps(v)} must be 1..{MAX_IFNAME} bytes (IFNAMSIZ)"
    if v in {".", ".."} or any(ch == "/" or ch.isspace() or ch == ":" for ch in v):
        return f"interface name {json.dumps(v)} may not contain '/', ':' or spaces"
    return None


# Calico's validator for BGPConfiguration ignoredInterfaces (validateIgnoredInterface): a name
# with `*` wildcards, never `*` alone (that would ignore every interface).
_INTERFACE_PATTERN = re.compile(r"[a-zA-Z0-9_.*-]{1,15}")


def check_interface_pattern(v: str) -> str | None:
    if v != "*" and _INTERFACE_PATTERN.fullmatch(v):
        return None
    return (
        f"interface pattern {json.dumps(v)} must be 1..{MAX_IFNAME} letters, digits, '_', '.', "
        "'-' or '*' wildcards, and not '*' alone"
    )


def check_route_protocol(v: int) -> str | None:
    if not 0 <= v <= MAX_ROUTE_PROTOCOL:
        return f"route protocol {v} is out of range 0..{MAX_ROUTE_PROTOCOL}"
    if v == OUR_ROUTE_PROTOCOL:
        return f"protocol {v} is bgpd's own; its routes are never learned back"
    if v == KERNEL_ROUTE_PROTOCOL:
        return f"protocol {v} (kernel) routes are interface routes and are never learned"
    return None


def check_mesh_restart_time(v: int) -> str | None:
    if 0 <= v <= MAX_RESTART_TIME:
        return None
    return f"restart_time {v} is out of range 0..{MAX_RESTART_TIME} (RFC 4724 §3)"


def check_converge_timeout(v: int) -> str | None:
    if 0 <= v <= MAX_CONVERGE_TIMEOUT:
        return None
    return f"converge_timeout {v} is out of range 0..{MAX_CONVERGE_TIMEOUT} seconds"


# --- Node labels (for selectors such as the reflector's `[reflector].clients`). ----------------
# Kubernetes label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue): Calico
# node labels are Kubernetes labels, and a key that breaks these rules is a typo, not a label.
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_LABEL_NAME = 63
MAX_LABEL_PREFIX = 253


def check_label_key(v: str) -> str | None:
    prefix, slash, name = v.rpartition("/")
    if slash and not (len(prefix) <= MAX_LABEL_PREFIX and _DNS_SUBDOMAIN.fullmatch(prefix)):
        return f"label key {json.dumps(v)}: prefix {json.dumps(prefix)} is not a DNS subdomain"
    if not (len(name) <= MAX_LABEL_NAME and _LABEL_NAME.fullmatch(name)):
        return (
            f"label key {json.dumps(v)}: name must be 1..{MAX_LABEL_NAME} letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return None


def check_label_value(v: str) -> str | None:
    if v == "" or (len(v) <= MAX_LABEL_NAME and _LABEL_NAME.fullmatch(v)):
        return None
    return (
        f"label value {json.dumps(v)} must be empty or 1..{MAX_LABEL_NAME} letters, digits, "
        "'-', '_' or '.', starting and ending with a letter or digit"
    )


def label_suffix(key: str) -> str:
    """Where label `key` is, relative to its table: `.rack`, or `."topology.kubernetes.io/zone"`
    for a key that is not a bare TOML key."""
    return f".{key}" if key.replace("_", "a").isalnum() else f".{json.dumps(key)}"


class Labels(Mapping[str, str]):
    """An immutable, hashable label map (a node's Kubernetes/Calico labels).

    Frozen config values must stay hashable and comparable, which a dict is not; selectors take
    any `Mapping[str, str]`, so this one is passed to them as it is.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, str] = dict(sorted(dict(items).items()))

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"Labels({self._items!r})"


NO_LABELS = Labels()


def _check_ip_version(v: IPAddress | IPv4Interface | IPv6Interface, version: int) -> str | None:
    return None if v.version == version else f"{v} is not an IPv{version} address"


def _overlap_problems(key: str, nets: Sequence[IPNetwork], c: Collector) -> None:
    """Report repeated or overlapping prefixes in `nets` at `key[i]`."""
    for i, net in enumerate(nets):
        for j in range(i):
            other = nets[j]
            if net == other:
                c.add(f"{key}[{i}]", f"{net} is listed twice")
                break
            if net.version == other.version and net.overlaps(other):
                c.add(f"{key}[{i}]", f"{net} overlaps {key}[{j}] ({other})")
                break


def _duplicate_problems(key: str, nets: Sequence[IPNetwork], c: Collector) -> None:
    seen: dict[IPNetwork, int] = {}
    for i, net in enumerate(nets):
        if net in seen:
            c.add(f"{key}[{i}]", f"{net} is already listed as {key}[{seen[net]}]")
        seen.setdefault(net, i)


# --- Sections. ---------------------------------------------------------------------------------


def _check_node_v4(v: IPAddress | IPv4Interface | IPv6Interface) -> str | None:
    return _check_ip_version(v, 4) or check_node_address(v)


def _check_node_v6(v: IPAddress | IPv4Interface | IPv6Interface) -> str | None:
    return _check_ip_version(v, 6) or check_node_address(v)


def _check_node_identity(c: Collector, node: NodeSection | ClusterNode) -> None:
    """The fields `[node]` and `[[cluster_node]]` share (Calico's host/<name>/... keys)."""
    c.check("name", check_node_name, node.name)
    c.check("ipv4", _check_node_v4, node.ipv4)
    c.check("ipv6", _check_node_v6, node.ipv6)
    c.check("asn", check_asn, node.asn)
    c.check("rr_cluster_id", check_cluster_id, node.rr_cluster_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSection:
    """`[node]`: this node as Calico knows it (Node.spec.bgp, /calico/bgp/v1/host/<me>/...)."""

    name: str
    # Calico's ipv4Address, with its subnet ("10.0.0.1/24"); the subnet is network_v4, which
    # IPIP CrossSubnet compares next hops against. A bare address means a /32.
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None
    # This node's AS when it differs from [bgp].asn, Calico's global default (host as_num).
    asn: int | None = None
    # Set on route reflectors: no mesh at all, and the cluster id of `[bgp]` (calico-bgp.md §2.3).
    rr_cluster_id: IPv4Address | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        _check_node_identity(c, self)

    @property
    def ipv4_address(self) -> IPv4Address | None:
        return None if self.ipv4 is None else self.ipv4.ip

    @property
    def ipv6_address(self) -> IPv6Address | None:
        return None if self.ipv6 is None else self.ipv6.ip

    @property
    def network_v4(self) -> IPv4Network | None:
        """Calico's `network_v4`: the subnet of ipv4Address (IPIP CrossSubnet)."""
        return None if self.ipv4 is None else self.ipv4.network

    @property
    def network_v6(self) -> IPv6Network | None:
        return None if self.ipv6 is None else self.ipv6.network

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        """The node's addresses, IPv4 first."""
        return tuple(a for a in (self.ipv4_address, self.ipv6_address) if a is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterNode:
    """`[[cluster_node]]`: one node of the cluster (the /calico/bgp/v1/host/<name>/ keys).

    The list may include this node itself; it is recognised by its address, as Calico does.
    """

    name: str
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    # host/<name>/as_num; None = the global AS ([bgp].asn).
    asn: int | None = None
    # host/<name>/rr_cluster_id; a node that has one is never a mesh peer.
    rr_cluster_id: IPv4Address | None = None
    # host/<name>/listen_port; None = [bgp].port.
    port: int | None = None
    # The Node resource's labels, for selectors (the reflector's client discovery).
    labels: Labels = NO_LABELS

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this node (see `bgpd.config.checks.Collector`)."""
        _check_node_identity(c, self)
        c.check("port", check_port, self.port)
        # None, or only the string entries, in the loader's stand-in (checks.partial_problems).
        for key, value in (self.labels or {}).items():
            c.add("labels" + label_suffix(key), check_label_key(key) or check_label_value(value))

    def address(self, version: int) -> IPAddress | None:
        return self.ipv4 if version == 4 else self.ipv6


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshSection:
    """`[mesh]`: Calico's node-to-node mesh (nodeToNodeMeshEnabled, nodeMesh* settings)."""

    enabled: bool = True
    # node_mesh_password: the TCP-MD5 key of every mesh session.
    password: str | None = field(default=None, repr=False)
    # Why nodeMeshPassword gave no password (confd writes it): every mesh session stays down.
    password_unavailable: str | None = None
    # node_mesh_restart_time: the graceful-restart time of mesh sessions; None = [bgp]'s.
    restart_time: int | None = None

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        add_password_problems(c, self.password, self.password_unavailable)
        c.check("restart_time", check_mesh_restart_time, self.restart_time)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """`[[calico.pool]]`: one Calico IP pool (`/calico/v1/ipam/v4/pool/<cidr>`)."""

    cidr: IPNetwork
    ipip: EncapMode = EncapMode.NEVER
    vxlan: EncapMode = EncapMode.NEVER
    # No new allocations from the pool; its existing addresses are still routed and exported.
    disabled: bool = False
    # disableBGPExport: nothing inside the pool is advertised to any peer.
    disable_bgp_export: bool = False

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this pool (see `bgpd.config.checks.Collector`)."""
        ipip = c.ok("ipip") and self.ipip is not EncapMode.NEVER
        if ipip and c.ok("vxlan") and self.vxlan is not EncapMode.NEVER:
            # Calico's IPPool validation refuses both encapsulations on one pool.
            c.add("vxlan", "a pool cannot use both ipip and vxlan")
        if ipip and c.ok("cidr") and self.cidr.version == 6:
            c.add("ipip", "IPIP is IPv4 only; an IPv6 pool is never")


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixAdvertisement:
    """`[[calico.prefix_advertisement]]`: communities added to routes inside `cidr`.

    `communities` mixes RFC 1997 `"A:B"` and RFC 8092 `"A:B:C"` values, as Calico's
    prefixAdvertisements do.
    """

    cidr: IPNetwork
    communities: tuple[Community | LargeCommunity, ...] = ()

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this entry (see `bgpd.config.checks.Collector`)."""
        dup = first_duplicate(self.communities) if c.ok("communities") else None
        if dup is not None:
            c.add("communities", f"community {dup} is listed twice")

    @property
    def standard(self) -> tuple[Community, ...]:
        return tuple(x for x in self.communities if isinstance(x, Community))

    @property
    def large(self) -> tuple[LargeCommunity, ...]:
        return tuple(x for x in self.communities if isinstance(x, LargeCommunity))


@dataclass(frozen=True, slots=True, kw_only=True)
class CalicoSection:
    """`[calico]`: the data of Calico's export and kernel filters; its presence selects them.

    Every list mixes IPv4 and IPv6 prefixes; each rule applies within one family.
    """

    # [[calico.pool]]: every IP pool of the cluster.
    pools: tuple[Pool, ...] = ()
    # This node's confirmed IPAM block affinities (/calico/ipam/v2/host/<me>/ipv*/block).
    blocks: tuple[IPNetwork, ...] = ()
    # Service ranges this node advertises (/calico/staticroutes, /calico/staticroutesv6).
    advertise: tuple[IPNetwork, ...] = ()
    # Ranges never programmed into the kernel (/calico/rejectcidrs, /calico/rejectcidrsv6).
    reject: tuple[IPNetwork, ...] = ()
    # svc_loadbalancer_ips: on a route reflector, routes inside them are passed on.
    lb_ranges: tuple[IPNetwork, ...] = ()
    # [[calico.prefix_advertisement]]: communities per prefix.
    prefix_advertisements: tuple[PrefixAdvertisement, ...] = ()
    # The Calico release whose kernel and priority rules apply (bgpd.config.calico_release):
    # the release of the Felix beside bgpd.
    compat: str = DEFAULT_COMPAT
    # BGPConfiguration programClusterRoutes; None = the compat release's default.
    program_cluster_routes: str | None = None
    # BGPConfiguration ipv4/ipv6NormalRoutePriority (used from compat 3.32).
    ipv4_normal_route_priority: int = DEFAULT_NORMAL_PRIORITY
    ipv6_normal_route_priority: int = DEFAULT_NORMAL_PRIORITY
    # The BGP addresses of nodes Felix reaches over WireGuard (set only when this node runs
    # WireGuard): routes through them are Felix's, never installed (processWireguardPeerFilter).
    wireguard_peers: tuple[IPAddress, ...] = ()

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        c.check("compat", check_compat, self.compat)
        c.check("program_cluster_routes", check_program_cluster_routes, self.program_cluster_routes)
        for version in (4, 6):
            key = f"ipv{version}_normal_route_priority"
            c.check(key, check_normal_priority, getattr(self, key))
        dup = first_duplicate(self.wireguard_peers) if c.ok("wireguard_peers") else None
        if dup is not None:
            c.add("wireguard_peers", f"{dup} is listed twice")
        if c.ok("pools"):
            _duplicate_problems("pool", [p.cidr for p in self.pools], c)
        if c.ok("blocks"):
            # IPAM blocks never overlap; if they did, Calico's accept-or-reject pair per block
            # would depend on the order of the blocks.
            _overlap_problems("blocks", self.blocks, c)
        for key in ("advertise", "reject", "lb_ranges"):
            if c.ok(key):
                _duplicate_problems(key, getattr(self, key), c)

    @property
    def cluster_routes(self) -> ClusterRoutePolicy:
        """Which pools' cluster routes bgpd programs; Felix programs the others."""
        return cluster_route_policy(self.program_cluster_routes, self.compat)

    @property
    def route_priorities(self) -> bool:
        """Whether kernel metrics and LOCAL_PREF carry route priorities (compat 3.32 on)."""
        return has_route_priorities(self.compat)

    def normal_priority(self, version: int) -> int:
        """The normal route priority of IP version `version`."""
        return self.ipv4_normal_route_priority if version == 4 else self.ipv6_normal_route_priority


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelSection:
    """`[kernel]`: synchronisation with the Linux routing table (BIRD's `protocol kernel`).

    Whether bgpd leaves its routes in place when it exits is `[bgp].persist_routes`.
    """

    # The loader defaults this to true when [calico] is present.
    enabled: bool = False
    # The IPIP device that routes of IPIP pools go through (krt_tunnel, calico-bgp.md §2.7).
    tunnel_device: str = "tunl0"
    # Alien kernel routes learned and offered to peers (3 = boot: Felix's workload routes,
    # 80: Felix's VXLAN routes); blackholes of any alien protocol are learned too.
    learn_protocols: tuple[int, ...] = (3, 80)
    # Seconds to wait for every peer's End-of-RIB before deleting stale routes of ours.
    converge_timeout: int = 30
    # BGPConfiguration ignoredInterfaces: patterns (`*` wildcards) of interfaces whose subnets
    # are not learned as connected routes, besides cali* and kube-ipvs* (BIRD's direct
    # protocol `interface -"pattern"`).
    ignored_interfaces: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        raise_problems(self)

    def validate(self, c: Collector) -> None:
        """Every problem of this section (see `bgpd.config.checks.Collector`)."""
        c.check("tunnel_device", check_ifname, self.tunnel_device)
        c.check_each("learn_protocols", check_route_protocol, self.learn_protocols)
        dup = first_duplicate(self.learn_protocols) if c.ok("learn_protocols") else None
        if dup is not None:
            c.add("learn_protocols", f"protocol {dup} is listed twice")
        c.check("converge_timeout", check_converge_timeout, self.converge_timeout)
        c.check_each("ignored_interfaces", check_interface_pattern, self.ignored_interfaces)

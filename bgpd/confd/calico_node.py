"""Calico's bird*.cfg rules as tested Python: what the templates' `calico` object computes.

Role: `CalicoNode` computes, from the `/calico/bgp/v1/...` view in a `KvStore`, what Calico's
bird*.cfg templates compute inline: the router id (`hashToIPv4` included), listen addresses,
port and log level, this node and the cluster's nodes, the mesh, the explicit peer list with
its names, passive and rr-client rules, BGPFilters, pools, blocks and advertisements. The
templates in `confd_templates/templates/` only format its values (`bgpd.confd.calico_entries`).

Invariants:
- Nothing is guessed: a value that cannot be used raises `DataError` naming the datastore key
  (or environment variable) it came from, so a render fails with one clear line.
- Output is deterministic for a given view and environment (key order, no clock, no
  randomness), so an unchanged datastore renders byte-identical files.
- The mesh and peer naming rules are `bgpd.config.calico_names`'s, shared with the loader.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import posixpath
from collections.abc import Mapping
from typing import Any

from bgpd.confd.calico_entries import (
    ClusterNodeEntry,
    FilterEntry,
    MeshEntry,
    NodeEntry,
    PeerEntry,
    PoolEntry,
    PrefixAdvertisementEntry,
)
from bgpd.confd.model import DEFAULT_AS
from bgpd.confd.model.values import parse_asn, parse_decimal
from bgpd.confd.template_inputs import (
    DataError,
    KVPair,
    KvStore,
    TemplateContext,
    json_array,
    json_object,
)
from bgpd.config.calico import check_interface_pattern
from bgpd.config.calico_names import greater_address_is_passive, protocol_id
from bgpd.config.calico_release import (
    DEFAULT_NORMAL_PRIORITY,
    MAX_NORMAL_PRIORITY,
    PROGRAM_CLUSTER_ROUTES,
)
from bgpd.config.checks import check_asn
from bgpd.config.filter_section import FILTER_LISTS, FILTER_RULE_KEYS
from bgpd.text import escape_controls
from bgpd.wire.capabilities import MAX_LONG_LIVED_STALE_TIME

logger = logging.getLogger(__name__)

__all__ = [
    "BGP_V1",
    "EXPLICIT_PEER_MULTIHOP",
    "CalicoNode",
    "hash_to_ipv4",
]

# BIRD's `multihop;` with no number (Calico's bgp_template on explicit peers) means TTL 64.
EXPLICIT_PEER_MULTIHOP = 64
BGP_V1 = "/bgp/v1"


def hash_to_ipv4(node_name: str) -> str:
    """Calico's `hashToIPv4`: the first 4 bytes of SHA-256(node name) as an IPv4 address,
    with 32 taken off a first octet above 223 so the id never lands in 224/4 (peers refuse
    multicast identifiers with "Bad BGP Identifier", Calico issue #5146)."""
    digest = hashlib.sha256(node_name.encode()).digest()
    first = digest[0] - 32 if digest[0] > 223 else digest[0]
    return f"{first}.{digest[1]}.{digest[2]}.{digest[3]}"


_FAMILY_NAME = {4: "ipv4-unicast", 6: "ipv6-unicast"}
# `[[filter]]`'s rule lists and rule keys (bgpd.config.filter_section): what the model writes must
# load, and anything else in the view is refused rather than written into the TOML as a key.
_FILTER_LISTS = tuple(name for name, _version in FILTER_LISTS)
_FILTER_RULE_KEYS = frozenset(FILTER_RULE_KEYS)
# v1 next_hop_mode (bgp_processor.go's switch; "" and Auto are BIRD's default rules).
_NEXT_HOP_MODES = {"": "auto", "Auto": "auto", "Self": "self", "Keep": "keep"}
# v1 pool modes ("always", "cross-subnet", "" and older spellings) -> our EncapMode.
_ENCAP = {
    "": "never",
    "never": "never",
    "off": "never",
    "always": "always",
    "cross-subnet": "cross-subnet",
    "crosssubnet": "cross-subnet",
}
# Calico's v1 loglevel is debug | info | none (any other severity becomes none). BIRD with no
# `debug` line still logs warnings and errors, so none maps to our "warning", not our "none"
# (which silences everything).
_LOG_LEVELS = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "error": "error",
    "fatal": "error",
    "panic": "error",
    "none": "warning",
}


def _as_number(key: str, raw: object) -> int:
    """An AS number from a v1 value (asplain or asdot text, or a JSON number): the model's
    parser, so both datastores read the same values; AS_TRANS is refused like in bgpd.toml."""
    asn, message = parse_asn(raw.strip() if isinstance(raw, str) else raw)
    if asn is None:
        raise DataError(key, message or f"invalid AS number {raw!r}")
    problem = check_asn(asn)
    if problem is not None:
        raise DataError(key, problem)
    return asn


def _uint(key: str, raw: object, what: str, limit: int) -> int:
    value = raw
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        value = parse_decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise DataError(key, f"invalid {what} {raw!r}: expected 0..{limit}")
    return value


def _address(key: str, raw: object, version: int | None = None) -> str:
    try:
        addr = ipaddress.ip_address(str(raw).strip())
    except ValueError:
        raise DataError(key, f"invalid IP address {raw!r}") from None
    if version is not None and addr.version != version:
        raise DataError(key, f"{raw!r} is not an IPv{version} address")
    return str(addr)


def _network(key: str, raw: str) -> str:
    try:
        return str(ipaddress.ip_network(raw.strip(), strict=True))
    except ValueError as exc:
        raise DataError(key, f"invalid CIDR {raw!r}: {exc}") from None


def _key_cidr(key: str) -> str:
    """`10.96.0.0-12` (the last key segment, as Calico stores CIDRs in keys) -> `10.96.0.0/12`."""
    return _network(key, posixpath.basename(key).replace("-", "/"))


def _session_fields(
    key: str, data: Mapping[str, Any], asn: int, my_asn: int
) -> tuple[int | None, int | None, str, int]:
    """(local AS, keepalive seconds, next hop mode, allowed local AS count) of a v1 peer, as
    bgp_processor.go buildPeerFromData reads them: `local_as_num` 0 is unset, `keepalive_time`
    "" is unset, `next_hop_mode` Self / Keep, else `keep_next_hop` toward eBGP only (against
    the effective local AS: `local_as_num`, else `my_asn`, the node's) means keep."""
    raw_local = data.get("local_as_num") or 0
    local_asn = None if raw_local in (0, "0", "") else _as_number(key, raw_local)
    ka_raw = data.get("keepalive_time") or ""
    keepalive = _uint(key, ka_raw, "keepalive_time", 65535) if str(ka_raw).strip() else None
    if keepalive == 0:
        raise DataError(key, "invalid keepalive_time 0: expected 1..65535")
    mode_raw = data.get("next_hop_mode") or ""
    if mode_raw not in _NEXT_HOP_MODES:
        raise DataError(key, f"invalid next_hop_mode {mode_raw!r}: expected Auto, Self or Keep")
    mode = _NEXT_HOP_MODES[mode_raw]
    # The older keep_next_hop is for eBGP only, judged against the session's own AS; with
    # Self as well BIRD gets both lines and `next hop self` wins.
    if mode == "auto" and data.get("keep_next_hop") and asn != (local_asn or my_asn):
        mode = "keep"
    allow = _uint(key, data.get("num_allow_local_as") or 0, "num_allow_local_as", 2**31 - 1)
    return local_asn, keepalive, mode, allow


def _restart_mode(key: str, raw_mode: object, rt_raw: object) -> tuple[str | None, int | None]:
    """(restart_mode, llgr_stale_time) of a v1 peer: Calico Enterprise's `restart_mode`
    LongLivedGracefulRestart is "llgr", and its `maxRestartTime` (`restart_time`) is then the
    long-lived stale time, not the graceful restart time; unset it is [bgp]'s (3600 s).
    GracefulRestart or unset: (None, None), `restart_time` keeps its open-source meaning."""
    if raw_mode in (None, "", "GracefulRestart"):
        return None, None
    if raw_mode != "LongLivedGracefulRestart":
        raise DataError(
            key,
            f"invalid restart_mode {raw_mode!r}: expected GracefulRestart or "
            "LongLivedGracefulRestart",
        )
    if not str(rt_raw).strip():
        return "llgr", None
    stale = _uint(key, rt_raw, "restart_time", MAX_LONG_LIVED_STALE_TIME)
    if stale == 0:
        raise DataError(
            key,
            "invalid restart_time 0 with LongLivedGracefulRestart: "
            f"expected 1..{MAX_LONG_LIVED_STALE_TIME}",
        )
    return "llgr", stale


class CalicoNode:
    """Calico's bird*.cfg logic for one node, over the `/bgp/v1` view of a `KvStore`.

    Every method is computed on demand from the store; the template decides what to print.
    """

    __slots__ = ("_ctx", "_memo", "_store")

    def __init__(self, store: KvStore, ctx: TemplateContext) -> None:
        self._store = store
        self._ctx = ctx
        self._memo: dict[str, Any] = {}

    # ------------------------------------------------------------------ keys of this node

    @property
    def name(self) -> str:
        return self._ctx.nodename

    def _host_key(self, leaf: str, host: str | None = None) -> str:
        return f"{BGP_V1}/host/{host or self._ctx.nodename}/{leaf}"

    def _host_or_global(self, leaf: str, host: str | None = None) -> tuple[str, str] | None:
        """(key, value) of the host's `leaf`, else the global one, else None."""
        for key in (self._host_key(leaf, host), f"{BGP_V1}/global/{leaf}"):
            if self._store.exists(key):
                return key, self._store.getv(key)
        return None

    def _ip(self, version: int) -> str:
        """This node's bare address of that family, "" when it has none."""
        key = self._host_key(f"ip_addr_v{version}")
        if not self._store.exists(key):
            if not self._store.ls(f"{BGP_V1}/host/{self.name}"):
                raise DataError(
                    f"{BGP_V1}/host/{self.name}",
                    "no such node in the datastore (check NODENAME, or set IP)",
                )
            return ""
        raw = self._store.getv(key).strip()
        return _address(key, raw, version) if raw else ""

    def ipv4(self) -> str:
        return self._ip(4)

    def ipv6(self) -> str:
        return self._ip(6)

    def global_asn(self) -> int:
        key = f"{BGP_V1}/global/as_num"
        return _as_number(key, self._store.getv(key, DEFAULT_AS))

    def node_asn(self) -> int | None:
        key = self._host_key("as_num")
        if not self._store.exists(key):
            return None
        return _as_number(key, self._store.getv(key))

    def local_asn(self) -> int:
        asn = self.node_asn()
        return self.global_asn() if asn is None else asn

    def cluster_id(self) -> str:
        key = self._host_key("rr_cluster_id")
        raw = self._store.getv(key, "").strip()
        return _address(key, raw, 4) if raw else ""

    def _interface(self, version: int) -> str:
        ip = self._ip(version)
        if not ip:
            return ""
        key = self._host_key(f"network_v{version}")
        raw = self._store.getv(key, "").strip()
        if raw:
            net = ipaddress.ip_network(_network(key, raw))
            if ipaddress.ip_address(ip) in net:
                return f"{ip}/{net.prefixlen}"
        return ip

    def node(self) -> NodeEntry:
        return NodeEntry(
            name=self.name,
            ipv4=self._interface(4),
            ipv6=self._interface(6),
            asn=self.node_asn(),
            rr_cluster_id=self.cluster_id(),
        )

    # ------------------------------------------------------------------ [bgp]

    def router_id(self) -> str:
        """`CALICO_ROUTER_ID` (`hash` = `hashToIPv4(NODENAME)`), else the node's IPv4."""
        configured = self._ctx.environ.get("CALICO_ROUTER_ID", "").strip()
        if configured == "hash":
            return hash_to_ipv4(self.name)
        if configured:
            return _address("environment CALICO_ROUTER_ID", configured, 4)
        ip = self.ipv4()
        if not ip:
            raise DataError(
                self._host_key("ip_addr_v4"),
                "node has no IPv4 address for a router id; set CALICO_ROUTER_ID (e.g. hash)",
            )
        return ip

    def listen(self) -> list[str]:
        """bindMode NodeIP: the node's addresses; otherwise every address (BIRD's default)."""
        if self._store.getv(f"{BGP_V1}/global/bind_mode", "").strip() == "NodeIP":
            return [ip for ip in (self.ipv4(), self.ipv6()) if ip]
        return ["0.0.0.0", "::"] if self.ipv6() else ["0.0.0.0"]

    def port(self) -> int | None:
        found = self._host_or_global("listen_port")
        if found is None or not found[1].strip():
            return None
        port = _uint(found[0], found[1], "port", 65535)
        return port or None

    def log_level(self) -> str:
        found = self._host_or_global("loglevel")
        if found is None:
            return "info"
        level = found[1].strip().lower()
        if level not in _LOG_LEVELS:
            return "warning"  # Calico: any other severity is "none"
        return _LOG_LEVELS[level]

    # ------------------------------------------------------------------ mesh and cluster

    def mesh(self) -> MeshEntry:
        key = f"{BGP_V1}/global/node_mesh"
        enabled = True
        if self._store.exists(key):
            data = json_object(self._store.get(key))
            flag = data.get("enabled", True)
            if not isinstance(flag, bool):
                raise DataError(key, f'"enabled" must be true or false, not {flag!r}')
            enabled = flag
        password = self._store.getv(f"{BGP_V1}/global/node_mesh_password", "") or None
        unavailable = None
        if password is None:
            unavailable = (
                self._store.getv(f"{BGP_V1}/global/node_mesh_password_unavailable", "") or None
            )
        rt_key = f"{BGP_V1}/global/node_mesh_restart_time"
        rt_raw = self._store.getv(rt_key, "").strip()
        restart = _uint(rt_key, rt_raw, "restart time", 4095) if rt_raw else None
        return MeshEntry(
            enabled=enabled,
            password=password,
            restart_time=restart,
            password_unavailable=unavailable,
        )

    def cluster_nodes(self) -> list[ClusterNodeEntry]:
        """Every host, as `[[cluster_node]]`; an address used twice names both hosts."""
        if "cluster_nodes" in self._memo:
            return list(self._memo["cluster_nodes"])
        out: list[ClusterNodeEntry] = []
        seen: dict[str, str] = {}
        for host in self._store.lsdir(f"{BGP_V1}/host"):
            ips: dict[int, str] = {}
            for version in (4, 6):
                key = self._host_key(f"ip_addr_v{version}", host)
                raw = self._store.getv(key, "").strip()
                ips[version] = _address(key, raw, version) if raw else ""
                if ips[version]:
                    if ips[version] in seen:
                        raise DataError(
                            key, f"address {ips[version]} is also node {seen[ips[version]]}'s"
                        )
                    seen[ips[version]] = host
            as_key = self._host_key("as_num", host)
            cid_key = self._host_key("rr_cluster_id", host)
            cid = self._store.getv(cid_key, "").strip()
            port = self._host_or_global("listen_port", host)
            out.append(
                ClusterNodeEntry(
                    name=host,
                    ipv4=ips[4],
                    ipv6=ips[6],
                    asn=(
                        _as_number(as_key, self._store.getv(as_key))
                        if self._store.exists(as_key)
                        else None
                    ),
                    rr_cluster_id=_address(cid_key, cid, 4) if cid else "",
                    port=(
                        (_uint(port[0], port[1], "port", 65535) or None)
                        if port and port[1].strip()
                        else None
                    ),
                )
            )
        self._memo["cluster_nodes"] = tuple(out)
        return out

    def _mesh_addresses(self) -> set[str]:
        """Addresses bgpd's loader will make mesh peers of (docs/config.md, "How the mesh is
        derived"), so an explicit peer to the same address is not configured twice."""
        if not self.mesh().enabled or self.cluster_id():
            return set()
        mine = {self.ipv4(), self.ipv6()}
        out: set[str] = set()
        for node in self.cluster_nodes():
            if node.rr_cluster_id:
                continue
            for version, ip in ((4, node.ipv4), (6, node.ipv6)):
                if ip and ip not in mine and self._ip(version):
                    out.add(ip)
        return out

    # ------------------------------------------------------------------ kernel rules

    def ignored_interfaces(self) -> list[str]:
        """BGPConfiguration ignoredInterfaces (global/ignored_interfaces, comma separated)."""
        key = f"{BGP_V1}/global/ignored_interfaces"
        out: list[str] = []
        for raw in self._store.getv(key, "").split(","):
            pattern = raw.strip()
            if not pattern:
                continue
            problem = check_interface_pattern(pattern)
            if problem is not None:
                raise DataError(key, problem)
            out.append(pattern)
        return out

    def program_cluster_routes(self) -> str | None:
        """BGPConfiguration programClusterRoutes; None when unset (the compat default)."""
        key = f"{BGP_V1}/global/program_cluster_routes"
        value = self._store.getv(key, "").strip()
        if not value:
            return None
        if value not in PROGRAM_CLUSTER_ROUTES:
            raise DataError(key, f"{value!r} is not one of {', '.join(PROGRAM_CLUSTER_ROUTES)}")
        return value

    def normal_route_priority(self, version: int) -> int:
        """BGPConfiguration ipv4/ipv6NormalRoutePriority (getNormalRoutePriority)."""
        key = f"{BGP_V1}/global/ipv{version}_normal_route_priority"
        raw = self._store.getv(key, "").strip()
        if not raw:
            return DEFAULT_NORMAL_PRIORITY
        value = _uint(key, raw, "route priority", MAX_NORMAL_PRIORITY)
        if value < 1:
            limit = MAX_NORMAL_PRIORITY
            raise DataError(key, f"invalid route priority {raw!r}: expected 1..{limit}")
        return value

    def wireguard_peers(self) -> list[str]:
        """processWireguardPeerFilter: when this node runs WireGuard (a wireguard_addr_v4 /
        _v6), the BGP address of each other node that does too, per family: Felix routes to
        them over WireGuard, so bgpd installs no route through them."""
        out: list[str] = []
        for version in (4, 6):
            if not self._store.getv(self._host_key(f"wireguard_addr_v{version}"), "").strip():
                continue
            for host in self._store.lsdir(f"{BGP_V1}/host"):
                if host == self.name:
                    continue
                if not self._store.getv(self._host_key(f"wireguard_addr_v{version}", host), ""):
                    continue
                key = self._host_key(f"ip_addr_v{version}", host)
                raw = self._store.getv(key, "").strip()
                if raw:
                    out.append(_address(key, raw, version))
        return out

    # ------------------------------------------------------------------ explicit peers

    def peers(self) -> list[PeerEntry]:
        """Global peers, then this node's peers, IPv4 then IPv6, each in key order.

        Calico's rules (bird.cfg / bird6.cfg, v3.30): skip a peer at our own address; name it
        `Global_<id>` / `Node_<id>` with `_port_<n>` when a port is set, `Local_Workload_<id>`
        for local workload peers (passive, no source address); `source address` when
        source_addr is UseNodeIP; ttl security or plain multihop; global peers that are
        Calico nodes with a greater address (string order) are passive; rr client towards
        same-AS peers whose cluster id differs from ours when we are a reflector.
        """
        out: list[PeerEntry] = []
        used = self._mesh_addresses()
        my_asn, my_cid = self.local_asn(), self.cluster_id()
        for version in (4, 6):
            my_ip = self._ip(version)
            if not my_ip:
                continue  # "IPv4 disabled on this node" / "IPv6 disabled on this node"
            for scope, base in (
                ("Global", f"{BGP_V1}/global/peer_v{version}"),
                ("Node", self._host_key(f"peer_v{version}")),
            ):
                for kv in self._store.gets(f"{base}/*"):
                    peer = self._peer(
                        kv, scope=scope, version=version, my_ip=my_ip, my_asn=my_asn, my_cid=my_cid
                    )
                    if peer is None:
                        continue
                    if peer.address in used:
                        self._superseded(kv.key, peer)
                        continue
                    used.add(peer.address)
                    out.append(peer)
        return out

    @staticmethod
    def _superseded(key: str, peer: PeerEntry) -> None:
        """An explicit peer at an address the mesh (or an earlier peer) already peers with is
        not configured twice; what only it carried is dropped, so say so (no silent drops)."""
        if peer.reachable_by is None:
            return
        logger.warning(
            "confd.peer_field_dropped key=%s field=reachableBy address=%s reason=%s",
            escape_controls(key.removeprefix(f"{BGP_V1}/")),
            peer.address,
            "another peering (the node-to-node mesh) already configures this address",
        )

    def _peer(
        self, kv: KVPair, *, scope: str, version: int, my_ip: str, my_asn: int, my_cid: str
    ) -> PeerEntry | None:
        data = json_object(kv)
        key = kv.key
        if "ip" not in data:
            raise DataError(key, 'peer has no "ip"')
        ip = _address(key, data["ip"], version)
        if ip == my_ip:
            return None  # "Skipping ourselves"
        port = _uint(key, data.get("port") or 0, "port", 65535)
        ident = protocol_id(ip) + (f"_port_{port}" if port else "")
        local_workload = bool(data.get("local_bgp_peer"))
        name = f"Local_Workload_{ident}" if local_workload else f"{scope}_{ident}"
        if "as_num" not in data:
            raise DataError(key, 'peer has no "as_num"')
        asn = _as_number(key, data["as_num"])
        local_asn, keepalive, next_hop_mode, allow_local_as = _session_fields(
            key, data, asn, my_asn
        )
        # bgp_processor.go: iBGP (rr client, keep_next_hop) is judged against the peer's
        # local AS when it has one (effectiveNodeAS).
        my_asn = local_asn or my_asn
        source = data.get("source_addr", "UseNodeIP")
        local_address = my_ip if source == "UseNodeIP" and not local_workload else None
        rt_raw = data.get("restart_time") or ""
        restart_mode, llgr_stale_time = _restart_mode(key, data.get("restart_mode"), rt_raw)
        restart = (
            _uint(key, rt_raw, "restart_time", 4095)
            if str(rt_raw).strip() and restart_mode is None
            else None
        )
        ttl = _uint(key, data.get("ttl_security") or 0, "ttl_security", 254)
        passive = bool(data.get("passive_mode")) or local_workload
        if scope == "Global" and data.get("calico_node") and greater_address_is_passive(ip, my_ip):
            passive = True  # the mesh's rule
        peer_cid = str(data.get("rr_cluster_id") or "")
        password = data.get("password")
        if password is not None and not isinstance(password, str):
            raise DataError(key, "password must be a string or null")
        unavailable = data.get("password_unavailable")
        if unavailable is not None and not isinstance(unavailable, str):
            raise DataError(key, "password_unavailable must be a string or null")
        filters = data.get("filters") or []
        if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
            raise DataError(key, "filters must be a list of BGPFilter names or null")
        known = {f.name for f in self.filters()}
        for filter_name in filters:
            if filter_name not in known:
                raise DataError(key, f"BGPFilter {filter_name!r} does not exist")
        # bird_aggr.cfg: `route <ip>/32 via <reachable_by>;` in the static protocol.
        gateway = str(data.get("reachable_by") or "").strip()
        bfd = data.get("failure_detection_mode") == "BFDIfDirectlyConnected" and (
            self._directly_connected(name, ip, version)
        )
        return PeerEntry(
            name=name,
            address=ip,
            port=port or None,
            asn=asn,
            local_address=local_address,
            passive=passive,
            password=password or None,
            ttl_security=ttl,
            multihop=None if ttl else EXPLICIT_PEER_MULTIHOP,
            graceful_restart_time=restart,
            families=(_FAMILY_NAME[version],),
            rr_client=asn == my_asn and bool(my_cid) and peer_cid != my_cid,
            description=key.removeprefix(f"{BGP_V1}/"),
            filters=tuple(filters),
            password_unavailable=None if password else unavailable or None,
            reachable_by=_address(key, gateway, version) if gateway else None,
            local_asn=local_asn,
            keepalive_time=keepalive,
            next_hop_mode=next_hop_mode,
            allow_local_as=allow_local_as,
            restart_mode=restart_mode,
            llgr_stale_time=llgr_stale_time,
            bfd=bfd,
        )

    def _directly_connected(self, name: str, ip: str, version: int) -> bool:
        """The peer is on this node's subnet (`network_v4/6`): single-hop BFD can reach it.
        Without a known subnet nothing is directly connected, and BFD stays off (logged)."""
        interface = self._interface(version)
        network = ipaddress.ip_interface(interface).network if "/" in interface else None
        if network is not None and ipaddress.ip_address(ip) in network:
            return True
        logger.info(
            "peer bfd not enabled peer=%s address=%s reason=not_directly_connected node_address=%s",
            name,
            ip,
            interface,
        )
        return False

    # ------------------------------------------------------------------ BGPFilters

    def filters(self) -> list[FilterEntry]:
        """`/bgp/v1/filters/<name>`: each BGPFilter as the model turned it into bgpd's
        `[[filter]]` keys (Calico renders them as BIRD functions in bird.cfg)."""
        if "filters" in self._memo:
            return list(self._memo["filters"])
        out: list[FilterEntry] = []
        for kv in self._store.gets(f"{BGP_V1}/filters/*"):
            data = json_object(kv)
            lists: list[tuple[str, tuple[Mapping[str, object], ...]]] = []
            for list_name in _FILTER_LISTS:
                rules = data.get(list_name) or []
                if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
                    raise DataError(kv.key, f"{list_name} must be a list of rule objects")
                for rule in rules:
                    unknown = set(rule) - _FILTER_RULE_KEYS
                    if unknown:
                        raise DataError(kv.key, f"unknown rule keys {sorted(unknown)}")
                lists.append((list_name, tuple(rules)))
            out.append(FilterEntry(name=posixpath.basename(kv.key), rules=tuple(lists)))
        self._memo["filters"] = tuple(out)
        return out

    # ------------------------------------------------------------------ [calico]

    def pools(self) -> list[PoolEntry]:
        out: list[PoolEntry] = []
        for version in (4, 6):
            for kv in self._store.gets(f"/v1/ipam/v{version}/pool/*"):
                data = json_object(kv)
                if "cidr" not in data:
                    raise DataError(kv.key, 'pool has no "cidr"')
                cidr = _network(kv.key, str(data["cidr"]))
                modes = []
                for field_name in ("ipip_mode", "vxlan_mode"):
                    raw = str(data.get(field_name) or "").strip().lower()
                    if raw not in _ENCAP:
                        raise DataError(kv.key, f"unknown {field_name} {data[field_name]!r}")
                    modes.append(_ENCAP[raw])
                out.append(
                    PoolEntry(
                        cidr=cidr,
                        ipip=modes[0],
                        vxlan=modes[1],
                        disabled=bool(data.get("disabled")),
                        disable_bgp_export=bool(data.get("disableBGPExport")),
                    )
                )
        return out

    def blocks(self) -> list[str]:
        """Confirmed affinities of this node (pending and deleted ones are hidden)."""
        out: list[str] = []
        for version in (4, 6):
            for kv in self._store.gets(f"/ipam/v2/host/{self.name}/ipv{version}/block/*"):
                state: dict[str, Any] = json_object(kv) if kv.value.strip() else {}
                # No state (older data, and `{}` as the model derives it): implicitly
                # confirmed, as bird_aggr.cfg's `if $affinity.state` treats it.
                if (state.get("state") or "confirmed") != "confirmed" or state.get("deleted"):
                    continue
                out.append(_key_cidr(kv.key))
        return out

    def _key_cidrs(self, *dirs: str) -> list[str]:
        return [_key_cidr(f"{d}/{name}") for d in dirs for name in self._store.ls(d)]

    def advertise(self) -> list[str]:
        return self._key_cidrs("/staticroutes", "/staticroutesv6")

    def reject(self) -> list[str]:
        return self._key_cidrs("/rejectcidrs", "/rejectcidrsv6")

    def lb_ranges(self) -> list[str]:
        key = f"{BGP_V1}/global/svc_loadbalancer_ips"
        raw = self._store.getv(key, "")
        return [_network(key, part) for part in raw.split(",") if part.strip()]

    def prefix_advertisements(self) -> list[PrefixAdvertisementEntry]:
        out: list[PrefixAdvertisementEntry] = []
        for version in (4, 6):
            found = self._host_or_global(f"prefix_advertisements/ip_v{version}")
            if found is None:
                continue
            kv = KVPair(key=found[0], value=found[1])
            for entry in json_array(kv) if found[1].strip() else []:
                if not isinstance(entry, dict) or "cidr" not in entry:
                    raise DataError(kv.key, f"advertisement without a cidr: {entry!r}")
                communities = entry.get("communities") or []
                if not isinstance(communities, list):
                    raise DataError(kv.key, "communities must be a list")
                out.append(
                    PrefixAdvertisementEntry(
                        cidr=_network(kv.key, str(entry["cidr"])),
                        communities=tuple(sorted({str(c) for c in communities})),
                    )
                )
        return out

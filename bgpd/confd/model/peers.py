"""BGPPeer resources -> the v1 peer keys, as confd's `updatePeersV1` computes them.

Role: calico-bgp.md §1.5, from confd/pkg/backends/calico/client.go (v3.30):

1. Global pass: peers with neither `node` nor `nodeSelector` become
   `/calico/bgp/v1/global/peer_vX/<ip>[-<port>]`.
2. Node pass: `node`/`nodeSelector` pick the local nodes; each gets
   `/calico/bgp/v1/host/<node>/peer_vX/<ip>[-<port>]`, unless a global peering to the same
   IP and port exists.
3. Reverse pass: the nodes on the *remote* side of each BGPPeer (its `peerSelector`, or the
   nodes whose address and AS equal `peerIP`/`asNumber`) get a node peering back to the nodes
   on the local side (`nodeSelector`, `node`, or every node). Explicit peerings win. A BGPPeer
   with `reversePeering: Manual` makes no reverse peering (another BGPPeer must say it).

A `peerSelector` expands to one peer per matching node and address family, with that node's
address, AS (or the global AS), route-reflector cluster id and listen port (the node's, or the
global one). The first peering emitted for a key wins.

Invariants: pure; deterministic. Calico iterates Go maps here, so when two BGPPeers produce
the same key the winner is random in Calico; this module processes BGPPeers sorted by name and
nodes sorted by name, so the first BGPPeer by name wins. The value JSON has the field order and
types of confd's `backends.BGPPeer` struct (`as_num` and `local_as_num` as strings, `password`
null or a string, `filters` null or a list). As in client.go, `localASNumber` and
`numAllowedLocalASNumbers` reach `peerIP` peers only, `nextHopMode` (which overrides
`keepOriginalNextHop`) and `keepaliveTime` every peering of the BGPPeer.

A BGPPeer with a `localWorkloadSelector` peers with the workloads Felix chose for it on this
node: each endpoint status file naming it (`bgpd.confd.model.workloads`, in file name order)
gives one peering per address, as client.go localBGPPeerDataAsBGPPeers builds it: the
BGPPeer's AS and filters, `source_addr` "None", passive, `local_bgp_peer` (the templates name
it `Local_Workload_<id>`). It takes the global or node pass like any BGPPeer (so `node` /
`nodeSelector` scope it) and makes no reverse peering.

Deliberate differences from Calico, each where Calico only logs:
- Node and peer addresses are compared in canonical form (Calico compares the strings as
  written, so a non-canonical IPv6 peerIP would not match the node in Calico).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bgpd.confd.model.resources import BgpPeerResource, NodeInfo, SecretRef
from bgpd.confd.model.secrets import Password, SecretPasswords
from bgpd.confd.model.values import go_json, parse_ip
from bgpd.confd.model.workloads import EndpointStatus
from bgpd.config.selector import Selector
from bgpd.net import IPAddress

__all__ = ["PeerContext", "derive_peer_keys", "peer_key_suffix"]

_DEFAULT_PORT = 179
_SOURCE_DEFAULT = "UseNodeIP"
_NO_PASSWORD = Password()  # localBGPPeerDataAsBGPPeers sets none


def peer_key_suffix(address: IPAddress, port: int) -> str:
    """`<ip>` or `<ip>-<port>`: model/bgppeer.go combineIPAndPort (no suffix for 0 or 179)."""
    if port in (0, _DEFAULT_PORT):
        return str(address)
    return f"{address}-{port}"


class PeerContext:
    """The node data and settings the peer computation reads (client.go's caches)."""

    __slots__ = (
        "_all_nodes",
        "global_as",
        "global_port",
        "node_ips",
        "node_ports",
        "nodes",
        "secrets",
        "workloads",
    )

    def __init__(
        self,
        *,
        nodes: Mapping[str, NodeInfo],
        global_as: str,
        global_port: int,
        node_ports: Mapping[str, int],
        secrets: SecretPasswords,
        statuses: Mapping[str, EndpointStatus] | None = None,
    ) -> None:
        self.nodes = nodes
        self.global_as = global_as
        self.global_port = global_port
        self.node_ports = node_ports
        self.secrets = secrets
        self._all_nodes = sorted(nodes)
        # client.go nodeIPs: every node address, for the calico_node flag. A NodeInfo's
        # addresses are already canonical text (read_node), so they are not parsed again.
        self.node_ips = frozenset(ip for n in nodes.values() for ip in (n.ipv4, n.ipv6) if ip)
        # This node's endpoint status files by the BGPPeer that chose them, in file order.
        workloads: dict[str, list[EndpointStatus]] = {}
        for _, status in sorted((statuses or {}).items()):
            if status.bgp_peer_name:
                workloads.setdefault(status.bgp_peer_name, []).append(status)
        self.workloads = workloads

    def nodes_matching(self, selector: Selector | None) -> list[str]:
        """Node names (sorted) whose labels match; `None` means every node (`all()`)."""
        if selector is None:
            return list(self._all_nodes)
        return [n for n in self._all_nodes if selector.matches(self.nodes[n].labels)]

    def listen_port(self, node: str) -> int:
        """The node's BGP port as peers see it: node-specific, else global, else 0."""
        port = self.node_ports.get(node)
        if port is not None:
            return port
        return self.global_port

    def nodes_with_ip_port_and_as(self, host: str, as_number: int, port: int) -> list[str]:
        """client.go nodesWithIPPortAndAS: the nodes a `peerIP` BGPPeer points at."""
        wanted_as = self.global_as if as_number == 0 else str(as_number)
        wanted_ip = _canonical(host)
        out: list[str] = []
        for name in self._all_nodes:
            node = self.nodes[name]
            if wanted_ip not in (node.ipv4, node.ipv6):
                continue
            if (node.as_num or self.global_as) != wanted_as:
                continue
            if port != 0:
                # Transcribed as client.go has it: the global-port test runs whenever the
                # node-port test did not skip, so a node whose own port matches is still
                # skipped when a different global port is set.
                node_port = self.node_ports.get(name)
                if node_port is not None and port != node_port:
                    continue
                if self.global_port not in (0, port):
                    continue
            out.append(name)
        return out


def _canonical(text: str) -> str:
    address = parse_ip(text) if text else None
    return str(address) if address is not None else text


def _peer_json(
    *,
    ip: str,
    as_num: str,
    local_as_num: int,
    rr_cluster_id: str,
    password: Password,
    source_addr: str,
    restart_time: str,
    keepalive_time: str,
    port: int,
    keep_next_hop: bool,
    calico_node: bool,
    num_allow_local_as: int,
    ttl_security: int,
    filters: Sequence[str] | None,
    reachable_by: str,
    next_hop_mode: str,
    local_workload: bool = False,
    restart_mode: str = "",
    bfd_if_directly_connected: bool = False,
) -> str:
    # Field order of confd's backends.BGPPeer struct (confd/pkg/backends/types.go), as
    # encoding/json writes it; bgpd's own `password_unavailable` follows, only when a
    # referenced password cannot be had.
    value: dict[str, object] = {
        "ip": ip,
        "as_num": as_num,
        "local_as_num": str(local_as_num),  # numorstring.ASNumber with `,string`
        "rr_cluster_id": rr_cluster_id,
        "password": password.text,
        "source_addr": source_addr,
        "restart_time": restart_time,
        "keepalive_time": keepalive_time,
        "port": port,
        "keep_next_hop": keep_next_hop,
        "calico_node": calico_node,
        "num_allow_local_as": num_allow_local_as,
        "ttl_security": ttl_security,
        "filters": None if filters is None else list(filters),
        "reachable_by": reachable_by,
        "passive_mode": local_workload,
        "local_bgp_peer": local_workload,
        "next_hop_mode": next_hop_mode,
    }
    if restart_mode:
        # Calico Enterprise's restartMode; absent otherwise, so open-source keys stay as
        # Calico writes them.
        value["restart_mode"] = restart_mode
    if password.unavailable is not None:
        value["password_unavailable"] = password.unavailable
    if bfd_if_directly_connected:  # Calico Enterprise's field, bgpd's key: only when set
        value["failure_detection_mode"] = "BFDIfDirectlyConnected"
    return go_json(value)


def _next_hop_fields(res: BgpPeerResource) -> tuple[bool, str]:
    """client.go getNextHopMode: (keep_next_hop, next_hop_mode); a set nextHopMode wins and
    keepOriginalNextHop is then ignored."""
    if res.next_hop_mode:
        return False, res.next_hop_mode
    return res.keep_original_next_hop, ""


class _Peer:
    """One v1 peering before its key is known: address, port and the serialised value."""

    __slots__ = ("global_key", "leaf", "value")

    def __init__(self, address: IPAddress, port: int, value: str) -> None:
        # Computed once: a peering is typically emitted for many local nodes.
        self.leaf = f"peer_v{address.version}/{peer_key_suffix(address, port)}"
        self.global_key = f"/calico/bgp/v1/global/{self.leaf}"
        self.value = value


def _password(ctx: PeerContext, ref: SecretRef | None) -> Password:
    # Unlike client.go getPassword, a Secret that cannot be read never means "no password":
    # the peering carries why (bgpd.confd.model.secrets) and stays down.
    return ctx.secrets.resolve(ref)


def _node_as_peers(
    ctx: PeerContext, node_name: str, v4: bool, v6: bool, res: BgpPeerResource
) -> list[_Peer]:
    """client.go nodeAsBGPPeers + setPeerConfigFieldsFromV3Resource."""
    node = ctx.nodes.get(node_name)
    if node is None:
        return []
    out: list[_Peer] = []
    for wanted, text in ((v4, node.ipv4), (v6, node.ipv6)):
        if not wanted or not text:
            continue
        address = parse_ip(text)
        if address is None:
            continue
        port = ctx.listen_port(node_name)
        keep_next_hop, next_hop_mode = _next_hop_fields(res)
        # nodeAsBGPPeers leaves local_as_num, calico_node and num_allow_local_as at zero
        # (Calico applies localASNumber and numAllowedLocalASNumbers to peerIP peers only).
        value = _peer_json(
            ip=str(address),
            as_num=node.as_num or ctx.global_as,
            local_as_num=0,
            rr_cluster_id=node.rr_cluster_id,
            password=_password(ctx, res.password),
            source_addr=res.source_address or _SOURCE_DEFAULT,
            restart_time=res.restart_time,
            keepalive_time=res.keepalive_time,
            port=port,
            keep_next_hop=keep_next_hop,
            calico_node=False,
            num_allow_local_as=0,
            ttl_security=res.ttl_security,
            filters=res.filters,
            reachable_by=res.reachable_by,
            next_hop_mode=next_hop_mode,
            restart_mode=res.restart_mode,
            bfd_if_directly_connected=res.bfd_if_directly_connected,
        )
        out.append(_Peer(address, port, value))
    return out


def _local_workload_peers(ctx: PeerContext, res: BgpPeerResource) -> list[_Peer]:
    """client.go localBGPPeerDataAsBGPPeers: one passive peering per workload address."""
    out: list[_Peer] = []
    for status in ctx.workloads.get(res.name, ()):
        for address in (status.ipv4, status.ipv6):
            if address is None:
                continue
            value = _peer_json(
                ip=str(address),
                as_num=str(res.as_number),
                # localASNumber: Calico's main applies it here too (not v3.30.7).
                local_as_num=res.local_as_number,
                rr_cluster_id="",
                password=_NO_PASSWORD,
                source_addr="None",
                restart_time="",
                keepalive_time="",
                port=0,
                keep_next_hop=False,
                calico_node=False,
                num_allow_local_as=0,
                ttl_security=0,
                filters=res.filters,
                reachable_by="",
                next_hop_mode="",
                local_workload=True,
            )
            out.append(_Peer(address, 0, value))
    return out


def _explicit_peer(ctx: PeerContext, res: BgpPeerResource) -> _Peer | None:
    """The single peering of a `peerIP` BGPPeer (client.go, the `else` branch)."""
    address = res.peer_address
    if address is None:
        return None
    port = res.peer_port
    if port == 0:
        # No port given: if the peer is a Calico node, use that node's listen port.
        matched = ctx.nodes_with_ip_port_and_as(res.peer_host, res.as_number, 0)
        if matched:
            port = ctx.listen_port(matched[0])
    keep_next_hop, next_hop_mode = _next_hop_fields(res)
    value = _peer_json(
        ip=str(address),
        as_num=str(res.as_number),
        local_as_num=res.local_as_number,
        rr_cluster_id="",
        password=_password(ctx, res.password),
        source_addr=res.source_address or _SOURCE_DEFAULT,
        restart_time=res.restart_time,
        keepalive_time=res.keepalive_time,
        port=port,
        keep_next_hop=keep_next_hop,
        calico_node=str(address) in ctx.node_ips,
        num_allow_local_as=res.num_allowed_local_as,
        ttl_security=res.ttl_security,
        filters=res.filters,
        reachable_by=res.reachable_by,
        next_hop_mode=next_hop_mode,
        restart_mode=res.restart_mode,
        bfd_if_directly_connected=res.bfd_if_directly_connected,
    )
    return _Peer(address, port, value)


def derive_peer_keys(ctx: PeerContext, resources: Iterable[BgpPeerResource]) -> dict[str, str]:
    """The v1 peer keys for every node (see the module docstring)."""
    peers = sorted(resources, key=lambda r: r.name)
    out: dict[str, str] = {}

    def emit_global(peer: _Peer) -> None:
        out.setdefault(peer.global_key, peer.value)

    def emit_node(node: str, peer: _Peer) -> None:
        key = f"/calico/bgp/v1/host/{node}/{peer.leaf}"
        if key in out or peer.global_key in out:
            return
        out[key] = peer.value

    for global_pass in (True, False):
        for res in peers:
            if global_pass != (res.node_selector is None and not res.node):
                continue
            local_nodes: list[str] = []
            if res.node_selector is not None:
                local_nodes = ctx.nodes_matching(res.node_selector)
            elif res.node:
                local_nodes = [res.node]
            if res.local_workload_selector:
                remote = _local_workload_peers(ctx, res)
            elif res.peer_selector is not None:
                remote = [
                    p
                    for name in ctx.nodes_matching(res.peer_selector)
                    for p in _node_as_peers(ctx, name, True, True, res)
                ]
            else:
                single = _explicit_peer(ctx, res)
                remote = [] if single is None else [single]
            for peer in remote:
                if global_pass:
                    emit_global(peer)
                else:
                    for node in local_nodes:
                        emit_node(node, peer)

    # Reverse pass: make the remote side of each peering configure it too.
    for res in peers:
        if res.local_workload_selector or not res.automatic_reverse:
            continue
        if res.peer_selector is not None:
            locals_ = ctx.nodes_matching(res.peer_selector)
            v4 = v6 = True
        else:
            if not res.peer_host:
                continue
            locals_ = ctx.nodes_with_ip_port_and_as(res.peer_host, res.as_number, res.peer_port)
            v6 = ":" in res.peer_host
            v4 = not v6
        if not locals_:
            continue
        if res.node_selector is not None:
            remote_nodes = ctx.nodes_matching(res.node_selector)
        elif res.node:
            remote_nodes = [res.node]
        else:
            remote_nodes = ctx.nodes_matching(None)
        for name in remote_nodes:
            for peer in _node_as_peers(ctx, name, v4, v6, res):
                for node in locals_:
                    emit_node(node, peer)
    return out

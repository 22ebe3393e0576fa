"""Client discovery: the reflector's peers derived from the `[[cluster_node]]` list.

Role: what Calico does for a route-reflector node from a BGPPeer with a selector (calico-bgp.md
§1.5, §2.4), done by the reflector itself: every cluster node that matches `[reflector].clients`
becomes a peer named `Node_<address>` (with `_port_<n>` when the node listens elsewhere than
179), one session per address family, and the node's labels are what the selector sees.

Calico's semantics of who is a client (calico-bgp.md §2.4, issue 4 item 1):
- a node in our AS whose `rr_cluster_id` differs from ours (or is empty) is an `rr_client`;
- a node whose `rr_cluster_id` equals ours is another reflector of our cluster: an ordinary iBGP
  non-client (with `cluster_peers`, every such node is a peer, selected or not, so a redundant
  pair peers without a second selector);
- a node in another AS is an ordinary eBGP peer (RFC 4456 reflects inside one AS only).

Invariants:
- Never a peer to ourselves: a node with our `[node]` name or one of our addresses (node
  addresses, router id, listen addresses) is skipped.
- A `[[peer]]` written in the file wins: a node whose address (or derived name) a configured
  peer already has is not discovered again (Calico: explicit peerings win).
- A family is peered only when we have an address of it (`[node].ipv4` / `ipv6`), which is the
  session's source address, as Calico's `sourceAddress: UseNodeIP` makes it.
- Pure: config and selector in, peers out; the same input gives the same peers in the same order
  (IPv4 sessions first, each family in node-list order).
- Every discovered peer and every passed-over node is tied to the `[[cluster_node]]` key it
  comes from (`cluster_node[2].ipv6`), the loader's key path, so the caller can put
  FILE:LINE:COL on what it reports about them (`toml_positions.positioned`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.config import ClusterNode, Config, IPAddress, PeerConfig
from bgpd.config.calico_names import protocol_id
from bgpd.config.selector import Selector
from bgpd.errors import ConfigError, ConfigProblem
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST

__all__ = ["Discovery", "discover_peers", "discovered_problems", "node_peer_name"]

BGP_PORT = 179


def node_peer_name(address: IPAddress, port: int | None = None) -> str:
    """Calico's name for a node peering: `Node_10_0_0_2`, `Node_fd00__2_port_1790`."""
    name = "Node_" + protocol_id(address)
    if port is not None and port not in (0, BGP_PORT):
        name += f"_port_{port}"
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """The discovered peers, and the cluster nodes that were passed over, with the reason."""

    peers: tuple[PeerConfig, ...] = ()
    # origins[i]: the key path of the cluster node address peers[i] was made from
    origins: tuple[str, ...] = ()
    # one per node and family passed over, at its address key (`cluster_node[1].ipv6`), in
    # the order of the node list
    skipped: tuple[ConfigProblem, ...] = ()

    @property
    def clients(self) -> tuple[PeerConfig, ...]:
        return tuple(p for p in self.peers if p.rr_client)


def _our_addresses(config: Config) -> set[IPAddress]:
    ours: set[IPAddress] = {config.bgp.router_id, *config.bgp.listen}
    if config.node is not None:
        ours.update(config.node.addresses)
    return ours


def discover_peers(
    config: Config, clients: Selector | None, cluster_peers: bool = True
) -> Discovery:
    """The peers `config.cluster_nodes` yield under selector `clients` (None: none selected).

    Raises `ConfigError` (at the cluster node keys) if a discovered peer cannot be built.
    """
    node = config.node
    cluster_id = config.bgp.cluster_id
    if node is None or (clients is None and not cluster_peers):
        return Discovery()
    ours = _our_addresses(config)
    configured_names = {p.name for p in config.all_peers}
    configured_addresses = {p.address for p in config.all_peers}
    peers: list[PeerConfig] = []
    origins: list[str] = []
    skipped: list[tuple[int, int, ConfigProblem]] = []  # (node index, IP version, problem)
    problems: list[ConfigProblem] = []
    chosen: list[tuple[int, ClusterNode, bool]] = []
    for index, other in enumerate(config.cluster_nodes):
        if other.name == node.name or any(a in ours for a in (other.ipv4, other.ipv6)):
            continue  # ourselves, recognised by name or address as Calico does
        same_cluster = cluster_id is not None and other.rr_cluster_id == cluster_id
        selected = clients is not None and clients.matches(other.labels)
        if selected or (cluster_peers and same_cluster):
            chosen.append((index, other, same_cluster))
    for family, mine in ((IPV4_UNICAST, node.ipv4_address), (IPV6_UNICAST, node.ipv6_address)):
        for index, other, same_cluster in chosen:
            theirs = other.ipv4 if family == IPV4_UNICAST else other.ipv6
            if theirs is None:
                continue
            origin = f"cluster_node[{index}].ipv{theirs.version}"
            name = node_peer_name(theirs, other.port)
            reason = None
            if mine is None:
                reason = f"no local IPv{theirs.version} address in [node]"
            elif name in configured_names or theirs in configured_addresses:
                reason = f"{theirs} is a configured [[peer]]"
            if reason is not None:
                message = f"node {other.name} not peered: {reason}"
                problem = ConfigProblem(location=origin, message=message)
                skipped.append((index, theirs.version, problem))
                continue
            port = other.port if other.port is not None else config.bgp.port
            asn = other.asn if other.asn is not None else config.bgp.asn
            ibgp = asn == config.local_asn
            role = (
                f"reflector of cluster {cluster_id}"
                if same_cluster
                else ("reflector client" if ibgp else "eBGP node")
            )
            try:
                peer = PeerConfig(
                    name=name,
                    address=theirs,
                    asn=asn,
                    port=port,
                    local_address=mine,
                    families=(family,),
                    rr_client=ibgp and not same_cluster,
                    description=f"{role}: {other.name}",
                )
            except ConfigError as exc:  # the node's values, which the loader checked: a bug
                problems += discovered_problems(exc.problems, name, origin)
                continue
            peers.append(peer)
            origins.append(origin)
    if problems:
        raise ConfigError(problems)
    return Discovery(
        peers=tuple(peers),
        origins=tuple(origins),
        skipped=tuple(problem for *_, problem in sorted(skipped, key=lambda s: s[:2])),
    )


def discovered_problems(
    problems: Iterable[ConfigProblem], peer: str, origin: str
) -> list[ConfigProblem]:
    """`problems` of the discovered peer `peer`, at the cluster node key `origin` it came from."""
    return [
        ConfigProblem(location=origin, message=f"discovered peer {peer}: {p.message}")
        for p in problems
    ]

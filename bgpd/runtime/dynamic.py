"""Dynamic neighbours: sessions accepted from unconfigured addresses inside operator ranges.

Role: when a TCP connection arrives from an address no peer is configured for, the daemon asks
`DynamicPeers.accept` whether a `[[dynamic_neighbors]]` range allows it. If so, the running
config gains one passive `[[peer]]`-like entry named `Dynamic_<address>` (dots and colons
replaced by underscores, as Calico names peers), the speaker adopts it with
`Speaker.apply_peer_change` (which starts that peer and touches no other, without diffing the
configs: O(1) in the number of peers), and the connection is handed over to it. When the last
connection of a dynamic peer is gone, the daemon removes the peer again the same way. A
reload keeps the dynamic peers the new ranges still allow.

Invariants:
- Nothing is accepted unless the operator configured a range: without `[[dynamic_neighbors]]`
  every unknown connection is refused, as before.
- A configured peer always wins: an address (or name) that the config has is never dynamic.
- A range never holds more than its `max_peers` dynamic peers; excess connections are refused.
- Dynamic peers are plain `PeerConfig` values in `Config.peers` (so bgpctl, metrics and the
  reload diff see ordinary peers); this object only remembers which ones are dynamic. It holds
  no sockets and reads no clock: the daemon owns the I/O.
- Graceful restart is not kept for a dynamic peer: its routes go when its connection does,
  because the peer itself goes (the range may hand the address to someone else next).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging

from bgpd.config import Config, DynamicNeighbors, IPAddress, PeerConfig
from bgpd.config.calico_names import protocol_id

__all__ = ["DYNAMIC_NAME_PREFIX", "DynamicPeers", "dynamic_peer", "dynamic_peer_name", "find_range"]

logger = logging.getLogger(__name__)

DYNAMIC_NAME_PREFIX = "Dynamic_"


def dynamic_peer_name(address: IPAddress) -> str:
    """`Dynamic_10_0_0_7`, `Dynamic_fd00__7`: Calico's peer-naming rule with our prefix."""
    return DYNAMIC_NAME_PREFIX + protocol_id(address)


def find_range(config: Config, address: IPAddress) -> DynamicNeighbors | None:
    """The `[[dynamic_neighbors]]` range holding `address` (ranges never overlap), if any."""
    for rng in config.dynamic_neighbors:
        if address.version == rng.prefix.version and address in rng.prefix:
            return rng
    return None


def dynamic_peer(config: Config, rng: DynamicNeighbors, address: IPAddress) -> PeerConfig:
    """The passive peer a connection from `address` inside `rng` becomes."""
    asn = rng.asn if rng.asn is not None else config.local_asn
    ibgp = asn == config.local_asn
    # RFC 4456 §1: only an iBGP neighbour can be a reflection client.
    rr_client = ibgp if rng.rr_client is None else rng.rr_client and ibgp
    return PeerConfig(
        name=dynamic_peer_name(address),
        address=address,
        asn=asn,
        passive=True,
        hold_time=rng.hold_time,
        families=rng.families,
        add_path=rng.add_path,
        rr_client=rr_client,
        description=rng.description or f"dynamic neighbour from {rng.prefix}",
    )


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class DynamicPeers:
    """The dynamic peers of one daemon: name -> the range prefix that admitted it.

    Accepting and removing cost O(1) in the number of peers (a reflector of a 5,000-node
    cluster accepts 5,000 of them at once): the peers per range are counted as they come and
    go, and the addresses and names the running config holds are kept for the config this
    object last returned (the one the speaker runs); any other config (a reload) is read once.
    """

    __slots__ = ("_counts", "_known", "_ranges")

    def __init__(self) -> None:
        self._ranges: dict[str, DynamicNeighbors] = {}
        self._counts: dict[object, int] = {}  # range prefix -> its dynamic peers
        # (config, its peers' addresses, its peers' names): see the class docstring
        self._known: tuple[Config, set[IPAddress], set[str]] | None = None

    def is_dynamic(self, name: str) -> bool:
        return name in self._ranges

    def names(self) -> list[str]:
        return list(self._ranges)

    def _taken(self, config: Config) -> tuple[set[IPAddress], set[str]]:
        known = self._known
        if known is None or known[0] is not config:
            peers = config.all_peers
            known = self._known = (config, {p.address for p in peers}, {p.name for p in peers})
        return known[1], known[2]

    def accept(self, config: Config, remote: str) -> tuple[Config, str] | None:
        """(`config` plus a dynamic peer for `remote`, its name), or None when not allowed."""
        address = _address(remote)
        if address is None:
            return None
        rng = find_range(config, address)
        if rng is None:
            return None
        addresses, names = self._taken(config)
        if address in addresses:
            return None  # a configured peer owns the address; not ours to decide
        if self._counts.get(rng.prefix, 0) >= rng.max_peers:
            logger.warning(
                "dynamic neighbour refused address=%s range=%s reason=max_peers max_peers=%d",
                address,
                rng.prefix,
                rng.max_peers,
            )
            return None
        peer = dynamic_peer(config, rng, address)
        if peer.name in names:
            return None
        self._ranges[peer.name] = rng
        self._counts[rng.prefix] = self._counts.get(rng.prefix, 0) + 1
        logger.info("dynamic neighbour accepted peer=%s range=%s", peer.name, rng.prefix)
        new = config.with_peer(peer)  # checks the new peer alone, not every peer again
        addresses.add(address)
        names.add(peer.name)
        self._known = (new, addresses, names)
        return new, peer.name

    def remove(self, config: Config, name: str) -> Config | None:
        """`config` without dynamic peer `name`, or None when `name` is not a dynamic peer."""
        rng = self._ranges.pop(name, None)
        if rng is None:
            return None
        self._counts[rng.prefix] -= 1
        logger.info("dynamic neighbour removed peer=%s", name)
        addresses, names = self._taken(config)
        new = config.without_peer(name)
        if new is not config:
            addresses.discard(config.peer(name).address)
        names.discard(name)
        self._known = (new, addresses, names)
        return new

    def carry_over(self, old: Config, new: Config) -> Config:
        """`new` (a reloaded file) plus the dynamic peers of `old` that `new` still allows.

        A dynamic peer is dropped when no range of `new` holds its address, when `new`
        configures a peer with its address or name, or when its range is full; a kept peer is
        rebuilt from its (possibly changed) range, so the reload diff applies the new settings.
        """
        taken_names = {p.name for p in new.all_peers}
        taken_addresses = {p.address for p in new.all_peers}
        kept: list[PeerConfig] = []
        ranges: dict[str, DynamicNeighbors] = {}
        for peer in old.peers:
            if peer.name not in self._ranges:
                continue
            rng = find_range(new, peer.address)
            full = rng is not None and (
                sum(1 for r in ranges.values() if r.prefix == rng.prefix) >= rng.max_peers
            )
            if rng is None or full or peer.name in taken_names or peer.address in taken_addresses:
                logger.info("dynamic neighbour dropped by reload peer=%s", peer.name)
                continue
            kept.append(dynamic_peer(new, rng, peer.address))
            ranges[peer.name] = rng
        self._ranges = ranges
        self._counts = {}
        for rng in ranges.values():
            self._counts[rng.prefix] = self._counts.get(rng.prefix, 0) + 1
        if not kept:
            return new
        return dataclasses.replace(new, peers=(*new.peers, *kept))

"""Calico's rules for naming its BGP sessions and for choosing which side waits.

Role: the one home of two rules every producer of peers shares: the mesh derivation
(`bgpd.config.schema`), confd's templating of explicit peers (`bgpd.confd.calico_node`), the
reflector's client discovery and the runtime's dynamic neighbours.

Invariants: both functions are pure and accept an address as text or as an `ipaddress` object
with the same result, because Calico's templates work on the address strings of its keys.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

__all__ = ["greater_address_is_passive", "protocol_id"]


def protocol_id(address: str | IPv4Address | IPv6Address) -> str:
    """The address part of a BIRD protocol name: `10_0_0_2`, `fd00__2`.

    Calico splits on "." (IPv4) or ":" (IPv6) and joins with "_" (calico-bgp.md §2.3, §2.9):
    `Mesh_10_0_0_2`, `Node_fd00__2`, `Global_10_0_0_9`.
    """
    return str(address).replace(".", "_").replace(":", "_")


def greater_address_is_passive(
    peer_address: str | IPv4Address | IPv6Address, local_address: str | IPv4Address | IPv6Address
) -> bool:
    """True when we wait for the peer to connect: its address is the greater one.

    Calico's template compares the two addresses with Go's `gt` on *strings*, so
    "10.0.0.9" > "10.0.0.10" (Calico issue #5461). BIRD nodes in a mixed mesh apply that rule; a
    numeric comparison here would make both sides of such a pair passive and the session would
    never come up.
    """
    return str(peer_address) > str(local_address)

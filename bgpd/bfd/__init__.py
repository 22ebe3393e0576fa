"""Bidirectional Forwarding Detection (RFC 5880 asynchronous mode, RFC 5881 single hop,
RFC 5883 multihop), sans-IO: the packet codec, one session's state machine, and the table of
the daemon's sessions. The runtime's UDP edge (bgpd.runtime.bfd_transport) drives the table;
the speaker only hears that a peer's path failed or came back."""

from bgpd.bfd.packet import BfdPacketError, ControlPacket, Diagnostic, State
from bgpd.bfd.session import BfdSession, BfdSettings, StateChanged
from bgpd.bfd.table import BfdPeer, BfdTable, Datagram, PeerStateChanged

__all__ = [
    "BfdPacketError",
    "BfdPeer",
    "BfdSession",
    "BfdSettings",
    "BfdTable",
    "ControlPacket",
    "Datagram",
    "Diagnostic",
    "PeerStateChanged",
    "State",
    "StateChanged",
]

"""The address of the other IP version on the interface that holds a session's local address.

Role: IPv6 routes over an IPv4 session (and the reverse) need a next hop of the route's own
version. When neither the peer's `next_hop_v6`/`next_hop_v4` nor `[node]` gives one, the
interface the session runs over usually has one: the daemon asks `interface_address(local)`
when a connection is made and hands the answer to the speaker, which uses it last (after the
configured values; see `bgpd.speaker.peer_state.own_next_hops`).

How: one RTM_GETADDR dump over a short-lived NETLINK_ROUTE socket (the kernel answers it
synchronously, a few hundred microseconds even with hundreds of interfaces), decoded here
with the rtnetlink framing of `bgpd.kernel.rtnl`. It runs in the process's network namespace.

Invariants: `pick_other_version` is a pure function of the dump (tested on crafted bytes);
only a usable address is returned: universe scope (no link-local, no loopback's host scope),
not tentative, failed, deprecated or temporary (RFC 4941 privacy addresses come and go), and
a primary address before a secondary one. Any failure of the dump gives "" (and a debug line):
the speaker then reports the family as without next hop, out loud.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from bgpd.kernel import rtnl

__all__ = ["InterfaceAddress", "decode_addresses", "interface_address", "pick_other_version"]

logger = logging.getLogger(__name__)

RTM_GETADDR = 22
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_SECONDARY = 0x01  # IFA_F_TEMPORARY for IPv6: the same bit
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
_UNUSABLE = IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE
RT_SCOPE_UNIVERSE = 0

_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_TIMEOUT_S = 1.0  # the kernel answers at once; this only bounds a stuck socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceAddress:
    index: int  # the interface
    address: IPAddress
    scope: int
    flags: int


def encode_request(seq: int = 1) -> bytes:
    payload = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    flags = rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP
    return _NLMSGHDR.pack(16 + len(payload), RTM_GETADDR, flags, seq, 0) + payload


def _decode_one(data: bytes, start: int, end: int) -> InterfaceAddress | None:
    if end - start < _IFADDRMSG.size:
        return None
    family, _prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(data, start)
    width = {socket.AF_INET: 4, socket.AF_INET6: 16}.get(family)
    if width is None:
        return None
    found: dict[int, bytes] = {}
    pos = start + _IFADDRMSG.size
    while pos + 4 <= end:
        alen, atype = _RTA.unpack_from(data, pos)
        if alen < 4 or pos + alen > end:
            break
        found[atype & rtnl.NLA_TYPE_MASK] = data[pos + 4 : pos + alen]
        pos += (alen + 3) & ~3
    if len(found.get(IFA_FLAGS, b"")) == 4:
        (flags,) = _U32.unpack(found[IFA_FLAGS])  # the full 32-bit flags supersede the byte
    # IFA_LOCAL is our address; IFA_ADDRESS is the far end's on a point-to-point link.
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    if raw is None or len(raw) != width:
        return None
    return InterfaceAddress(
        index=index, address=ipaddress.ip_address(raw), scope=scope, flags=flags
    )


def decode_addresses(data: bytes) -> tuple[list[InterfaceAddress], bool]:
    """The addresses in one datagram of an RTM_GETADDR dump, and whether the dump is done.

    Raises OSError when the kernel answered with an error."""
    out: list[InterfaceAddress] = []
    for msg_type, flags, _seq, _pid, start, end in rtnl.iter_messages(data):
        if msg_type == rtnl.NLMSG_DONE:
            return out, True
        if msg_type == rtnl.NLMSG_ERROR:
            error, message = rtnl.decode_error(data, start, end, flags)
            if error:
                raise OSError(error, message or "address dump refused")
            return out, True
        if msg_type == rtnl.RTM_NEWADDR:
            found = _decode_one(data, start, end)
            if found is not None:
                out.append(found)
    return out, False


def dump_addresses() -> list[InterfaceAddress]:
    """Every address of every interface in this network namespace (one netlink dump)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(_TIMEOUT_S)
        sock.bind((0, 0))
        sock.send(encode_request())
        addresses: list[InterfaceAddress] = []
        while True:
            batch, done = decode_addresses(sock.recv(1 << 16))
            addresses += batch
            if done:
                return addresses


def pick_other_version(local: str, addresses: Iterable[InterfaceAddress]) -> str:
    """A usable address of the other IP version on the interface holding `local`, or ""."""
    try:
        own = ipaddress.ip_address(local.partition("%")[0])
    except ValueError:
        return ""
    addresses = list(addresses)
    indexes = [a.index for a in addresses if a.address == own]
    if not indexes:
        return ""
    usable = [
        a
        for a in addresses
        if a.index == indexes[0]
        and a.address.version != own.version
        and a.scope == RT_SCOPE_UNIVERSE
        and not a.flags & _UNUSABLE
        and not (a.address.version == 6 and a.flags & IFA_F_SECONDARY)  # temporary
    ]
    usable.sort(key=lambda a: a.flags & IFA_F_SECONDARY)  # primary first, kernel order kept
    return str(usable[0].address) if usable else ""


def interface_address(local: str) -> str:
    """`pick_other_version` over a fresh dump; "" when the dump fails."""
    try:
        addresses = dump_addresses()
    except OSError as exc:
        logger.debug("interface address dump failed local_address=%s error=%s", local, exc)
        return ""
    return pick_other_version(local, addresses)

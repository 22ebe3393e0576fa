"""A small rtnetlink codec for route, link and error messages (struct only, no I/O).

Role: turn `KernelRoute` operations into RTM_NEWROUTE / RTM_DELROUTE messages and kernel
messages (route and link dumps or notifications, error acks) back into values.

Why our own instead of pyroute2's marshalling: bgpd's hot paths are the bulk install of
thousands of routes and the dumps of the whole table (at start, after a monitor overflow).
pyroute2's generic message classes cost 50-80 µs per route message here; this codec packs a
whole route with one `struct.pack` and parses only the attributes bgpd uses: dumps parse
about five times faster, and batched installs run about fifty times faster than pyroute2's
one-route-per-call API (docs/performance.md, "Kernel route installs"). The unit tests check
it against pyroute2's own encoder and decoder in both directions.

Invariants:
- Decoding never raises on kernel input: messages it does not model (other types, source
  routes, tos routes, cloned cache entries, unknown families) decode to None and are skipped.
- Encoded deletes carry the route's protocol, so the kernel only ever deletes a route of that
  protocol (IPv4 ``fib_table_delete`` and IPv6 ``ip6_route_del`` both match on it), whatever
  else happens to be at the same prefix.
- Prefixes and gateways decode to the canonical text `ipaddress` produces (see `format_ip`).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bgpd.kernel.kernel_route import KernelRoute, NextHop, RouteKind
from bgpd.kernel.reconcile import OpKind
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family

__all__ = [
    "LinkInfo",
    "RouteEncoder",
    "UnknownDeviceError",
    "decode_error",
    "decode_link",
    "decode_route",
    "encode_dump",
    "encode_route",
    "format_ip",
    "iter_messages",
]

# linux/netlink.h
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # on NLMSG_ERROR: the echoed request is cut to its header
NLM_F_ACK_TLVS = 0x200  # on NLMSG_ERROR: extended-ack attributes follow
NLMSGERR_ATTR_MSG = 1
NLA_TYPE_MASK = 0x3FFF

# linux/rtnetlink.h
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_MULTIPATH = 9
RTA_TABLE = 15
RTA_VIA = 18

RTNH_F_ONLINK = 4
RTM_F_CLONED = 0x200
RT_TABLE_COMPAT = 252  # rtm_table when the real table id (RTA_TABLE) does not fit a byte
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255  # on a delete: "any scope"
RTN_UNSPEC = 0  # on a delete: "any type"

IFLA_IFNAME = 3
IFF_UP = 0x1

_TYPE_BY_KIND: dict[str, int] = {
    "unicast": 1,
    "blackhole": 6,
    "unreachable": 7,
    "prohibit": 8,
    "throw": 9,
}
_KIND_BY_TYPE: dict[int, RouteKind] = {
    1: "unicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
}
_FAMILY_BY_AF: dict[int, Family] = {socket.AF_INET: IPV4_UNICAST, socket.AF_INET6: IPV6_UNICAST}
_AF_BY_FAMILY: dict[Family, int] = {v: k for k, v in _FAMILY_BY_AF.items()}
_U32_ATTRS = frozenset((RTA_OIF, RTA_PRIORITY, RTA_TABLE))
_DEFAULT_PREFIX: dict[int, str] = {socket.AF_INET: "0.0.0.0/0", socket.AF_INET6: "::/0"}

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
_RTMSG = struct.Struct("=BBBBBBBBI")  # family dst_len src_len tos table protocol scope type flags
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTA = struct.Struct("=HH")
_RTA_U32 = struct.Struct("=HHI")
_RTNH = struct.Struct("=HBBi")  # length, flags, hops, ifindex
_U32 = struct.Struct("=I")


def _whole_route(width: int, device: bool) -> struct.Struct:
    """Header, rtmsg, RTA_TABLE, RTA_DST, RTA_PRIORITY, RTA_GATEWAY [, RTA_OIF] in one go."""
    return struct.Struct(f"=IHHIIBBBBBBBBIHHIHH{width}sHHIHH{width}s" + ("HHI" if device else ""))


_FAST_VIA: dict[int, struct.Struct] = {
    socket.AF_INET: _whole_route(4, False),
    socket.AF_INET6: _whole_route(16, False),
}
_FAST_VIA_DEV: dict[int, struct.Struct] = {
    socket.AF_INET: _whole_route(4, True),
    socket.AF_INET6: _whole_route(16, True),
}
_I32 = struct.Struct("=i")
_U16 = struct.Struct("=H")


class UnknownDeviceError(LookupError):
    """A route names an interface that does not exist (the kernel would say ENODEV)."""

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        super().__init__(f"no such device {ifname!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkInfo:
    """An interface as RTM_NEWLINK / RTM_DELLINK describe it."""

    index: int
    name: str
    up: bool


def format_ip(af: int, packed: bytes) -> str:
    """Canonical text of an address: `inet_ntop`, except for the IPv6 forms with an embedded
    dotted quad, where glibc and `ipaddress` disagree (``ipaddress`` is the reference)."""
    text = socket.inet_ntop(af, packed)
    if af == socket.AF_INET6 and "." in text:
        return str(ipaddress.IPv6Address(packed))
    return text


def _rta(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return _RTA.pack(length, kind) + value + b"\0" * (-length & 3)


def _gateway_attr(af: int, gateway: str) -> bytes:
    if (":" in gateway) == (af == socket.AF_INET6):
        return _rta(RTA_GATEWAY, socket.inet_pton(af, gateway))
    # RFC 5549 style: an IPv4 route through an IPv6 gateway (or the reverse) needs RTA_VIA.
    via_af = socket.AF_INET6 if ":" in gateway else socket.AF_INET
    return _rta(RTA_VIA, _U16.pack(via_af) + socket.inet_pton(via_af, gateway))


def _ifindex(ifindex: Mapping[str, int], name: str) -> int:
    index = ifindex.get(name)
    if index is None:
        raise UnknownDeviceError(name)
    return index


def encode_route(
    kind: OpKind,
    route: KernelRoute,
    seq: int,
    ifindex: Mapping[str, int],
    *,
    ack: bool = False,
) -> bytes:
    """One RTM_NEWROUTE (``add``: create-exclusive, ``replace``) or RTM_DELROUTE message.

    ``ifindex`` maps interface names to indexes; a name missing from it raises
    `UnknownDeviceError`. Without ``ack`` the kernel still answers a failure (netlink acks every
    error), so a batch only needs an ack on its last message.
    """
    af = _AF_BY_FAMILY[route.family]
    address, _, length_text = route.prefix.partition("/")
    dst_len = int(length_text)
    flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
    table = route.table
    hops = route.nexthops
    if kind != "delete" and len(hops) == 1 and dst_len and table < 256:
        # Fast path, nearly every BGP route: one gateway of the route's family, maybe a
        # device. One pack call for the whole message (bulk installs run through here).
        hop = hops[0]
        gateway = hop.gateway
        if gateway is not None and (":" in gateway) == (af == socket.AF_INET6):
            flags |= NLM_F_CREATE | (NLM_F_EXCL if kind == "add" else NLM_F_REPLACE)
            width = 4 if af == socket.AF_INET else 16
            fields = [
                *(af, dst_len, 0, 0, table, route.protocol, RT_SCOPE_UNIVERSE),
                *(_TYPE_BY_KIND[route.kind], RTNH_F_ONLINK if hop.onlink else 0),
                *(8, RTA_TABLE, table),
                *(4 + width, RTA_DST, socket.inet_pton(af, address)),
                *(8, RTA_PRIORITY, route.metric),
                *(4 + width, RTA_GATEWAY, socket.inet_pton(af, gateway)),
            ]
            if hop.ifname is None:
                packer = _FAST_VIA[af]
            else:
                packer = _FAST_VIA_DEV[af]
                fields += (8, RTA_OIF, _ifindex(ifindex, hop.ifname))
            return packer.pack(packer.size, RTM_NEWROUTE, flags, seq, 0, *fields)
    attrs = [_RTA_U32.pack(8, RTA_TABLE, table)]
    if dst_len:
        attrs.append(_rta(RTA_DST, socket.inet_pton(af, address)))
    attrs.append(_RTA_U32.pack(8, RTA_PRIORITY, route.metric))
    rtm_flags = 0
    if kind == "delete":
        msg_type, rtype, scope = RTM_DELROUTE, RTN_UNSPEC, RT_SCOPE_NOWHERE
    else:
        msg_type = RTM_NEWROUTE
        flags |= NLM_F_CREATE | (NLM_F_EXCL if kind == "add" else NLM_F_REPLACE)
        rtype = _TYPE_BY_KIND[route.kind]
        scope = RT_SCOPE_UNIVERSE
        if len(hops) == 1:
            hop = hops[0]
            if hop.gateway is not None:
                attrs.append(_gateway_attr(af, hop.gateway))
            else:
                scope = RT_SCOPE_LINK  # a device route: the destination is on the link
            if hop.ifname is not None:
                attrs.append(_RTA_U32.pack(8, RTA_OIF, _ifindex(ifindex, hop.ifname)))
            if hop.onlink:
                rtm_flags |= RTNH_F_ONLINK
        elif hops:
            parts = []
            for hop in hops:
                inner = b"" if hop.gateway is None else _gateway_attr(af, hop.gateway)
                index = 0 if hop.ifname is None else _ifindex(ifindex, hop.ifname)
                nh_flags = RTNH_F_ONLINK if hop.onlink else 0
                parts.append(_RTNH.pack(8 + len(inner), nh_flags, 0, index) + inner)
            attrs.append(_rta(RTA_MULTIPATH, b"".join(parts)))
    rtm_table = table if table < 256 else RT_TABLE_COMPAT
    body = _RTMSG.pack(af, dst_len, 0, 0, rtm_table, route.protocol, scope, rtype, rtm_flags)
    payload = body + b"".join(attrs)
    return _NLMSGHDR.pack(16 + len(payload), msg_type, flags, seq, 0) + payload


# Where a route message's prefix sits: nlmsghdr (seq at 8), rtmsg (dst_len at 17), RTA_TABLE,
# then RTA_DST's value at 40. Everything else in the message does not depend on the prefix.
_SEQ_AT, _DST_LEN_AT, _DST_AT = 8, 17, 40
_WIDTH: dict[int, int] = {socket.AF_INET: 4, socket.AF_INET6: 16}


class RouteEncoder:
    """`encode_route` for a batch whose routes share their shape (a best path's prefixes).

    The first message of each shape (operation, next hops object, metric, table, protocol,
    kind, family) is encoded by `encode_route`; the next ones copy its bytes with their own
    sequence number and prefix put in (one `struct.pack` of seven fields). Next hops are told
    apart by identity: keep one encoder per batch, whose routes stay alive meanwhile. Default
    routes (no RTA_DST) always go through `encode_route`.
    """

    __slots__ = ("_ifindex", "_shapes")

    def __init__(self, ifindex: Mapping[str, int]) -> None:
        self._ifindex = ifindex
        self._shapes: dict[
            tuple[object, ...], tuple[struct.Struct, bytes, bytes, bytes, bytes]
        ] = {}

    def encode(self, kind: OpKind, route: KernelRoute, seq: int) -> bytes:
        nexthops, metric, table, protocol = (
            route.nexthops,
            route.metric,
            route.table,
            route.protocol,
        )
        shape = (kind, id(nexthops), metric, table, protocol, route.kind, route.family)
        parts = self._shapes.get(shape)
        address, _, length_text = route.prefix.partition("/")
        dst_len = int(length_text)
        if parts is None or not dst_len:
            message = encode_route(kind, route, seq, self._ifindex)
            if dst_len:
                af = _AF_BY_FAMILY[route.family]
                end = _DST_AT + _WIDTH[af]
                packer = struct.Struct(f"=8sI5sB22s{end - _DST_AT}s{len(message) - end}s")
                self._shapes[shape] = (
                    packer,
                    message[:_SEQ_AT],
                    message[_SEQ_AT + 4 : _DST_LEN_AT],
                    message[_DST_LEN_AT + 1 : _DST_AT],
                    message[end:],
                )
            return message
        packer, head, pid_af, middle, tail = parts
        dst = socket.inet_pton(_AF_BY_FAMILY[route.family], address)
        return packer.pack(head, seq, pid_af, dst_len, middle, dst, tail)


def encode_dump(msg_type: int, seq: int, family: Family | None = None, table: int = 0) -> bytes:
    """A dump request: RTM_GETLINK (all links) or RTM_GETROUTE of one family (and table).

    With NETLINK_GET_STRICT_CHK on the socket the kernel filters routes by ``table`` itself.
    """
    flags = NLM_F_REQUEST | NLM_F_DUMP
    if msg_type == RTM_GETLINK:
        payload = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    else:
        af = socket.AF_UNSPEC if family is None else _AF_BY_FAMILY[family]
        rtm_table = table if table < 256 else RT_TABLE_COMPAT
        payload = _RTMSG.pack(af, 0, 0, 0, rtm_table, 0, 0, 0, 0)
        if table:
            payload += _RTA_U32.pack(8, RTA_TABLE, table)
    return _NLMSGHDR.pack(16 + len(payload), msg_type, flags, seq, 0) + payload


def iter_messages(data: bytes | memoryview) -> Iterator[tuple[int, int, int, int, int, int]]:
    """(type, flags, seq, pid, payload start, payload end) of each message in a datagram."""
    pos = 0
    size = len(data)
    while pos + 16 <= size:
        length, msg_type, flags, seq, pid = _NLMSGHDR.unpack_from(data, pos)
        if length < 16 or pos + length > size:
            return  # truncated or corrupt: nothing after it can be trusted
        yield msg_type, flags, seq, pid, pos + 16, pos + length
        pos += (length + 3) & ~3


def decode_error(data: bytes | memoryview, start: int, end: int, flags: int) -> tuple[int, str]:
    """(errno, extended-ack message or "") of an NLMSG_ERROR payload; errno 0 is an ack."""
    if end - start < 4:
        return errno.EPROTO, "short error message"
    (error,) = _I32.unpack_from(data, start)
    if not flags & NLM_F_ACK_TLVS:
        return -error, ""
    if flags & NLM_F_CAPPED:
        pos = start + 4 + 16
    elif end - start >= 8:
        (orig_len,) = _U32.unpack_from(data, start + 4)
        pos = start + 4 + ((orig_len + 3) & ~3)
    else:
        pos = end
    message = ""
    while pos + 4 <= end:
        alen, atype = _RTA.unpack_from(data, pos)
        if alen < 4 or pos + alen > end:
            break
        if atype & NLA_TYPE_MASK == NLMSGERR_ATTR_MSG:
            message = bytes(data[pos + 4 : pos + alen]).rstrip(b"\0").decode(errors="replace")
        pos += (alen + 3) & ~3
    return -error, message


def decode_link(data: bytes | memoryview, start: int, end: int) -> LinkInfo | None:
    """The index, name and up flag of an RTM_NEWLINK / RTM_DELLINK payload."""
    if end - start < _IFINFOMSG.size:
        return None
    _family, _type, index, if_flags, _change = _IFINFOMSG.unpack_from(data, start)
    pos = start + _IFINFOMSG.size
    while pos + 4 <= end:
        alen, atype = _RTA.unpack_from(data, pos)
        if alen < 4 or pos + alen > end:
            break
        if atype & NLA_TYPE_MASK == IFLA_IFNAME:
            name = bytes(data[pos + 4 : pos + alen]).split(b"\0", 1)[0].decode(errors="replace")
            return LinkInfo(index=index, name=name, up=bool(if_flags & IFF_UP))
        pos += (alen + 3) & ~3
    return None


def _address(af: int, data: bytes | memoryview, start: int, end: int) -> str | None:
    """The address in data[start:end], or None when its length is not the family's."""
    if end - start != (4 if af == socket.AF_INET else 16):
        return None
    return format_ip(af, bytes(data[start:end]))


def _via(data: bytes | memoryview, start: int, end: int) -> str | None:
    if end - start < 2:
        return None
    (af,) = _U16.unpack_from(data, start)
    width = 4 if af == socket.AF_INET else 16 if af == socket.AF_INET6 else 0
    if not width or end - start - 2 < width:
        return None
    return _address(af, data, start + 2, start + 2 + width)


def decode_route(
    data: bytes | memoryview,
    start: int,
    end: int,
    links: Mapping[int, str],
    table: int | None = None,
) -> KernelRoute | None:
    """The route of an RTM_NEWROUTE / RTM_DELROUTE payload, or None when it is not modelled
    or not in ``table`` (when given). Interface indexes are named through ``links``; an index
    missing from it gives a next hop without an interface name."""
    if end - start < _RTMSG.size:
        return None
    af, dst_len, src_len, tos, rtm_table, proto, _scope, rtype, rtm_flags = _RTMSG.unpack_from(
        data, start
    )
    family = _FAMILY_BY_AF.get(af)
    kind = _KIND_BY_TYPE.get(rtype)
    if family is None or kind is None or src_len or tos or rtm_flags & RTM_F_CLONED:
        return None
    if table is not None and rtm_table not in (RT_TABLE_COMPAT, table):
        return None
    width = 4 if af == socket.AF_INET else 16
    dst = b""
    oif = 0
    gateway: str | None = None
    metric = 0
    multipath: tuple[int, int] | None = None
    pos = start + _RTMSG.size
    while pos + 4 <= end:
        alen, atype = _RTA.unpack_from(data, pos)
        if alen < 4 or pos + alen > end:
            break
        atype &= NLA_TYPE_MASK
        value = pos + 4
        if atype in _U32_ATTRS and alen < 8:
            pass  # malformed: ignore rather than read past the attribute
        elif atype == RTA_DST:
            dst = bytes(data[value : pos + alen])
        elif atype == RTA_OIF:
            (oif,) = _U32.unpack_from(data, value)
        elif atype == RTA_GATEWAY:
            gateway = _address(af, data, value, pos + alen)
        elif atype == RTA_VIA:
            gateway = _via(data, value, pos + alen)
        elif atype == RTA_PRIORITY:
            (metric,) = _U32.unpack_from(data, value)
        elif atype == RTA_TABLE:
            (rtm_table,) = _U32.unpack_from(data, value)
        elif atype == RTA_MULTIPATH:
            multipath = (value, pos + alen)
        pos += (alen + 3) & ~3
    if table is not None and rtm_table != table:
        return None
    if dst_len:
        if len(dst) != width:
            return None
        prefix = f"{format_ip(af, dst)}/{dst_len}"
    else:
        prefix = _DEFAULT_PREFIX[af]
    hops: tuple[NextHop, ...] = ()
    if kind == "unicast":
        if multipath is not None:
            hops = _decode_multipath(data, multipath[0], multipath[1], af, links)
        else:
            ifname = links.get(oif) if oif else None
            if gateway is not None or ifname is not None:
                onlink = bool(rtm_flags & RTNH_F_ONLINK) and gateway is not None
                hops = (NextHop(gateway=gateway, ifname=ifname, onlink=onlink and bool(ifname)),)
    try:
        return KernelRoute(
            family=family,
            prefix=prefix,
            kind=kind,
            nexthops=hops,
            protocol=proto,
            table=rtm_table,
            metric=metric,
        )
    except ValueError:  # e.g. table 0: not a route we could ever act on
        return None


def _decode_multipath(
    data: bytes | memoryview, pos: int, end: int, af: int, links: Mapping[int, str]
) -> tuple[NextHop, ...]:
    hops: list[NextHop] = []
    while pos + _RTNH.size <= end:
        length, nh_flags, _hops, index = _RTNH.unpack_from(data, pos)
        if length < _RTNH.size or pos + length > end:
            break
        gateway: str | None = None
        apos = pos + _RTNH.size
        while apos + 4 <= pos + length:
            alen, atype = _RTA.unpack_from(data, apos)
            if alen < 4 or apos + alen > pos + length:
                break
            atype &= NLA_TYPE_MASK
            if atype == RTA_GATEWAY:
                gateway = _address(af, data, apos + 4, apos + alen)
            elif atype == RTA_VIA:
                gateway = _via(data, apos + 4, apos + alen)
            apos += (alen + 3) & ~3
        ifname = links.get(index) if index else None
        if gateway is not None or ifname is not None:
            onlink = bool(nh_flags & RTNH_F_ONLINK) and gateway is not None and ifname is not None
            hops.append(NextHop(gateway=gateway, ifname=ifname, onlink=onlink))
        pos += (length + 3) & ~3
    return tuple(hops)

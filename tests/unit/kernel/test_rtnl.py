"""The rtnetlink codec, checked against pyroute2's encoder and decoder in both directions."""

from __future__ import annotations

import errno
import socket
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from bgpd.kernel import KernelRoute, NextHop, rtnl
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST

IFINDEX = {"eth0": 3, "tunl0": 7}
LINKS = {index: name for name, index in IFINDEX.items()}


def pyroute2_decode(data: bytes) -> dict[str, Any]:
    msg = rtmsg(data)
    msg.decode()
    return {
        "type": msg["header"]["type"],
        "flags": msg["header"]["flags"],
        "seq": msg["header"]["sequence_number"],
        "family": msg["family"],
        "dst_len": msg["dst_len"],
        "table": msg["table"],
        "proto": msg["proto"],
        "scope": msg["scope"],
        "rtype": msg["type"],
        "rflags": msg["flags"],
        "attrs": dict(msg["attrs"]),
        # pyroute2's nested attributes (RTA_MULTIPATH's hops) reach their parent through a weak
        # reference: keep the message alive while the caller reads them (a collection in
        # between raised ReferenceError now and then).
        "_message": msg,
    }


def our_decode(data: bytes, table: int | None = None) -> KernelRoute | None:
    ((_, _, _, _, start, end),) = list(rtnl.iter_messages(data))
    return rtnl.decode_route(data, start, end, LINKS, table)


def test_add_onlink_route_as_pyroute2_sees_it() -> None:
    route = KernelRoute(
        family=IPV4_UNICAST,
        prefix="192.168.154.192/26",
        nexthops=(NextHop(gateway="172.18.18.102", ifname="tunl0", onlink=True),),
    )
    got = pyroute2_decode(rtnl.encode_route("add", route, 41, IFINDEX))
    assert got["type"] == rtnl.RTM_NEWROUTE
    assert got["flags"] == rtnl.NLM_F_REQUEST | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    assert (got["seq"], got["family"], got["dst_len"], got["proto"]) == (41, 2, 26, 12)
    assert (got["rtype"], got["scope"], got["rflags"]) == (1, 0, rtnl.RTNH_F_ONLINK)
    assert got["attrs"] == {
        "RTA_TABLE": 254,
        "RTA_DST": "192.168.154.192",
        "RTA_PRIORITY": 0,
        "RTA_GATEWAY": "172.18.18.102",
        "RTA_OIF": 7,
    }


def test_replace_multipath_v6_as_pyroute2_sees_it() -> None:
    route = KernelRoute(
        family=IPV6_UNICAST,
        prefix="fd00:1::/64",
        nexthops=(NextHop(gateway="fd00::2"), NextHop(gateway="fd00::3", ifname="eth0")),
        table=1000,
    )
    got = pyroute2_decode(rtnl.encode_route("replace", route, 2, IFINDEX, ack=True))
    assert got["flags"] == (
        rtnl.NLM_F_REQUEST | rtnl.NLM_F_CREATE | rtnl.NLM_F_REPLACE | rtnl.NLM_F_ACK
    )
    assert got["table"] == 252  # RT_TABLE_COMPAT: the real id is in RTA_TABLE
    assert got["attrs"]["RTA_TABLE"] == 1000
    assert got["attrs"]["RTA_PRIORITY"] == 1024
    hops = [
        (h["oif"], h["flags"], dict(h["attrs"])["RTA_GATEWAY"])
        for h in got["attrs"]["RTA_MULTIPATH"]
    ]
    assert hops == [(0, 0, "fd00::2"), (3, 0, "fd00::3")]


def test_blackhole_default_route_and_delete() -> None:
    hole = KernelRoute(family=IPV4_UNICAST, prefix="0.0.0.0/0", kind="blackhole", metric=5)
    got = pyroute2_decode(rtnl.encode_route("add", hole, 1, IFINDEX))
    assert got["rtype"] == 6 and got["dst_len"] == 0 and "RTA_DST" not in got["attrs"]
    assert got["attrs"]["RTA_PRIORITY"] == 5
    route = KernelRoute(
        family=IPV4_UNICAST, prefix="10.0.0.0/8", nexthops=(NextHop(gateway="10.1.1.1"),)
    )
    deleted = pyroute2_decode(rtnl.encode_route("delete", route, 3, IFINDEX))
    # Any type and scope, but only our protocol; no next hops needed to name the route.
    assert (deleted["type"], deleted["flags"]) == (rtnl.RTM_DELROUTE, rtnl.NLM_F_REQUEST)
    assert (deleted["rtype"], deleted["scope"], deleted["proto"]) == (0, 255, 12)
    assert set(deleted["attrs"]) == {"RTA_TABLE", "RTA_DST", "RTA_PRIORITY"}


def test_device_route_and_unknown_device() -> None:
    route = KernelRoute(
        family=IPV4_UNICAST, prefix="10.9.0.5/32", nexthops=(NextHop(ifname="eth0"),)
    )
    got = pyroute2_decode(rtnl.encode_route("add", route, 1, IFINDEX))
    assert got["scope"] == rtnl.RT_SCOPE_LINK and got["attrs"]["RTA_OIF"] == 3
    missing = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.9.0.0/24",
        nexthops=(NextHop(gateway="1.1.1.1", ifname="nope0", onlink=True),),
    )
    with pytest.raises(rtnl.UnknownDeviceError) as caught:
        rtnl.encode_route("add", missing, 1, IFINDEX)
    assert caught.value.ifname == "nope0"


def test_ipv4_route_via_ipv6_gateway_uses_rta_via() -> None:
    route = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.9.0.0/24",
        nexthops=(NextHop(gateway="fe80::1", ifname="eth0"),),
    )
    data = rtnl.encode_route("add", route, 1, IFINDEX)
    assert our_decode(data) == route  # and it decodes back


def pyroute2_route(**fields: Any) -> bytes:
    attrs = fields.pop("attrs")
    msg = rtmsg()
    msg["header"]["type"] = fields.pop("msg_type", rtnl.RTM_NEWROUTE)
    msg["header"]["sequence_number"] = 9
    for name, value in fields.items():
        msg[name] = value
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


def test_decodes_what_pyroute2_encodes() -> None:
    data = pyroute2_route(
        family=2,
        dst_len=24,
        table=254,
        proto=80,
        type=1,
        flags=rtnl.RTNH_F_ONLINK,
        attrs=[
            ("RTA_TABLE", 254),
            ("RTA_DST", "10.2.0.0"),
            ("RTA_GATEWAY", "10.0.0.9"),
            ("RTA_OIF", 7),
            ("RTA_PRIORITY", 7),
        ],
    )
    assert our_decode(data) == KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.2.0.0/24",
        nexthops=(NextHop(gateway="10.0.0.9", ifname="tunl0", onlink=True),),
        protocol=80,
        metric=7,
    )
    multipath = pyroute2_route(
        family=10,
        dst_len=48,
        table=252,
        proto=12,
        type=1,
        attrs=[
            ("RTA_TABLE", 1000),
            ("RTA_DST", "fd00:1::"),
            (
                "RTA_MULTIPATH",
                [
                    {"oif": 3, "flags": rtnl.RTNH_F_ONLINK, "attrs": [("RTA_GATEWAY", "fd00::2")]},
                    {"oif": 99, "attrs": [("RTA_GATEWAY", "fd00::3")]},  # unknown index
                ],
            ),
        ],
    )
    assert our_decode(multipath) == KernelRoute(
        family=IPV6_UNICAST,
        prefix="fd00:1::/48",
        nexthops=(
            NextHop(gateway="fd00::2", ifname="eth0", onlink=True),
            NextHop(gateway="fd00::3"),
        ),
        table=1000,
        metric=1024,
    )
    assert our_decode(multipath, table=254) is None  # other table
    blackhole = pyroute2_route(
        family=2, dst_len=26, table=254, proto=3, type=6, attrs=[("RTA_DST", "10.3.0.0")]
    )
    assert our_decode(blackhole) == KernelRoute(
        family=IPV4_UNICAST, prefix="10.3.0.0/26", kind="blackhole", protocol=3
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"family": 2, "dst_len": 8, "table": 255, "type": 2},  # local
        {"family": 2, "dst_len": 8, "table": 254, "type": 1, "tos": 4},
        {"family": 2, "dst_len": 8, "table": 254, "type": 1, "src_len": 8},
        {"family": 10, "dst_len": 128, "table": 254, "type": 1, "flags": rtnl.RTM_F_CLONED},
        {"family": 7, "dst_len": 0, "table": 254, "type": 1},  # not IP
        {"family": 2, "dst_len": 8, "table": 254, "type": 5},  # multicast
    ],
)
def test_routes_not_modelled_decode_to_none(fields: dict[str, Any]) -> None:
    dst = "fd00::" if fields["family"] == 10 else "10.0.0.0"
    data = pyroute2_route(**fields, attrs=[("RTA_DST", dst)] if fields["family"] in (2, 10) else [])
    assert our_decode(data) is None


def test_link_error_and_framing() -> None:
    link = ifinfmsg()
    link["header"]["type"] = rtnl.RTM_NEWLINK
    link["index"] = 5
    link["flags"] = 1
    link["attrs"] = [("IFLA_MTU", 1480), ("IFLA_IFNAME", "tunl0")]
    link.encode()
    data = bytes(link.data)
    ((msg_type, _, _, _, start, end),) = list(rtnl.iter_messages(data))
    assert msg_type == rtnl.RTM_NEWLINK
    assert rtnl.decode_link(data, start, end) == rtnl.LinkInfo(index=5, name="tunl0", up=True)

    # NLMSG_ERROR, capped, with an extended-ack message (as the kernel sends it).
    text = b"Nexthop has invalid gateway\0"
    tlv = (
        struct.pack("=HH", 4 + len(text), rtnl.NLMSGERR_ATTR_MSG) + text + b"\0" * (-len(text) & 3)
    )
    body = struct.pack("=i", -errno.ENETUNREACH) + struct.pack("=IHHII", 60, 24, 0x605, 77, 0) + tlv
    flags = rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS
    error = struct.pack("=IHHII", 16 + len(body), rtnl.NLMSG_ERROR, flags, 77, 1234) + body
    ack = (
        struct.pack("=IHHII", 36, rtnl.NLMSG_ERROR, rtnl.NLM_F_CAPPED, 78, 1234)
        + struct.pack("=i", 0)
        + struct.pack("=IHHII", 60, 24, 0x605, 78, 0)
    )
    frames = list(rtnl.iter_messages(error + ack + b"\x10\0\0"))  # a truncated tail is ignored
    assert [(f[0], f[2]) for f in frames] == [(rtnl.NLMSG_ERROR, 77), (rtnl.NLMSG_ERROR, 78)]
    data = error + ack
    assert rtnl.decode_error(data, frames[0][4], frames[0][5], frames[0][1]) == (
        errno.ENETUNREACH,
        "Nexthop has invalid gateway",
    )
    assert rtnl.decode_error(data, frames[1][4], frames[1][5], frames[1][1]) == (0, "")
    bad = struct.pack("=IHHII", 8, 24, 0, 1, 0)  # length below the header size
    assert list(rtnl.iter_messages(bad)) == []


def test_dump_request() -> None:
    data = rtnl.encode_dump(rtnl.RTM_GETROUTE, 5, IPV6_UNICAST, 254)
    got = pyroute2_decode(data)
    assert got["type"] == rtnl.RTM_GETROUTE and got["flags"] == rtnl.NLM_F_REQUEST | rtnl.NLM_F_DUMP
    assert (got["family"], got["table"], got["attrs"]) == (socket.AF_INET6, 254, {"RTA_TABLE": 254})
    links = rtnl.encode_dump(rtnl.RTM_GETLINK, 6)
    assert len(links) == 32 and struct.unpack_from("=H", links, 4)[0] == rtnl.RTM_GETLINK


def test_canonical_address_text() -> None:
    mapped = socket.inet_pton(socket.AF_INET6, "::ffff:1.2.3.4")
    assert rtnl.format_ip(socket.AF_INET6, mapped) == "::ffff:102:304"
    assert rtnl.format_ip(
        socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "2001:db8:0:1:0:0:0:1")
    ) == ("2001:db8:0:1::1")


ROUTES = st.builds(
    KernelRoute,
    family=st.just(IPV4_UNICAST),
    prefix=st.sampled_from(["10.0.0.0/8", "10.1.2.0/24", "0.0.0.0/0", "10.1.2.3/32"]),
    nexthops=st.lists(
        st.builds(
            NextHop,
            gateway=st.sampled_from(["10.0.0.2", "10.0.0.3", "10.9.9.9"]),
            ifname=st.sampled_from([None, "eth0", "tunl0"]),
        ),
        min_size=1,
        max_size=3,
        unique=True,
    ).map(tuple),
    protocol=st.integers(0, 255),
    table=st.sampled_from([254, 100, 5000]),
    metric=st.integers(0, 2**32 - 1),
)


@settings(max_examples=200, deadline=None)
@given(ROUTES)
def test_encode_decode_round_trip(route: KernelRoute) -> None:
    assert our_decode(rtnl.encode_route("replace", route, 1, IFINDEX)) == route


ATTRIBUTE = st.tuples(
    st.sampled_from([1, 4, 5, 6, 9, 15, 18, 30, 3]), st.binary(max_size=40), st.integers(0, 3)
)


def attributes(items: list[tuple[int, bytes, int]]) -> bytes:
    out = b""
    for kind, value, skew in items:  # skew makes some lengths lie
        out += struct.pack("=HH", 4 + len(value) + skew, kind) + value + b"\0" * (-len(value) & 3)
    return out


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from([rtnl.RTM_NEWROUTE, rtnl.RTM_NEWLINK, rtnl.NLMSG_ERROR, 99]),
    st.integers(0, 0xFFFF),
    st.binary(min_size=0, max_size=16),
    st.lists(ATTRIBUTE, max_size=6),
    st.integers(0, 8),
)
def test_decoding_never_raises(
    msg_type: int, flags: int, head: bytes, attrs: list[tuple[int, bytes, int]], cut: int
) -> None:
    # A plausible header (families 2/10, unicast) or random bytes, then random attributes.
    fixed = struct.pack("=BBBBBBBBI", 2 if len(head) % 2 else 10, 24, 0, 0, 254, 12, 0, 1, 0)
    payload = (fixed if len(head) < 8 else head.ljust(12, b"\0")[:12]) + attributes(attrs)
    payload = payload[: max(0, len(payload) - cut)]
    data = struct.pack("=IHHII", 16 + len(payload), msg_type, flags, 1, 0) + payload
    for _, mflags, _, _, start, end in rtnl.iter_messages(data):
        rtnl.decode_route(data, start, end, LINKS)
        rtnl.decode_route(data, start, end, LINKS, 254)
        rtnl.decode_link(data, start, end)
        rtnl.decode_error(data, start, end, mflags)


def test_route_encoder_writes_what_encode_route_writes() -> None:
    """A batch's encoder reuses the first message of each shape for the next prefixes: every
    message must still be byte for byte what `encode_route` makes, for every kind of route
    (both families, via / dev / onlink / multipath, blackhole, default route, deletes)."""
    v4 = (NextHop(gateway="10.0.0.2"),)
    tunnel = (NextHop(gateway="10.0.0.3", ifname="tunl0", onlink=True),)
    multi = (NextHop(gateway="10.0.0.2", ifname="eth0"), NextHop(gateway="10.0.0.3"))
    v6 = (NextHop(gateway="fd00::2"),)
    v6_dev = (NextHop(gateway="fe80::1", ifname="eth0"),)
    v4_prefixes = ["10.1.2.0/26", "100.64.0.7/32", "10.0.0.0/8", "0.0.0.0/0", "192.168.9.0/24"]
    v6_prefixes = ["fd00:1::/64", "fd00:1:2::5/128", "::/0", "2001:db8::/32"]
    routes = [
        KernelRoute(family=IPV4_UNICAST, prefix=p, nexthops=hops, metric=metric, table=table)
        for hops in (v4, tunnel, multi)
        for metric in (0, 1024)
        for table in (254, 5000)
        for p in v4_prefixes
    ]
    routes += [
        KernelRoute(family=IPV6_UNICAST, prefix=p, nexthops=hops, metric=metric)
        for hops in (v6, v6_dev)
        for metric in (0, 512)
        for p in v6_prefixes
    ]
    routes += [
        KernelRoute(family=IPV4_UNICAST, prefix=p, kind="blackhole", metric=5) for p in v4_prefixes
    ]
    encoder = rtnl.RouteEncoder(IFINDEX)
    for seq, (kind, route) in enumerate(
        ((k, r) for k in ("add", "replace", "delete") for r in routes), start=1
    ):
        expected = rtnl.encode_route(kind, route, seq, IFINDEX)  # type: ignore[arg-type]
        assert encoder.encode(kind, route, seq) == expected, (kind, str(route))  # type: ignore[arg-type]
    unknown = KernelRoute(
        family=IPV4_UNICAST,
        prefix="10.9.0.0/24",
        nexthops=(NextHop(gateway="10.0.0.2", ifname="x"),),
    )
    with pytest.raises(rtnl.UnknownDeviceError):
        encoder.encode("add", unknown, 1)

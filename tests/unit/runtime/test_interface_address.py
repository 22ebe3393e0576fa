"""The other IP version's address on a session's interface, from crafted RTM_NEWADDR bytes."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from bgpd.runtime.interface_address import (
    IFA_ADDRESS,
    IFA_F_DEPRECATED,
    IFA_F_SECONDARY,
    IFA_F_TENTATIVE,
    IFA_FLAGS,
    IFA_LOCAL,
    RTM_GETADDR,
    InterfaceAddress,
    decode_addresses,
    encode_request,
    pick_other_version,
)

RTM_NEWADDR = 20
NLMSG_DONE = 3
SCOPE_LINK = 253
SCOPE_HOST = 254


def rta(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def newaddr(index: int, address: str, *, scope: int = 0, flags: int = 0, big: int = 0) -> bytes:
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    body = struct.pack("=BBBBI", family, 24 if ip.version == 4 else 64, flags, scope, index)
    attrs = rta(IFA_ADDRESS, ip.packed)
    if ip.version == 4:
        # a point-to-point far end in IFA_ADDRESS: ours is IFA_LOCAL
        attrs = rta(IFA_ADDRESS, bytes(4)) + rta(IFA_LOCAL, ip.packed)
    if big:
        attrs += rta(IFA_FLAGS, struct.pack("=I", big))
    payload = body + attrs
    return struct.pack("=IHHII", 16 + len(payload), RTM_NEWADDR, 2, 1, 0) + payload


DONE = struct.pack("=IHHII", 20, NLMSG_DONE, 2, 1, 0) + b"\0\0\0\0"


def dump(*messages: bytes) -> list[InterfaceAddress]:
    addresses, done = decode_addresses(b"".join(messages) + DONE)
    assert done
    return addresses


def test_the_request_is_an_rtm_getaddr_dump_of_every_family() -> None:
    length, kind, flags, _seq, _pid = struct.unpack_from("=IHHII", encode_request())
    assert (length, kind, flags & 0x300) == (24, RTM_GETADDR, 0x300)


def test_ipv6_global_address_of_the_interface_holding_the_ipv4_one() -> None:
    addresses = dump(
        newaddr(1, "127.0.0.1", scope=SCOPE_HOST),
        newaddr(1, "::1", scope=SCOPE_HOST),
        newaddr(3, "10.0.1.1"),
        newaddr(3, "fd00:1::1"),
        newaddr(4, "10.0.0.1"),
        newaddr(4, "fe80::1", scope=SCOPE_LINK),
        newaddr(4, "fd00::9", flags=IFA_F_TENTATIVE),
        newaddr(4, "fd00::8", big=IFA_F_DEPRECATED),  # in the 32-bit IFA_FLAGS only
        newaddr(4, "2001:db8::5", flags=IFA_F_SECONDARY),  # temporary (privacy)
        newaddr(4, "fd00::1"),
    )
    assert pick_other_version("10.0.0.1", addresses) == "fd00::1"
    assert pick_other_version("10.0.1.1", addresses) == "fd00:1::1"
    # the reverse: IPv4 over an IPv6 session
    assert pick_other_version("fd00::1", addresses) == "10.0.0.1"
    # loopback's ::1 has host scope: no usable next hop
    assert pick_other_version("127.0.0.1", addresses) == ""
    assert pick_other_version("10.9.9.9", addresses) == ""


def test_an_error_answer_raises() -> None:
    err = struct.pack("=IHHII", 20, 2, 0, 1, 0) + struct.pack("=i", -1)
    with pytest.raises(OSError):
        decode_addresses(err)


def test_a_truncated_message_is_ignored() -> None:
    whole = newaddr(4, "fd00::1")
    addresses, done = decode_addresses(whole[:-3])
    assert addresses == [] and not done

"""Node address autodetection: method parsing and Calico's selection rules, from data."""

from __future__ import annotations

import json
import re
from ipaddress import ip_address, ip_interface, ip_network

import pytest

from bgpd.confd.autodetect import (
    DEFAULT_INTERFACES_TO_EXCLUDE,
    AutodetectError,
    AutodetectResult,
    ByCidr,
    ByInterface,
    CanReach,
    FirstFound,
    InterfaceAddrs,
    autodetect,
    is_global_unicast,
    match_local_address,
    parse_interfaces_json,
    parse_method,
    select_address,
)


def iface(index: int, name: str, *addrs: str) -> InterfaceAddrs:
    return InterfaceAddrs(name=name, index=index, addresses=tuple(ip_interface(a) for a in addrs))


# A typical Kubernetes node: the real NIC has a LOW index, the container plumbing higher ones.
NODE = (
    iface(1, "lo", "127.0.0.1/8", "::1/128"),
    iface(2, "eth0", "10.0.0.5/24", "fe80::1/64", "2001:db8::5/64"),
    iface(3, "docker0", "172.17.0.1/16", "fd17::1/64"),
    iface(4, "cali1234abcd", "169.254.1.1/32", "fe80::ecee:eeff:feee:eeee/64"),
    iface(5, "veth9", "10.9.9.9/24"),
    iface(6, "tunl0", "10.244.1.0/32"),
    iface(7, "vxlan.calico", "10.244.1.1/32"),
    iface(8, "kube-ipvs0", "10.96.0.1/32"),
    iface(9, "flannel.1", "10.42.0.0/32"),
    iface(10, "cni0", "10.42.0.1/24"),
    iface(11, "virbr0", "192.168.122.1/24"),
    iface(12, "wireguard.cali", "10.244.1.2/32"),
    iface(13, "podman0", "10.88.0.1/16"),
    iface(14, "lxcbr0", "10.0.3.1/24"),
    iface(15, "cbr0", "10.1.0.1/24"),
    iface(16, "dummy0", "10.2.0.1/24"),
    iface(17, "vxlan-v6.calico", "fd00:244::1/128"),
    iface(18, "wg-v6.cali", "fd00:245::1/128"),
)


def pick(method: str, interfaces: tuple[InterfaceAddrs, ...], version: int) -> AutodetectResult:
    return autodetect(
        method,
        version,
        interfaces=lambda: interfaces,
        source_towards=lambda dest, v: pytest.fail("no UDP connect expected"),
    )


def test_default_exclusions_follow_calico() -> None:
    for name in ("docker0", "cbr0", "dummy0", "podman0", "virbr0", "lxcbr0", "veth1", "lo"):
        assert any(re.search(p, name) for p in DEFAULT_INTERFACES_TO_EXCLUDE)
    for name in ("eth0", "ens5", "bond0", "enp0s3", "vxlan0", "wg0"):
        assert not any(re.search(p, name) for p in DEFAULT_INTERFACES_TO_EXCLUDE), name


@pytest.mark.parametrize("method", ["first-found", "", "  first-found  "])
def test_first_found_skips_container_plumbing(method: str) -> None:
    v4 = pick(method, NODE, 4)
    assert v4 == AutodetectResult(address=ip_address("10.0.0.5"), interface="eth0", prefixlen=24)
    assert v4.cidr == "10.0.0.5/24"
    v6 = pick(method, NODE, 6)  # fe80::1 comes first on eth0 but is link-local
    assert v6 == AutodetectResult(address=ip_address("2001:db8::5"), interface="eth0", prefixlen=64)


def test_first_found_walks_interfaces_from_the_highest_index_as_calico() -> None:
    ifaces = (iface(2, "eth0", "10.0.0.5/24"), iface(3, "eth1", "192.168.1.5/24"))
    assert pick("first-found", ifaces, 4).interface == "eth1"
    # ... whatever order the kernel listed them in.
    assert pick("first-found", tuple(reversed(ifaces)), 4).interface == "eth1"


def test_addresses_in_kernel_order_within_an_interface() -> None:
    ifaces = (iface(2, "eth0", "10.0.0.7/24", "10.0.0.5/24"),)
    assert str(pick("first-found", ifaces, 4).address) == "10.0.0.7"


def test_non_unicast_addresses_are_skipped() -> None:
    ifaces = (
        iface(2, "eth0", "169.254.3.3/16", "0.0.0.0/0", "10.0.0.5/24"),
        iface(3, "eth1", "fe80::5/64", "ff02::1/128", "fd00::5/64"),
    )
    assert str(pick("first-found", ifaces, 4).address) == "10.0.0.5"
    assert str(pick("first-found", ifaces, 6).address) == "fd00::5"  # a ULA counts, as in Go


def test_is_global_unicast_matches_go() -> None:
    yes = ["10.0.0.1", "192.168.1.1", "8.8.8.8", "100.64.0.1", "2001:db8::1", "fd00::1"]
    no = ["0.0.0.0", "127.0.0.1", "169.254.1.1", "224.0.0.1", "255.255.255.255", "::", "::1"]
    no += ["fe80::1", "ff02::1"]
    assert all(is_global_unicast(ip_address(a)) for a in yes)
    assert not any(is_global_unicast(ip_address(a)) for a in no)


def test_interface_regexes() -> None:
    ifaces = (*NODE, iface(30, "ens5", "192.168.50.7/24", "2001:db8:50::7/64"))
    assert pick("interface=ens.*", ifaces, 4).interface == "ens5"
    assert pick("interface=ens.*", ifaces, 6).cidr == "2001:db8:50::7/64"
    assert pick("interface=nomatch, eth0", ifaces, 4).interface == "eth0"  # list, spaces ok
    assert pick("interface=th0", ifaces, 4).interface == "eth0"  # unanchored, like Go
    # interface= has no default exclusions: a listed container bridge is fine.
    assert pick("interface=docker0", ifaces, 4).cidr == "172.17.0.1/16"


def test_skip_interface_adds_to_the_default_exclusions() -> None:
    ifaces = (*NODE, iface(30, "ens5", "192.168.50.7/24"))
    assert pick("first-found", ifaces, 4).interface == "ens5"
    assert pick("skip-interface=ens.*", ifaces, 4).interface == "eth0"
    with pytest.raises(AutodetectError) as info:
        pick("skip-interface=ens.*,eth0", ifaces, 4)
    assert "skip-interface=ens.*,eth0" in str(info.value) and "IPv4" in str(info.value)


def test_cidr() -> None:
    ifaces = (*NODE, iface(30, "ens5", "192.168.50.7/24"))
    assert pick("cidr=10.0.0.0/24", ifaces, 4).interface == "eth0"
    # cidr= has no default exclusions: the highest-index match wins, even a dummy device.
    assert pick("cidr=10.0.0.0/8", ifaces, 4).interface == "dummy0"
    assert pick("cidr=172.16.0.0/12", ifaces, 4).interface == "docker0"
    assert pick("cidr=192.168.50.99/24,10.0.0.0/24", ifaces, 4).interface == "ens5"  # host bits
    assert pick("cidr=2001:db8::/64", ifaces, 6).interface == "eth0"
    with pytest.raises(AutodetectError, match="in those CIDRs"):
        pick("cidr=203.0.113.0/24", ifaces, 4)


def test_cidr_first_match_in_calico_order() -> None:
    # tunl0 (index 6) holds 10.244.1.0/32 and is NOT excluded by cidr=: highest index wins.
    assert pick("cidr=10.244.0.0/16", NODE, 4).interface == "wireguard.cali"


def test_can_reach_uses_the_source_address_and_matches_any_interface() -> None:
    calls: list[tuple[str, int]] = []

    def towards(dest: str, version: int) -> object:
        calls.append((dest, version))
        return ip_address("172.17.0.1")

    got = autodetect(
        "can-reach=8.8.8.8",
        4,
        interfaces=lambda: NODE,
        source_towards=towards,  # type: ignore[arg-type]
    )
    assert calls == [("8.8.8.8", 4)]
    assert got == AutodetectResult(
        address=ip_address("172.17.0.1"), interface="docker0", prefixlen=16
    )


def test_can_reach_address_not_on_an_interface() -> None:
    with pytest.raises(AutodetectError) as info:
        autodetect(
            "can-reach=www.example.com",
            4,
            interfaces=lambda: NODE,
            source_towards=lambda d, v: ip_address("192.0.2.99"),
        )
    text = str(info.value)
    assert "can-reach=www.example.com" in text and "192.0.2.99" in text and "eth0[" in text


def test_match_local_address() -> None:
    got = match_local_address(ip_address("fd17::1"), NODE)
    assert (got.interface, got.prefixlen) == ("docker0", 64)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("first-found", FirstFound()),
        ("interface=eth.*,ens.*", ByInterface(patterns=("eth.*", "ens.*"))),
        ("skip-interface=eth1", FirstFound(skip=("eth1",))),
        ("cidr=10.0.0.0/8", ByCidr(networks=(ip_network("10.0.0.0/8"),))),
        ("can-reach=10.0.0.1", CanReach(destination="10.0.0.1")),
        ("can-reach=example.com", CanReach(destination="example.com")),
    ],
)
def test_parse_method(text: str, expected: object) -> None:
    assert parse_method(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("firstfound", "invalid IP autodetection method"),
        ("interface", "invalid IP autodetection method"),
        ("interface=", "empty argument"),
        ("interface=eth[", "invalid interface regex"),
        ("cidr=10.0.0.0/33", "invalid CIDR '10.0.0.0/33'"),
        ("cidr=nope", "invalid CIDR"),
        ("kubernetes-internal-ip", "Kubernetes API"),
    ],
)
def test_parse_method_errors(text: str, needle: str) -> None:
    with pytest.raises(AutodetectError, match=needle.replace("[", r"\[")):
        parse_method(text)


def test_error_names_method_version_and_what_was_seen() -> None:
    only_plumbing = (iface(1, "lo", "127.0.0.1/8"), iface(3, "docker0", "172.17.0.1/16"))
    with pytest.raises(AutodetectError) as info:
        pick("first-found", only_plumbing, 4)
    text = str(info.value)
    assert "IPv4" in text and "'first-found'" in text
    assert "docker0[172.17.0.1/16]" in text and "lo[127.0.0.1/8]" in text
    with pytest.raises(AutodetectError, match="no interface matched"):
        pick("interface=ens.*", only_plumbing, 4)
    with pytest.raises(AutodetectError, match="IP version must be 4 or 6"):
        pick("first-found", only_plumbing, 5)


def test_select_address_direct() -> None:
    got = select_address(ByInterface(patterns=("eth0",)), NODE, 6)
    assert got.cidr == "2001:db8::5/64"


IP_JSON = [
    {"ifindex": 1, "ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8},
        {"family": "inet6", "local": "::1", "prefixlen": 128},
    ]},
    {"ifindex": 4, "ifname": "eth0", "link_index": 9, "addr_info": [
        {"family": "inet", "local": "10.0.0.5", "address": "10.0.0.1", "prefixlen": 32},
        {"family": "inet6", "local": "2001:db8::bad", "prefixlen": 64, "dadfailed": True},
        {"family": "inet6", "local": "2001:db8::5", "prefixlen": 64, "tentative": True},
    ]},
    {"ifindex": 5, "ifname": "can0", "addr_info": []},
    {"ifindex": 6, "ifname": "x", "addr_info": [{"family": "link", "local": "zz"}]},
]  # fmt: skip


def test_parse_ip_json() -> None:
    parsed = parse_interfaces_json(json.dumps(IP_JSON))
    assert [i.name for i in parsed] == ["lo", "eth0", "can0", "x"]
    eth0 = parsed[1]
    assert eth0.index == 4
    # The point-to-point peer is not ours; an address whose DAD failed is never picked.
    assert [str(a) for a in eth0.addresses] == ["10.0.0.5/32", "2001:db8::5/64"]
    assert parse_interfaces_json("") == ()
    with pytest.raises(AutodetectError, match="cannot parse"):
        parse_interfaces_json("{not json")

"""Node address autodetection against a real kernel, inside a network namespace.

The namespace gets veth interfaces named like a node's (``ens5``, ``eth0``, ``eth1``) and like
container plumbing (``docker0``, ``cali123``; their veth peers are named ``veth*``), with IPv4
and IPv6 addresses. Every method then runs for real in a Python process started inside the
namespace: the interface list comes from the kernel (``ip -j addr show``) and ``can-reach``
asks the kernel's routing for a source address.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

from .peers.netns import Namespace

_PROBE = """
import json, sys
from bgpd.confd.autodetect import AutodetectError, autodetect
out = []
for method, version in json.loads(sys.argv[1]):
    try:
        r = autodetect(method, version)
        out.append([r.cidr, r.interface])
    except AutodetectError as exc:
        out.append(["error", str(exc)])
print(json.dumps(out))
"""


def detect(ns: Namespace, cases: Sequence[tuple[str, int]]) -> list[list[str]]:
    proc = ns.run([sys.executable, "-c", _PROBE, json.dumps(list(cases))], timeout=60)
    result: list[list[str]] = json.loads(proc.stdout)
    return result


def build_node(ns: Namespace) -> None:
    # Creation order sets the interface indexes: ens5 lowest, then eth0, eth1, the plumbing.
    for i, name in enumerate(("ens5", "eth0", "eth1", "docker0", "cali123")):
        ns.ip("link", "add", name, "type", "veth", "peer", "name", f"vethp{i}")
    addrs = {
        "ens5": ("192.168.50.7/24", "2001:db8:50::7/64"),
        "eth0": ("10.10.0.5/24", "fd10::5/64"),
        "eth1": (),  # up, so it has only an IPv6 link-local address: never picked
        "docker0": ("172.17.0.1/16", "fd17::1/64"),
        "cali123": ("10.244.0.1/32",),
    }
    for name, cidrs in addrs.items():
        for cidr in cidrs:
            ns.add_address(name, cidr)
    for i, name in enumerate(addrs):
        ns.set_up(f"vethp{i}")
        ns.set_up(name)
    for name in ("ens5", "eth0", "eth1"):
        ns.wait_ipv6_ready(name)


def test_every_method_in_a_namespace(netns_factory: Callable[..., Namespace]) -> None:
    ns = netns_factory()
    build_node(ns)
    cases = [
        ("first-found", 4),
        ("first-found", 6),
        ("interface=ens.*", 4),
        ("interface=ens.*", 6),
        ("interface=nomatch,docker.*", 4),
        ("skip-interface=eth.*", 4),
        ("skip-interface=eth0", 6),
        ("cidr=172.16.0.0/12", 4),
        ("cidr=10.10.0.0/16, 192.168.0.0/16", 4),
        ("cidr=fd10::/64", 6),
        ("can-reach=192.168.50.99", 4),
        ("can-reach=10.10.0.1", 4),
        ("can-reach=2001:db8:50::99", 6),
        ("can-reach=fd17::9", 6),
    ]
    got = detect(ns, cases)
    assert dict(zip([f"{m} v{v}" for m, v in cases], got, strict=True)) == {
        "first-found v4": ["10.10.0.5/24", "eth0"],
        "first-found v6": ["fd10::5/64", "eth0"],  # eth1 (higher index) has only fe80::
        "interface=ens.* v4": ["192.168.50.7/24", "ens5"],
        "interface=ens.* v6": ["2001:db8:50::7/64", "ens5"],
        "interface=nomatch,docker.* v4": ["172.17.0.1/16", "docker0"],
        "skip-interface=eth.* v4": ["192.168.50.7/24", "ens5"],
        "skip-interface=eth0 v6": ["2001:db8:50::7/64", "ens5"],
        "cidr=172.16.0.0/12 v4": ["172.17.0.1/16", "docker0"],
        "cidr=10.10.0.0/16, 192.168.0.0/16 v4": ["10.10.0.5/24", "eth0"],
        "cidr=fd10::/64 v6": ["fd10::5/64", "eth0"],
        "can-reach=192.168.50.99 v4": ["192.168.50.7/24", "ens5"],
        "can-reach=10.10.0.1 v4": ["10.10.0.5/24", "eth0"],
        "can-reach=2001:db8:50::99 v6": ["2001:db8:50::7/64", "ens5"],
        "can-reach=fd17::9 v6": ["fd17::1/64", "docker0"],
    }


def test_failures_say_what_was_seen(netns_factory: Callable[..., Namespace]) -> None:
    ns = netns_factory()
    build_node(ns)
    for name in ("ens5", "eth0"):
        ns.ip("addr", "flush", "dev", name, "scope", "global")
    unreachable, first_found, v6 = detect(
        ns, [("can-reach=8.8.8.8", 4), ("first-found", 4), ("first-found", 6)]
    )
    assert unreachable[0] == "error" and "no route to 8.8.8.8" in unreachable[1]
    assert first_found[0] == "error"
    assert "'first-found'" in first_found[1] and "IPv4" in first_found[1]
    assert "docker0[172.17.0.1/16]" in first_found[1]  # what it saw, and skipped
    assert v6[0] == "error" and "IPv6" in v6[1] and "eth1" in v6[1]

"""Node address autodetection: Calico's ``IP_AUTODETECTION_METHOD`` / ``IP6_AUTODETECTION_METHOD``.

Role: when the node's address is not given (``IP``/``IP6`` unset or ``autodetect``), find it
the way calico-node does (node/pkg/lifecycle/startup/autodetection), so a bgpd node picks the
same address Calico would. Methods:

- ``first-found`` (also the empty string): the first global unicast address on an interface
  not matching Calico's default exclusions (`DEFAULT_INTERFACES_TO_EXCLUDE`).
- ``interface=REGEX[,REGEX...]``: the first address on an interface matching any regex.
- ``skip-interface=REGEX[,REGEX...]``: like first-found, also skipping matching interfaces.
- ``cidr=CIDR[,CIDR...]``: the first address inside any of the CIDRs.
- ``can-reach=DEST``: the source address the kernel picks towards DEST (an address or a host
  name): a UDP socket is connected (no packet is sent) and ``getsockname`` read; the result
  must be an address of a local interface.

Calico's selection order, kept here on purpose: interfaces are walked from the highest
interface index down (Calico loops over Go's ``net.Interfaces()`` in reverse "to maintain
behavior with older versions"), addresses in kernel order; "global unicast" is Go's
``IP.IsGlobalUnicast`` (not unspecified, loopback, multicast, link-local or 255.255.255.255; so
IPv6 link-local ``fe80::/10`` is skipped and private ranges count). Regexes are searched
(unanchored), lists are split on commas with optional spaces, and CIDRs may have host bits
set, as in Calico. Unlike Calico, an address whose duplicate address detection failed is
never picked (the kernel will not use it).

The parsing (`parse_method`) and the selection (`select_address`, `match_local_address`) are
pure functions over `InterfaceAddrs` data; only `list_interfaces` (``ip -j addr show``) and
`route_source` (a UDP connect) touch the system.

Invariants: `autodetect` either returns an address that is configured on a local interface
(with that interface's name and prefix length) or raises `AutodetectError` naming the method,
the IP version and what it saw.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Any, Literal

from bgpd.errors import BgpdError

__all__ = [
    "DEFAULT_INTERFACES_TO_EXCLUDE",
    "AutodetectError",
    "AutodetectResult",
    "ByCidr",
    "ByInterface",
    "CanReach",
    "FirstFound",
    "InterfaceAddrs",
    "Method",
    "autodetect",
    "is_global_unicast",
    "list_interfaces",
    "match_local_address",
    "parse_interfaces_json",
    "parse_method",
    "route_source",
    "select_address",
]

logger = logging.getLogger(__name__)

IpAddress = IPv4Address | IPv6Address
IpInterface = IPv4Interface | IPv6Interface
IpNetwork = IPv4Network | IPv6Network

# calico node/pkg/lifecycle/startup/autodetection/autodetection_linux.go
DEFAULT_INTERFACES_TO_EXCLUDE: tuple[str, ...] = (
    r"^docker.*",
    r"^cbr.*",
    r"^dummy.*",
    r"^podman.*",
    r"^virbr.*",
    r"^lxcbr.*",
    r"^veth.*",
    r"^lo",
    r"^cali.*",
    r"^tunl.*",
    r"^flannel.*",
    r"^kube-ipvs.*",
    r"^cni.*",
    r"^vxlan\.calico.*",
    r"^vxlan-v6\.calico.*",
    r"^wireguard\.cali.*",
    r"^wg-v6\.cali.*",
)

_LIST_SPLIT = re.compile(r"\s*,\s*")
_LIMITED_BROADCAST = IPv4Address("255.255.255.255")


class AutodetectError(BgpdError):
    """No address could be detected; the message names the method, version and what was seen."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceAddrs:
    """One kernel interface and its addresses (in kernel order)."""

    name: str
    index: int
    addresses: tuple[IpInterface, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AutodetectResult:
    """The detected address, the interface it is on and its prefix length there."""

    address: IpAddress
    interface: str
    prefixlen: int

    @property
    def cidr(self) -> str:
        """``address/prefixlen``, e.g. ``10.0.0.5/24`` (the form Calico's Node resource uses)."""
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstFound:
    """``first-found`` (``skip`` empty) or ``skip-interface=`` (``skip`` = the regexes)."""

    skip: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ByInterface:
    """``interface=REGEX[,REGEX]``."""

    patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ByCidr:
    """``cidr=CIDR[,CIDR]``."""

    networks: tuple[IpNetwork, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CanReach:
    """``can-reach=DEST``."""

    destination: str


Method = FirstFound | ByInterface | ByCidr | CanReach


def _check_version(version: int) -> Literal[4, 6]:
    if version == 4:
        return 4
    if version == 6:
        return 6
    raise AutodetectError(f"IP version must be 4 or 6, got {version}")


def _compile(patterns: Sequence[str], method: str) -> re.Pattern[str]:
    # Calico joins the regexes into one "(a)|(b)" expression and uses MatchString (a search).
    try:
        return re.compile("(" + ")|(".join(patterns) + ")")
    except re.error as exc:
        raise AutodetectError(f"invalid interface regex in {method!r}: {exc}") from exc


def parse_method(text: str) -> Method:
    """Parse an autodetection method string; raises `AutodetectError` when it is not valid."""
    method = text.strip()
    if method in {"", "first-found"}:
        return FirstFound()
    kind, sep, arg = method.partition("=")
    if not sep or kind not in {"interface", "skip-interface", "cidr", "can-reach"}:
        if method.startswith("kubernetes-internal-ip"):
            raise AutodetectError(
                "IP autodetection method 'kubernetes-internal-ip' needs the Kubernetes API, "
                "which bgpd does not use; set IP or pick another method"
            )
        raise AutodetectError(
            f"invalid IP autodetection method {text!r}: expected first-found, interface=REGEX, "
            "skip-interface=REGEX, cidr=CIDR or can-reach=DEST"
        )
    if not arg.strip():
        raise AutodetectError(f"IP autodetection method {text!r} has an empty argument")
    if kind == "can-reach":
        return CanReach(destination=arg.strip())
    items = tuple(_LIST_SPLIT.split(arg))
    if kind == "cidr":
        networks: list[IpNetwork] = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise AutodetectError(
                    f"invalid CIDR {item!r} for IP autodetection method {text!r}"
                ) from exc
        return ByCidr(networks=tuple(networks))
    _compile(items, text)  # fail now, not at selection time
    if kind == "interface":
        return ByInterface(patterns=items)
    return FirstFound(skip=items)


def is_global_unicast(address: IpAddress) -> bool:
    """Go's ``net.IP.IsGlobalUnicast``, which Calico uses to accept an address."""
    return not (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or address.is_link_local
        or address == _LIMITED_BROADCAST
    )


def _candidates(
    interfaces: Sequence[InterfaceAddrs], version: int, include: re.Pattern[str] | None,
    exclude: re.Pattern[str] | None,
) -> list[InterfaceAddrs]:  # fmt: skip
    # Highest index first, as Calico walks net.Interfaces() in reverse.
    ordered = sorted(interfaces, key=lambda i: i.index, reverse=True)
    return [
        InterfaceAddrs(
            name=i.name,
            index=i.index,
            addresses=tuple(a for a in i.addresses if a.version == version),
        )
        for i in ordered
        if (include is None or include.search(i.name))
        and not (exclude is not None and exclude.search(i.name))
    ]


def _seen(interfaces: Sequence[InterfaceAddrs], version: int, limit: int = 12) -> str:
    parts = []
    for iface in sorted(interfaces, key=lambda i: i.index):
        addrs = [str(a) for a in iface.addresses if a.version == version]
        parts.append(f"{iface.name}[{', '.join(addrs) or '-'}]")
    more = f", ... ({len(parts) - limit} more)" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more if parts else "no interfaces"


def select_address(
    method: FirstFound | ByInterface | ByCidr,
    interfaces: Sequence[InterfaceAddrs],
    version: int,
    *,
    method_text: str | None = None,
) -> AutodetectResult:
    """Pick the address ``method`` selects among ``interfaces`` (pure; Calico's order)."""
    ver = _check_version(version)
    label = method_text if method_text is not None else _describe(method)
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    networks: tuple[IpNetwork, ...] = ()
    if isinstance(method, FirstFound):
        exclude = _compile((*DEFAULT_INTERFACES_TO_EXCLUDE, *method.skip), label)
    elif isinstance(method, ByInterface):
        include = _compile(method.patterns, label)
    else:
        networks = method.networks
    candidates = _candidates(interfaces, ver, include, exclude)
    for iface in candidates:
        for addr in iface.addresses:
            ip = addr.ip
            if is_global_unicast(ip) and (not networks or any(ip in n for n in networks)):
                result = AutodetectResult(
                    address=ip, interface=iface.name, prefixlen=addr.network.prefixlen
                )
                logger.info(
                    "confd.autodetect.found method=%s version=%d address=%s interface=%s",
                    label,
                    ver,
                    result.cidr,
                    iface.name,
                )
                return result
    if not candidates:
        problem = "no interface matched"
    else:
        problem = f"no global unicast IPv{ver} address" + (" in those CIDRs" if networks else "")
    raise AutodetectError(
        f"IPv{ver} autodetection with {label!r} failed: {problem}; "
        f"considered: {', '.join(i.name for i in candidates) or 'none'}; "
        f"interfaces seen: {_seen(interfaces, ver)}"
    )


def match_local_address(
    address: IpAddress, interfaces: Sequence[InterfaceAddrs], *, method_text: str = "can-reach"
) -> AutodetectResult:
    """The interface carrying ``address`` (every interface; no exclusions), as Calico does."""
    for iface in sorted(interfaces, key=lambda i: i.index, reverse=True):
        for addr in iface.addresses:
            if addr.ip == address:
                return AutodetectResult(
                    address=address, interface=iface.name, prefixlen=addr.network.prefixlen
                )
    raise AutodetectError(
        f"IPv{address.version} autodetection with {method_text!r} failed: the source address "
        f"{address} is not on any local interface; interfaces seen: "
        f"{_seen(interfaces, address.version)}"
    )


def _describe(method: Method) -> str:
    if isinstance(method, FirstFound):
        return f"skip-interface={','.join(method.skip)}" if method.skip else "first-found"
    if isinstance(method, ByInterface):
        return f"interface={','.join(method.patterns)}"
    if isinstance(method, ByCidr):
        return f"cidr={','.join(str(n) for n in method.networks)}"
    return f"can-reach={method.destination}"


# -- the system side ---------------------------------------------------------------------------


def parse_interfaces_json(text: str) -> tuple[InterfaceAddrs, ...]:
    """Parse ``ip -j addr show`` output (addresses with failed DAD are left out)."""
    try:
        links: Any = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise AutodetectError(f"cannot parse 'ip -j addr show' output: {exc}") from exc
    if not isinstance(links, list):
        raise AutodetectError("cannot parse 'ip -j addr show' output: not a list")
    result = []
    for link in links:
        if not isinstance(link, dict) or "ifname" not in link or "ifindex" not in link:
            continue
        addresses: list[IpInterface] = []
        for info in link.get("addr_info") or ():
            if info.get("family") not in {"inet", "inet6"} or "local" not in info:
                continue
            if info.get("dadfailed"):
                continue
            try:
                addresses.append(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}"))
            except (KeyError, ValueError):
                logger.debug("confd.autodetect.bad_address link=%s info=%s", link["ifname"], info)
        result.append(
            InterfaceAddrs(
                name=str(link["ifname"]), index=int(link["ifindex"]), addresses=tuple(addresses)
            )
        )
    return tuple(result)


def list_interfaces() -> tuple[InterfaceAddrs, ...]:
    """The interfaces of this network namespace and their addresses, from the kernel."""
    try:
        proc = subprocess.run(
            ["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AutodetectError(f"cannot list interfaces with 'ip -j addr show': {exc}") from exc
    if proc.returncode != 0:
        raise AutodetectError(
            f"'ip -j addr show' exited {proc.returncode}: {proc.stderr.strip()[:500]}"
        )
    return parse_interfaces_json(proc.stdout)


def route_source(destination: str, version: int) -> IpAddress:
    """The local address the kernel would send from towards ``destination`` (no packet sent).

    Connecting a UDP socket only selects a route and a source address; ``destination`` may be
    a host name (resolved for the requested IP version). Port 80 as in Calico.
    """
    ver = _check_version(version)
    family = socket.AF_INET if ver == 4 else socket.AF_INET6
    label = f"can-reach={destination}"
    try:
        infos = socket.getaddrinfo(destination, 80, family, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AutodetectError(
            f"IPv{ver} autodetection with {label!r} failed: cannot resolve {destination!r} "
            f"to an IPv{ver} address: {exc}"
        ) from exc
    sockaddr = infos[0][4]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            raise AutodetectError(
                f"IPv{ver} autodetection with {label!r} failed: no route to {sockaddr[0]}: {exc}"
            ) from exc
        local = sock.getsockname()[0]
    return ipaddress.ip_address(str(local).split("%", 1)[0])


def autodetect(
    method: str,
    version: int,
    *,
    interfaces: Callable[[], Sequence[InterfaceAddrs]] = list_interfaces,
    source_towards: Callable[[str, int], IpAddress] = route_source,
) -> AutodetectResult:
    """Detect this node's IPv``version`` address with a Calico autodetection ``method``.

    Raises `AutodetectError` (which method, which version, what was seen).
    """
    ver = _check_version(version)
    parsed = parse_method(method)
    text = method.strip() or "first-found"
    if isinstance(parsed, CanReach):
        address = source_towards(parsed.destination, ver)
        if address.version != ver:
            raise AutodetectError(
                f"IPv{ver} autodetection with {text!r} found an IPv{address.version} address"
            )
        result = match_local_address(address, interfaces(), method_text=text)
        logger.info(
            "confd.autodetect.found method=%s version=%d address=%s interface=%s",
            text,
            ver,
            result.cidr,
            result.interface,
        )
        return result
    return select_address(parsed, interfaces(), ver, method_text=text)

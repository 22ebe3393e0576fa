"""Felix's endpoint status files, read as Calico's confd reads them for local workload peers.

Role: a BGPPeer with `localWorkloadSelector` peers this node with workloads on it. Calico's
confd does not select those workloads itself: Felix does (felix/calc/active_bpgpeer_calculator.go
matches the selector against this node's WorkloadEndpoints, for BGPPeers whose `node` /
`nodeSelector` select this node), puts BGPConfiguration `localWorkloadPeeringIPV4`/`IPV6` on
the host side of each chosen workload's interface (felix/dataplane/linux/endpoint_mgr.go) and
writes one JSON file per workload endpoint into `<prefix>/endpoint-status/`
(libcalico-go/lib/epstatusfile, `bgpPeerName` set when the workload was chosen). confd reads
those files (confd/pkg/backends/calico/local_bgp_peer_watcher.go) and makes each a peer of
the BGPPeer it names (client.go localBGPPeerDataAsBGPPeers).

bgpd's confd source (`bgpd.confd.sources.endpoint_status`) puts each file's text at
`/calico/endpoint-status/<file name>`; `read_endpoint_status` is the one reader of that text,
used by the source (to keep a bad file out of the view) and by the model.

Invariants: pure. `read_endpoint_status` raises only `EndpointStatusError`, with a message
fit for a log line. As local_bgp_peer_watcher.go GetActiveLocalBGPPeers: only the first
address of `ipv4Nets` and of `ipv6Nets` is a peer; a file with an empty `bgpPeerName` is no
peer (deleteEpStatus); one with no address is no peer yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_interface

from bgpd.confd.model.values import decode_json

__all__ = [
    "ENDPOINT_STATUS_PREFIX",
    "EndpointStatus",
    "EndpointStatusError",
    "ignored_local_workload_fields",
    "read_endpoint_status",
]

ENDPOINT_STATUS_PREFIX = "/calico/endpoint-status/"
MAX_STATUS_BYTES = 64 * 1024  # Felix writes a few hundred bytes; more is not a status file

# The session fields of a BGPPeer spec: client.go localBGPPeerDataAsBGPPeers copies only
# asNumber, filters and (on Calico's main) localASNumber onto a local workload peer, so none of
# these reach it in Calico.
_SESSION_FIELDS = (
    "password",
    "sourceAddress",
    "maxRestartTime",
    "ttlSecurity",
    "numAllowedLocalASNumbers",
    "keepOriginalNextHop",
    "nextHopMode",
    "keepaliveTime",
)


class EndpointStatusError(ValueError):
    """An endpoint status file bgpd cannot read; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStatus:
    """One workload endpoint as Felix reported it: the BGPPeer that chose it ("" for none)
    and its first address of each family."""

    bgp_peer_name: str
    ipv4: IPv4Address | None
    ipv6: IPv6Address | None


def _strings(obj: Mapping[str, object], name: str) -> list[str]:
    # Go's encoding/json into WorkloadEndpointStatus: a missing field or null is empty, any
    # other type than a list of strings fails the whole file.
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EndpointStatusError(f"{name} must be a list of CIDR strings")
    return value


def _first_address(nets: list[str], name: str, version: int) -> IPv4Address | IPv6Address | None:
    if not nets:
        return None
    text = nets[0]
    try:
        address = ip_interface(text).ip  # net.ParseCIDR: host bits allowed, the address kept
    except ValueError:
        raise EndpointStatusError(f"{name}[0] {text!r} is not a CIDR") from None
    if "/" not in text or address.version != version:
        raise EndpointStatusError(f"{name}[0] {text!r} is not an IPv{version} CIDR")
    return address


def read_endpoint_status(raw: str) -> EndpointStatus:
    """The peer-relevant part of one endpoint status file's text."""
    if not raw.strip():
        raise EndpointStatusError("empty file")
    try:
        obj = decode_json(raw)
    except ValueError as exc:
        raise EndpointStatusError(f"malformed JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EndpointStatusError("expected a JSON object")
    for name in ("ifaceName", "mac", "bgpPeerName"):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise EndpointStatusError(f"{name} must be a string")
    v4 = _first_address(_strings(obj, "ipv4Nets"), "ipv4Nets", 4)
    v6 = _first_address(_strings(obj, "ipv6Nets"), "ipv6Nets", 6)
    assert v4 is None or isinstance(v4, IPv4Address)
    assert v6 is None or isinstance(v6, IPv6Address)
    return EndpointStatus(bgp_peer_name=str(obj.get("bgpPeerName") or ""), ipv4=v4, ipv6=v6)


def ignored_local_workload_fields(spec: Mapping[str, object]) -> tuple[str, ...]:
    """The session fields a `localWorkloadSelector` BGPPeer sets that its local workload
    peers do not get (Calico's confd leaves them out too): `spec.<field>` paths."""
    if not spec.get("localWorkloadSelector"):
        return ()
    unset: tuple[object, ...] = (None, "", 0, False, "Auto")  # Auto: nextHopMode's default
    return tuple(
        f"spec.{name}"
        for name in _SESSION_FIELDS
        if not any(type(spec.get(name)) is type(u) and spec.get(name) == u for u in unset)
    )

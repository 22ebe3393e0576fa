"""Kubernetes Services as routes: Calico's route generator, for one node, from one snapshot.

Role: what confd's Calico backend advertises for Services (client.go `updateGlobalRoutes`
for the configured ranges; routes.go `routeGenerator` for single Service IPs), as the
`/calico/staticroutes*` and `/calico/rejectcidrs*` keys its templates read:

- every node advertises the ranges of BGPConfiguration `default`: serviceClusterIPs (or the
  one CIDR of `CALICO_ADVERTISE_CLUSTER_IPS`, which then replaces them), serviceExternalIPs
  and, unless `serviceLoadBalancerAggregation: Disabled`, serviceLoadBalancerIPs; /32 and
  /128 entries of the last two are not ranges but single Service IPs, handled per Service.
  Each range is also a reject CIDR (never programmed into the kernel);
- a Service gets /32 (/128) routes for its cluster IPs (when cluster IPs are advertised),
  its external IPs inside serviceExternalIPs and its load-balancer ingress IPs inside
  serviceLoadBalancerIPs, from this node when `_advertised` says so: with
  `externalTrafficPolicy: Local`, when one of its ready endpoints is on this node;
- a node labelled `node.kubernetes.io/exclude-from-external-load-balancers=true` advertises
  nothing, but keeps the reject CIDRs.

Calico keeps this state incrementally (reference counts per route and per Service); here it
is a function of the snapshot, so a route exists exactly while some Service or range needs it.

Inputs are `/kubernetes/services/<namespace>/<name>` and
`/kubernetes/endpointslices/<namespace>/<name>` keys holding the API objects as JSON. Invariants:
pure; a malformed value is a problem naming its key, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bgpd.confd.model.resources import BgpConfig, decode_object
from bgpd.confd.model.values import Fields, Problems, parse_cidr, parse_ip
from bgpd.net import IPAddress, IPNetwork

__all__ = [
    "ADVERTISE_CLUSTER_IPS_ENV",
    "ENDPOINT_SLICES_PREFIX",
    "SERVICES_PREFIX",
    "EndpointSlice",
    "Service",
    "ServiceInputs",
    "ServiceRouteMemo",
    "group_slices",
    "read_endpoint_slice",
    "read_service",
    "service_route_keys",
]

SERVICES_PREFIX = "/kubernetes/services/"
ENDPOINT_SLICES_PREFIX = "/kubernetes/endpointslices/"
ADVERTISE_CLUSTER_IPS_ENV = "CALICO_ADVERTISE_CLUSTER_IPS"
# discoveryv1.LabelServiceName: the label linking an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# routes.go advertiseThisService: the only Service types with routes (not ExternalName).
_ROUTED_TYPES = frozenset({"ClusterIP", "NodePort", "LoadBalancer"})
_LOCAL = "Local"
_CLUSTER = "Cluster"
_HEADLESS = "None"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """What the route generator reads of a v1 Service."""

    namespace: str
    name: str
    type: str
    cluster_ip: str  # as written: "" or "None" means no cluster IP (headless)
    cluster_ips: tuple[IPAddress, ...]
    external_ips: tuple[IPAddress, ...]
    load_balancer_ip: IPAddress | None  # the deprecated spec.loadBalancerIP
    ingress_ips: tuple[IPAddress, ...]  # status.loadBalancer.ingress[].ip
    external_traffic_policy: str
    ip_families: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    node_name: str | None
    ready: bool | None  # None (unset) counts as ready, per the EndpointSlice API


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSlice:
    namespace: str
    name: str
    service: str  # the kubernetes.io/service-name label; "" when the slice has none
    address_type: str
    endpoints: tuple[Endpoint, ...]


def _namespaced(key: str, prefix: str, problems: Problems) -> tuple[str, str] | None:
    namespace, _, name = key[len(prefix) :].partition("/")
    if not namespace or not name or "/" in name:
        problems.add(key, f"expected {prefix}<namespace>/<name>")
        return None
    return namespace, name


def _address(fields: Fields, name: str, text: str) -> IPAddress | None:
    address = parse_ip(text)
    if address is None:
        fields.bad(name, f"{text!r} is not an IP address")
    return address


def _addresses(fields: Fields, name: str, skip: str = "") -> tuple[IPAddress, ...]:
    out: list[IPAddress] = []
    for i, text in enumerate(fields.str_list(name) or ()):
        if text == skip:
            continue
        address = _address(fields, f"{name}[{i}]", text)
        if address is not None:
            out.append(address)
    return tuple(out)


def read_service(key: str, raw: str, problems: Problems) -> Service | None:
    """A Service at `/kubernetes/services/<namespace>/<name>`; None when unusable."""
    where = _namespaced(key, SERVICES_PREFIX, problems)
    top = decode_object(key, raw, problems)
    if where is None or top is None:
        return None
    spec = top.sub("spec") or Fields(key, {}, "spec", problems)
    cluster_ip = spec.text("clusterIP")
    if cluster_ip not in ("", _HEADLESS):
        _address(spec, "clusterIP", cluster_ip)
    cluster_ips = _addresses(spec, "clusterIPs", skip=_HEADLESS)
    if not spec.has("clusterIPs") and cluster_ip not in ("", _HEADLESS):
        # The API server fills clusterIPs from clusterIP; hand-written data may lack it.
        cluster_ips = tuple(a for a in (parse_ip(cluster_ip),) if a is not None)
    lb_text = spec.text("loadBalancerIP")
    ingress: list[IPAddress] = []
    status = top.sub("status")
    balancer = status.sub("loadBalancer") if status is not None else None
    for entry in (balancer.subs("ingress") if balancer is not None else None) or ():
        text = entry.text("ip")
        if text:  # an ingress point given by hostname only has no route
            address = _address(entry, "ip", text)
            if address is not None:
                ingress.append(address)
    return Service(
        namespace=where[0],
        name=where[1],
        type=spec.text("type"),
        cluster_ip=cluster_ip,
        cluster_ips=cluster_ips,
        external_ips=_addresses(spec, "externalIPs"),
        load_balancer_ip=_address(spec, "loadBalancerIP", lb_text) if lb_text else None,
        ingress_ips=tuple(ingress),
        external_traffic_policy=spec.text("externalTrafficPolicy"),
        ip_families=frozenset(spec.str_list("ipFamilies") or ()),
    )


def read_endpoint_slice(key: str, raw: str, problems: Problems) -> EndpointSlice | None:
    """An EndpointSlice at `/kubernetes/endpointslices/<namespace>/<name>`."""
    where = _namespaced(key, ENDPOINT_SLICES_PREFIX, problems)
    top = decode_object(key, raw, problems)
    if where is None or top is None:
        return None
    metadata = top.sub("metadata")
    labels = metadata.labels("labels") if metadata is not None else {}
    endpoints: list[Endpoint] = []
    for endpoint in top.subs("endpoints") or ():
        conditions = endpoint.sub("conditions")
        ready: bool | None = None
        if conditions is not None and conditions.has("ready"):
            ready = conditions.flag("ready", True)
        node_name = endpoint.text("nodeName") if endpoint.has("nodeName") else None
        endpoints.append(Endpoint(node_name=node_name, ready=ready))
    return EndpointSlice(
        namespace=where[0],
        name=where[1],
        service=labels.get(SERVICE_NAME_LABEL, ""),
        address_type=top.text("addressType"),
        endpoints=tuple(endpoints),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceInputs:
    """Everything besides the Services that decides this node's service routes."""

    config: BgpConfig | None  # BGPConfiguration `default`
    excluded: bool  # this node carries the exclude-from-external-load-balancers label
    node_ref: str | None  # this node's Kubernetes name, as endpoints' nodeName spell it
    cluster_ips_env: str  # CALICO_ADVERTISE_CLUSTER_IPS, "" when unset


def _is_single(cidr: str) -> bool:
    # client.go filterNonSingleIPsFromCIDRs: a textual test, as Calico does it.
    return cidr.endswith("/128" if ":" in cidr else "/32")


class _Ranges:
    """The configured ranges, as the route generator's client getters return them."""

    __slots__ = ("aggregate", "cluster", "external", "external_nets", "lb_nets", "load_balancer")

    def __init__(self, inputs: ServiceInputs, problems: Problems) -> None:
        config = inputs.config
        self.cluster: tuple[str, ...] = ()
        if inputs.cluster_ips_env:
            # client.go: the variable holds one CIDR and replaces serviceClusterIPs.
            if parse_cidr(inputs.cluster_ips_env) is None:
                problems.add(
                    f"environment {ADVERTISE_CLUSTER_IPS_ENV}",
                    f"{inputs.cluster_ips_env!r} is not a CIDR",
                )
            else:
                self.cluster = (inputs.cluster_ips_env,)
        elif config is not None:
            self.cluster = config.service_cluster_ips or ()
        self.external: tuple[str, ...] = ()
        self.load_balancer: tuple[str, ...] = ()
        self.aggregate = True
        if config is not None:
            self.external = config.service_external_ips or ()
            self.load_balancer = config.service_loadbalancer_ips or ()
            self.aggregate = config.service_lb_aggregation
        # Parsed once: every Service address is tested against them.
        self.external_nets = _networks(self.external)
        self.lb_nets = _networks(self.load_balancer)

    def global_ranges(self) -> list[str]:
        """client.go onClusterIPsUpdate / onExternalIPsUpdate / onLoadBalancerIPsUpdate."""
        out = list(self.cluster)
        out += [c for c in self.external if not _is_single(c)]
        if self.aggregate:
            out += [c for c in self.load_balancer if not _is_single(c)]
        return out


def _networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(net for net in map(parse_cidr, cidrs) if net is not None)


def _contains(nets: Iterable[IPNetwork], address: IPAddress, *, single: bool = False) -> bool:
    for net in nets:
        if net.version != address.version or address not in net:
            continue
        if not single or net.prefixlen == net.max_prefixlen:
            return True
    return False


def _advertised(
    svc: Service, slices: Iterable[EndpointSlice], ranges: _Ranges, node_ref: str | None
) -> bool:
    """routes.go advertiseThisService (the exclusion label is checked by the caller)."""
    if svc.type not in _ROUTED_TYPES or svc.cluster_ip in ("", _HEADLESS):
        return False
    policy = svc.external_traffic_policy
    if policy == _CLUSTER:
        # A single-IP entry makes a Cluster-policy Service's IPs routes of every node.
        lb_ips = [svc.load_balancer_ip, *svc.ingress_ips]
        if svc.type == "LoadBalancer" and any(
            ip is not None and _contains(ranges.lb_nets, ip, single=True) for ip in lb_ips
        ):
            return True
        if any(_contains(ranges.external_nets, ip, single=True) for ip in svc.external_ips):
            return True
    if policy != _LOCAL and ranges.aggregate:
        return False  # covered by the ranges every node advertises
    for eps in slices:
        if eps.address_type not in svc.ip_families:
            continue
        for endpoint in eps.endpoints:
            if endpoint.ready is False:
                continue  # the dataplane only programs ready endpoints as backends
            if policy != _LOCAL or (node_ref is not None and endpoint.node_name == node_ref):
                return True
    return False


def _service_routes(svc: Service, ranges: _Ranges) -> list[IPAddress]:
    """routes.go getAllRoutesForService, before the full-length suffix."""
    routes: list[IPAddress] = list(svc.cluster_ips) if ranges.cluster else []
    routes += [ip for ip in svc.external_ips if _contains(ranges.external_nets, ip)]
    routes += [ip for ip in svc.ingress_ips if _contains(ranges.lb_nets, ip)]
    return routes


def _key(prefix: str, cidr: str) -> str:
    v6 = "v6" if ":" in cidr else ""
    return f"/calico/{prefix}{v6}/{cidr.replace('/', '-', 1)}"


def group_slices(
    slices: Iterable[EndpointSlice],
) -> dict[tuple[str, str], tuple[EndpointSlice, ...]]:
    """EndpointSlices by their Service (namespace, name); those without the label are no
    Service's."""
    out: dict[tuple[str, str], tuple[EndpointSlice, ...]] = {}
    for eps in slices:
        if eps.service:
            ref = (eps.namespace, eps.service)
            out[ref] = (*out.get(ref, ()), eps)
    return out


class ServiceRouteMemo:
    """Each Service's route CIDRs from the previous call, with the Service and slices they
    were computed from, valid for one `ServiceInputs`: an unchanged Service (the same parsed
    object, the same tuple of slices) is not evaluated again."""

    __slots__ = ("_entries", "_inputs")

    def __init__(self) -> None:
        self._inputs: ServiceInputs | None = None
        self._entries: dict[
            tuple[str, str], tuple[Service, Sequence[EndpointSlice], tuple[str, ...]]
        ] = {}

    def __len__(self) -> int:
        return len(self._entries)


def _route_cidrs(
    svc: Service, slices: Sequence[EndpointSlice], ranges: _Ranges, node_ref: str | None
) -> tuple[str, ...]:
    if not _advertised(svc, slices, ranges, node_ref):
        return ()
    return tuple(f"{a}/{a.max_prefixlen}" for a in _service_routes(svc, ranges))


def service_route_keys(
    inputs: ServiceInputs,
    services: Mapping[tuple[str, str], Service],
    slices: Mapping[tuple[str, str], Sequence[EndpointSlice]],
    problems: Problems,
    memo: ServiceRouteMemo | None = None,
) -> dict[str, str]:
    """This node's `/calico/staticroutes*` and `/calico/rejectcidrs*` keys; `slices` are
    grouped by Service (`group_slices`). With `memo`, only the Services whose object or
    slices changed since its last call are evaluated; the result is the same."""
    ranges = _Ranges(inputs, problems)
    out: dict[str, str] = {}
    for cidr in ranges.global_ranges():
        out[_key("rejectcidrs", cidr)] = cidr
        if not inputs.excluded:
            out[_key("staticroutes", cidr)] = cidr
    if inputs.excluded:
        return out
    old = memo._entries if memo is not None and memo._inputs == inputs else {}
    entries: dict[tuple[str, str], tuple[Service, Sequence[EndpointSlice], tuple[str, ...]]]
    entries = {}
    # Two Services routing one address write the same key and value: the order is free.
    for ref, svc in services.items():
        eps = slices.get(ref, ())
        entry = old.get(ref)
        if entry is None or entry[0] is not svc or entry[1] is not eps:
            entry = (svc, eps, _route_cidrs(svc, eps, ranges, inputs.node_ref))
        entries[ref] = entry
        for cidr in entry[2]:
            out[_key("staticroutes", cidr)] = cidr
    if memo is not None:
        memo._inputs, memo._entries = inputs, entries
    return out

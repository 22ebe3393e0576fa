"""Every field of Calico's v3 BGP and IPAM kinds, and what bgpd does with it: the ledger.

Role: one entry per field path (`spec.localASNumber`, `spec.exportV4[].communities.values`;
`[]` stands for any element of an array) of each kind the project's CRDs define (deploy/crds)
and of the Node's BGP part. Each field is:

- HONOURED: bgpd does what Calico does; `note` names the test module that proves it;
- REFUSED: bgpd cannot do it today; `note` says why, in an operator's words. A resource that
  sets it (to anything but the values in `honoured`, Calico's defaults bgpd already
  implements) is reported (`refused_fields`), then used without the field, except a BGPFilter:
  one it cannot evaluate in full is refused whole (`bgpd.confd.model.bgpfilter`);
- NOT_BGP: Calico's own confd and BIRD ignore it too (Felix's or IPAM's); `note` cites the
  Calico source file that shows it.

Only leaf paths are listed (an object's fields, not the object). `tests/unit/confd/model/
test_field_ledger.py` walks the CRDs, so a field added to a CRD fails until it is classified
here, and docs/calico-fields.md is this table (`ledger_table`), checked equal by a test.

Invariants: pure data and pure functions; `refused_fields` never raises, whatever the JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "FILTER_REFUSAL",
    "LEDGER",
    "FieldEntry",
    "FieldStatus",
    "Refusal",
    "entries_of",
    "ledger_table",
    "may_refuse",
    "refused_fields",
]


class FieldStatus(Enum):
    HONOURED = "honoured"
    REFUSED = "refused"
    NOT_BGP = "not BGP"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldEntry:
    kind: str
    path: str
    status: FieldStatus
    note: str  # HONOURED: a test module; REFUSED: the reason; NOT_BGP: a Calico source file
    honoured: tuple[object, ...] = ()  # REFUSED only: values bgpd does implement


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A REFUSED field one resource sets: what the warning, the metric and --onetime name."""

    kind: str
    name: str
    field: str
    reason: str


FILTER_REFUSAL = (
    "bgpd cannot evaluate this, so the whole BGPFilter is refused: every rule list it has "
    "rules in rejects all routes (never more than written), its empty lists stay empty"
)

_CONFIG = "BGPConfiguration"
_PEER = "BGPPeer"
_FILTER = "BGPFilter"
_POOL = "IPPool"
_NODE = "Node"
_AFFINITY = "BlockAffinity"
_BLOCK = "IPAMBlock"

_T_DERIVE = "tests/unit/confd/model/test_derive.py"
_T_PEERS = "tests/unit/confd/model/test_peers.py"
_T_FILTER = "tests/unit/confd/model/test_bgpfilter.py"
_T_FILTER_WIRE = "tests/integration/test_filter_operations.py"
_T_SECRETS = "tests/integration/test_confd_secrets.py"
_T_SERVICES = "tests/unit/confd/model/test_services.py"
_T_SERVICE_ROUTES = "tests/integration/test_service_routes.py"
_T_ETCD = "tests/integration/test_confd_etcd.py"
_T_KDD = "tests/integration/test_kdd_cluster.py"
_T_KUBE_OBJECTS = "tests/unit/confd/sources/test_kube_objects.py"
_T_ROUTING = "tests/integration/test_calico_routing.py"
_T_PEER_FIELDS = "tests/integration/test_bgppeer_fields.py"
_T_TTL = "tests/integration/test_ttl.py"
_T_RESTART_MODE = "tests/unit/confd/render/test_restart_mode_render.py"
_T_LOCAL_WORKLOADS = "tests/integration/test_local_workload_peers.py"
# Felix puts these on the host side of the chosen workloads' interfaces; confd only reads the
# endpoint status files Felix writes (bgpd.confd.model.workloads).
_FELIX_PEERING_IP = (
    "felix/dataplane/linux/endpoint_mgr.go (Felix puts it on the workload's interface; "
    "Calico's confd does not read it)"
)
_T_PEER_SESSION = "tests/integration/test_peer_session_fields.py"
_T_PEER_RENDER = "tests/unit/confd/render/test_peer_session_render.py"
_T_KERNEL = "tests/integration/test_calico_kernel.py"
_T_KERNEL_FIELDS = "tests/unit/confd/render/test_kernel_fields.py"
_T_WIRING = "tests/unit/runtime/test_kernel_wiring.py"
_T_BFD = "tests/unit/confd/render/test_bfd_render.py"

_POOL_SOURCE = "confd/pkg/backends/calico/bgp_processor.go (processIPPool reads cidr and modes)"
_IPAM = f"IPAM's, not BGP: {_POOL_SOURCE}"
_NOT_WATCHED = (
    "not watched for BGP: libcalico-go/lib/backend/syncersv1/bgpsyncer/bgpsyncer.go "
    "(block affinities are)"
)
_OPTIONAL = "confd/pkg/backends/calico/client.go (getPassword reads name and key only)"
_T_FILTER_SPEAKER = "tests/unit/speaker/test_filter_operations.py"
# (field of a rule, the test module proving bgpd does what Calico's BIRD filter does)
_FILTER_HONOURED = (
    ("action", _T_FILTER),
    ("cidr", _T_FILTER),
    ("matchOperator", _T_FILTER),
    ("prefixLength.min", _T_FILTER),
    ("prefixLength.max", _T_FILTER),
    ("source", _T_FILTER),
    ("interface", _T_FILTER),
    ("peerType", _T_FILTER_WIRE),
    ("communities.values", _T_FILTER_WIRE),
    ("asPathPrefix", _T_FILTER_WIRE),
    ("priority", _T_FILTER_SPEAKER),
    ("operations[].addCommunity.value", _T_FILTER_WIRE),
    ("operations[].prependASPath.prefix", _T_FILTER_WIRE),
    ("operations[].setPriority.value", _T_FILTER_SPEAKER),
)
# Rule fields bgpd cannot evaluate (none today): a BGPFilter setting one is refused whole.
_FILTER_REFUSED: tuple[str, ...] = ()
_RULE_LISTS = ("exportV4", "importV4", "exportV6", "importV6")


def _h(kind: str, path: str, test: str) -> FieldEntry:
    return FieldEntry(kind=kind, path=path, status=FieldStatus.HONOURED, note=test)


def _r(kind: str, path: str, reason: str, honoured: tuple[object, ...] = ()) -> FieldEntry:
    return FieldEntry(
        kind=kind, path=path, status=FieldStatus.REFUSED, note=reason, honoured=honoured
    )


def _n(kind: str, path: str, source: str) -> FieldEntry:
    return FieldEntry(kind=kind, path=path, status=FieldStatus.NOT_BGP, note=source)


def _filter_entries() -> Iterator[FieldEntry]:
    for name in _RULE_LISTS:
        for field, test in _FILTER_HONOURED:
            yield _h(_FILTER, f"spec.{name}[].{field}", test)
        for field in _FILTER_REFUSED:
            yield _r(_FILTER, f"spec.{name}[].{field}", FILTER_REFUSAL)


def _secret_ref(kind: str, parent: str) -> tuple[FieldEntry, ...]:
    base = f"spec.{parent}.secretKeyRef"
    return (
        _h(kind, f"{base}.name", _T_SECRETS),
        _h(kind, f"{base}.key", _T_SECRETS),
        _n(kind, f"{base}.optional", _OPTIONAL),
    )


LEDGER: tuple[FieldEntry, ...] = (
    # --- BGPConfiguration (api/pkg/apis/projectcalico/v3/bgpconfig.go) -----------------------
    _h(_CONFIG, "spec.asNumber", _T_DERIVE),
    _h(_CONFIG, "spec.nodeToNodeMeshEnabled", _T_KDD),
    _h(_CONFIG, "spec.logSeverityScreen", _T_DERIVE),
    _h(_CONFIG, "spec.listenPort", _T_ETCD),
    _h(_CONFIG, "spec.bindMode", _T_ETCD),
    _h(_CONFIG, "spec.nodeMeshMaxRestartTime", _T_DERIVE),
    *_secret_ref(_CONFIG, "nodeMeshPassword"),
    _h(_CONFIG, "spec.communities[].name", _T_DERIVE),
    _h(_CONFIG, "spec.communities[].value", _T_DERIVE),
    _h(_CONFIG, "spec.prefixAdvertisements[].cidr", _T_DERIVE),
    _h(_CONFIG, "spec.prefixAdvertisements[].communities", _T_DERIVE),
    _h(_CONFIG, "spec.serviceClusterIPs[].cidr", _T_SERVICES),
    _h(_CONFIG, "spec.serviceExternalIPs[].cidr", _T_SERVICES),
    _h(_CONFIG, "spec.serviceLoadBalancerIPs[].cidr", _T_SERVICE_ROUTES),
    _h(_CONFIG, "spec.serviceLoadBalancerAggregation", _T_SERVICE_ROUTES),
    _h(_CONFIG, "spec.ignoredInterfaces", _T_KERNEL),
    _n(_CONFIG, "spec.localWorkloadPeeringIPV4", _FELIX_PEERING_IP),
    _n(_CONFIG, "spec.localWorkloadPeeringIPV6", _FELIX_PEERING_IP),
    _h(_CONFIG, "spec.programClusterRoutes", _T_KERNEL),
    _h(_CONFIG, "spec.ipv4NormalRoutePriority", _T_KERNEL),
    _h(_CONFIG, "spec.ipv6NormalRoutePriority", _T_WIRING),
    # --- BGPPeer (api/pkg/apis/projectcalico/v3/bgppeer.go) ----------------------------------
    _h(_PEER, "spec.node", _T_PEERS),
    _h(_PEER, "spec.nodeSelector", _T_PEERS),
    _h(_PEER, "spec.peerIP", _T_PEERS),
    _h(_PEER, "spec.peerSelector", _T_PEERS),
    _h(_PEER, "spec.asNumber", _T_PEERS),
    _h(_PEER, "spec.localASNumber", _T_PEER_SESSION),
    _h(_PEER, "spec.localWorkloadSelector", _T_LOCAL_WORKLOADS),
    _h(_PEER, "spec.keepOriginalNextHop", _T_PEER_SESSION),
    _h(_PEER, "spec.nextHopMode", _T_PEER_SESSION),
    *_secret_ref(_PEER, "password"),
    _h(_PEER, "spec.sourceAddress", _T_PEER_FIELDS),
    _h(_PEER, "spec.maxRestartTime", _T_PEER_FIELDS),
    _h(_PEER, "spec.restartMode", _T_RESTART_MODE),
    _h(_PEER, "spec.keepaliveTime", _T_PEER_RENDER),
    _h(_PEER, "spec.numAllowedLocalASNumbers", _T_PEER_SESSION),
    _h(_PEER, "spec.ttlSecurity", _T_TTL),
    _h(_PEER, "spec.reachableBy", _T_PEER_FIELDS),
    _h(_PEER, "spec.filters", _T_FILTER_WIRE),
    _h(_PEER, "spec.reversePeering", _T_PEERS),
    # Calico Enterprise's: BFD to peers on the node's subnet
    _h(_PEER, "spec.failureDetectionMode", _T_BFD),
    # --- BGPFilter (api/pkg/apis/projectcalico/v3/bgpfilter.go) ------------------------------
    *_filter_entries(),
    # --- Node, BGP part (libcalico-go/lib/apis/internalapi/node.go NodeBGPSpec) and WireGuard ---
    _h(_NODE, "spec.bgp.asNumber", _T_DERIVE),
    _h(_NODE, "spec.bgp.ipv4Address", _T_KDD),
    _h(_NODE, "spec.bgp.ipv6Address", _T_DERIVE),
    _n(
        _NODE,
        "spec.bgp.ipv4IPIPTunnelAddr",
        "libcalico-go/lib/backend/syncersv1/updateprocessors/felixnodeprocessor.go (Felix's)",
    ),
    _h(_NODE, "spec.bgp.routeReflectorClusterID", _T_DERIVE),
    # Node spec.wireguard (NodeWireguardSpec): processWireguardPeerFilter's input.
    _h(_NODE, "spec.wireguard.interfaceIPv4Address", _T_KERNEL_FIELDS),
    _h(_NODE, "spec.wireguard.interfaceIPv6Address", _T_KERNEL_FIELDS),
    # --- IPPool (api/pkg/apis/projectcalico/v3/ippool.go) ------------------------------------
    _h(_POOL, "spec.cidr", _T_DERIVE),
    _n(_POOL, "spec.blockSize", _IPAM),
    _h(_POOL, "spec.ipipMode", _T_ROUTING),
    _h(_POOL, "spec.vxlanMode", _T_ROUTING),
    _n(_POOL, "spec.natOutgoing", f"Felix's: {_POOL_SOURCE}"),
    _n(_POOL, "spec.disabled", _IPAM),
    _h(_POOL, "spec.disableBGPExport", _T_DERIVE),
    _n(_POOL, "spec.nodeSelector", _IPAM),
    _n(_POOL, "spec.namespaceSelector", _IPAM),
    _n(_POOL, "spec.allowedUses", _IPAM),
    _n(_POOL, "spec.assignmentMode", _IPAM),
    *(
        _n(_POOL, f"status.conditions[].{field}", "written by Calico's controllers: not config")
        for field in (
            "type",
            "status",
            "observedGeneration",
            "lastTransitionTime",
            "reason",
            "message",
        )
    ),
    # --- BlockAffinity (api/pkg/apis/projectcalico/v3/blockaffinity.go) ----------------------
    *(
        _h(_AFFINITY, f"spec.{field}", _T_KUBE_OBJECTS)
        for field in ("cidr", "node", "state", "deleted", "type")
    ),
    # --- IPAMBlock (api/pkg/apis/projectcalico/v3/ipamblock.go) -------------------------------
    *(
        _n(_BLOCK, f"spec.{field}", _NOT_WATCHED)
        for field in (
            "cidr",
            "affinity",
            "affinityClaimTime",
            "strictAffinity",
            "deleted",
            "allocations",
            "unallocated",
            "attributes[].handle_id",
            "attributes[].secondary",
            "attributes[].alternateOwnerAttrs",
            "attributes[].releasedAt",
            "sequenceNumber",
            "sequenceNumberForAllocation",
        )
    ),
)


def entries_of(kind: str) -> tuple[FieldEntry, ...]:
    return tuple(e for e in LEDGER if e.kind == kind)


_Refused = dict[str, tuple[tuple[FieldEntry, tuple[str, ...]], ...]]


def refused_by_kind(entries: tuple[FieldEntry, ...] = LEDGER) -> _Refused:
    """The REFUSED entries of each kind, with their paths split into steps."""
    out: dict[str, list[tuple[FieldEntry, tuple[str, ...]]]] = {}
    for e in entries:
        if e.status is FieldStatus.REFUSED:
            out.setdefault(e.kind, []).append((e, tuple(e.path.split("."))))
    return {kind: tuple(entries) for kind, entries in out.items()}


def refusal_markers(refused: _Refused) -> dict[str, tuple[str, ...]]:
    """The JSON keys a refused field of each kind has as its last step: a raw value holding
    none of them (quoted) cannot set one, and is not decoded a second time."""
    return {
        kind: tuple(sorted({f'"{steps[-1].removesuffix("[]")}"' for _, steps in entries}))
        for kind, entries in refused.items()
    }


_REFUSED = refused_by_kind()
_MARKERS = refusal_markers(_REFUSED)


def may_refuse(kind: str, raw: str) -> bool:
    """False when the raw JSON of a `kind` resource cannot set any REFUSED field (cheap)."""
    return any(marker in raw for marker in _MARKERS.get(kind, ()))


def _values(node: object, steps: tuple[str, ...]) -> Iterator[object]:
    """Every value at `steps` below `node` (`name[]` steps fan out over an array)."""
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    many = step.endswith("[]")
    child = node.get(step.removesuffix("[]")) if isinstance(node, Mapping) else None
    if many:
        for item in child if isinstance(child, list) else ():
            yield from _values(item, rest)
    elif child is not None:
        yield from _values(child, rest)


def _is_set(value: object, honoured: tuple[object, ...]) -> bool:
    if value is None or value in ("", [], {}):
        return False
    # bool is an int in Python: False must not match an honoured 0, nor 1 match True.
    return not any(type(value) is type(ok) and value == ok for ok in honoured)


def refused_fields(kind: str, name: str, resource: object) -> tuple[Refusal, ...]:
    """The REFUSED fields `resource` (a decoded v3 object) sets, in ledger order."""
    out: list[Refusal] = []
    for entry, steps in _REFUSED.get(kind, ()):
        if any(_is_set(v, entry.honoured) for v in _values(resource, steps)):
            out.append(Refusal(kind=kind, name=name, field=entry.path, reason=entry.note))
    return tuple(out)


def _table_rows() -> Iterator[tuple[str, str, str, str]]:
    """(kind, path, status, note); a BGPFilter field is one row for its four rule lists."""
    seen: set[tuple[str, str]] = set()
    lists = "{" + ",".join(_RULE_LISTS) + "}"
    for e in LEDGER:
        path = e.path
        if e.kind == _FILTER:
            for name in _RULE_LISTS:
                path = path.replace(f"spec.{name}[]", f"spec.{lists}[]")
            if (e.kind, path) in seen:
                continue
            seen.add((e.kind, path))
        yield e.kind, path, e.status.value, e.note


def ledger_table() -> str:
    """The ledger as the Markdown table of docs/calico-fields.md."""
    lines = ["| kind | field | status | test, reason or Calico source |", "|---|---|---|---|"]
    for kind, path, status, note in _table_rows():
        note_text = f"`{note}`" if note.startswith("tests/") else note
        lines.append(f"| {kind} | `{path}` | {status} | {note_text} |")
    return "\n".join(lines) + "\n"

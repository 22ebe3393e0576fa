"""Coverage-guided fuzzer (atheris) of the datastore -> model -> render -> check path.

Each input is a whole datastore snapshot built from the fuzzer's bytes: Calico v3 resources
(BGPPeer, BGPConfiguration, Node, IPPool, BGPFilter), IPAM block affinities and the v1 keys
(`/calico/bgp/v1/...`, v1 pools, service routes), each value arbitrary JSON (biased towards
the fields Calico reads and values that almost parse: Unicode digits, lone surrogates, huge
numbers, deep nesting) or raw text; plus this node's environment (NODENAME, AS, IP, IP6,
CALICO_ROUTER_ID). The snapshot goes the way `bgpd confd` takes it: the etcd source's byte
decoding (or the file source's text as it is), `derive_view` (the model and LocalNode), then
every template resource through `Renderer.render_one` (jinja2, the staged file, our own config
loader as the check, the atomic install).

The only acceptable outcomes are a rendered (installed or unchanged) file, a `BgpdError` from
the model (bad data, named), or a `RENDER_FAILED`/`CHECK_FAILED` result; every error line must
be printable as UTF-8 and every installed file must load and be owner-only. Anything else
raised is a finding: the watcher's catch-all would keep bgpd alive, but the fuzzer calls the
steps below it so that no bug hides behind it.

Run: `make fuzz-confd FUZZ_SECONDS=300`, or
`.venv/bin/python bench/fuzz_confd.py -max_total_time=300 [CORPUS_DIR]` (libFuzzer flags).
`check_input(data)` and `check_snapshot(values, env)` need no atheris
(tests/unit/confd/test_fuzz_confd.py runs them over a seed corpus).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from bgpd.confd.arguments import DEFAULT_CONFDIR

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bgpd.confd.command import LocalNode, derive_view
from bgpd.confd.render_pass import Outcome, Renderer, describe_error, load_resources
from bgpd.confd.template_inputs import TemplateContext
from bgpd.config import load_config
from bgpd.errors import BgpdError

CONFDIR = DEFAULT_CONFDIR
V3 = "/calico/resources/v3/projectcalico.org"
V1 = "/calico/bgp/v1"

NODES = ("a", "b", "c")
ROUTER_IDS = ("", "hash", "10.0.0.1", "300.1.1.1")
# Strings that almost parse: Unicode digits (isdigit() but not int(), or int() but not Go),
# lone and paired surrogates, huge numbers, whitespace, separators, IP and CIDR look-alikes.
TRICKY = (
    "",
    " ",
    "²",
    "٣",
    "\uff11\uff12",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\ud83d\ude00",
    "😀",
    "\x00",
    "\n",
    "0",
    "-1",
    "+1",
    "1e3",
    "0x10",
    "9" * 30,
    "1" * 5000,
    "65536",
    "4294967296",
    "23456",
    "1.10",
    "65536.1",
    "10.0.0.1",
    "10.0.0.1/24",
    "10.0.0.0/8",
    "fd00::1",
    "fd00::/64",
    "[fd00::1]:179",
    "10.0.0.9:²",
    "10.0.0.9:٣",
    "256.0.0.1",
    "10.0.0.1%eth0",
    "1.2.3.4/33",
    "120s",
    "٣s",
    "1.5h",
    "-2m",
    "all()",
    "has(rr)",
    "rr == 'true'",
    "!has(rr)",
    "(((",
    "a in {'x'}",
    "NodeIP",
    "UseNodeIP",
    "Accept",
    "In",
    "RemotePeers",
    "eth*",
    "confirmed",
    "pending",
    "Always",
    "CrossSubnet",
    '"',
    "\\",
    "{",
    "[[",
)
NUMBERS: tuple[int | float, ...] = (
    0,
    1,
    -1,
    179,
    255,
    256,
    1179,
    23456,
    64512,
    65535,
    65536,
    2**31 - 1,
    2**32 - 1,
    2**32,
    2**63,
    10**30,
    1.5,
    -0.0,
    1e300,
    float(64512),
)
# Per field: values Calico writes, so that inputs reach past the first check.
GOOD: dict[str, tuple[object, ...]] = {
    "node": NODES,
    "nodeSelector": ("all()", "has(rr)", "!has(rr)", "rr == 'true'"),
    "peerSelector": ("has(rr)", "all()"),
    "localWorkloadSelector": ("app == 'x'",),
    "peerIP": ("10.0.0.9", "10.0.0.2:1179", "[fd00::2]:179", "fd00::9", "10.0.0.1"),
    "asNumber": (64512, 65000, "65000", "1.10", 4294967295),
    "ipv4Address": ("10.0.0.1/24", "10.0.0.2/24", "10.0.0.3"),
    "ipv6Address": ("fd00::1/64", "fd00::2"),
    "routeReflectorClusterID": ("1.1.1.1", "224.0.0.1"),
    "cidr": ("10.244.0.0/16", "fd00:1::/64", "10.0.0.0/8", "10.96.0.0/12", "10.9.9.9/32"),
    "ipipMode": ("Always", "CrossSubnet", "Never"),
    "vxlanMode": ("Always", "CrossSubnet", "Never"),
    "listenPort": (179, 1179),
    "bindMode": ("NodeIP", "None"),
    "logSeverityScreen": ("Info", "Debug", "Warning"),
    "nodeToNodeMeshEnabled": (True, False),
    "nodeMeshMaxRestartTime": ("120s", "2m"),
    "maxRestartTime": ("90s",),
    "ttlSecurity": (1, 255),
    "numAllowedLocalASNumbers": (1, 2),
    "sourceAddress": ("UseNodeIP", "None"),
    "keepOriginalNextHop": (True,),
    "filters": (["f1"], ["f2"]),
    "reachableBy": ("10.0.0.254",),
    "password": ({"secretKeyRef": {"name": "s", "key": "k"}},),
    "nodeMeshPassword": ({"secretKeyRef": {"name": "s", "key": "k"}},),
    "communities": ([{"name": "c", "value": "65000:100"}],),
    "prefixAdvertisements": ([{"cidr": "10.244.0.0/16", "communities": ["c", "65000:1"]}],),
    "serviceClusterIPs": ([{"cidr": "10.96.0.0/12"}],),
    "serviceExternalIPs": ([{"cidr": "10.97.0.0/16"}, {"cidr": "10.98.0.1/32"}],),
    "serviceLoadBalancerIPs": ([{"cidr": "10.99.0.0/16"}],),
    "ignoredInterfaces": (["eth9"],),
    "labels": ({"rr": "true"}, {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}),
    "action": ("Accept", "Reject"),
    "matchOperator": ("Equal", "NotEqual", "In", "NotIn"),
    "source": ("RemotePeers",),
    "interface": ("eth*",),
    "state": ("confirmed", "pending", ""),
    "deleted": (False, True),
    # v1 peer values (client.go's bgpPeer)
    "ip": ("10.0.0.7", "fd00::7", "10.0.0.1"),
    "as_num": ("65000", 65000, "64512"),
    "port": (0, 179, 1179, "1179"),
    "restart_time": ("", "120"),
    "ttl_security": (0, 1),
    "local_bgp_peer": (False, True),
    "passive_mode": (False, True),
    "calico_node": (False, True),
    "rr_cluster_id": ("", "1.1.1.1"),
    "source_addr": ("UseNodeIP", "None"),
    "enabled": (True, False),
    "ipip_mode": ("", "always", "cross-subnet"),
    "vxlan_mode": ("", "always"),
    "disabled": (False, True),
    "disableBGPExport": (False, True),
    "serviceLoadBalancerAggregation": ("Enabled", "Disabled"),
    # Kubernetes Services and EndpointSlices (the route generator's inputs)
    "type": ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
    "clusterIP": ("10.96.0.10", "None", "", "fd00:96::10"),
    "clusterIPs": (["10.96.0.10"], ["10.96.0.10", "fd00:96::10"], ["None"]),
    "externalIPs": (["10.97.0.5", "10.98.0.1", "172.16.0.1"],),
    "loadBalancerIP": ("10.99.0.5",),
    "externalTrafficPolicy": ("Local", "Cluster"),
    "ipFamilies": (["IPv4"], ["IPv4", "IPv6"], ["IPv6"]),
    "status": ({"loadBalancer": {"ingress": [{"ip": "10.99.0.7"}, {"hostname": "lb"}]}},),
    "addressType": ("IPv4", "IPv6", "FQDN"),
    "endpoints": (
        [{"addresses": ["10.244.1.5"], "nodeName": "a", "conditions": {"ready": True}}],
        [{"nodeName": "b", "conditions": {"ready": False, "terminating": True}}, {}],
    ),
    "metadata": ({"labels": {"kubernetes.io/service-name": "a"}},),
}
RULE_FIELDS = ("action", "matchOperator", "cidr", "prefixLength", "source", "interface")
SPEC_FIELDS = {
    "bgppeers": (
        "node",
        "nodeSelector",
        "peerSelector",
        "localWorkloadSelector",
        "peerIP",
        "asNumber",
        "password",
        "sourceAddress",
        "maxRestartTime",
        "ttlSecurity",
        "numAllowedLocalASNumbers",
        "keepOriginalNextHop",
        "reachableBy",
        "filters",
    ),
    "bgpconfigurations": (
        "asNumber",
        "logSeverityScreen",
        "nodeToNodeMeshEnabled",
        "listenPort",
        "bindMode",
        "nodeMeshMaxRestartTime",
        "nodeMeshPassword",
        "ignoredInterfaces",
        "serviceClusterIPs",
        "serviceExternalIPs",
        "serviceLoadBalancerIPs",
        "serviceLoadBalancerAggregation",
        "communities",
        "prefixAdvertisements",
    ),
    "ippools": ("cidr", "ipipMode", "vxlanMode", "natOutgoing", "disabled", "disableBGPExport"),
    "bgpfilters": ("importV4", "exportV4", "importV6", "exportV6"),
}
NODE_BGP_FIELDS = ("ipv4Address", "ipv6Address", "asNumber", "routeReflectorClusterID")
V1_PEER_FIELDS = (
    "ip",
    "as_num",
    "port",
    "password",
    "restart_time",
    "ttl_security",
    "filters",
    "local_bgp_peer",
    "passive_mode",
    "calico_node",
    "rr_cluster_id",
    "source_addr",
)
V1_LEAVES = (
    "as_num",
    "listen_port",
    "loglevel",
    "node_mesh",
    "node_mesh_restart_time",
    "node_mesh_password",
    "bind_mode",
    "rr_cluster_id",
    "ip_addr_v4",
    "ip_addr_v6",
    "network_v4",
    "network_v6",
    "svc_loadbalancer_ips",
    "prefix_advertisements/ip_v4",
    "prefix_advertisements/ip_v6",
    "peer_v4/10.0.0.7",
    "peer_v6/fd00::7",
)
T = TypeVar("T")
NAMESPACES = ("default", "x", "\ud800")
NAMES = ("default", "node.a", "node.b", "a", "b", "c", "f1", "f2", "p", "x/y", "\ud800", "²")


class Draw:
    """Structured choices from the fuzzer's bytes; deterministic, zeros once exhausted."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def below(self, n: int) -> int:
        return (self.byte() | self.byte() << 8) % n if n > 256 else self.byte() % n

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def pick(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def left(self) -> int:
        return len(self._data) - self._pos

    def text(self) -> str:
        if self.byte() < 200:
            return self.pick(TRICKY)
        # Raw code points, surrogates included, from ranges that matter.
        out = []
        for _ in range(self.below(12)):
            base = self.pick((0x20, 0x30, 0xB0, 0x660, 0xD800, 0xDC00, 0xFF10, 0x1F600))
            out.append(chr(base + self.below(16)))
        return "".join(out)

    def value(self, depth: int = 0) -> object:
        kind = self.below(8 if depth < 4 else 4)
        if kind == 0:
            return None
        if kind == 1:
            return self.flag()
        if kind == 2:
            return self.pick(NUMBERS)
        if kind == 3:
            return self.text()
        if kind in (4, 5):
            return [self.value(depth + 1) for _ in range(self.below(4))]
        return {self.text(): self.value(depth + 1) for _ in range(self.below(4))}

    def field(self, name: str, depth: int = 1) -> object:
        """A value for field `name`: mostly one Calico writes, else anything."""
        choice = self.byte()
        if choice < 150 and name in GOOD:
            return self.pick(GOOD[name])
        if choice < 170 and name in ("importV4", "exportV4", "importV6", "exportV6"):
            return [self.rule() for _ in range(1 + self.below(3))]
        if choice < 170 and name == "prefixLength":
            return {"min": self.pick(NUMBERS), "max": self.pick(NUMBERS)}
        if choice < 180:
            return self.text()
        return self.value(depth)

    def fields(self, names: Sequence[str]) -> dict[str, object]:
        out = {name: self.field(name) for name in names if self.byte() < 90}
        if self.byte() > 240:
            out[self.text()] = self.value(2)
        return out

    def rule(self) -> dict[str, object]:
        return self.fields(RULE_FIELDS)

    def encode(self, value: object) -> str:
        """JSON text as etcd holds it, sometimes truncated or replaced by raw text."""
        how = self.byte()
        if how > 245:
            return self.text()
        text = json.dumps(value, ensure_ascii=how & 1 == 0)
        if how > 235:
            return text[: self.below(len(text) + 1)]
        if how > 230:
            return "[" * 2000 + text
        return text


def v3_resource(draw: Draw, kind: str) -> tuple[str, str]:
    name = draw.pick(NAMES)
    if kind == "nodes":
        spec: dict[str, object] = {"bgp": draw.fields(NODE_BGP_FIELDS)} if draw.flag() else {}
        meta: dict[str, object] = {"name": name, "labels": draw.field("labels")}
    else:
        spec = draw.fields(SPEC_FIELDS[kind])
        meta = {"name": name}
    body: object = {"kind": kind, "metadata": meta, "spec": spec}
    if draw.byte() > 245:
        body = draw.value()
    return f"{V3}/{kind}/{name}", draw.encode(body)


SERVICE_FIELDS = (
    "type",
    "clusterIP",
    "clusterIPs",
    "externalIPs",
    "loadBalancerIP",
    "externalTrafficPolicy",
    "ipFamilies",
)


def k8s_object(draw: Draw) -> tuple[str, str]:
    """A Service or EndpointSlice as the Kubernetes source stores it (`/kubernetes/...`)."""
    path = f"{draw.pick(NAMESPACES)}/{draw.pick(NAMES)}"
    body: object
    if draw.flag():
        key = f"/kubernetes/services/{path}"
        body = {"spec": draw.fields(SERVICE_FIELDS), **draw.fields(("status",))}
    else:
        key = f"/kubernetes/endpointslices/{path}"
        body = draw.fields(("metadata", "addressType", "endpoints"))
    if draw.byte() > 245:
        body = draw.value()
    return key, draw.encode(body)


def v1_key(draw: Draw) -> tuple[str, str]:
    what = draw.below(6)
    if what == 0:  # an IPAM block affinity
        cidr = draw.pick(("10.244.1.0-26", "fd00:1::-122", "10.244.1.0-99", draw.text()))
        key = f"/calico/ipam/v2/host/{draw.pick(NODES)}/ipv{draw.pick('46')}/block/{cidr}"
        return key, draw.encode(draw.fields(("state", "deleted")))
    if what == 1:  # a v1 pool
        cidr = draw.pick(("10.244.0.0-16", "fd00:1::-64", draw.text()))
        value = draw.fields(("cidr", "ipip_mode", "vxlan_mode", "disabled", "disableBGPExport"))
        return f"/calico/v1/ipam/v{draw.pick('46')}/pool/{cidr}", draw.encode(value)
    if what == 2:  # a service route
        base = draw.pick(("staticroutes", "rejectcidrs", "staticroutesv6", "rejectcidrsv6"))
        leaf = draw.pick(("10.96.0.0-12", "fd00:96::-112", draw.text()))
        return f"/calico/{base}/{leaf}", draw.text()
    scope = "global" if what == 3 else f"host/{draw.pick(NODES)}"
    leaf = draw.pick(V1_LEAVES)
    if leaf.startswith("peer_"):
        value = draw.encode(draw.fields(V1_PEER_FIELDS))
    elif leaf in ("node_mesh", "as_num") and draw.flag():
        value = draw.encode(draw.fields(("enabled",)) if leaf == "node_mesh" else draw.value())
    elif draw.flag():
        value = draw.text()
    else:
        value = str(draw.pick(GOOD.get(leaf.split("/")[0], ("",)) or ("",)))
    return f"{V1}/{scope}/{leaf}", value


def build_input(data: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(snapshot values, this node's environment) from the fuzzer's bytes."""
    draw = Draw(data)
    values: dict[str, str] = {}
    # A plausible cluster to start from, so most inputs get as far as the templates.
    if draw.byte() < 200:
        values[f"{V3}/bgpconfigurations/default"] = json.dumps(
            {"spec": {"asNumber": 64512, "bindMode": "NodeIP", "listenPort": 1179}}
        )
        for i, name in enumerate(NODES, 1):
            spec = {"bgp": {"ipv4Address": f"10.0.0.{i}/24"}}
            values[f"{V3}/nodes/{name}"] = json.dumps({"metadata": {"name": name}, "spec": spec})
    kinds = ("bgppeers", "bgpconfigurations", "nodes", "ippools", "bgpfilters")
    while draw.left() > 0 and len(values) < 40:
        choice = draw.byte()
        if choice < 120:
            key, value = v3_resource(draw, draw.pick(kinds))
        elif choice < 160:
            key, value = k8s_object(draw)
        else:
            key, value = v1_key(draw)
        values[key] = value
    env: dict[str, str] = {"NODENAME": draw.pick(NODES)}
    for var in ("AS", "IP", "IP6", "CALICO_ADVERTISE_CLUSTER_IPS", "CALICO_K8S_NODE_REF"):
        if draw.byte() > 220:
            env[var] = draw.text()
    router_id = draw.pick(ROUTER_IDS)
    if router_id:
        env["CALICO_ROUTER_ID"] = router_id
    if draw.flag():
        # What the etcd source does with a value's bytes (invalid UTF-8 becomes U+FFFD).
        values = {
            k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            for k, v in values.items()
        }
    return values, env


@functools.cache
def _dest_root() -> Path:
    # tmpfs when there is one: every changed render is fsynced.
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    root = Path(tempfile.mkdtemp(prefix="fuzz-confd-", dir=base))
    atexit.register(shutil.rmtree, root, True)
    return root


@functools.cache
def _renderer(nodename: str, router_id: str) -> Renderer:
    # One per (node, router id): building a Renderer compiles the templates.
    resources = load_resources(CONFDIR, nodename, dest_root=_dest_root() / nodename)
    environ = {"CALICO_ROUTER_ID": router_id} if router_id else {}
    variables = {"kernel": "false", "control_socket": "/run/fuzz.ctl"}
    ctx = TemplateContext(nodename=nodename, environ=environ, variables=variables)
    return Renderer(CONFDIR, resources, ctx)


class UnexpectedOutcomeError(AssertionError):
    """An outcome other than a render or the expected errors."""


def _printable(line: str | None, what: str) -> None:
    if line is None:
        raise UnexpectedOutcomeError(f"{what} without an error line")
    try:
        line.encode()
    except UnicodeEncodeError as exc:
        raise UnexpectedOutcomeError(f"{what}: the error line cannot be logged: {line!r}") from exc


def check_snapshot(values: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """One snapshot through model and render; the outcome of each step, or `UnexpectedOutcomeError`.

    Any exception other than `BgpdError` from the model propagates (that is the finding)."""
    nodename = env.get("NODENAME", "a")
    renderer = _renderer(nodename, env.get("CALICO_ROUTER_ID", ""))
    local = LocalNode.from_env(nodename, env)
    local.autodetect = lambda version, method: None if version == 6 else "10.0.0.1/24"
    try:
        view = derive_view(values, local)
    except BgpdError as exc:
        _printable(describe_error(exc), "data error")
        return ["data_error"]
    outcomes: list[str] = []
    for resource in renderer.resources:
        result = renderer.render_one(resource, view)
        outcomes.append(result.outcome.value)
        if result.outcome in (Outcome.RENDER_FAILED, Outcome.CHECK_FAILED):
            _printable(result.error, result.outcome.value)
            continue
        mode = stat.S_IMODE(resource.dest.stat().st_mode)
        if mode & 0o077:
            raise UnexpectedOutcomeError(f"{resource.dest} installed with mode {mode:o}")
        if resource.check is not None:
            load_config(resource.dest)  # what the speaker will read must load
    return outcomes


def check_input(data: bytes) -> list[str]:
    """The fuzzer's per-input function (no atheris needed)."""
    values, env = build_input(data)
    return check_snapshot(values, env)


def main() -> None:
    import atheris

    argv = list(sys.argv)
    # A snapshot of a few resources takes a few hundred bytes: let inputs grow that far from
    # the start rather than after libFuzzer's slow default length ramp.
    for flag in ("-max_len=4096", "-len_control=10"):
        if not any(a.startswith(flag.split("=")[0] + "=") for a in argv):
            argv.insert(1, flag)
    atheris.instrument_all()
    atheris.Setup(argv, check_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

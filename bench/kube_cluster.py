"""The confd benchmark's cluster as Kubernetes objects (KDD), and as the keys bgpd reads.

The same cluster as `bench.confd_bench.cluster_keys` (1,000 nodes by default, three of them
route reflectors by label and cluster id annotation, two BGPPeers by selector, the ``default``
BGPConfiguration with the mesh off, an IPPool, two confirmed BlockAffinities per node) plus
Services with their EndpointSlices, as a kube-apiserver holds them:

- core Nodes carrying Calico's annotations (``projectcalico.org/IPv4Address``,
  ``RouteReflectorClusterID``) and labels, with a kubelet-like ``status`` (conditions,
  addresses, capacity) and heartbeat-style annotations that bgpd must ignore;
- ``crd.projectcalico.org/v1`` BGPConfiguration, BGPPeer, IPPool and BlockAffinity objects;
- ``services`` Services in ``namespaces`` namespaces: every tenth is a LoadBalancer with
  ``externalTrafficPolicy: Local`` and an ingress IP inside serviceLoadBalancerIPs (a /32
  route from the nodes that host one of its endpoints), the rest ClusterIP with the Cluster
  policy (covered by the cluster range); each with one EndpointSlice of three endpoints on
  three nodes.

`as_keys` turns the objects into the key view through the Kubernetes source's own converters
(`bgpd.confd.sources.kube_objects`), so the etcd side of the benchmark holds exactly the data
the Kubernetes side reads, and an in-process profile sees the keys the watcher sees.
"""

from __future__ import annotations

from typing import Any

from bgpd.confd.sources.kube_objects import calico_kinds, node_kind, service_kinds

CRD = "crd.projectcalico.org/v1"
REFLECTORS = 3
RR_LABEL = "route-reflector"
RR_CLUSTER_ID = "244.0.0.1"
ZONE_LABEL = "topology.kubernetes.io/zone"
AFFINITIES_PER_NODE = 2
POOL_V4 = "10.64.0.0/14"
CLUSTER_RANGE = "10.96.0.0/16"  # the fixture API server's --service-cluster-ip-range
LB_RANGE = "172.30.0.0/16"
ENDPOINTS_PER_SLICE = 3


def node_name(i: int) -> str:
    return f"node-{i:04d}"


def node_ip(i: int) -> str:
    return f"127.101.{i // 250}.{i % 250 + 1}"


def worker_name(nodes: int) -> str:
    return node_name(max(REFLECTORS, nodes // 2))


def block_cidr(n: int) -> str:
    base = (10 << 24) | (64 << 16)
    addr = base + n * 64
    return f"{addr >> 24}.{(addr >> 16) & 255}.{(addr >> 8) & 255}.{addr & 255}/26"


def calico(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": CRD, "kind": kind, "metadata": {"name": name}, "spec": spec}


def k8s_node(i: int, *, heartbeat: int = 0, extra_labels: dict[str, str] | None = None) -> dict:
    """Node i as the kubelet and calico-node leave it; `heartbeat` varies what bgpd ignores."""
    name = node_name(i)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        ZONE_LABEL: f"zone-{i % 3}",
        **(extra_labels or {}),
    }
    annotations = {
        "projectcalico.org/IPv4Address": f"{node_ip(i)}/16",
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        "bench.example/heartbeat": str(heartbeat),
    }
    if i < REFLECTORS:
        labels[RR_LABEL] = "true"
        annotations["projectcalico.org/RouteReflectorClusterID"] = RR_CLUSTER_ID
    stamp = f"2026-12-07T10:{heartbeat // 60 % 60:02d}:{heartbeat % 60:02d}Z"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"podCIDR": f"10.{128 + i // 256}.{i % 256}.0/24"},
        "status": node_status(i, stamp),
    }


def node_status(i: int, stamp: str) -> dict[str, Any]:
    conditions = [
        {
            "type": kind,
            "status": "True" if kind == "Ready" else "False",
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": "2026-12-07T09:00:00Z",
            "reason": f"Kubelet{kind}",
            "message": f"kubelet reports {kind}",
        }
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
    ]
    return {
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": node_ip(i)},
            {"type": "Hostname", "address": node_name(i)},
        ],
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110"},
    }


def calico_objects(nodes: int, listen_port: int) -> list[dict[str, Any]]:
    """BGPConfiguration, BGPPeers, IPPool and the BlockAffinities (CRD v1 objects)."""
    items = [
        calico(
            "BGPConfiguration",
            "default",
            logSeverityScreen="Info",
            nodeToNodeMeshEnabled=False,
            asNumber=64512,
            listenPort=listen_port,
            bindMode="NodeIP",
            serviceClusterIPs=[{"cidr": CLUSTER_RANGE}],
            serviceLoadBalancerIPs=[{"cidr": LB_RANGE}],
        ),
        calico(
            "BGPPeer",
            "peer-with-route-reflectors",
            nodeSelector=f"!has({RR_LABEL})",
            peerSelector=f"has({RR_LABEL})",
        ),
        calico(
            "BGPPeer",
            "route-reflector-mesh",
            nodeSelector=f"has({RR_LABEL})",
            peerSelector=f"has({RR_LABEL})",
        ),
        calico("IPPool", "default-ipv4-ippool", cidr=POOL_V4, ipipMode="Never", vxlanMode="Never"),
    ]
    for i in range(nodes):
        for b in range(AFFINITIES_PER_NODE):
            cidr = block_cidr(i * AFFINITIES_PER_NODE + b)
            items.append(
                calico(
                    "BlockAffinity",
                    f"{node_name(i)}-{cidr.replace('.', '-').replace('/', '-')}",
                    node=node_name(i),
                    cidr=cidr,
                    state="confirmed",
                    deleted="false",
                )
            )
    return items


def namespace_of(s: int, namespaces: int) -> str:
    return f"tenant-{s % namespaces:02d}"


def service(s: int, namespaces: int) -> dict[str, Any]:
    local = s % 10 == 0
    spec: dict[str, Any] = {
        "type": "LoadBalancer" if local else "ClusterIP",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": f"app-{s}"},
    }
    if local:
        spec["externalTrafficPolicy"] = "Local"
    out: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"svc-{s:05d}",
            "namespace": namespace_of(s, namespaces),
            "labels": {"app": f"app-{s}"},
        },
        "spec": spec,
    }
    return out


def lb_ip(s: int) -> str:
    return f"172.30.{s // 250}.{s % 250 + 1}"


def endpoint_slice(s: int, namespaces: int, nodes: int, *, shift: int = 0) -> dict[str, Any]:
    """Service s's slice: endpoints on ENDPOINTS_PER_SLICE nodes (`shift` moves them)."""
    hosts = [node_name((s * 7 + k * 101 + shift) % nodes) for k in range(ENDPOINTS_PER_SLICE)]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"svc-{s:05d}-abcde",
            "namespace": namespace_of(s, namespaces),
            "labels": {"kubernetes.io/service-name": f"svc-{s:05d}"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"10.{128 + s // 4096}.{s // 16 % 256}.{(s % 16) * 8 + k + 1}"],
                "nodeName": host,
                "conditions": {"ready": True, "serving": True, "terminating": False},
            }
            for k, host in enumerate(hosts)
        ],
        "ports": [{"port": 8080, "protocol": "TCP", "name": ""}],
    }


def service_with_address(s: int, namespaces: int, cluster_ip: str) -> dict[str, Any]:
    """Service s as the API server holds it once created (cluster IP allocated, LB status)."""
    svc = service(s, namespaces)
    svc["spec"]["clusterIP"] = cluster_ip
    svc["spec"]["clusterIPs"] = [cluster_ip]
    svc["spec"]["ipFamilies"] = ["IPv4"]
    svc["spec"].setdefault("externalTrafficPolicy", "Cluster")
    if svc["spec"]["type"] == "LoadBalancer":
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": lb_ip(s)}]}}
    return svc


def cluster_ip(s: int) -> str:
    """An address for Service s in CLUSTER_RANGE (keys built without an API server)."""
    return f"10.96.{(s + 16) // 250}.{(s + 16) % 250 + 1}"


def as_keys(
    nodes: list[dict[str, Any]],
    calico_items: list[dict[str, Any]],
    services: list[dict[str, Any]],
    slices: list[dict[str, Any]],
) -> dict[str, str]:
    """The key view the Kubernetes source builds from these objects (its own converters)."""
    by_kind = {kind.name: kind for kind in calico_kinds("crd.projectcalico.org")}
    plural = {
        "BGPConfiguration": "bgpconfigurations",
        "BGPPeer": "bgppeers",
        "IPPool": "ippools",
        "BlockAffinity": "blockaffinities",
    }
    svc_kind, eps_kind = service_kinds()
    node_conv = node_kind(use_pod_cidr=False).convert
    out: dict[str, str] = {}
    for obj in nodes:
        out.update(node_conv(obj))
    for obj in calico_items:
        out.update(by_kind[plural[obj["kind"]]].convert(obj))
    for obj in services:
        out.update(svc_kind.convert(obj))
    for obj in slices:
        out.update(eps_kind.convert(obj))
    return out


def offline_keys(
    nodes: int, services: int, namespaces: int = 20, listen_port: int = 1790
) -> dict[str, str]:
    """The whole key view without an API server (cluster IPs assigned here)."""
    return as_keys(
        [k8s_node(i) for i in range(nodes)],
        calico_objects(nodes, listen_port),
        [service_with_address(s, namespaces, cluster_ip(s)) for s in range(services)],
        [endpoint_slice(s, namespaces, nodes) for s in range(services)],
    )

"""The derive cache: derive_bgp_keys with a cache gives what it gives without one, parsing
only the keys whose value changed, forgetting the keys a snapshot no longer holds, and reusing
the per-Service routes and the peer keys only while their inputs are unchanged."""

from __future__ import annotations

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys, new_derive_cache
from bgpd.confd.model.services import ServiceRouteMemo
from tests.unit.confd.model.calico_data import (
    V3,
    affinity,
    bgp_configuration,
    bgp_peer,
    endpoint,
    endpoint_slice,
    ip_pool,
    node,
    secret,
    service,
    snapshot,
)

H = "/calico/bgp/v1/host/"
RANGES = {"serviceClusterIPs": [{"cidr": "10.96.0.0/12"}]}


def cluster() -> dict[str, str]:
    return snapshot(
        bgp_configuration(nodeToNodeMeshEnabled=False, **RANGES),
        node("n1", "10.0.0.1/24", labels={"rr": "true"}),
        node("n2", "10.0.0.2/24"),
        node("n3", "10.0.0.3/24"),
        bgp_peer("to-rr", nodeSelector="!has(rr)", peerSelector="has(rr)"),
        ip_pool("pool", "10.244.0.0/16"),
        affinity("n1", "10.244.0.0/26"),
        affinity("n2", "10.244.0.64/26"),
        service("shop", "web", type="LoadBalancer", policy="Local"),
        endpoint_slice("shop", "web-abc", "web", [endpoint("n2")]),
    )


def derive(values: dict[str, str], cache: object = None) -> dict[str, str]:
    return derive_bgp_keys(values, node_name="n2", cache=cache)  # type: ignore[arg-type]


def test_a_changed_value_is_parsed_again_and_only_it() -> None:
    values = cluster()
    cache = new_derive_cache()
    assert derive(values, cache) == derive(values)
    parsed = cache.misses
    assert parsed == len(values)
    # n2 gets the reflector label: it leaves the selector's nodes, n1's peer key for it goes.
    values.update([node("n2", "10.0.0.2/24", labels={"rr": "true"})])
    view = derive(values, cache)
    assert cache.misses == parsed + 1
    assert view == derive(values)
    assert H + "n2/peer_v4/10.0.0.1" not in view
    # The endpoint moves away from n2: its Local service route goes.
    before = {k for k in view if k.startswith("/calico/staticroutes/")}
    values.update([endpoint_slice("shop", "web-abc", "web", [endpoint("n3")])])
    view = derive(values, cache)
    assert cache.misses == parsed + 2
    assert view == derive(values)
    assert {k for k in view if k.startswith("/calico/staticroutes/")} < before


def test_a_removed_key_is_gone_from_the_view_and_the_cache() -> None:
    values = cluster()
    cache = new_derive_cache()
    derive(values, cache)
    del values[V3 + "/nodes/n3"]
    view = derive(values, cache)
    assert view == derive(values)
    assert not any(k.startswith(H + "n3/") for k in view)
    assert len(cache) == len(values)
    # Added back with the same value: parsed again (it was forgotten), same view as before.
    values.update([node("n3", "10.0.0.3/24")])
    misses = cache.misses
    assert derive(values, cache) == derive(values)
    assert cache.misses == misses + 1


def test_problems_of_a_cached_key_are_reported_on_every_derive() -> None:
    values = cluster()
    values.update([node("bad", "10.0.0.300/24")])
    cache = new_derive_cache()
    with pytest.raises(CalicoDataError) as uncached:
        derive(values)
    for _ in range(2):
        with pytest.raises(CalicoDataError) as cached:
            derive(values, cache)
        assert cached.value.problems == uncached.value.problems
    assert cache.hits >= len(values)  # the second pass read everything from the cache
    values.update([node("bad", "10.0.0.30/24")])
    assert derive(values, cache) == derive(values)


def _routes(view: dict[str, str]) -> set[str]:
    return {k for k in view if k.startswith("/calico/staticroutes/")}


def test_service_routes_memo_sees_a_moved_endpoint_a_new_and_a_removed_service() -> None:
    values = cluster()
    values.update(
        [service("shop", "db", type="LoadBalancer", policy="Local", cluster_ip="10.96.0.20")]
    )
    cache = new_derive_cache()
    first = derive(values, cache)
    memo = cache.memos["services"]
    assert isinstance(memo, ServiceRouteMemo) and len(memo) == 2
    # db's endpoint lands on n2 (a slice added): its route appears, with and without the memo.
    values.update([endpoint_slice("shop", "db-abc", "db", [endpoint("n2")])])
    view = derive(values, cache)
    assert view == derive(values)
    assert _routes(view) - _routes(first)
    # The slice moves away: the route goes.
    values.update([endpoint_slice("shop", "db-abc", "db", [endpoint("n3")])])
    view = derive(values, cache)
    assert view == derive(values) and _routes(view) == _routes(first)
    # web is removed: its route goes, and the memo forgets it.
    del values["/kubernetes/services/shop/web"]
    view = derive(values, cache)
    assert view == derive(values) and _routes(view) < _routes(first)
    assert len(memo) == 1


def test_service_routes_memo_is_not_used_across_inputs() -> None:
    """A new serviceExternalIPs range changes no Service, yet routes web's external IP."""
    values = cluster()
    values.update(
        [service("shop", "web", type="LoadBalancer", policy="Local", external_ips=["192.0.2.50"])]
    )
    cache = new_derive_cache()
    route = "/calico/staticroutes/192.0.2.50-32"
    assert route not in derive(values, cache)
    values.update(
        [
            bgp_configuration(
                nodeToNodeMeshEnabled=False, serviceExternalIPs=[{"cidr": "192.0.2.0/24"}], **RANGES
            )
        ]
    )
    view = derive(values, cache)
    assert view == derive(values)
    assert view[route] == "192.0.2.50/32"
    # The local node's exclusion label: every route goes, the reject CIDRs stay.
    label = {"node.kubernetes.io/exclude-from-external-load-balancers": "true"}
    values.update([node("n2", "10.0.0.2/24", labels=label)])
    view = derive(values, cache)
    assert view == derive(values)
    assert not _routes(view)


def test_peer_keys_are_reused_only_while_their_inputs_are_unchanged() -> None:
    values = cluster()
    cache = new_derive_cache()
    derive(values, cache)
    peers = cache.memos["peers"]
    # An endpoint move touches no peer input: the same memo, the same keys.
    values.update([endpoint_slice("shop", "web-abc", "web", [endpoint("n3")])])
    assert derive(values, cache) == derive(values)
    assert cache.memos["peers"] is peers
    # A node's label decides the selectors: recomputed, and the peering seen.
    values.update([node("n3", "10.0.0.3/24", labels={"rr": "true"})])
    view = derive(values, cache)
    assert cache.memos["peers"] is not peers
    assert view == derive(values)
    assert H + "n2/peer_v4/10.0.0.3" in view
    # A BGPPeer removed: its peerings go.
    del values[V3 + "/bgppeers/to-rr"]
    view = derive(values, cache)
    assert view == derive(values)
    assert not any("/peer_v4/" in k for k in view)


def test_peer_keys_see_a_changed_secret() -> None:
    values = cluster()
    ref = {"secretKeyRef": {"name": "bgp", "key": "pw"}}
    values.update([bgp_peer("ext", node="n2", peerIP="192.0.2.1", asNumber=65001, password=ref)])
    values.update([secret("bgp", pw="one")])
    cache = new_derive_cache()
    key = H + "n2/peer_v4/192.0.2.1"
    assert '"password":"one"' in derive(values, cache)[key]
    values.update([secret("bgp", pw="two")])
    view = derive(values, cache)
    assert view == derive(values)
    assert '"password":"two"' in view[key]
    del values["/kubernetes/secrets/kube-system/bgp"]
    view = derive(values, cache)
    assert view == derive(values)
    assert "password_unavailable" in view[key]

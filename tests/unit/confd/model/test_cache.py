"""The parse cache: derive_bgp_keys with a cache gives what it gives without one, parsing
only the keys whose value changed, and forgetting the keys a snapshot no longer holds."""

from __future__ import annotations

import pytest

from bgpd.confd.model import CalicoDataError, derive_bgp_keys, new_derive_cache
from bgpd.confd.model.cache import ParseCache
from tests.unit.confd.model.calico_data import (
    V3,
    affinity,
    bgp_configuration,
    bgp_peer,
    endpoint,
    endpoint_slice,
    ip_pool,
    node,
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


def test_parse_cache_reuses_an_entry_only_for_the_same_raw_value() -> None:
    cache: ParseCache[str] = ParseCache()
    calls: list[tuple[str, str]] = []

    def parse(key: str, raw: str) -> str:
        calls.append((key, raw))
        return raw.upper()

    assert cache.lookup("a", "x", parse) == "X"
    assert cache.lookup("b", "y", parse) == "Y"
    cache.sweep()
    assert cache.lookup("a", "x", parse) == "X"  # same value: no parse
    assert cache.lookup("b", "z", parse) == "Z"  # changed value: parsed again
    cache.sweep()
    assert calls == [("a", "x"), ("b", "y"), ("b", "z")]
    assert (cache.hits, cache.misses, len(cache)) == (1, 3, 2)
    cache.lookup("b", "z", parse)
    cache.sweep()  # "a" was not looked up: gone
    assert len(cache) == 1
    assert cache.lookup("a", "x", parse) == "X"
    assert calls[-1] == ("a", "x")


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

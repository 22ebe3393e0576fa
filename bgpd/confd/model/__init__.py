"""Calico's data model: v3 resources and IPAM affinities -> the `/calico/bgp/v1/...` key view.

Role: the pure middle of the confd pipeline (sources -> model -> templates). `derive_bgp_keys`
takes one raw key/value snapshot of etcd and returns the key view confd's Calico backend
builds in memory (calico-bgp.md §1), for every node; `CalicoDataError` lists every bad key.

Invariants: no I/O, no asyncio, no clock; the same snapshot always gives the same view.
"""

from bgpd.confd.model.bgpfilter import filter_json, read_bgp_filter
from bgpd.confd.model.derive import (
    DEFAULT_AS,
    V3_PREFIX,
    DeriveCache,
    derive_bgp_keys,
    new_derive_cache,
)
from bgpd.confd.model.errors import CalicoDataError
from bgpd.confd.model.peers import peer_key_suffix

__all__ = [
    "DEFAULT_AS",
    "V3_PREFIX",
    "CalicoDataError",
    "DeriveCache",
    "derive_bgp_keys",
    "filter_json",
    "new_derive_cache",
    "peer_key_suffix",
    "read_bgp_filter",
]

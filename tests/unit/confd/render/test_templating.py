"""confd's template functions over `KvStore`, and Calico's rules in `CalicoNode`."""

from __future__ import annotations

import hashlib
import json

import pytest

from bgpd.confd.calico_node import CalicoNode, hash_to_ipv4
from bgpd.confd.model import DEFAULT_AS
from bgpd.confd.template_inputs import DataError, KvStore, TemplateContext
from bgpd.config.toml_writer import toml_value

from .calico_data import V1, globals_, host, peer_json, peer_key, pool


def store() -> KvStore:
    return KvStore(
        {
            "/services/web/cust1/1": '{"IP": "10.0.0.1"}',
            "/services/web/cust1/2": '{"IP": "10.0.0.2"}',
            "/services/web/cust2/1": '{"IP": "10.0.0.3"}',
            "/services/web/top": "x",
            "/services/webz": "not under /services/web",
        }
    )


def test_kvstore_behaves_like_memkv() -> None:
    s = store()
    assert s.ls("/services/web") == ["cust1", "cust2", "top"]
    assert s.lsdir("/services/web") == ["cust1", "cust2"]
    assert s.ls("/nothing") == [] and s.lsdir("/nothing") == []
    # `*` stops at "/" (Go's path.Match), so this matches one level only.
    assert [kv.key for kv in s.gets("/services/web/*")] == ["/services/web/top"]
    assert s.getvs("/services/web/cust1/*") == ['{"IP": "10.0.0.1"}', '{"IP": "10.0.0.2"}']
    assert [kv.Key for kv in s.gets("/services/web/*/1")] == [
        "/services/web/cust1/1",
        "/services/web/cust2/1",
    ]
    assert s.exists("/services/web/top") and not s.exists("/services/web")
    assert s.getv("/missing", "dflt") == "dflt"
    with pytest.raises(DataError) as exc:
        s.getv("/missing")
    assert exc.value.key == "/missing"


def test_for_resource_strips_the_prefix_and_keeps_only_listed_keys() -> None:
    view = {"/calico/bgp/v1/global/as_num": "1", "/calico/other/x": "2", "/elsewhere": "3"}
    s = KvStore.for_resource(view, "/calico", ["/bgp/v1/global"])
    assert s.getv("/bgp/v1/global/as_num") == "1"
    assert len(s) == 1


def test_hash_to_ipv4_is_calicos() -> None:
    digest = hashlib.sha256(b"worker-1").digest()
    assert digest[0] <= 223
    assert hash_to_ipv4("worker-1") == ".".join(str(b) for b in digest[:4])
    # A name whose hash starts above 223 gets 32 taken off the first octet (never 224/4).
    name = next(f"n{i}" for i in range(10000) if hashlib.sha256(f"n{i}".encode()).digest()[0] > 223)
    high = hashlib.sha256(name.encode()).digest()
    assert hash_to_ipv4(name) == ".".join(str(b) for b in (high[0] - 32, *high[1:4]))


def test_toml_value_escapes_strings() -> None:
    assert toml_value('a "quoted" \\ pass\nword') == '"a \\"quoted\\" \\\\ pass\\nword"'
    assert toml_value([1, "x", True]) == '[1, "x", true]'


def node(view: dict[str, str], name: str, **environ: str) -> CalicoNode:
    return CalicoNode(
        KvStore.for_resource(view, "/calico", ["/"]),
        TemplateContext(nodename=name, environ=environ),
    )


def base_view() -> dict[str, str]:
    view = globals_()
    view.update(host("a", "10.0.0.1"))
    return view


def test_router_id_from_environment() -> None:
    view = base_view()
    assert node(view, "a").router_id() == "10.0.0.1"
    assert node(view, "a", CALICO_ROUTER_ID="1.2.3.4").router_id() == "1.2.3.4"
    assert node(view, "a", CALICO_ROUTER_ID="hash").router_id() == hash_to_ipv4("a")
    with pytest.raises(DataError, match="CALICO_ROUTER_ID"):
        node(view, "a", CALICO_ROUTER_ID="not-an-ip").router_id()


def test_unknown_node_is_named() -> None:
    with pytest.raises(DataError) as exc:
        node(base_view(), "nope").router_id()
    assert exc.value.key == f"{V1}/host/nope".removeprefix("/calico")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "invalid AS number"),
        ("0", "out of range"),
        ("4294967296", "out of range"),
        ("23456", "AS_TRANS"),
    ],
)
def test_invalid_global_as_names_the_key(value: str, message: str) -> None:
    view = base_view()
    view[f"{V1}/global/as_num"] = value
    with pytest.raises(DataError, match=message) as exc:
        node(view, "a").global_asn()
    assert exc.value.key == "/bgp/v1/global/as_num"  # relative to the resource's prefix


def test_global_as_defaults_to_the_models_default() -> None:
    # A v1 view written directly (no model in between) may lack the key: the fallback is
    # Calico's globalDefaults AS, the same constant the model fills in.
    view = base_view()
    del view[f"{V1}/global/as_num"]
    assert node(view, "a").global_asn() == int(DEFAULT_AS) == 64512


def test_bad_peer_values_name_the_key() -> None:
    view = base_view()
    bad_ip = peer_key("global", "10.0.0.300")
    view[bad_ip] = peer_json("10.0.0.300", 65000)
    with pytest.raises(DataError, match="invalid IP address") as exc:
        node(view, "a").peers()
    assert exc.value.key == bad_ip.removeprefix("/calico")
    view = base_view()
    malformed = peer_key("a", "10.0.0.9")
    view[malformed] = '{"ip": "10.0.0.9", '
    with pytest.raises(DataError, match="malformed JSON") as exc:
        node(view, "a").peers()
    assert exc.value.key == malformed.removeprefix("/calico")


def test_duplicate_node_address_names_both_nodes() -> None:
    view = base_view()
    view.update(host("b", "10.0.0.1"))
    with pytest.raises(DataError, match="node a") as exc:
        node(view, "a").cluster_nodes()
    assert exc.value.key == "/bgp/v1/host/b/ip_addr_v4"


def test_rr_client_rules() -> None:
    view = globals_()
    view.update(host("rr", "10.0.0.1", rr_cluster_id="224.0.0.1"))
    for ip, cid, asn in (
        ("10.0.0.2", "", 64512),  # a client: rr client
        ("10.0.0.3", "224.0.0.1", 64512),  # same cluster: plain iBGP
        ("10.0.0.4", "224.0.0.2", 64512),  # another cluster: a client of ours
        ("10.0.0.5", "", 65000),  # eBGP: never a client
    ):
        view[peer_key("rr", ip)] = peer_json(ip, asn, rr_cluster_id=cid)
    flags = {p.address: p.rr_client for p in node(view, "rr").peers()}
    assert flags == {"10.0.0.2": True, "10.0.0.3": False, "10.0.0.4": True, "10.0.0.5": False}


def test_port_suffix_and_bind_mode() -> None:
    view = base_view()
    view[f"{V1}/global/bind_mode"] = "NodeIP"
    view[peer_key("global", "10.0.0.9", 1790)] = peer_json("10.0.0.9", 65000, port=1790)
    n = node(view, "a")
    assert [p.name for p in n.peers()] == ["Global_10_0_0_9_port_1790"]
    assert n.listen() == ["10.0.0.1"]
    view[f"{V1}/global/bind_mode"] = "None"
    assert node(view, "a").listen() == ["0.0.0.0"]


def test_pools_and_pending_blocks() -> None:
    view = base_view()
    view.update(pool("10.10.0.0/16", ipip_mode="always"))
    view["/calico/ipam/v2/host/a/ipv4/block/10.10.1.0-26"] = "{}"  # old data: confirmed
    view["/calico/ipam/v2/host/a/ipv4/block/10.10.2.0-26"] = json.dumps({"state": "pending"})
    # What the model derives from `{}` in etcd: an empty state, also implicitly confirmed.
    view["/calico/ipam/v2/host/a/ipv4/block/10.10.3.0-26"] = '{"state":"","deleted":false}'
    n = node(view, "a")
    assert n.blocks() == ["10.10.1.0/26", "10.10.3.0/26"]
    assert [(p.cidr, p.ipip, p.vxlan) for p in n.pools()] == [("10.10.0.0/16", "always", "never")]
    bad = pool("10.20.0.0/16")
    key = next(iter(bad))
    view[key] = json.dumps({"cidr": "10.20.0.0/16", "ipip_mode": "sometimes"})
    with pytest.raises(DataError, match="ipip_mode") as exc:
        node(view, "a").pools()
    assert exc.value.key == key.removeprefix("/calico")

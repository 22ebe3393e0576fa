"""`bgpd confd`'s environment handling and the model-to-template path, without processes."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bgpd.confd.arguments import DEFAULT_CONFDIR
from bgpd.confd.command import LocalNode, derive_view, nodename_from_env, parse_args
from bgpd.confd.render_pass import Renderer, load_resources
from bgpd.confd.template_inputs import DataError, TemplateContext
from bgpd.config import parse_config
from tests.unit.confd.model.calico_data import endpoint, endpoint_slice, service

from .calico_v3 import affinity, bgp_configuration, bgp_filter, bgp_peer, ip_pool, node

CONFDIR = DEFAULT_CONFDIR
HOST = "/calico/bgp/v1/host"


def cluster() -> dict[str, str]:
    values: dict[str, str] = {}
    values.update(bgp_configuration(asNumber=64512, bindMode="NodeIP", listenPort=1179))
    values.update(node("a", "10.0.0.1/24"))
    values.update(
        node("b", "10.0.0.2/24", labels={"rr": "true"}, routeReflectorClusterID="1.1.1.1")
    )
    values.update(node("c", "10.0.0.3/24"))
    values.update(ip_pool("pool", "10.244.0.0/16"))
    values.update(affinity("a", "10.244.1.0/26"))
    values.update(affinity("a", "10.244.9.0/26", state="pending"))
    values.update(bgp_peer("to-rr", nodeSelector="!has(rr)", peerSelector="has(rr)"))
    return values


def render(values: dict[str, str], local: LocalNode) -> str:
    resources = load_resources(CONFDIR, local.nodename)
    ctx = TemplateContext(nodename=local.nodename, variables={})
    return Renderer(CONFDIR, resources, ctx).render_text(resources[0], derive_view(values, local))


def test_v3_resources_render_for_a_client_and_its_reflector() -> None:
    client = parse_config(render(cluster(), LocalNode(nodename="a")))
    peers = {p.name: p for p in client.all_peers}
    # A peerSelector peer takes the matched node's listen port, hence the suffix.
    assert set(peers) == {"Mesh_10_0_0_3", "Node_10_0_0_2_port_1179"}
    assert client.calico is not None
    assert [str(b) for b in client.calico.blocks] == ["10.244.1.0/26"]  # pending one hidden
    rr = parse_config(render(cluster(), LocalNode(nodename="b")))
    rr_peers = {p.name: p for p in rr.all_peers}
    # The reverse pass: the one BGPPeer also configures the reflector's side, as clients.
    assert set(rr_peers) == {"Node_10_0_0_1_port_1179", "Node_10_0_0_3_port_1179"}
    assert all(p.rr_client for p in rr_peers.values())


def test_environment_overrides_this_node_only() -> None:
    local = LocalNode.from_env("a", {"IP": "10.0.0.50/24", "AS": "65010", "IP6": "none"})
    view = derive_view(cluster(), local)
    assert view[f"{HOST}/a/ip_addr_v4"] == "10.0.0.50"
    assert view[f"{HOST}/a/network_v4"] == "10.0.0.0/24"
    assert view[f"{HOST}/a/as_num"] == "65010"
    assert view[f"{HOST}/a/ip_addr_v6"] == ""
    assert view[f"{HOST}/c/ip_addr_v4"] == "10.0.0.3"  # other nodes keep the datastore's


def test_service_environment_reaches_the_rendered_config() -> None:
    values = cluster()
    values.update([service("shop", "web", policy="Local")])
    values.update([endpoint_slice("shop", "web-x", "web", [endpoint("k8s-a")])])
    env = {"CALICO_ADVERTISE_CLUSTER_IPS": "10.96.0.0/12", "CALICO_K8S_NODE_REF": "k8s-a"}
    config = parse_config(render(values, LocalNode.from_env("a", env)))
    assert config.calico is not None
    # The range from every node (and kept out of the kernel), the /32 from the endpoint's node.
    assert [str(c) for c in config.calico.advertise] == ["10.96.0.0/12", "10.96.0.10/32"]
    assert [str(c) for c in config.calico.reject] == ["10.96.0.0/12"]
    statics = {str(s.prefix): s for s in config.all_statics}
    assert statics["10.96.0.10/32"].blackhole
    # Without the node reference, endpoints name the Calico node: "a" hosts none.
    no_ref = LocalNode.from_env("a", env | {"CALICO_K8S_NODE_REF": ""})
    config = parse_config(render(values, no_ref))
    assert config.calico is not None
    assert [str(c) for c in config.calico.advertise] == ["10.96.0.0/12"]


def test_autodetect_only_when_asked_or_missing() -> None:
    calls: list[tuple[int, str]] = []

    def detect(version: int, method: str) -> str | None:
        calls.append((version, method))
        return "10.9.9.9/16"

    env = {"IP_AUTODETECTION_METHOD": "interface=eth.*"}
    kept = LocalNode.from_env("a", env)
    kept.autodetect = detect
    assert kept.apply(derive_view(cluster()))[f"{HOST}/a/ip_addr_v4"] == "10.0.0.1"
    assert calls == []  # the datastore has an address and IP is unset
    forced = LocalNode.from_env("a", {**env, "IP": "autodetect"})
    forced.autodetect = detect
    view = forced.apply(derive_view(cluster()))
    forced.apply(derive_view(cluster()))
    assert view[f"{HOST}/a/ip_addr_v4"] == "10.9.9.9"
    assert calls == [(4, "interface=eth.*")]  # detected once, then remembered
    missing = LocalNode.from_env("new-node", env)
    missing.autodetect = lambda version, method: None
    with pytest.raises(DataError, match="IP_AUTODETECTION_METHOD"):
        missing.apply(derive_view(cluster()))


def test_nodename_and_arguments() -> None:
    assert nodename_from_env({"NODENAME": "n1", "HOSTNAME": "h"}) == "n1"
    args = parse_args(["--backend", "file", "--file", "kv.yaml", "--var", "kernel=false"])
    assert isinstance(args, argparse.Namespace)
    assert (args.confd_backend, args.confd_file, args.template_vars) == (
        "file",
        "kv.yaml",
        [("kernel", "false")],
    )


def test_bgp_filters_become_filter_tables_on_the_peers_that_name_them() -> None:
    values = cluster()
    values.update(
        bgp_filter(
            "no-private",
            exportV4=[{"action": "Reject", "matchOperator": "In", "cidr": "10.0.0.0/8"}],
            importV4=[{"action": "Accept", "source": "RemotePeers"}],
        )
    )
    values.update(bgp_peer("tor", peerIP="10.0.0.254", asNumber=65000, filters=["no-private"]))
    text = render(values, LocalNode(nodename="a"))
    config = parse_config(text)
    (flt,) = config.filters
    assert flt.name == "no-private"
    assert [str(r.cidr) for r in flt.export_v4] == ["10.0.0.0/8"]
    tor = next(p for p in config.all_peers if p.name == "Global_10_0_0_254")
    assert tor.import_filters == tor.export_filters == ("no-private",)
    # A peer naming a filter that does not exist is refused, naming the peer's key.
    values.update(bgp_peer("tor", peerIP="10.0.0.254", asNumber=65000, filters=["missing"]))
    with pytest.raises(DataError, match="BGPFilter 'missing' does not exist") as exc:
        render(values, LocalNode(nodename="a"))
    assert exc.value.key == "/calico/bgp/v1/global/peer_v4/10.0.0.254"


def test_bgpd_confd_exits_non_zero_when_its_watcher_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The watcher's death is fatal and visible: logged, and an exit status for runit."""
    from bgpd.confd import command as cli
    from bgpd.confd.watcher import Watcher

    from .calico_data import globals_, host
    from .test_watcher import FailingSource

    source = FailingSource()
    source.push({**globals_(), **host("a", "10.0.0.1")})
    resources = load_resources(CONFDIR, "a", dest_root=tmp_path)
    ctx = TemplateContext(nodename="a", variables={"kernel": "false"})
    watcher = Watcher(source, Renderer(CONFDIR, resources, ctx), dict)

    def build(*_args: object, **_kw: object) -> cli.ConfdSetup:
        return cli.ConfdSetup(watcher=watcher, resources=tuple(resources))

    monkeypatch.setattr(cli, "build_watcher", build)
    args = parse_args(["--backend", "file", "--file", str(tmp_path / "unused.yaml")])
    with caplog.at_level("ERROR"):
        code = asyncio.run(cli.run_confd(args, {"NODENAME": "a"}))
    assert code == cli.EXIT_WATCHER_STOPPED != 0
    (record,) = [r for r in caplog.records if "confd watcher stopped" in r.getMessage()]
    assert record.exc_info is not None and "the stream broke" in str(record.exc_info[1])


def test_in_process_watcher_dying_before_a_first_render_is_a_setup_error(tmp_path: Path) -> None:
    """`bgpd run --confd-backend ...`: bgpd.main prints it and exits 1 (no traceback exit)."""
    from bgpd.confd import command as cli
    from bgpd.confd.sources.base import KvSnapshot
    from bgpd.confd.watcher import Watcher

    from .test_watcher import FakeSource

    class BrokenSource(FakeSource):
        async def snapshots(self) -> AsyncIterator[KvSnapshot]:
            raise RuntimeError("no stream")
            yield  # an async generator that fails on its first step

    resources = load_resources(CONFDIR, "a", dest_root=tmp_path)
    ctx = TemplateContext(nodename="a", variables={"kernel": "false"})
    watcher = Watcher(BrokenSource(), Renderer(CONFDIR, resources, ctx), dict)
    companion = cli.InProcessWatcher(cli.ConfdSetup(watcher=watcher, resources=tuple(resources)))

    async def main() -> None:
        try:
            await companion.prepare()
        finally:
            await companion.close()

    with pytest.raises(cli.ConfdSetupError, match="stopped before a first render: no stream"):
        asyncio.run(main())


def test_endpoint_status_prefix_flag_then_calicos_variable_then_its_default() -> None:
    from bgpd.confd.command import endpoint_status_prefix

    def prefix(argv: list[str], env: dict[str, str]) -> str | None:
        return endpoint_status_prefix(parse_args(["--backend", "file", *argv]), env)

    env = {"CALICO_ENDPOINT_STATUS_PATH_PREFIX": "/host/run/calico"}
    assert prefix([], {}) == "/var/run/calico"
    assert prefix([], env) == "/host/run/calico"
    assert prefix(["--endpoint-status-prefix", "/x"], env) == "/x"
    assert prefix(["--endpoint-status-prefix", "none"], env) is None


@pytest.mark.parametrize("prefix_from", ["flag", "env"])
def test_onetime_render_peers_with_the_workloads_felix_reported(
    tmp_path: Path, prefix_from: str
) -> None:
    """The file datastore merged with the endpoint status directory: a `Local_Workload_*`
    peer, passive, without a source address, the BGPPeer's AS."""
    import json

    import yaml

    from bgpd.confd import command as cli

    values = {**node("a", "10.0.0.1/24")}
    values.update(bgp_peer("wl", localWorkloadSelector="app == 'bird'", asNumber=65100))
    kv = tmp_path / "kv.yaml"
    kv.write_text(yaml.safe_dump(values))
    run = tmp_path / "run"
    (run / "endpoint-status").mkdir(parents=True)
    status = {"ifaceName": "cali1", "ipv4Nets": ["10.65.0.5/32"], "bgpPeerName": "wl"}
    (run / "endpoint-status" / "k8s default%2Fbird-0 eth0").write_text(json.dumps(status))
    argv = ["--backend", "file", "--file", str(kv), "--onetime", "--dest-root", str(tmp_path)]
    env = {"NODENAME": "a"}
    if prefix_from == "flag":
        argv += ["--endpoint-status-prefix", str(run)]
    else:
        env["CALICO_ENDPOINT_STATUS_PATH_PREFIX"] = str(run)
    assert asyncio.run(cli.run_confd(parse_args(argv), env)) == 0
    (rendered,) = tmp_path.glob("**/bgpd.toml")
    peers = {p.name: p for p in parse_config(rendered.read_text()).all_peers}
    workload = peers["Local_Workload_10_65_0_5"]
    assert str(workload.address) == "10.65.0.5"
    assert workload.asn == 65100
    assert workload.passive
    assert workload.local_address is None

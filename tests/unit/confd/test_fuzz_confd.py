"""bench/fuzz_confd.py's per-input check, without atheris, over a seed corpus: the values of
issue 11, snapshots that almost parse, and a few hundred inputs built from seeded bytes. Any
exception but the expected errors fails the test (the fuzzer's definition of a finding)."""

from __future__ import annotations

import json
import random

import pytest

from bench.fuzz_confd import V1, V3, build_input, check_input, check_snapshot

NODE_A = {"spec": {"bgp": {"ipv4Address": "10.0.0.1/24"}}}
NODE_B = {"spec": {"bgp": {"ipv4Address": "10.0.0.2/24"}}}
CLUSTER = {
    f"{V3}/bgpconfigurations/default": json.dumps({"spec": {"asNumber": 64512}}),
    f"{V3}/nodes/a": json.dumps(NODE_A),
    f"{V3}/nodes/b": json.dumps(NODE_B),
}
PEER = f"{V1}/global/peer_v4/10.0.0.7"
SEEDS = [
    # (name, extra keys, environment, expected outcome)
    ("good", {}, {}, None),
    (
        "issue-11-bgppeer-node-lone-surrogate",
        {f"{V3}/bgppeers/p": '{"spec": {"node": "\\ud800", "peerIP": "10.0.0.9"}}'},
        {},
        "data_error",
    ),
    (
        "issue-11-v1-port-superscript-two",
        {PEER: '{"ip": "10.0.0.7", "as_num": "65000", "port": "²"}'},
        {},
        "render_failed",
    ),
    ("v1-listen-port-arabic-indic", {f"{V1}/global/listen_port": "٣"}, {}, "render_failed"),
    (
        "v1-restart-time-fullwidth",
        {PEER: '{"ip": "10.0.0.7", "as_num": "1", "restart_time": "\uff11"}'},
        {},
        "render_failed",
    ),
    ("raw-lone-surrogate", {f"{V1}/global/loglevel": "info\ud800"}, {}, "data_error"),
    ("deep-json", {f"{V3}/bgppeers/deep": "[" * 50_000}, {}, "data_error"),
    ("huge-int", {f"{V3}/ippools/p": '{"spec": {"x": ' + "7" * 5000 + "}}"}, {}, "data_error"),
    ("nan", {f"{V3}/bgppeers/n": '{"spec": {"ttlSecurity": NaN}}'}, {}, "data_error"),
    ("env-as-superscript", {}, {"AS": "²"}, "render_failed"),
    ("env-ip-lone-surrogate", {}, {"IP": "10.0.0.1\udcff"}, "data_error"),
    ("router-id-bad", {}, {"CALICO_ROUTER_ID": "300.1.1.1"}, "render_failed"),
    (
        "service-local-endpoint-here",
        {
            "/kubernetes/services/x/web": json.dumps(
                {
                    "spec": {
                        "type": "LoadBalancer",
                        "clusterIP": "10.96.0.10",
                        "externalTrafficPolicy": "Local",
                        "ipFamilies": ["IPv4"],
                    }
                }
            ),
            "/kubernetes/endpointslices/x/web-1": json.dumps(
                {
                    "metadata": {"labels": {"kubernetes.io/service-name": "web"}},
                    "addressType": "IPv4",
                    "endpoints": [{"nodeName": "a"}],
                }
            ),
        },
        {"CALICO_ADVERTISE_CLUSTER_IPS": "10.96.0.0/12"},
        None,
    ),
    (
        "service-ingress-ip-superscript",
        {
            "/kubernetes/services/x/web": json.dumps(
                {"status": {"loadBalancer": {"ingress": [{"ip": "10.99.0.²"}]}}}
            )
        },
        {},
        "data_error",
    ),
    ("env-cluster-ips-not-cidr", {}, {"CALICO_ADVERTISE_CLUSTER_IPS": "10.96.0.0/٣"}, "data_error"),
]


@pytest.mark.parametrize(
    ("extra", "env", "expected"), [s[1:] for s in SEEDS], ids=[s[0] for s in SEEDS]
)
def test_seed_snapshots_render_or_fail_as_expected(
    extra: dict[str, str], env: dict[str, str], expected: str | None
) -> None:
    outcomes = check_snapshot({**CLUSTER, **extra}, {"NODENAME": "a", **env})
    if expected is None:
        assert outcomes in (["installed"], ["unchanged"])
    else:
        assert outcomes == [expected]


def test_inputs_from_seeded_bytes() -> None:
    rng = random.Random(11)
    seen: set[str] = set()
    for size in [0, 1, 2, 5] + [rng.randrange(8, 800) for _ in range(300)]:
        seen.update(check_input(rng.randbytes(size)))
    # The corpus reaches every outcome, so the check above meant something.
    assert {"data_error", "render_failed", "installed"} <= seen


def test_inputs_are_built_deterministically() -> None:
    data = random.Random(3).randbytes(400)
    assert build_input(data) == build_input(data)

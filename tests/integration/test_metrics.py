"""Metrics and health endpoints of real bgpd processes on loopback, scraped over real HTTP.

Two (or three) speakers on 127.0.0.x with free ports; `/metrics` is checked with `promtool`,
scraped by a real Prometheus, and its numbers must follow what really happens: sessions coming
and going, routes sent and withdrawn, reloads failing. `/readyz` flips with calico-node's rules.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .bgpd_proc import REPO, BgpdFactory, BgpdProcess
from .peers import free_tcp_ports, wait_until
from .peers.netns import Process, spawn

A, B, C = "127.0.0.41", "127.0.0.42", "127.0.0.43"
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

# ------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str


def http_get(host: str, port: int, path: str, method: str = "GET", accept: str = "") -> Reply:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path, headers={"Accept": accept} if accept else {})
        resp = conn.getresponse()
        return Reply(resp.status, resp.read().decode(), resp.getheader("Content-Type") or "")
    finally:
        conn.close()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(host: str, port: int) -> Samples:
    reply = http_get(host, port, "/metrics")
    assert reply.status == 200, reply
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.body):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def node_config(
    me: str,
    port: int,
    metrics_port: int,
    peers: list[tuple[str, str, int]],
    *,
    statics: str = "",
    metrics_extra: str = "",
) -> str:
    """A speaker on `me` with iBGP peers (name, address, port) and `[metrics]` on `me`."""
    text = f"""
[bgp]
asn = 64512
router_id = "{me}"
listen = ["{me}"]
port = {port}
connect_retry_time = 1
error_wait_min = 1
error_wait_max = 2

[control]
socket = "@SOCKET@"

[metrics]
listen = "{me}:{metrics_port}"
{metrics_extra}
{statics}
"""
    for name, address, peer_port in peers:
        text += f"""
[[peer]]
name = "{name}"
address = "{address}"
port = {peer_port}
asn = 64512
local_address = "{me}"
"""
    return text


def static(*prefixes: str) -> str:
    return "".join(f'[[static]]\nprefix = "{p}"\n' for p in prefixes)


@dataclass
class Pair:
    a: BgpdProcess
    b: BgpdProcess
    a_metrics: int
    b_metrics: int
    config_a: str
    config_b: str

    def metric(self, name: str, /, **labels: str) -> float | None:
        return scrape(A, self.a_metrics).get((name, frozenset(labels.items())))

    def wait_metric(self, name: str, want: float, /, **labels: str) -> None:
        wait_until(
            lambda: self.metric(name, **labels) == want,
            timeout=20,
            message=f"{name}{labels} == {want}",
            describe=lambda: f"now {self.metric(name, **labels)}\n{self.a.output()}",
        )


PEER_B = {"peer": "peer_b", "address": B}
V4 = {"afi": "ipv4", "safi": "unicast"}


def start_pair(bgpd_factory: BgpdFactory, statics_b: str = "", metrics_extra_a: str = "") -> Pair:
    port_a, port_b, m_a, m_b = free_tcp_ports(4, A)
    cfg_a = node_config(A, port_a, m_a, [("peer_b", B, port_b)], metrics_extra=metrics_extra_a)
    cfg_b = node_config(B, port_b, m_b, [("peer_a", A, port_a)], statics=statics_b)
    a = bgpd_factory(None, cfg_a, name="a")
    b = bgpd_factory(None, cfg_b, name="b")
    return Pair(a, b, m_a, m_b, cfg_a, cfg_b)


# --------------------------------------------------------------------------------- tests


def test_scraped_values_follow_sessions_routes_and_reloads(bgpd_factory: BgpdFactory) -> None:
    pair = start_pair(bgpd_factory, statics_b=static("10.42.0.0/24"))
    pair.wait_metric("bgpd_peer_up", 1, **PEER_B)
    assert pair.metric("bgpd_peer_fsm_state", **PEER_B) == 6
    assert pair.metric("bgpd_peer_state", **PEER_B, state="established") == 1
    assert pair.metric("bgpd_peer_established_transitions_total", **PEER_B) == 1
    pair.wait_metric("bgpd_peer_prefixes_received", 1, **PEER_B, **V4)
    assert pair.metric("bgpd_rib_prefixes", afi="ipv4", safi="unicast") == 1
    assert (
        scrape(B, pair.b_metrics)[
            (
                "bgpd_peer_prefixes_advertised",
                frozenset({"peer": "peer_a", "address": A, **V4}.items()),
            )
        ]
        == 1
    )

    # b announces two more prefixes, then withdraws one: the counters move accordingly.
    pair.b.write_config(pair.config_b + static("10.43.0.0/24", "10.44.0.0/24"))
    pair.b.reload()
    pair.wait_metric("bgpd_peer_prefixes_received", 3, **PEER_B, **V4)
    pair.wait_metric("bgpd_peer_prefixes_accepted", 3, **PEER_B, afi="ipv4", safi="unicast")
    assert pair.metric("bgpd_peer_prefix_announcements_received_total", **PEER_B) == 3
    pair.b.write_config(pair.config_b + static("10.43.0.0/24"))
    pair.b.reload()
    pair.wait_metric("bgpd_peer_prefixes_received", 2, **PEER_B, **V4)
    assert pair.metric("bgpd_peer_prefix_withdrawals_received_total", **PEER_B) == 1
    assert (pair.metric("bgpd_peer_messages_received_total", **PEER_B, type="update") or 0) >= 3
    b_reloads = scrape(B, pair.b_metrics)
    assert b_reloads[("bgpd_config_reloads_total", frozenset({("result", "success")}))] == 2

    # b goes away (SIGTERM: a Cease): a's session is down, the error code is Cease.
    pair.b.stop()
    pair.wait_metric("bgpd_peer_up", 0, **PEER_B)
    assert (pair.metric("bgpd_peer_fsm_state", **PEER_B) or 0) < 6
    assert pair.metric("bgpd_peer_state", **PEER_B, state="established") == 0
    assert pair.metric("bgpd_peer_uptime_seconds", **PEER_B) == 0
    assert pair.metric("bgpd_peer_last_error_code", **PEER_B) == 6  # Cease
    pair.wait_metric("bgpd_peer_prefixes_received", 0, **PEER_B, **V4)

    # b comes back: a second Established transition (a flap) is counted.
    pair.b.start()
    pair.wait_metric("bgpd_peer_up", 1, **PEER_B)
    assert pair.metric("bgpd_peer_established_transitions_total", **PEER_B) == 2

    # A bad file on a: the reload fails, is counted, and the timestamp of the last good one
    # stays; a good one afterwards is counted and moves the timestamp.
    good_at = pair.metric("bgpd_config_last_reload_success_timestamp_seconds")
    pair.a.write_config(pair.config_a.replace("asn = 64512", "asn = -1", 1))
    pair.a.reload()
    pair.wait_metric("bgpd_config_reloads_total", 1, result="failure")
    assert pair.metric("bgpd_config_last_reload_successful") == 0
    assert pair.metric("bgpd_config_reloads_total", result="success") == 0
    assert pair.metric("bgpd_config_last_reload_success_timestamp_seconds") == good_at
    pair.a.write_config(pair.config_a)
    pair.a.reload()
    pair.wait_metric("bgpd_config_reloads_total", 1, result="success")
    assert pair.metric("bgpd_config_last_reload_successful") == 1
    assert (pair.metric("bgpd_config_last_reload_success_timestamp_seconds") or 0) > (good_at or 0)
    assert pair.metric("bgpd_peer_up", **PEER_B) == 1  # the same config: no flap


def test_a_removed_peer_disappears_from_the_scrape(bgpd_factory: BgpdFactory) -> None:
    pair = start_pair(bgpd_factory)
    pair.wait_metric("bgpd_peer_up", 1, **PEER_B)
    without = pair.config_a.split("[[peer]]")[0]
    pair.a.write_config(without)
    pair.a.reload()
    wait_until(
        lambda: 'peer="peer_b"' not in http_get(A, pair.a_metrics, "/metrics").body,
        timeout=10,
        message="peer_b gone from a's /metrics",
    )
    # Zero peers counts as ready (calico-node's rule).
    reply = http_get(A, pair.a_metrics, "/readyz")
    assert (reply.status, reply.body) == (200, "ok: no BGP peers configured\n")


def test_readyz_follows_calico_rules_with_the_reason(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b, port_c, m_a = free_tcp_ports(4, A)
    cfg_a = node_config(A, port_a, m_a, [("peer_b", B, port_b), ("peer_c", C, port_c)])
    cfg_b = node_config(B, port_b, free_tcp_ports(1, B)[0], [("peer_a", A, port_a)])
    a = bgpd_factory(None, cfg_a, name="a")

    def readyz() -> tuple[int, str]:
        reply = http_get(A, m_a, "/readyz")
        return reply.status, reply.body

    assert readyz() == (503, f"not ready: BGP not established with {B},{C}\n")
    b = bgpd_factory(None, cfg_b, name="b")
    # Within the threshold (30 s) every peer must be up: c never comes, so still not ready.
    wait_until(
        lambda: readyz() == (503, f"not ready: BGP not established with {C}\n"),
        timeout=20,
        message="only c missing",
        describe=lambda: str(readyz()),
    )
    # A shorter threshold (applied on reload, no restart): one Established peer is enough.
    a.write_config(cfg_a.replace("[metrics]\n", "[metrics]\nready_threshold = 1\n"))
    a.reload()
    wait_until(
        lambda: readyz() == (200, "ok: BGP established with 1 of 2 peers\n"),
        timeout=10,
        message="ready with one of two",
        describe=lambda: str(readyz()),
    )
    b.stop()
    wait_until(
        lambda: readyz() == (503, f"not ready: BGP not established with {B},{C}\n"),
        timeout=10,
        message="not ready once b is gone",
        describe=lambda: str(readyz()),
    )
    live = http_get(A, m_a, "/livez")
    assert (live.status, live.body) == (200, "ok: event loop and control socket answer\n")


def test_a_reload_moves_the_listener_without_touching_sessions(
    bgpd_factory: BgpdFactory,
) -> None:
    pair = start_pair(bgpd_factory)
    pair.wait_metric("bgpd_peer_up", 1, **PEER_B)
    (new_port,) = free_tcp_ports(1, A)
    pair.a.write_config(pair.config_a.replace(f"{A}:{pair.a_metrics}", f"{A}:{new_port}"))
    pair.a.reload()

    def moved() -> bool:
        try:
            http_get(A, pair.a_metrics, "/livez")
        except ConnectionRefusedError:
            return http_get(A, new_port, "/livez").status == 200
        return False

    # A probe that reaches the old listener while it closes is reset, or left unanswered
    # (it was in the closing socket's accept queue): try again.
    wait_until(
        moved,
        timeout=20,
        message="metrics moved",
        retry_on=(ConnectionRefusedError, ConnectionResetError, TimeoutError),
    )
    after = scrape(A, new_port)
    key = frozenset(PEER_B.items())
    assert after[("bgpd_peer_established_transitions_total", key)] == 1
    assert after[("bgpd_config_reloads_total", frozenset({("result", "success")}))] == 1


def test_promtool_accepts_the_real_output_and_http_edges(bgpd_factory: BgpdFactory) -> None:
    pair = start_pair(bgpd_factory, statics_b=static("10.42.0.0/24"))
    pair.wait_metric("bgpd_peer_prefixes_received", 1, **PEER_B, **V4)
    for port, host in ((pair.a_metrics, A), (pair.b_metrics, B)):
        reply = http_get(host, port, "/metrics")
        assert reply.content_type.startswith("text/plain; version=0.0.4")
        check = subprocess.run(
            [PROMTOOL, "check", "metrics"],
            input=reply.body,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert "bgpd_peer_up{" in reply.body and "process_resident_memory_bytes" in reply.body
    om = http_get(A, pair.a_metrics, "/metrics", accept="application/openmetrics-text")
    assert om.content_type.startswith("application/openmetrics-text")
    assert om.body.endswith("# EOF\n")
    assert http_get(A, pair.a_metrics, "/nothing").status == 404
    assert http_get(A, pair.a_metrics, "/metrics", method="POST").status == 405
    head = http_get(A, pair.a_metrics, "/readyz", method="HEAD")
    assert (head.status, head.body) == (200, "")


def test_a_metrics_port_in_use_is_a_one_line_startup_error(tmp_path: Path) -> None:
    port, m_port = free_tcp_ports(2, A)
    with socket.socket() as squatter:
        squatter.bind((A, m_port))
        squatter.listen()
        path = tmp_path / "a.toml"
        path.write_text(
            node_config(A, port, m_port, []).replace("@SOCKET@", str(tmp_path / "a.ctl"))
        )
        result = subprocess.run(
            [sys.executable, "-m", "bgpd", "run", "-c", str(path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen for metrics on {A}:{m_port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "a.ctl").exists()


# ------------------------------------------------------------------- a real Prometheus


class PrometheusRunner:
    """A Prometheus on loopback scraping the given targets every second."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        (self.port,) = free_tcp_ports(1, "127.0.0.1")
        self.proc: Process | None = None

    def start(self, targets: list[str]) -> Process:
        config = self.workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: bgpd\n    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        self.proc = spawn(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            name="prometheus",
            log_dir=self.workdir,
        )
        return self.proc

    def query(self, query: str) -> list[str]:
        """The values of an instant query's result, sorted."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": query}
        )
        with urllib.request.urlopen(url, timeout=5) as resp:
            data = json.load(resp)
        assert data["status"] == "success", data
        return sorted(str(r["value"][1]) for r in data["data"]["result"])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusRunner]:
    runner = PrometheusRunner(tmp_path)
    yield runner
    if runner.proc is not None:
        runner.proc.stop()  # by PID, SIGTERM then SIGKILL


def test_a_real_prometheus_scrapes_it_with_up_1(
    bgpd_factory: BgpdFactory, prometheus: PrometheusRunner
) -> None:
    pair = start_pair(bgpd_factory, statics_b=static("10.42.0.0/24"))
    pair.wait_metric("bgpd_peer_up", 1, **PEER_B)
    proc = prometheus.start([f"{A}:{pair.a_metrics}", f"{B}:{pair.b_metrics}"])
    wait_until(
        lambda: prometheus.query('up{job="bgpd"}') == ["1", "1"],
        timeout=60,
        interval=0.5,
        message="Prometheus reports up == 1 for both speakers",
        retry_on=(OSError,),
        describe=proc.output,
    )
    wait_until(
        lambda: prometheus.query('bgpd_peer_prefixes_received{peer="peer_b",afi="ipv4"}') == ["1"],
        timeout=30,
        interval=0.5,
        message="Prometheus stored a's received prefix count",
        retry_on=(OSError,),
        describe=proc.output,
    )
    assert prometheus.query("sum(bgpd_peer_up)") == ["2"]
    assert prometheus.query('scrape_samples_scraped{job="bgpd"} > 50') != []

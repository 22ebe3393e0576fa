"""Debian's prometheus-bird-exporter (czerwonk/bird_exporter) reading a running bgpd's BIRD
socket: with `[control] bird_timeformat_protocol = "iso long"` (BIRD's `timeformat protocol
iso long`, which the exporter's README asks for) the uptime it exports for a session is the
session's real age, not the wall-clock time of day read as a duration.

Two bgpd speakers on loopback (127.0.0.71, 127.0.0.72, free ports); the exporter runs as a
process of its own on the first one's socket, scraped over HTTP.
"""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .bgpd_proc import BgpdFactory
from .peers import free_tcp_ports, wait_until
from .peers.netns import spawn
from .test_metrics import http_get

A, B = "127.0.0.71", "127.0.0.72"
EXPORTER = "/usr/bin/prometheus-bird-exporter"


def node_config(me: str, port: int, other: str, other_port: int, control: str) -> str:
    return f"""
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
{control}

[[peer]]
name = "peer_{other.rsplit(".", 1)[1]}"
address = "{other}"
port = {other_port}
asn = 64512
local_address = "{me}"
"""


def exported_uptime(port: int, protocol: str) -> float | None:
    reply = http_get("127.0.0.1", port, "/metrics")
    if reply.status != 200:
        return None
    for family in text_string_to_metric_families(reply.body):
        for sample in family.samples:
            if sample.name == "bird_protocol_uptime" and sample.labels.get("name") == protocol:
                return sample.value
    return None


def test_bird_exporter_reads_the_session_uptime(bgpd_factory: BgpdFactory, tmp_path: Path) -> None:
    port_a, port_b = free_tcp_ports(1, A)[0], free_tcp_ports(1, B)[0]
    bird = tmp_path / "a-bird.ctl"
    control = f'bird_socket = "{bird}"\nbird_timeformat_protocol = "iso long"'
    a = bgpd_factory(None, node_config(A, port_a, B, port_b, control), name="a")
    bgpd_factory(None, node_config(B, port_b, A, port_a, ""), name="b")
    a.wait_established("peer_72")
    established = time.time() - float(a.peers()["peer_72"]["uptime_s"])

    (web,) = free_tcp_ports(1, "127.0.0.1")
    argv = [
        EXPORTER,
        f"-bird.socket={bird}",
        "-bird.ipv6=false",
        f"-web.listen-address=127.0.0.1:{web}",
    ]
    with spawn(argv, name="bird_exporter", log_dir=tmp_path) as exporter:
        wait_until(
            lambda: exported_uptime(web, "peer_72") is not None,
            timeout=20,
            message="bird_exporter exports peer_72's uptime",
            retry_on=(ConnectionRefusedError, ConnectionResetError, TimeoutError),
            describe=exporter.output,
        )
        uptime = exported_uptime(web, "peer_72")
        real = time.time() - established
    assert uptime is not None
    # whole seconds on both sides (iso long has no fraction), and the scrape takes a moment
    assert abs(uptime - real) < 3, (uptime, real)

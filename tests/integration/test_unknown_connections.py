"""A flood of connections from an address no peer is configured for: every one refused and
counted, one log line for the first and one summary line for the rest (no line per connection)."""

from __future__ import annotations

import socket

from .bgpd_proc import BgpdFactory
from .peers import free_tcp_ports, wait_until
from .test_daemon import pair_configs
from .test_reload_listeners import metric, scrape


def test_unknown_connections_are_counted_and_logged_without_flooding(
    bgpd_factory: BgpdFactory,
) -> None:
    port_a, port_b, port_m = free_tcp_ports(3, "127.0.0.11")
    cfg_a, _ = pair_configs(port_a, port_b)
    a = bgpd_factory(None, cfg_a + f'\n[metrics]\nlisten = "127.0.0.11:{port_m}"\n', name="a")
    flood = 200
    for _ in range(flood):
        with socket.socket() as s:
            s.bind(("127.0.0.99", 0))  # nobody's address
            s.connect(("127.0.0.11", port_a))
    wait_until(
        lambda: metric(scrape(port_m), "bgpd_unknown_connections_total") == flood,
        timeout=10,
        message="every refusal counted",
    )
    wait_until(
        lambda: f"count={flood - 1} seconds=10 last_address=127.0.0.99" in a.output(),
        timeout=20,
        message="one summary line for the rest",
        describe=a.output,
    )
    assert a.output().count("unexpected connection from unknown address=127.0.0.99") == 1

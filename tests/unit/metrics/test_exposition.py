"""Snapshot -> exposition text: two sans-IO speakers on a fake clock, scraped through the
explicit registry exactly as `/metrics` renders it (no sockets)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from bgpd.metrics import ConfdStatus, ReloadStats, SnapshotSource, new_registry, render
from tests.unit.speaker.harness import Net, config, cut

STATICS_B = """
[[static]]
prefix = "10.12.0.0/24"

[[static]]
prefix = "10.13.0.0/24"

[[static]]
prefix = "fd00:12::/64"
next_hop = "fd00::b"
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class FakeKernelStats:
    installed: int = 3
    learned: int = 2
    desired: int = 4
    converged: bool = True
    ops_total: int = 9
    errors_total: int = 1
    resyncs_total: int = 0


def two_nodes(statics_b: str = STATICS_B) -> Net:
    net = Net()
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64512)]))
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], statics_b))
    net.start()
    return net


def source_for(net: Net, node: str, **kwargs: object) -> SnapshotSource:
    return SnapshotSource(
        net.nodes[node].speaker,
        clock=lambda: net.now,
        wall=lambda: 1_700_000_000.0 + net.now,
        **kwargs,  # type: ignore[arg-type]
    )


def scrape_text(source: SnapshotSource, accept: str = "") -> str:
    body, _ = render(new_registry(source.snapshot, process=False), accept)
    return body.decode()


def scrape(source: SnapshotSource) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(scrape_text(source)):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


PEER_A = {"peer": "to_b", "address": "127.0.0.2"}
PEER_B = {"peer": "to_a", "address": "127.0.0.1"}
V4 = {"afi": "ipv4", "safi": "unicast"}
V6 = {"afi": "ipv6", "safi": "unicast"}


def test_an_established_session_and_its_routes_are_exported() -> None:
    net = two_nodes()
    net.advance(12)
    a = scrape(source_for(net, "a"))
    assert value(a, "bgpd_peer_up", **PEER_A) == 1
    assert value(a, "bgpd_peer_fsm_state", **PEER_A) == 6
    assert value(a, "bgpd_peer_state", **PEER_A, state="established") == 1
    assert value(a, "bgpd_peer_state", **PEER_A, state="idle") == 0
    assert value(a, "bgpd_peer_established_transitions_total", **PEER_A) == 1
    assert value(a, "bgpd_peer_uptime_seconds", **PEER_A) == 12
    assert value(a, "bgpd_peer_prefixes_received", **PEER_A, **V4) == 2
    assert value(a, "bgpd_peer_prefixes_received", **PEER_A, **V6) == 1
    assert value(a, "bgpd_peer_prefixes_accepted", **PEER_A, afi="ipv4", safi="unicast") == 2
    assert value(a, "bgpd_peer_prefixes_accepted", **PEER_A, afi="ipv6", safi="unicast") == 1
    assert value(a, "bgpd_peer_prefix_announcements_received_total", **PEER_A) == 3
    assert value(a, "bgpd_peer_prefix_withdrawals_received_total", **PEER_A) == 0
    b = scrape(source_for(net, "b"))
    # b announced its three prefixes to a, and withdrew none.
    assert value(b, "bgpd_peer_prefix_announcements_sent_total", **PEER_B) == 3
    assert value(b, "bgpd_peer_prefix_withdrawals_sent_total", **PEER_B) == 0
    assert value(a, "bgpd_peer_messages_received_total", **PEER_A, type="open") >= 1  # collision
    assert value(a, "bgpd_peer_messages_received_total", **PEER_A, type="update") >= 2
    assert value(a, "bgpd_peer_messages_sent_total", **PEER_A, type="keepalive") >= 1
    assert value(a, "bgpd_peer_last_error_code", **PEER_A) == 0
    assert value(a, "bgpd_rib_prefixes", afi="ipv4", safi="unicast") == 2
    assert value(a, "bgpd_rib_paths", afi="ipv6", safi="unicast") == 1
    assert value(a, "bgpd_update_groups") == 1
    assert value(a, "bgpd_update_group_members_bucket", le="1.0") == 1
    assert value(a, "bgpd_update_group_members_count") == 1
    assert value(a, "bgpd_update_group_members_sum") == 1
    info = {**PEER_A, "peer_asn": "64512", "local_asn": "64512", "type": "ibgp"}
    assert value(a, "bgpd_peer_info", **info, rr_client="false") == 1
    b = scrape(source_for(net, "b"))
    assert value(b, "bgpd_peer_prefixes_advertised", **PEER_B, **V4) == 2
    assert value(b, "bgpd_peer_prefixes_advertised", **PEER_B, **V6) == 1
    assert value(a, "bgpd_peer_prefixes_advertised", **PEER_A, **V4) == 0
    assert value(b, "bgpd_peer_prefixes_received", **PEER_B, **V4) == 0


def test_withdrawals_and_a_dropped_session_follow_reality() -> None:
    net = two_nodes()
    only_one = STATICS_B.split('[[static]]\nprefix = "10.13.0.0/24"\n')
    net.reload("b", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)], "".join(only_one)))
    a = scrape(source_for(net, "a"))
    assert value(a, "bgpd_peer_prefix_withdrawals_received_total", **PEER_A) == 1
    assert value(a, "bgpd_peer_prefixes_accepted", **PEER_A, afi="ipv4", safi="unicast") == 1

    cut(net, "a", "to_b")  # the TCP connection dies: no NOTIFICATION
    a = scrape(source_for(net, "a"))
    assert value(a, "bgpd_peer_up", **PEER_A) == 0
    assert value(a, "bgpd_peer_fsm_state", **PEER_A) < 6
    assert value(a, "bgpd_peer_uptime_seconds", **PEER_A) == 0
    # Graceful restart (on by default): the helper keeps the peer's routes, marked stale.
    assert value(a, "bgpd_peer_prefixes_received", **PEER_A, **V4) == 1
    assert value(a, "bgpd_peer_prefixes_received", **PEER_A, **V6) == 1

    net.advance(30)  # connect retry: the session comes back, the flap is counted
    a = scrape(source_for(net, "a"))
    assert value(a, "bgpd_peer_up", **PEER_A) == 1
    assert value(a, "bgpd_peer_established_transitions_total", **PEER_A) == 2


def test_the_last_notification_code_is_exported() -> None:
    net = two_nodes()
    net.nodes["b"].speaker.shutdown(net.now)
    net.settle()
    a = scrape(source_for(net, "a"))
    assert value(a, "bgpd_peer_last_error_code", **PEER_A) == 6  # Cease (RFC 4271 §4.5)
    assert value(a, "bgpd_peer_last_error_subcode", **PEER_A) == 2  # Admin Shutdown (RFC 4486)


def test_a_removed_peer_disappears_from_the_next_scrape() -> None:
    net = two_nodes()
    source = source_for(net, "a")
    registry = new_registry(source.snapshot, process=False)
    assert 'peer="to_b"' in render(registry)[0].decode()
    # to_b removed, to_c (passive: nobody to dial in this in-memory net) added.
    net.reload(
        "a", config(64512, "127.0.0.1", [("to_c", "127.0.0.3", 64512)], extra_peer="passive = true")
    )
    text = render(registry)[0].decode()  # the same registry, a later scrape
    assert 'peer="to_b"' not in text
    assert 'bgpd_peer_up{address="127.0.0.3",peer="to_c"} 0.0' in text


def test_reloads_kernel_and_confd_are_exported_when_present_and_absent_otherwise() -> None:
    net = two_nodes()
    plain = scrape(source_for(net, "a"))
    assert not any(n.startswith(("bgpd_kernel_", "bgpd_confd_")) for n in names(plain))
    assert value(plain, "bgpd_config_reloads_total", result="failure") == 0
    assert value(plain, "bgpd_config_last_reload_successful") == 1
    assert value(plain, "bgpd_graceful_restart_in_progress") == 0

    reloads = ReloadStats(1_700_000_000.0)
    reloads.succeeded(1_700_000_100.0)
    reloads.failed()
    confd = ConfdStatus(renders_total=4, render_failures_total=1, check_failures_total=2)
    source = source_for(net, "a", kernel=FakeKernelStats, confd=lambda: confd, reloads=reloads)
    full = scrape(source)
    assert value(full, "bgpd_kernel_routes_installed") == 3
    assert value(full, "bgpd_kernel_routes_learned") == 2
    assert value(full, "bgpd_kernel_operation_errors_total") == 1
    assert value(full, "bgpd_config_reloads_total", result="success") == 1
    assert value(full, "bgpd_config_reloads_total", result="failure") == 1
    assert value(full, "bgpd_config_last_reload_successful") == 0
    assert value(full, "bgpd_config_last_reload_success_timestamp_seconds") == 1_700_000_100.0
    assert value(full, "bgpd_confd_check_failures_total") == 2
    assert "bgpd_confd_etcd_connected" not in names(full)  # a file backend: no etcd

    assert "bgpd_confd_datastore_connected" not in names(full)
    etcd_down = ConfdStatus(etcd_connected=False)
    down = scrape(source_for(net, "a", confd=lambda: etcd_down))
    assert value(down, "bgpd_confd_etcd_connected") == 0
    both = ConfdStatus(etcd_connected=True, datastores=(("etcd", True), ("kubernetes", False)))
    mixed = scrape(source_for(net, "a", confd=lambda: both))
    assert value(mixed, "bgpd_confd_datastore_connected", datastore="etcd") == 1
    assert value(mixed, "bgpd_confd_datastore_connected", datastore="kubernetes") == 0


def test_build_info_and_openmetrics_negotiation() -> None:
    net = two_nodes()
    source = source_for(net, "a")
    samples = scrape(source)
    ((_, labels),) = [k for k in samples if k[0] == "bgpd_build_info"]
    assert dict(labels)["version"] == source.snapshot().version != ""
    body, ctype = render(
        new_registry(source.snapshot, process=False), "application/openmetrics-text"
    )
    assert ctype.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    assert b"# TYPE bgpd_update_group_members histogram" in body
    assert b"bgpd_update_group_members_sum 1.0" in body


def test_the_default_registry_is_never_used() -> None:
    from prometheus_client import REGISTRY

    before = set(REGISTRY._names_to_collectors)
    net = two_nodes()
    new_registry(source_for(net, "a").snapshot)
    assert set(REGISTRY._names_to_collectors) == before


def test_peer_info_names_the_peers_as_type_and_reflector_role() -> None:
    net = Net()
    client = """
[[peer]]
name = "to_c"
address = "127.0.0.3"
asn = 64512
rr_client = true
passive = true
"""
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", [("to_b", "127.0.0.2", 64513)]) + client)
    net.add("b", "127.0.0.2", config(64513, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    a = scrape(source_for(net, "a"))
    ebgp = {"peer": "to_b", "address": "127.0.0.2", "peer_asn": "64513", "local_asn": "64512"}
    assert value(a, "bgpd_peer_info", **ebgp, type="ebgp", rr_client="false") == 1
    ibgp = {"peer": "to_c", "address": "127.0.0.3", "peer_asn": "64512", "local_asn": "64512"}
    assert value(a, "bgpd_peer_info", **ibgp, type="ibgp", rr_client="true") == 1
    assert len([k for k in a if k[0] == "bgpd_peer_info"]) == 2

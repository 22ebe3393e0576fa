"""`[[filter]]` rules (Calico's BGPFilter) applied by the speaker on import and on export."""

from __future__ import annotations

from .harness import Net, config

STATICS = "".join(
    f'\n[[static]]\nprefix = "{p}"\n' for p in ("10.1.0.0/24", "10.1.5.0/25", "10.2.0.0/16")
)

FILTERS = """
[[filter]]
name = "no-long"

[[filter.import_v4]]
action = "reject"
cidr = "10.1.0.0/16"
match_operator = "in"
prefix_length_min = 25

[[filter]]
name = "only-ten-one"

[[filter.export_v4]]
action = "accept"
cidr = "10.1.0.0/16"
match_operator = "in"

[[filter.export_v4]]
action = "reject"
"""


def learned(net: Net, node: str) -> set[str]:
    return {r.prefix for r in net.nodes[node].speaker.route_views() if r.peer != "static"}


def pair(b_peer_extra: str = "", a_peer_extra: str = "") -> Net:
    net = Net()
    net.add(
        "a",
        "127.0.0.1",
        config(65001, "127.0.0.1", [("b", "127.0.0.2", 65002)], STATICS, a_peer_extra),
    )
    net.add(
        "b",
        "127.0.0.2",
        config(65002, "127.0.0.2", [("a", "127.0.0.1", 65001)], FILTERS, b_peer_extra),
    )
    net.start()
    return net


def test_import_filter_rejects_what_its_rule_matches_and_accepts_the_rest() -> None:
    net = pair(b_peer_extra='import_filters = ["no-long"]')
    assert learned(net, "b") == {"10.1.0.0/24", "10.2.0.0/16"}
    peer = next(p for p in net.nodes["b"].speaker.peer_views(net.now) if p.name == "a")
    assert peer.prefixes_received == 3 and peer.prefixes_accepted == 2


def test_export_filter_first_match_decides() -> None:
    net = Net()
    net.add(
        "a",
        "127.0.0.1",
        config(
            65001,
            "127.0.0.1",
            [("b", "127.0.0.2", 65002)],
            STATICS + FILTERS,
            'export_filters = ["only-ten-one"]',
        ),
    )
    net.add("b", "127.0.0.2", config(65002, "127.0.0.2", [("a", "127.0.0.1", 65001)]))
    net.start()
    assert learned(net, "b") == {"10.1.0.0/24", "10.1.5.0/25"}


def test_changing_import_filters_asks_the_peer_again_without_a_reset() -> None:
    net = pair()
    assert learned(net, "b") == {"10.1.0.0/24", "10.1.5.0/25", "10.2.0.0/16"}
    closed = len(net.closed)
    text = config(65002, "127.0.0.2", [("a", "127.0.0.1", 65001)], FILTERS)
    net.reload(
        "b",
        text.replace(
            'local_address = "127.0.0.2"',
            'local_address = "127.0.0.2"\nimport_filters = ["no-long"]',
        ),
    )
    assert learned(net, "b") == {"10.1.0.0/24", "10.2.0.0/16"}
    assert len(net.closed) == closed  # route refresh, not a session reset
    net.reload("b", text)
    assert learned(net, "b") == {"10.1.0.0/24", "10.1.5.0/25", "10.2.0.0/16"}

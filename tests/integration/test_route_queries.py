"""`bgpctl show routes` queries through the real bgpctl against two `bgpd run` processes on
loopback: longest match, more specifics, filters, counts, what a peer sent and was sent, and
an unknown peer's error."""

from __future__ import annotations

import json

from .bgpd_proc import BgpdFactory
from .peers import free_tcp_ports
from .test_daemon import bgpctl, pair_configs

STATICS_B = (
    '[[static]]\nprefix = "10.12.0.0/16"\ncommunities = ["64512:12"]\n'
    '[[static]]\nprefix = "10.12.5.0/24"\n'
)


def test_route_queries_through_bgpctl(bgpd_factory: BgpdFactory) -> None:
    port_a, port_b = free_tcp_ports(2, "127.0.0.11")
    cfg_a, cfg_b = pair_configs(port_a, port_b, STATICS_B)
    a = bgpd_factory(None, cfg_a, name="a")
    b = bgpd_factory(None, cfg_b, name="b")
    a.wait_route("10.12.0.0/16")
    a.wait_route("10.12.5.0/24")

    def rows(node_socket: str, *args: str) -> list[dict[str, object]]:
        done = bgpctl("-s", node_socket, "--json", "show", "routes", *args)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert isinstance(data, list)
        return data

    (match,) = rows(a.socket, "for", "10.12.5.7")
    assert match["prefix"] == "10.12.5.0/24" and match["peer"] == "peer"
    (covering,) = rows(a.socket, "for", "10.12.9.9")
    assert covering["prefix"] == "10.12.0.0/16"
    assert [r["prefix"] for r in rows(a.socket, "10.12.0.0/16", "--longer")] == [
        "10.12.0.0/16",
        "10.12.5.0/24",
    ]
    assert [r["prefix"] for r in rows(a.socket, "--community", "64512:12")] == ["10.12.0.0/16"]
    assert rows(a.socket, "--count") == [
        {"family": "ipv4-unicast", "prefixes": 2, "paths": 2, "best": 2}
    ]
    # what b sent a, as b's update group holds it
    sent = rows(b.socket, "--peer", "peer", "--advertised")
    assert [(r["prefix"], r["next_hop"]) for r in sent] == [
        ("10.12.0.0/16", "127.0.0.12"),
        ("10.12.5.0/24", "127.0.0.12"),
    ]
    received = json.loads(
        bgpctl("-s", a.socket, "--json", "show", "routes", "--peer", "peer", "--received").stdout
    )
    assert [r["prefix"] for r in received["accepted"]] == ["10.12.0.0/16", "10.12.5.0/24"]
    assert received["rejected"] == [] and "no Adj-RIB-In" in received["note"]

    table = bgpctl("-s", a.socket, "show", "routes", "for", "10.12.5.7").stdout.splitlines()
    assert table[1].split()[:3] == ["*", "10.12.5.0/24", "127.0.0.12"]
    assert table[-1] == "ipv4-unicast: 1 prefix, 1 path"

    unknown = bgpctl("-s", a.socket, "show", "routes", "--peer", "nope")
    assert unknown.returncode == 1 and unknown.stderr == "bgpctl: no peer named 'nope'\n"
    bad = bgpctl("-s", a.socket, "show", "routes", "--as-path", "(")
    assert bad.returncode == 1 and "bad --as-path regex" in bad.stderr

"""The TOML loader: the minimal file, every validation rule, and how problems are reported."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from bgpd.config import (
    AddPathMode,
    ConfigError,
    LogFormat,
    LogLevel,
    load_config,
    parse_config,
    schema,
)
from bgpd.config import loader as loader_module
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from tests.unit.config.helpers import MINIMAL, build, problems_of


def test_minimal_file_is_accepted_as_is() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.bgp.asn == 64512
    assert cfg.bgp.router_id == IPv4Address("127.0.0.1")
    assert cfg.bgp.listen == (IPv4Address("127.0.0.1"),)
    assert cfg.bgp.port == 1179
    assert cfg.bgp.log_level is LogLevel.INFO
    assert cfg.control.socket == "/tmp/bgpd-a.ctl"
    assert cfg.control.bird_socket is None
    assert cfg.metrics.listen is None
    assert [s.prefix for s in cfg.statics] == [IPv4Network("10.10.1.0/24")]
    (peer,) = cfg.peers
    assert peer.name == "Mesh_127_0_0_2"
    assert peer.address == IPv4Address("127.0.0.2")
    assert peer.port == 1179
    assert peer.asn == 64512
    assert peer.local_address == IPv4Address("127.0.0.1")
    assert cfg.source_path is None


def test_defaults_are_calico_bird_defaults() -> None:
    b = parse_config(MINIMAL).bgp
    assert (b.hold_time, b.keepalive_time, b.connect_retry_time) == (240, None, 5)
    assert (b.error_wait_min, b.error_wait_max) == (5, 30)
    assert b.graceful_restart is True
    assert b.graceful_restart_time == 120
    assert b.families == (IPV4_UNICAST, IPV6_UNICAST)
    assert b.add_path is AddPathMode.OFF
    assert b.log_format is LogFormat.TEXT
    assert b.persist_routes is True
    assert b.cluster_id is None


def test_load_config_reads_a_file_and_records_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bgpd.toml"
    path.write_text(MINIMAL)
    cfg = load_config(path)
    assert cfg.source_path == str(path)
    assert cfg == parse_config(MINIMAL)


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.location == str(path)
    assert "cannot read" in problem.message


def test_load_config_invalid_utf8_points_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b'[bgp]\nasn = 1\nrouter_id = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [p.location for p in info.value.problems] == [f"{path}:3:14"]


def test_toml_syntax_error_has_file_line_col(tmp_path: Path) -> None:
    text = "[bgp]\nasn = 64512\nrouter_id = = 1\n"
    assert problems_of(text)[0][0] == "<string>:3:13"
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.location == f"{path}:3:13"
    assert problem.message.startswith("TOML syntax error: ")
    assert "(at line" not in problem.message


def test_toml_syntax_error_at_end_of_document_and_custom_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[bgp]\nasn = "unterminated', source="bgpd.toml")
    (problem,) = info.value.problems
    assert problem.location == "bgpd.toml:2:20"
    assert "Unterminated string" in problem.message


def test_duplicate_toml_key_is_a_syntax_error_with_position() -> None:
    (problem,) = problems_of("[bgp]\nasn = 1\nasn = 2\n\n")
    assert problem[0] == "<string>:3:8"


@pytest.mark.parametrize(
    ("text", "location", "suggestion"),
    [
        (build(extra="[pear]\n"), "pear", '"peer"'),
        (build(extra='[[peers]]\nname = "x"\n'), "peers", '"peer"'),
        (build(bgp={"hold_tme": "90"}), "bgp.hold_tme", '"hold_time"'),
        (build(control={"sockett": '"/x"'}), "control.sockett", '"socket"'),
        (build(metrics={"listn": '"127.0.0.1:9100"'}), "metrics.listn", '"listen"'),
        (build(statics=[{"comunities": "[]"}]), "static[0].comunities", '"communities"'),
        (
            build(peers=[{"ttl_securty": "1"}]),
            'peer[0].ttl_securty (name "Mesh_127_0_0_2")',
            '"ttl_security"',
        ),
    ],
)
def test_unknown_key_suggests_the_closest(text: str, location: str, suggestion: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0][0] == location
    assert problems[0][1].endswith(f"did you mean {suggestion}?")


def test_unknown_key_without_close_match_has_no_suggestion() -> None:
    ((location, message),) = problems_of(build(bgp={"zzzzzz": "1"}))
    assert location == "bgp.zzzzzz"
    assert message == 'unknown key "zzzzzz"'


def test_top_level_key_that_belongs_in_a_section() -> None:
    ((location, message),) = problems_of("router_id = 1\n" + build())
    assert location == "router_id"
    assert "[bgp]" in message


# (override kwargs for build(), expected location, fragment of the message)
BGP_CASES = [
    ({"asn": "0"}, "bgp.asn", "out of range 1..4294967295"),
    ({"asn": "4294967296"}, "bgp.asn", "out of range"),
    ({"asn": "23456"}, "bgp.asn", "AS_TRANS"),
    ({"asn": '"64512"'}, "bgp.asn", 'expected an integer, got a string ("64512")'),
    ({"asn": "true"}, "bgp.asn", "got a boolean"),
    ({"asn": "1.5"}, "bgp.asn", "got a float"),
    ({"asn": None}, "bgp.asn", "missing required key"),
    ({"router_id": None}, "bgp.router_id", "missing required key"),
    ({"router_id": '"0.0.0.0"'}, "bgp.router_id", "0.0.0.0"),
    ({"router_id": '"::1"'}, "bgp.router_id", "IPv4"),
    ({"router_id": '"224.0.0.1"'}, "bgp.router_id", "multicast"),
    ({"router_id": '"router"'}, "bgp.router_id", "not an IP address"),
    ({"router_id": "2020-01-01"}, "bgp.router_id", "got a date/time"),
    ({"listen": '["127.0.0.1", "nope"]'}, "bgp.listen[1]", "not an IP address"),
    ({"listen": '["127.0.0.1", "127.0.0.1"]'}, "bgp.listen", "listed twice"),
    ({"listen": '"127.0.0.1"'}, "bgp.listen", "expected an array"),
    ({"listen": '["ff02::1"]'}, "bgp.listen[0]", "multicast"),
    ({"port": "0"}, "bgp.port", "out of range 1..65535"),
    ({"port": "65536"}, "bgp.port", "out of range"),
    ({"log_level": '"warn"'}, "bgp.log_level", 'did you mean "warning"?'),
    ({"log_format": '"xml"'}, "bgp.log_format", 'not one of "text", "json"'),
    ({"cluster_id": '"2001:db8::1"'}, "bgp.cluster_id", "IPv4-formatted"),
    ({"hold_time": "1"}, "bgp.hold_time", "RFC 4271"),
    ({"hold_time": "2"}, "bgp.hold_time", "0 (no keepalives) or 3..65535"),
    ({"hold_time": "65536"}, "bgp.hold_time", "3..65535"),
    ({"keepalive_time": "240"}, "bgp.keepalive_time", "less than hold_time 240"),
    ({"keepalive_time": "0"}, "bgp.keepalive_time", "out of range 1..65535"),
    ({"connect_retry_time": "0"}, "bgp.connect_retry_time", "out of range"),
    ({"error_wait_min": "40"}, "bgp.error_wait_min", "greater than error_wait_max 30"),
    ({"error_wait_max": "0"}, "bgp.error_wait_max", "out of range"),
    ({"graceful_restart": '"yes"'}, "bgp.graceful_restart", "expected true or false"),
    ({"graceful_restart_time": "4096"}, "bgp.graceful_restart_time", "RFC 4724"),
    ({"families": "[]"}, "bgp.families", "at least one"),
    ({"families": '["ipv4-unicast", "ipv4-unicast"]'}, "bgp.families", "listed twice"),
    ({"families": '["ipv4_unicast"]'}, "bgp.families[0]", 'did you mean "ipv4-unicast"?'),
    ({"add_path": '"on"'}, "bgp.add_path", '"off", "send", "receive", "both"'),
    ({"persist_routes": "1"}, "bgp.persist_routes", "got an integer"),
]


@pytest.mark.parametrize(("override", "location", "fragment"), BGP_CASES)
def test_bgp_rule(override: dict[str, str | None], location: str, fragment: str) -> None:
    problems = problems_of(build(bgp=override))
    assert [loc for loc, _ in problems] == [location]
    assert fragment in problems[0][1]


def test_invalid_first_of_two_families_reported_with_its_index() -> None:
    problems = problems_of(build(bgp={"families": '["ipv4-multicast", 4]'}))
    assert [loc for loc, _ in problems] == ["bgp.families[0]", "bgp.families[1]"]


@pytest.mark.parametrize(
    "override",
    [
        {"hold_time": "0"},
        {"hold_time": "3"},
        {"hold_time": "0", "keepalive_time": "30"},
        {"hold_time": "9", "keepalive_time": "8"},
        {"error_wait_min": "30", "error_wait_max": "30"},
        {"graceful_restart_time": "0"},
        {"cluster_id": '"224.0.0.1"'},
        {"listen": "[]"},
        {"listen": '["0.0.0.0", "::"]'},
        {"families": '["ipv6-unicast"]'},
    ],
)
def test_bgp_boundary_values_accepted(override: dict[str, str]) -> None:
    parse_config(build(bgp=override))


@pytest.mark.parametrize(
    ("override", "location", "fragment"),
    [
        ({"socket": '""'}, "control.socket", "must not be empty"),
        ({"socket": '"/' + "s" * 107 + '"'}, "control.socket", "sun_path"),
        ({"socket": "1"}, "control.socket", "expected a string"),
        ({"bird_socket": '"/tmp/bgpd-a.ctl"'}, "control.bird_socket", "same path as socket"),
        (
            {"bird_socket": '"/tmp/b.ctl"', "bird6_socket": '"/tmp/b.ctl"'},
            "control.bird6_socket",
            "same path as bird_socket",
        ),
        ({"bird_timeformat_protocol": '"iso longer"'}, "control.bird_timeformat_protocol", "none"),
        ({"bird_timeformat_route": '\'"%T" soon "%F"\''}, "control.bird_timeformat_route", "LIMIT"),
        ({"bird_timeformat_base": '""'}, "control.bird_timeformat_base", "strftime"),
    ],
)
def test_control_rule(override: dict[str, str], location: str, fragment: str) -> None:
    problems = problems_of(build(control=override))
    assert [loc for loc, _ in problems] == [location]
    assert fragment in problems[0][1]


@pytest.mark.parametrize(
    ("listen", "fragment"),
    [
        ('"127.0.0.1"', "HOST:PORT"),
        ('"127.0.0.1:0"', "port 0"),
        ('"127.0.0.1:http"', "not a number"),
        ('"::1:9100"', "[::1]:9100"),
        ('"[::1]9100"', "[IPV6]:PORT"),
        ('"[localhost]:9100"', "[IPV6]:PORT"),
        ('"bad host!:9100"', "neither an IP address nor a host name"),
        ('":9100"', "must not be empty"),
        ("9100", "expected a"),
    ],
)
def test_metrics_listen_rejected(listen: str, fragment: str) -> None:
    problems = problems_of(build(metrics={"listen": listen}))
    assert [loc for loc, _ in problems] == ["metrics.listen"]
    assert fragment in problems[0][1]


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ('"127.0.0.1:9100"', "127.0.0.1", 9100),
        ('"[::1]:9100"', "::1", 9100),
        ('"[::]:9091"', "::", 9091),
        ('"localhost:9100"', "localhost", 9100),
        ('"metrics.example.org:80"', "metrics.example.org", 80),
    ],
)
def test_metrics_listen_accepted(listen: str, host: str, port: int) -> None:
    cfg = parse_config(build(metrics={"listen": listen}))
    assert cfg.metrics.listen is not None
    assert (cfg.metrics.listen.host, cfg.metrics.listen.port) == (host, port)
    assert str(cfg.metrics.listen) == listen.strip('"')


STATIC_CASES = [
    ({"prefix": None}, "static[0].prefix", "missing required key"),
    (
        {"prefix": '"10.10.1.1/24"'},
        "static[0].prefix",
        'host bits set; did you mean "10.10.1.0/24"?',
    ),
    ({"prefix": '"2001:db8::1/64"'}, "static[0].prefix", '"2001:db8::/64"'),
    ({"prefix": '"10.10.1.0"'}, "static[0].prefix", "no prefix length"),
    ({"prefix": '"foo/24"'}, "static[0].prefix", "not an IP prefix"),
    ({"prefix": '"10.0.0.0/33"'}, "static[0].prefix", "not an IP prefix"),
    ({"next_hop": '"2001:db8::1"'}, "static[0].next_hop", "IPv6 but prefix 10.10.1.0/24 is IPv4"),
    ({"next_hop": '"0.0.0.0"'}, "static[0].next_hop", "unicast"),
    ({"next_hop": '"10.0.0.1"', "blackhole": "true"}, "static[0].blackhole", "cannot also"),
    ({"communities": '["65536:1"]'}, "static[0].communities[0]", "0..65535"),
    ({"communities": '["1:2", "x"]'}, "static[0].communities[1]", "of the form A:B"),
    ({"communities": '["1:2:3"]'}, "static[0].communities[0]", "of the form A:B"),
    ({"communities": '["-1:2"]'}, "static[0].communities[0]", "of the form A:B"),
    ({"communities": '["1:2", "1:2"]'}, "static[0].communities", "listed twice"),
    ({"communities": "[12]"}, "static[0].communities[0]", "expected a community string"),
    ({"large_communities": '["1:2"]'}, "static[0].large_communities[0]", "A:B:C"),
    (
        {"large_communities": '["4294967296:1:1"]'},
        "static[0].large_communities[0]",
        "0..4294967295",
    ),
    ({"large_communities": '["1:2:3", "1:2:3"]'}, "static[0].large_communities", "listed twice"),
    ({"med": "-1"}, "static[0].med", "out of range 0..4294967295"),
    ({"local_pref": "4294967296"}, "static[0].local_pref", "out of range"),
]


@pytest.mark.parametrize(("override", "location", "fragment"), STATIC_CASES)
def test_static_rule(override: dict[str, str | None], location: str, fragment: str) -> None:
    problems = problems_of(build(statics=[override]))
    assert [loc for loc, _ in problems] == [location]
    assert fragment in problems[0][1]


def test_static_prefix_defined_twice() -> None:
    problems = problems_of(build(statics=[{}, {"blackhole": "true"}]))
    assert problems == [("static[1].prefix", "10.10.1.0/24 is already defined by static[0]")]


def test_static_with_everything_is_accepted() -> None:
    cfg = parse_config(
        build(
            statics=[
                {
                    "next_hop": '"10.0.0.1"',
                    "communities": '["65000:100", "0:0", "65535:65535"]',
                    "large_communities": '["4294967295:0:1"]',
                    "med": "0",
                    "local_pref": "4294967295",
                },
                {"prefix": '"2001:db8::/48"', "blackhole": "true"},
            ]
        )
    )
    first, second = cfg.statics
    assert [str(c) for c in first.communities] == ["65000:100", "0:0", "65535:65535"]
    assert first.communities[0].value == (65000 << 16) | 100
    assert str(first.large_communities[0]) == "4294967295:0:1"
    assert second.blackhole is True


PEER = 'peer[0].{} (name "Mesh_127_0_0_2")'
PEER_CASES = [
    ({"name": '"bad name"'}, 'peer[0].name (name "bad name")', "letters, digits"),
    ({"name": '"' + "a" * 65 + '"'}, 'peer[0].name (name "' + "a" * 65 + '")', "at most 64"),
    ({"name": None}, "peer[0].name", "missing required key"),
    ({"name": "5"}, "peer[0].name", "expected a string"),
    ({"address": None}, PEER.format("address"), "missing required key"),
    ({"address": '"0.0.0.0"'}, PEER.format("address"), "unspecified"),
    ({"address": '"224.0.0.5"'}, PEER.format("address"), "multicast"),
    ({"asn": None}, PEER.format("asn"), "missing required key"),
    ({"asn": "-5"}, PEER.format("asn"), "out of range"),
    ({"port": "70000"}, PEER.format("port"), "out of range"),
    (
        {"local_address": '"::1"'},
        PEER.format("local_address"),
        "IPv6 but address 127.0.0.2 is IPv4",
    ),
    ({"local_address": '"0.0.0.0"'}, PEER.format("local_address"), "unicast"),
    ({"passive": '"no"'}, PEER.format("passive"), "expected true or false"),
    ({"password": '""'}, PEER.format("password"), "must not be empty"),
    ({"password": '"' + "x" * 81 + '"'}, PEER.format("password"), "81 bytes"),
    ({"password": '"' + "é" * 41 + '"'}, PEER.format("password"), "82 bytes"),
    ({"ttl_security": "255"}, PEER.format("ttl_security"), "1..254"),
    ({"ttl_security": "-1"}, PEER.format("ttl_security"), "1..254"),
    ({"ttl_security": "1", "multihop": "2"}, PEER.format("multihop"), "mutually exclusive"),
    ({"multihop": "0"}, PEER.format("multihop"), "1..255"),
    ({"multihop": "256"}, PEER.format("multihop"), "1..255"),
    ({"hold_time": "2"}, PEER.format("hold_time"), "RFC 4271"),
    ({"hold_time": "30", "keepalive_time": "30"}, PEER.format("keepalive_time"), "less than"),
    ({"keepalive_time": "240"}, PEER.format("keepalive_time"), "inherited from [bgp]"),
    ({"connect_retry_time": "0"}, PEER.format("connect_retry_time"), "out of range"),
    ({"graceful_restart_time": "5000"}, PEER.format("graceful_restart_time"), "RFC 4724"),
    ({"families": "[]"}, PEER.format("families"), "at least one"),
    ({"families": '["ipv6-unicast", "ipv6-unicast"]'}, PEER.format("families"), "twice"),
    ({"add_path": '"sideways"'}, PEER.format("add_path"), "not one of"),
    ({"rr_client": "true", "asn": "65000"}, PEER.format("rr_client"), "needs an iBGP peer"),
    ({"next_hop_self": "1"}, PEER.format("next_hop_self"), "expected true or false"),
    ({"next_hop_v6": '"10.0.0.1"'}, PEER.format("next_hop_v6"), "must be an IPv6 address"),
    ({"next_hop_v6": '"fe80::1"'}, PEER.format("next_hop_v6"), "link-local"),
    ({"next_hop_v6": '"ff02::1"'}, PEER.format("next_hop_v6"), "unicast"),
    ({"next_hop_v4": '"fd00::1"'}, PEER.format("next_hop_v4"), "must be an IPv4 address"),
    ({"next_hop_v4": '"0.0.0.0"'}, PEER.format("next_hop_v4"), "unicast"),
    ({"description": '"two\\nlines"'}, PEER.format("description"), "one line"),
]


@pytest.mark.parametrize(("override", "location", "fragment"), PEER_CASES)
def test_peer_rule(override: dict[str, str | None], location: str, fragment: str) -> None:
    problems = problems_of(build(peers=[override]))
    assert [loc for loc, _ in problems] == [location]
    assert fragment in problems[0][1]


def test_peer_hold_time_below_inherited_keepalive() -> None:
    problems = problems_of(build(bgp={"keepalive_time": "80"}, peers=[{"hold_time": "60"}]))
    assert problems == [
        (
            PEER.format("hold_time"),
            "hold_time 60 must be greater than keepalive_time 80 inherited from [bgp]",
        )
    ]


def test_peer_hold_zero_with_inherited_keepalive_is_fine() -> None:
    cfg = parse_config(build(bgp={"keepalive_time": "80"}, peers=[{"hold_time": "0"}]))
    assert cfg.peer_settings(cfg.peers[0]).keepalive_time == 0


def test_peer_password_of_80_bytes_is_accepted() -> None:
    cfg = parse_config(build(peers=[{"password": '"' + "p" * 80 + '"'}]))
    assert cfg.peers[0].password == "p" * 80


def test_password_is_not_in_repr() -> None:
    cfg = parse_config(build(peers=[{"password": '"s3cret-key"'}]))
    assert "s3cret-key" not in repr(cfg)
    assert "s3cret-key" not in repr(cfg.peer_settings(cfg.peers[0]))


def test_duplicate_peer_name_and_address() -> None:
    problems = problems_of(build(peers=[{}, {}]))
    assert problems == [
        ('peer[1].name (name "Mesh_127_0_0_2")', "name is already used by peer[0]"),
        ('peer[1].address (name "Mesh_127_0_0_2")', "127.0.0.2 is already used by peer[0]"),
    ]


def test_same_address_different_port_is_still_a_duplicate() -> None:
    problems = problems_of(build(peers=[{}, {"name": '"other"', "port": "1790"}]))
    assert [loc for loc, _ in problems] == ['peer[1].address (name "other")']


@pytest.mark.parametrize(
    ("extra", "location", "fragment"),
    [
        ('[peer]\nname = "x"\n', "peer", "write [[peer]], not [peer]"),
        ("peer = 3\n", "peer", "expected an array of tables ([[peer]]), got an integer"),
        ("peer = [1]\n", "peer[0]", "expected a table ([[peer]])"),
        ('static = ["10.0.0.0/8"]\n', "static[0]", "expected a table ([[static]])"),
        ("metrics = 1\n", "metrics", "expected a table ([metrics])"),
    ],
)
def test_section_shape(extra: str, location: str, fragment: str) -> None:
    body = build(statics=[], peers=[])
    problems = problems_of(extra + body)
    assert [loc for loc, _ in problems] == [location]
    assert fragment in problems[0][1]


def test_missing_bgp_section() -> None:
    assert problems_of('[control]\nsocket = "/x"\n') == [("bgp", "missing required section [bgp]")]


def test_bgp_not_a_table() -> None:
    assert problems_of("bgp = 3\n") == [("bgp", "expected a table ([bgp]), got an integer")]


def test_empty_document_needs_bgp() -> None:
    assert problems_of("") == [("bgp", "missing required section [bgp]")]


def test_many_problems_are_reported_together() -> None:
    text = build(
        bgp={"asn": "0", "hold_tme": "90"},
        control={"socket": '""'},
        metrics={"listen": '"nowhere"'},
        statics=[{"prefix": '"10.10.1.1/24"'}, {"prefix": '"10.10.2.0/24"', "med": "-1"}],
        peers=[
            {"ttl_security": "300"},
            {"name": '"Mesh_b"', "address": '"127.0.0.3"', "asn": '"x"', "multihop": "0"},
            {"name": '"Mesh_c"', "address": '"127.0.0.4"'},
            {"name": '"Mesh_c"', "address": '"127.0.0.5"'},
        ],
        extra="\n[extra]\n",
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    err = info.value
    locations = [p.location for p in err.problems]
    assert locations == [
        "extra",
        "bgp.hold_tme",
        "bgp.asn",
        "control.socket",
        "metrics.listen",
        "static[0].prefix",
        "static[1].med",
        'peer[0].ttl_security (name "Mesh_127_0_0_2")',
        'peer[1].asn (name "Mesh_b")',
        'peer[1].multihop (name "Mesh_b")',
        'peer[3].name (name "Mesh_c")',
    ]
    lines = str(err).splitlines()
    assert lines == [f"{p.at}: {p.location}: {p.message}" for p in err.problems]
    asn_line = 1 + text.splitlines().index("asn = 0")
    assert lines[2] == f"<string>:{asn_line}:1: bgp.asn: AS number 0 is out of range 1..4294967295"


def test_section_cross_rules_wait_for_field_errors_in_that_section() -> None:
    # keepalive >= hold cannot be judged while hold_time itself is invalid.
    problems = problems_of(build(bgp={"hold_time": "1", "keepalive_time": "300"}))
    assert [loc for loc, _ in problems] == ["bgp.hold_time"]


def test_loader_key_tables_cover_every_schema_field() -> None:
    import dataclasses

    pairs = [
        (loader_module.BGP_KEYS, schema.BgpSection),
        (loader_module.CONTROL_KEYS, schema.ControlSection),
        (loader_module.METRICS_KEYS, schema.MetricsSection),
        (loader_module.STATIC_KEYS, schema.StaticRoute),
        (loader_module.PEER_KEYS, schema.PeerConfig),
    ]
    for keys, cls in pairs:
        assert set(keys) == {f.name for f in dataclasses.fields(cls)}, cls.__name__


def test_docs_examples_parse() -> None:
    """Every ```toml block of docs/config.md is a valid config on its own."""
    doc = Path(__file__).resolve().parents[3] / "docs" / "config.md"
    text = doc.read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    assert len(blocks) >= 2
    for block in blocks:
        parse_config(block, source=str(doc))
    assert parse_config(blocks[0]) == parse_config(MINIMAL)

"""The frozen schema: invariants on direct construction and per-peer inheritance."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address

import pytest

from bgpd.config import (
    AddPathMode,
    BgpSection,
    Community,
    Config,
    ConfigError,
    ControlSection,
    LargeCommunity,
    ListenAddress,
    NextHopMode,
    PeerConfig,
    StaticRoute,
    parse_config,
)
from bgpd.errors import BgpdError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.wire.capabilities import AddPathMode as WireAddPathMode
from tests.unit.config.helpers import MINIMAL, build

RID = IPv4Address("192.0.2.1")


def _peer(**kw: object) -> PeerConfig:
    base: dict[str, object] = {"name": "p", "address": ip_address("192.0.2.2"), "asn": 64512}
    base.update(kw)
    return PeerConfig(**base)  # type: ignore[arg-type]


def test_config_error_is_a_bgpd_error() -> None:
    assert issubclass(ConfigError, BgpdError)


def test_values_are_frozen() -> None:
    cfg = parse_config(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.bgp.asn = 1  # type: ignore[misc]


def test_bgp_section_rejects_every_bad_field_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        BgpSection(asn=0, router_id=IPv4Address("0.0.0.0"), hold_time=2, error_wait_min=50)
    assert [p.location for p in info.value.problems] == [
        "asn",
        "router_id",
        "hold_time",
        "error_wait_min",
    ]


def test_bgp_section_keepalive_must_be_below_hold() -> None:
    with pytest.raises(ConfigError, match="keepalive_time 90 must be less than hold_time 90"):
        BgpSection(asn=1, router_id=RID, hold_time=90, keepalive_time=90)
    assert BgpSection(asn=1, router_id=RID, hold_time=90, keepalive_time=89).keepalive_time == 89


def test_peer_rejects_ttl_security_with_multihop() -> None:
    with pytest.raises(ConfigError) as info:
        _peer(ttl_security=1, multihop=3)
    assert [(p.location, p.message) for p in info.value.problems] == [
        ("multihop", "multihop and ttl_security are mutually exclusive")
    ]
    assert _peer(ttl_security=1).ttl_security == 1
    assert _peer(multihop=3).multihop == 3


def test_peer_local_address_family_must_match() -> None:
    with pytest.raises(ConfigError, match="local_address ::1 is IPv6"):
        _peer(local_address=IPv6Address("::1"))


def test_static_route_checks() -> None:
    net = IPv4Network("10.0.0.0/8")
    with pytest.raises(ConfigError) as info:
        StaticRoute(
            prefix=net,
            next_hop=IPv6Address("2001:db8::1"),
            blackhole=True,
            communities=(Community(high=1, low=2), Community(high=1, low=2)),
            med=-1,
        )
    assert [p.location for p in info.value.problems] == [
        "next_hop",
        "blackhole",
        "communities",
        "med",
    ]


def test_community_ranges() -> None:
    with pytest.raises(ConfigError):
        Community(high=65536, low=0)
    with pytest.raises(ConfigError):
        LargeCommunity(global_admin=0, local1=-1, local2=0)
    assert Community(high=65535, low=65281).value == 0xFFFFFF01  # NO_EXPORT, RFC 1997
    assert str(LargeCommunity(global_admin=1, local1=2, local2=3)) == "1:2:3"


def test_listen_address_checks_and_formats() -> None:
    with pytest.raises(ConfigError):
        ListenAddress(host="", port=80)
    with pytest.raises(ConfigError):
        ListenAddress(host="127.0.0.1", port=0)
    assert str(ListenAddress(host="::1", port=9100)) == "[::1]:9100"
    assert str(ListenAddress(host="127.0.0.1", port=9100)) == "127.0.0.1:9100"


def test_control_sockets_must_differ() -> None:
    with pytest.raises(ConfigError, match="same path as socket"):
        ControlSection(socket="/a", bird_socket="/a")


def test_config_rejects_duplicates_with_full_locations() -> None:
    bgp = BgpSection(asn=64512, router_id=RID)
    with pytest.raises(ConfigError) as info:
        Config(bgp=bgp, peers=(_peer(), _peer(name="q")))
    assert [p.location for p in info.value.problems] == ['peer[1].address (name "q")']


def test_config_source_path_is_not_compared() -> None:
    bgp = BgpSection(asn=64512, router_id=RID)
    assert Config(bgp=bgp, source_path="/a") == Config(bgp=bgp, source_path="/b")


def test_add_path_mode_maps_to_the_wire_flag() -> None:
    assert AddPathMode.OFF.wire is None
    assert AddPathMode.SEND.wire is WireAddPathMode.SEND
    assert AddPathMode.RECEIVE.wire is WireAddPathMode.RECEIVE
    assert AddPathMode.BOTH.wire is WireAddPathMode.BOTH


# --- peer_settings: inheritance -----------------------------------------------------------------


def test_peer_settings_defaults_inherit_calico_values() -> None:
    cfg = parse_config(MINIMAL)
    s = cfg.peer_settings(cfg.peers[0])
    assert s == cfg.peer_settings("Mesh_127_0_0_2")
    assert (s.name, s.address, s.port, s.asn) == (
        "Mesh_127_0_0_2",
        IPv4Address("127.0.0.2"),
        1179,
        64512,
    )
    assert (s.local_asn, s.router_id, s.cluster_id) == (64512, IPv4Address("127.0.0.1"), None)
    assert s.local_address == IPv4Address("127.0.0.1")
    assert (s.hold_time, s.keepalive_time, s.keepalive_explicit) == (240, 80, False)
    assert (s.connect_retry_time, s.error_wait_min, s.error_wait_max) == (5, 5, 30)
    assert (s.graceful_restart, s.graceful_restart_time) == (True, 120)
    assert s.families == frozenset({IPV4_UNICAST, IPV6_UNICAST})
    assert s.families == frozenset({(1, 1), (2, 1)})  # plain (afi, safi) tuples compare equal
    assert s.add_path is AddPathMode.OFF
    assert (s.passive, s.password, s.ttl_security, s.multihop) == (False, None, 0, None)
    assert (s.rr_client, s.next_hop_self, s.description) == (False, False, "")
    assert s.is_ebgp is False


def test_peer_settings_peer_values_win() -> None:
    cfg = parse_config(
        build(
            peers=[
                {
                    "asn": "65001",
                    "hold_time": "9",
                    "connect_retry_time": "11",
                    "graceful_restart_time": "30",
                    "families": '["ipv6-unicast"]',
                    "add_path": '"both"',
                    "passive": "true",
                    "password": '"pw"',
                    "ttl_security": "2",
                    "next_hop_self": "true",
                    "description": '"tor-a"',
                }
            ]
        )
    )
    s = cfg.peer_settings(cfg.peers[0])
    assert (s.hold_time, s.keepalive_time, s.keepalive_explicit) == (9, 3, False)
    assert (s.connect_retry_time, s.graceful_restart_time) == (11, 30)
    assert s.families == frozenset({IPV6_UNICAST})
    assert s.add_path is AddPathMode.BOTH
    assert (s.passive, s.password, s.ttl_security) == (True, "pw", 2)
    assert (s.next_hop_self, s.description) == (True, "tor-a")
    assert s.is_ebgp is True


def test_peer_settings_inherit_changed_globals() -> None:
    cfg = parse_config(
        build(
            bgp={
                "hold_time": "90",
                "keepalive_time": "20",
                "connect_retry_time": "7",
                "error_wait_min": "1",
                "error_wait_max": "2",
                "graceful_restart": "false",
                "graceful_restart_time": "60",
                "families": '["ipv4-unicast"]',
                "add_path": '"send"',
                "cluster_id": '"224.0.0.1"',
            },
            peers=[{}, {"name": '"b"', "address": '"127.0.0.3"', "keepalive_time": "10"}],
        )
    )
    a, b = (cfg.peer_settings(p) for p in cfg.peers)
    assert (a.hold_time, a.keepalive_time, a.keepalive_explicit) == (90, 20, True)
    assert (b.hold_time, b.keepalive_time, b.keepalive_explicit) == (90, 10, True)
    assert (a.connect_retry_time, a.error_wait_min, a.error_wait_max) == (7, 1, 2)
    assert (a.graceful_restart, a.graceful_restart_time) == (False, 60)
    assert a.families == frozenset({IPV4_UNICAST})
    assert a.add_path is AddPathMode.SEND
    assert a.cluster_id == IPv4Address("224.0.0.1")


def test_keepalive_is_zero_when_hold_is_zero() -> None:
    # RFC 4271 §4.4: with a zero hold time no KEEPALIVE is sent.
    cfg = parse_config(build(bgp={"hold_time": "0", "keepalive_time": "30"}))
    assert cfg.peer_settings(cfg.peers[0]).keepalive_time == 0
    cfg = parse_config(build(peers=[{"hold_time": "0"}]))
    assert cfg.peer_settings(cfg.peers[0]).keepalive_time == 0


def test_peer_lookup_by_unknown_name() -> None:
    cfg = parse_config(MINIMAL)
    with pytest.raises(KeyError):
        cfg.peer_settings("nobody")
    assert cfg.peer("Mesh_127_0_0_2") is cfg.peers[0]


def test_peer_settings_covers_every_peer_config_field() -> None:
    peer_fields = {f.name for f in dataclasses.fields(PeerConfig)}
    settings_fields = {
        f.name
        for f in dataclasses.fields(type(parse_config(MINIMAL).peer_settings("Mesh_127_0_0_2")))
    }
    # next_hop_self is the older spelling of next_hop_mode, which PeerSettings resolves; the
    # BFD keys are no session's: Config.peer_bfd resolves them for the BFD edge
    bfd_fields = {"bfd", "bfd_min_rx_ms", "bfd_min_tx_ms", "bfd_multiplier", "bfd_multihop"}
    assert peer_fields - {"next_hop_self"} - bfd_fields <= settings_fields


def test_peer_local_asn_next_hop_mode_and_allow_local_as_resolve() -> None:
    cfg = parse_config(
        build(
            peers=[
                {"local_asn": "65010", "next_hop_mode": '"keep"', "allow_local_as": "2"},
                {"name": '"b"', "address": '"127.0.0.3"', "next_hop_self": "true"},
            ]
        )
    )
    a, b = (cfg.peer_settings(p) for p in cfg.peers)
    # iBGP/eBGP is decided against the peer's own local AS: AS 64512 is eBGP from AS 65010
    assert (a.local_asn, a.asn, a.is_ebgp) == (65010, 64512, True)
    assert (a.next_hop_mode, a.next_hop_self, a.allow_local_as) == (NextHopMode.KEEP, False, 2)
    assert (b.local_asn, b.is_ebgp, b.allow_local_as) == (64512, False, 0)
    assert (b.next_hop_mode, b.next_hop_self) == (NextHopMode.SELF, True)


@pytest.mark.parametrize(
    ("peer", "location", "message"),
    [
        ({"local_asn": "0"}, "local_asn", "out of range"),
        ({"local_asn": "23456"}, "local_asn", "AS_TRANS"),
        ({"allow_local_as": "-1"}, "allow_local_as", "out of range 0.."),
        ({"next_hop_mode": '"sometimes"'}, "next_hop_mode", "auto"),
        (
            {"next_hop_self": "true", "next_hop_mode": '"self"'},
            "next_hop_self",
            "older spelling",
        ),
        # rr_client needs iBGP on the session: against the peer's local AS, not the node's
        ({"rr_client": "true", "local_asn": "65010"}, "rr_client", "its local_asn asn 65010"),
    ],
)
def test_peer_session_keys_refused(peer: dict[str, str], location: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(build(peers=[peer]))
    problems = info.value.problems
    assert any(location in p.location and message in p.message for p in problems), problems

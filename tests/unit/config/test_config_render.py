"""render_config_toml: masking, escaping and the parse/render round trip (with hypothesis)."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from bgpd.confd.template_env import make_environment
from bgpd.config import (
    MASK,
    AddPathMode,
    BgpSection,
    Community,
    Config,
    ConfigError,
    ControlSection,
    LargeCommunity,
    ListenAddress,
    LogFormat,
    LogLevel,
    MetricsSection,
    NextHopMode,
    PeerConfig,
    StaticRoute,
    parse_config,
    render_config_toml,
)
from bgpd.config.toml_writer import toml_value
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from tests.unit.config.helpers import MINIMAL, build


def roundtrip(cfg: Config) -> Config:
    return parse_config(render_config_toml(cfg, mask_secrets=False))


def test_minimal_round_trip_and_shape() -> None:
    cfg = parse_config(MINIMAL)
    text = render_config_toml(cfg)
    assert roundtrip(cfg) == cfg
    assert text.startswith("[bgp]\n")
    # [bgp] is written in full; peers only show what differs from the defaults.
    assert "hold_time = 240\n" in text
    assert 'families = ["ipv4-unicast", "ipv6-unicast"]' in text
    assert "passive" not in text
    assert "[metrics]" not in text


def test_source_path_is_a_comment() -> None:
    cfg = parse_config(MINIMAL)
    cfg = Config(bgp=cfg.bgp, peers=cfg.peers, source_path='/etc/"odd"\npath.toml')
    text = render_config_toml(cfg)
    assert text.splitlines()[0] == '# loaded from "/etc/\\"odd\\"\\npath.toml"'
    assert roundtrip(cfg) == cfg


def test_passwords_are_masked_by_default() -> None:
    cfg = parse_config(build(peers=[{"password": '"s3cret"'}]))
    masked = render_config_toml(cfg)
    assert "s3cret" not in masked
    assert f'password = "{MASK}"' in masked
    assert parse_config(masked).peers[0].password == MASK
    unmasked = render_config_toml(cfg, mask_secrets=False)
    assert 'password = "s3cret"' in unmasked
    assert parse_config(unmasked) == cfg


def test_strings_with_special_characters_round_trip() -> None:
    nasty = 'quote " backslash \\ tab \t bell \x07 del \x7f unicode é ✓ \U0001f600'
    cfg = parse_config(MINIMAL)
    peer = cfg.peers[0]
    cfg2 = Config(
        bgp=cfg.bgp,
        peers=(
            PeerConfig(
                name=peer.name,
                address=peer.address,
                asn=peer.asn,
                description=nasty,
                password="\\\"'\x01",
            ),
        ),
    )
    text = render_config_toml(cfg2, mask_secrets=False)
    assert tomllib.loads(text)["peer"][0]["description"] == nasty
    assert roundtrip(cfg2) == cfg2


# --- Generated configs --------------------------------------------------------------------------

ipv4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
ipv6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
any_ip = st.one_of(ipv4, ipv6)
small_text = st.text(alphabet=st.characters(exclude_characters="\n\r"), max_size=20)


@st.composite
def prefixes(draw: st.DrawFn) -> IPv4Network | IPv6Network:
    if draw(st.booleans()):
        return IPv4Network((draw(ipv4), draw(st.integers(0, 32))), strict=False)
    return IPv6Network((draw(ipv6), draw(st.integers(0, 128))), strict=False)


families = st.lists(
    st.sampled_from([IPV4_UNICAST, IPV6_UNICAST]), min_size=1, max_size=2, unique=True
)
asns = st.integers(1, 2**32 - 1).filter(lambda a: a != 23456)
hold_times = st.one_of(st.just(0), st.integers(3, 65535))
restart_times = st.integers(0, 4095)
seconds = st.integers(1, 65535)


def opt(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), strategy)


@st.composite
def bgp_sections(draw: st.DrawFn) -> BgpSection:
    ew_min = draw(seconds)
    return BgpSection(
        asn=draw(asns),
        router_id=draw(ipv4.filter(lambda a: int(a) != 0 and not a.is_multicast)),
        listen=tuple(
            draw(st.lists(any_ip.filter(lambda a: not a.is_multicast), unique=True, max_size=3))
        ),
        port=draw(st.integers(1, 65535)),
        log_level=draw(st.sampled_from(LogLevel)),
        log_format=draw(st.sampled_from(LogFormat)),
        cluster_id=draw(opt(ipv4)),  # type: ignore[arg-type]
        hold_time=draw(st.just(240) | hold_times),
        keepalive_time=draw(opt(st.integers(1, 2))),  # type: ignore[arg-type]
        connect_retry_time=draw(seconds),
        error_wait_min=ew_min,
        error_wait_max=draw(st.integers(ew_min, 65535)),
        graceful_restart=draw(st.booleans()),
        graceful_restart_time=draw(restart_times),
        families=tuple(draw(families)),
        add_path=draw(st.sampled_from(AddPathMode)),
        persist_routes=draw(st.booleans()),
    )


@st.composite
def statics(draw: st.DrawFn) -> StaticRoute:
    prefix = draw(prefixes())
    blackhole = draw(st.booleans())
    hop: IPv4Address | IPv6Address | None = None
    if not blackhole and draw(st.booleans()):
        hop = draw(ipv4) if prefix.version == 4 else draw(ipv6)
    try:
        return StaticRoute(
            prefix=prefix,
            next_hop=hop,
            blackhole=blackhole,
            communities=tuple(
                draw(
                    st.lists(
                        st.builds(Community, high=st.integers(0, 65535), low=st.integers(0, 65535)),
                        unique=True,
                        max_size=3,
                    )
                )
            ),
            large_communities=tuple(
                draw(
                    st.lists(
                        st.builds(
                            LargeCommunity,
                            global_admin=st.integers(0, 2**32 - 1),
                            local1=st.integers(0, 2**32 - 1),
                            local2=st.integers(0, 2**32 - 1),
                        ),
                        unique=True,
                        max_size=2,
                    )
                )
            ),
            med=draw(opt(st.integers(0, 2**32 - 1))),  # type: ignore[arg-type]
            local_pref=draw(opt(st.integers(0, 2**32 - 1))),  # type: ignore[arg-type]
        )
    except ConfigError:
        reject()


@st.composite
def peers(draw: st.DrawFn, index: int) -> PeerConfig:
    address = draw(any_ip)
    ttl = draw(st.integers(0, 254))
    try:
        return PeerConfig(
            name=f"peer{index}" + draw(st.from_regex(r"[A-Za-z0-9_.:-]{0,20}", fullmatch=True)),
            address=address,
            asn=draw(asns),
            port=draw(st.integers(1, 65535)),
            local_address=draw(opt(ipv4 if address.version == 4 else ipv6)),  # type: ignore[arg-type]
            passive=draw(st.booleans()),
            password=draw(opt(st.text(min_size=1, max_size=20))),  # type: ignore[arg-type]
            ttl_security=ttl,
            multihop=None if ttl else draw(opt(st.integers(1, 255))),  # type: ignore[arg-type]
            hold_time=draw(opt(hold_times)),  # type: ignore[arg-type]
            keepalive_time=draw(opt(st.integers(1, 2))),  # type: ignore[arg-type]
            connect_retry_time=draw(opt(seconds)),  # type: ignore[arg-type]
            graceful_restart_time=draw(opt(restart_times)),  # type: ignore[arg-type]
            families=draw(opt(families.map(tuple))),  # type: ignore[arg-type]
            add_path=draw(opt(st.sampled_from(AddPathMode))),  # type: ignore[arg-type]
            rr_client=False,
            next_hop_self=draw(st.booleans()),
            next_hop_v4=draw(opt(ipv4)),  # type: ignore[arg-type]
            next_hop_v6=draw(opt(ipv6.filter(lambda a: not a.is_link_local))),  # type: ignore[arg-type]
            description=draw(small_text),
            local_asn=draw(opt(asns)),  # type: ignore[arg-type]
            next_hop_mode=draw(opt(st.sampled_from(NextHopMode))),  # type: ignore[arg-type]
            allow_local_as=draw(st.integers(0, 10)),
        )
    except ConfigError:
        reject()


@st.composite
def configs(draw: st.DrawFn) -> Config:
    bgp = draw(bgp_sections())
    peer_list = [draw(peers(i)) for i in range(draw(st.integers(0, 4)))]
    # rr_client is only valid for iBGP peers.
    peer_list = [
        PeerConfig(**{**{f: getattr(p, f) for f in p.__dataclass_fields__}, "rr_client": True})
        if p.asn == (bgp.asn if p.local_asn is None else p.local_asn) and draw(st.booleans())
        else p
        for p in peer_list
    ]
    sockets = draw(
        st.lists(
            st.from_regex(r"/[a-z0-9/._-]{1,40}", fullmatch=True),
            unique=True,
            min_size=3,
            max_size=3,
        )
    )
    control = ControlSection(
        socket=sockets[0],
        bird_socket=sockets[1] if draw(st.booleans()) else None,
        bird6_socket=sockets[2] if draw(st.booleans()) else None,
        bird_timeformat_protocol=draw(
            st.sampled_from([None, "iso long", '"%s"', '"%T" 72000 "%F"'])
        ),
    )
    listen = draw(
        opt(
            st.builds(
                ListenAddress,
                host=st.one_of(any_ip.map(str), st.just("localhost")),
                port=st.integers(1, 65535),
            )
        )
    )
    try:
        return Config(
            bgp=bgp,
            control=control,
            metrics=MetricsSection(listen=listen),  # type: ignore[arg-type]
            statics=tuple(draw(st.lists(statics(), max_size=4))),
            peers=tuple(peer_list),
        )
    except ConfigError:
        reject()


@settings(max_examples=200, deadline=None)
@given(configs())
def test_generated_configs_round_trip(cfg: Config) -> None:
    assert roundtrip(cfg) == cfg


@settings(max_examples=50, deadline=None)
@given(configs())
def test_masked_render_never_contains_passwords(cfg: Config) -> None:
    text = render_config_toml(cfg)
    parsed = parse_config(text)
    for original, shown in zip(cfg.peers, parsed.peers, strict=True):
        assert shown.password == (None if original.password is None else MASK)


@given(st.recursive(st.booleans() | st.integers(0, 2**32) | st.text(), st.lists, max_leaves=8))
def test_toml_value_reads_back(value: object) -> None:
    # Every string, DEL and the other control characters included, reads back unchanged.
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_templates_write_toml_through_the_config_writer(tmp_path: Path) -> None:
    assert make_environment(tmp_path).filters["toml"] is toml_value

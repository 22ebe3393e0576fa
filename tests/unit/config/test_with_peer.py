"""`Config.with_peer` / `without_peer` (a dynamic neighbour coming and going): the same config
as rebuilding it with one peer more or less, and the same refusals, without checking every
other peer again."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address

import pytest

from bgpd.config import Config, ConfigError, parse_config
from bgpd.config.peer import PeerConfig

BASE = """
[bgp]
asn = 64512
router_id = "10.0.0.1"

[[peer]]
name = "configured"
address = "10.9.0.5"
asn = 64512

[[filter]]
name = "out"
"""


def config() -> Config:
    return parse_config(BASE)


def peer(
    name: str,
    address: str,
    *,
    asn: int = 64512,
    rr_client: bool = False,
    export_filters: tuple[str, ...] = (),
) -> PeerConfig:
    return PeerConfig(
        name=name,
        address=ip_address(address),
        asn=asn,
        passive=True,
        rr_client=rr_client,
        export_filters=export_filters,
    )


def test_with_peer_is_the_config_rebuilt_with_it() -> None:
    cfg = config()
    extra = peer("d1", "10.9.0.7", rr_client=True, export_filters=("out",))
    fast = cfg.with_peer(extra)
    slow = dataclasses.replace(cfg, peers=(*cfg.peers, extra))
    assert fast == slow
    assert fast.all_peers == slow.all_peers
    assert fast.peer("d1") is extra
    assert fast.peer_settings("d1") == slow.peer_settings("d1")
    with pytest.raises(KeyError):
        cfg.peer("d1")  # the old config is left as it was


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (peer("d1", "10.9.0.7", export_filters=("missing",)), "missing"),
        (peer("d1", "10.9.0.7", rr_client=True, asn=65001), "rr_client"),
        (peer("configured", "10.9.0.7"), "configured"),
    ],
)
def test_with_peer_refuses_what_a_rebuild_refuses(extra: PeerConfig, message: str) -> None:
    cfg = config()
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(cfg, peers=(*cfg.peers, extra))
    with pytest.raises(ConfigError, match=message):
        cfg.with_peer(extra)


def test_without_peer_is_the_config_rebuilt_without_it() -> None:
    cfg = config().with_peer(peer("d1", "10.9.0.7")).with_peer(peer("d2", "10.9.0.8"))
    fast = cfg.without_peer("d1")
    slow = dataclasses.replace(cfg, peers=tuple(p for p in cfg.peers if p.name != "d1"))
    assert fast == slow
    assert [p.name for p in fast.all_peers] == ["configured", "d2"]
    with pytest.raises(KeyError):
        fast.peer("d1")
    assert cfg.peer("d1").name == "d1"
    assert fast.without_peer("nobody") is fast

"""`restart_mode` and `llgr_stale_time` ([bgp] defaults, [[peer]] overrides): RFC 9494."""

from __future__ import annotations

import pytest

from bgpd.config import ConfigError, parse_config
from bgpd.config.restart_mode import RestartMode
from bgpd.net import IPV4_UNICAST
from bgpd.speaker.peer_state import session_settings
from bgpd.wire.capabilities import LongLivedFamily, LongLivedGracefulRestart

BASE = """\
[bgp]
asn = 64512
router_id = "127.0.0.1"
families = ["ipv4-unicast"]
{bgp}

[[peer]]
name = "rr1"
address = "127.0.0.2"
asn = 64512
{peer}
"""


def _config(bgp: str = "", peer: str = ""):  # type: ignore[no-untyped-def]
    return parse_config(BASE.format(bgp=bgp, peer=peer))


def test_default_is_gr_with_bird_stale_time_and_no_llgr_capability() -> None:
    config = _config()
    settings = config.peer_settings(config.peers[0])
    assert (settings.restart_mode, settings.llgr_stale_time) == (RestartMode.GR, 3600)
    caps = session_settings(config, config.peers[0]).capabilities()
    assert not any(isinstance(c, LongLivedGracefulRestart) for c in caps)


def test_peer_llgr_sends_the_capability_with_its_stale_time() -> None:
    config = _config(peer='restart_mode = "llgr"\nllgr_stale_time = 60')
    caps = session_settings(config, config.peers[0]).capabilities()
    llgr = [c for c in caps if isinstance(c, LongLivedGracefulRestart)]
    assert llgr == [
        LongLivedGracefulRestart(
            families=(
                LongLivedFamily(family=IPV4_UNICAST, forwarding_preserved=False, stale_time=60),
            )
        )
    ]


def test_peer_inherits_bgp_defaults() -> None:
    config = _config(bgp='restart_mode = "llgr"\nllgr_stale_time = 90')
    settings = config.peer_settings(config.peers[0])
    assert (settings.restart_mode, settings.llgr_stale_time) == (RestartMode.LLGR, 90)
    config = _config(bgp='restart_mode = "llgr"', peer='restart_mode = "gr"')
    assert config.peer_settings(config.peers[0]).restart_mode is RestartMode.GR


@pytest.mark.parametrize(
    ("bgp", "peer", "location", "fragment"),
    [
        ("llgr_stale_time = 0", "", "bgp.llgr_stale_time", "out of range 1..16777215"),
        ("", "llgr_stale_time = 16777216", "llgr_stale_time", "out of range 1..16777215"),
        ('restart_mode = "lgr"', "", "bgp.restart_mode", "llgr"),
        ('restart_mode = "llgr"\ngraceful_restart = false', "", "restart_mode", "graceful_restart"),
        ("graceful_restart = false", 'restart_mode = "llgr"', "restart_mode", "graceful_restart"),
    ],
)
def test_invalid(bgp: str, peer: str, location: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(bgp, peer)
    assert any(location in p.location and fragment in p.message for p in info.value.problems), (
        info.value.problems
    )

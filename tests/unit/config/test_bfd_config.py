"""`[bfd]` and the per-peer `bfd*` keys: defaults, overrides, the checks and the rendering."""

from __future__ import annotations

import pytest

from bgpd.config import BfdSection, ConfigError, PeerBfd, parse_config
from bgpd.config.toml_writer import render_config_toml

from .helpers import MINIMAL


def test_a_peer_without_bfd_runs_none() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.bfd == BfdSection()
    assert cfg.peer_bfd(cfg.peers[0]) is None


def test_section_defaults_and_peer_overrides_resolve() -> None:
    cfg = parse_config(
        MINIMAL.replace("[[peer]]", "[bfd]\nmin_rx_ms = 200\nmultiplier = 5\n\n[[peer]]")
        + "bfd = true\nbfd_min_tx_ms = 50\n"
    )
    assert cfg.peer_bfd(cfg.peers[0]) == PeerBfd(
        min_rx_ms=200, min_tx_ms=50, multiplier=5, multihop=False
    )


def test_multihop_above_one_is_multihop_bfd() -> None:
    cfg = parse_config(MINIMAL + "bfd = true\nmultihop = 3\n")
    resolved = cfg.peer_bfd(cfg.peers[0])
    assert resolved is not None and resolved.multihop


@pytest.mark.parametrize(
    ("extra", "location", "words"),
    [
        ("bfd_min_rx_ms = 5\nbfd = true\n", "bfd_min_rx_ms", "out of range 10..60000"),
        ("bfd_multiplier = 0\nbfd = true\n", "bfd_multiplier", "out of range 1..255"),
        ("bfd_min_tx_ms = 100\n", "bfd_min_tx_ms", "set bfd = true"),
    ],
)
def test_bad_peer_keys_are_refused(extra: str, location: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + extra)
    assert any(location in p.location and words in p.message for p in err.value.problems), (
        err.value.problems
    )


def test_bad_section_values_are_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL.replace("[[peer]]", "[bfd]\nmin_tx_ms = 70000\n\n[[peer]]"))
    assert [p.location for p in err.value.problems] == ["bfd.min_tx_ms"]


def test_rendering_round_trips() -> None:
    cfg = parse_config(
        MINIMAL.replace("[[peer]]", "[bfd]\nmultiplier = 4\n\n[[peer]]")
        + "bfd = true\nbfd_min_rx_ms = 100\n"
    )
    text = render_config_toml(cfg)
    assert "[bfd]\nmultiplier = 4" in text
    assert parse_config(text) == cfg


def test_bfd_multihop_overrides_what_multihop_implies() -> None:
    cfg = parse_config(MINIMAL + "bfd = true\nmultihop = 64\nbfd_multihop = false\n")
    resolved = cfg.peer_bfd(cfg.peers[0])
    assert resolved is not None and not resolved.multihop
    with pytest.raises(ConfigError):
        parse_config(MINIMAL + "bfd_multihop = true\n")

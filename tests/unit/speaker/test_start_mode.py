"""Restarting or cold (bgpd.speaker.start_mode): the decision from the restart state file."""

from __future__ import annotations

import pytest

from bgpd.config import Config, ConfigError, parse_config
from bgpd.speaker.start_mode import (
    RestartRecord,
    StateFileRead,
    decide_start,
    decode_record,
    encode_record,
    held_for,
    refresh_period,
)

NOW = 1_800_000_000.0

REFLECTOR = """
[bgp]
asn = 64512
router_id = "10.0.0.1"
cluster_id = "224.0.0.1"
restart_state_file = "/var/lib/bgp-reflector/restart-state.json"
{extra}
[[peer]]
name = "c1"
address = "10.0.0.2"
asn = 64512
rr_client = true
{peer}
"""


def config(extra: str = "", peer: str = "") -> Config:
    return parse_config(REFLECTOR.format(extra=extra, peer=peer))


def record(ago: float, held: int, *, clean: bool = False) -> StateFileRead:
    r = RestartRecord(sessions_up_at=NOW - ago, held_for=held, clean_stop=clean)
    return StateFileRead(text=encode_record(r))


def decide(cfg: Config, state: StateFileRead | None, kept: int = 0) -> tuple[bool, str]:
    d = decide_start(cfg, now=NOW, kept_routes=kept, state=state)
    return d.restarting, d.reason


def test_windows_of_the_default_config() -> None:
    cfg = config()
    # restart time 120 s; a refreshed record adds the hold time (240 s) and one refresh period.
    assert refresh_period(cfg) == 30
    assert held_for(cfg, clean_stop=True) == 120
    assert held_for(cfg, clean_stop=False) == 120 + 240 + 30


def test_a_fresh_location_starts_cold() -> None:
    assert decide(config(), StateFileRead()) == (False, "no_previous_run")


def test_sessions_up_within_the_window_make_a_restart() -> None:
    cfg = config()
    assert decide(cfg, record(ago=100, held=390)) == (True, "sessions_up_recently")
    # A crash: the last refresh says nothing of how the peers noticed; the hold time counts.
    assert decide(cfg, record(ago=389, held=390)) == (True, "sessions_up_recently")
    d = decide_start(cfg, now=NOW, state=record(ago=100, held=390))
    assert (d.sessions_up_ago, d.window, d.clean_stop) == (100.0, 390, False)


def test_sessions_down_longer_than_the_window_start_cold() -> None:
    cfg = config()
    assert decide(cfg, record(ago=391, held=390)) == (False, "sessions_down_long_enough")
    # A clean stop: our Cease ended graceful restart on every peer's side (no RFC 8538 N bit):
    # nobody holds our routes, however recent the stop.
    assert decide(cfg, record(ago=1, held=120, clean=True)) == (False, "clean_stop")
    assert decide(cfg, record(ago=121, held=120, clean=True)) == (False, "clean_stop")


def test_the_longer_of_the_recorded_and_the_configured_window_counts() -> None:
    # The last run advertised 600 s: its peers keep our routes that long whatever we say now.
    assert decide(config(), record(ago=500, held=600))[0] is True
    # Now we advertise more than the last run recorded: the safe side too.
    longer = config(peer="graceful_restart_time = 900")
    assert held_for(longer, clean_stop=True) == 900
    assert decide(longer, record(ago=500, held=120))[0] is True


def test_the_llgr_window_adds_the_long_lived_stale_time() -> None:
    cfg = config(extra='restart_mode = "llgr"\nllgr_stale_time = 3600')
    assert held_for(cfg, clean_stop=True) == 120 + 3600
    assert decide(cfg, record(ago=3000, held=0)) == (True, "sessions_up_recently")
    assert decide(cfg, record(ago=4100, held=0))[0] is False


def test_a_time_in_the_future_is_a_restart() -> None:
    assert decide(config(), record(ago=-5, held=390)) == (True, "restart_state_in_future")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '{"version": 2, "sessions_up_at": 1, "held_for": 1, "clean_stop": false}',
        '{"version": 1, "sessions_up_at": "x", "held_for": 1, "clean_stop": false}',
        '{"version": 1, "sessions_up_at": 1, "held_for": true, "clean_stop": false}',
        '{"version": 1, "sessions_up_at": NaN, "held_for": 1, "clean_stop": false}',
        '{"version": 1, "sessions_up_at": 1, "held_for": -1, "clean_stop": false}',
        '{"version": 1, "held_for": 1, "clean_stop": false}',
    ],
)
def test_a_corrupt_file_is_a_restart(text: str) -> None:
    d = decide_start(config(), now=NOW, state=StateFileRead(text=text))
    assert (d.restarting, d.reason) == (True, "restart_state_corrupt")
    assert d.error


def test_unreadable_or_unwritable_locations_are_a_restart() -> None:
    cfg = config()
    unreadable = StateFileRead(error="permission denied")
    assert decide(cfg, unreadable) == (True, "restart_state_unreadable")
    unwritable = StateFileRead(write_error="read-only file system")
    assert decide(cfg, unwritable) == (True, "restart_state_not_writable")
    # Even with an old record: what this run cannot record, the next one could not know.
    old = StateFileRead(text=record(ago=10_000, held=390).text, write_error="read-only")
    assert decide(cfg, old) == (True, "restart_state_not_writable")


def test_no_file_configured_keeps_the_reflector_restarting() -> None:
    assert decide(config(), None) == (True, "no_restart_state_file")


def test_what_is_decided_before_the_file() -> None:
    cfg = config()
    # Kernel routes kept from the last run are the evidence, whatever the file says.
    assert decide(cfg, StateFileRead(), kept=7) == (True, "kernel_routes_kept")
    off = config(extra="graceful_restart = false")
    assert decide(off, None, kept=7) == (False, "graceful_restart_off")
    plain = parse_config('[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\n')
    assert decide(plain, None) == (False, "no_routes_kept")


def test_the_record_round_trips() -> None:
    r = RestartRecord(sessions_up_at=NOW + 0.25, held_for=390, clean_stop=True)
    assert decode_record(encode_record(r)) == r


@pytest.mark.parametrize("path", ["relative/state.json", "/var/lib/bgpd/", ""])
def test_the_path_must_be_an_absolute_file_path(path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(f'[bgp]\nasn = 64512\nrouter_id = "10.0.0.1"\nrestart_state_file = "{path}"\n')
    assert [p.location for p in exc.value.problems] == ["bgp.restart_state_file"]

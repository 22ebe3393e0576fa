"""BIRD's `timeformat` on the BIRD-compatible sockets: the shorthands, strftime formats and
the two-format limit, and the `[control]` settings that choose them."""

from __future__ import annotations

import time

import pytest

from bgpd.config import parse_config
from bgpd.config.bird_timeformat import BASE_DEFAULT, ROUTE_DEFAULT, TimeFormat, parse_timeformat
from bgpd.control.bird_protocol import ReplyEncoder, ShowProtocols
from bgpd.control.bird_replies import StatusView, render_protocols, render_status
from bgpd.control.bird_views import local_protocol
from tests.unit.config.helpers import build

NOW = time.mktime((2026, 11, 25, 11, 43, 12, 0, 0, -1)) + 0.25
SINCE = NOW - 8.5  # a session up for 8.5 s


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("iso short", "11:43:03"),
        ("iso  long", "2026-11-25 11:43:03"),
        ("iso short ms", "11:43:03.750"),
        ("iso long us", "2026-11-25 11:43:03.750000"),
        ('"%s"', str(int(SINCE))),
        ('"%F %T %1f"', "2026-11-25 11:43:03 7"),
    ],
)
def test_shorthands_and_formats(text: str, expected: str) -> None:
    assert parse_timeformat(text).format(SINCE, NOW) == expected


def test_the_limit_picks_the_second_format_for_older_times() -> None:
    fmt = parse_timeformat('"%T" 60 "%F"')
    assert fmt == TimeFormat("%T", 60, "%F")
    assert fmt.format(SINCE, NOW) == "11:43:03"
    assert fmt.format(NOW - 61, NOW) == "2026-11-25"


@pytest.mark.parametrize("text", ["iso", "iso longer", "bogus", '"%T" 60', '"%T" x "%F"', '""'])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="timeformat"):
        parse_timeformat(text)


def test_defaults_are_bird_1_6s() -> None:
    control = parse_config(build()).control
    assert control.timeformat("protocol") == ROUTE_DEFAULT == TimeFormat("%T", 72000, "%F")
    assert control.timeformat("route") == ROUTE_DEFAULT
    assert control.timeformat("base") == BASE_DEFAULT


def wire(lines: object) -> list[str]:
    assert isinstance(lines, list)
    return ReplyEncoder().encode(lines).decode().splitlines()


def test_show_protocols_and_status_print_with_the_configured_formats() -> None:
    control = parse_config(
        build(
            control={
                "bird_timeformat_protocol": '"iso long"',
                "bird_timeformat_base": "'\"%s\"'",
            }
        )
    ).control
    view = local_protocol("static1", "Static", 200, since=SINCE, imported=1, preferred=1)
    rows = wire(render_protocols([view], ShowProtocols(), NOW, control.timeformat("protocol")))
    assert rows[1].split()[4:6] == ["2026-11-25", "11:43:03"]
    default = wire(render_protocols([view], ShowProtocols(), NOW))
    assert default[1].split()[4] == "11:43:03"
    status = StatusView(
        version="v1+bgpd", router_id="10.0.0.1", now=NOW, boot_time=SINCE, reconfigured_at=NOW
    )
    lines = wire(render_status(status, control.timeformat("base")))
    assert f" Last reboot on {int(SINCE)}" in lines

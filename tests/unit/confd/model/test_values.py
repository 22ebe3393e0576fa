"""The Go conventions the model reproduces (ParseDuration, math.Round, SplitHostPort, json)."""

from __future__ import annotations

import pytest

from bgpd.confd.model.values import (
    go_json,
    parse_asn,
    parse_go_duration,
    round_seconds,
    split_host_port,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2m0s", 120.0),
        ("120s", 120.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("0", 0.0),
        (".5s", 0.5),
        ("-3s", -3.0),
        ("", None),
        ("3", None),  # a unit is required (except for "0")
        ("1x", None),
        ("1 s", None),
    ],
)
def test_go_duration(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(("x", "n"), [(0.5, 1), (1.5, 2), (2.5, 3), (2.4, 2), (-0.5, -1)])
def test_round_half_away_from_zero(x: float, n: int) -> None:
    assert round_seconds(x) == n


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("10.0.0.1", ("10.0.0.1", 0)),
        ("10.0.0.1:1790", ("10.0.0.1", 1790)),
        ("[fd00::1]:179", ("fd00::1", 179)),
        ("fd00::1", ("fd00::1", 0)),
        ("[fd00::1]", ("[fd00::1]", 0)),
        ("10.0.0.1:", ("10.0.0.1:", 0)),
        ("10.0.0.1:99999", ("10.0.0.1:99999", 0)),
    ],
)
def test_split_host_port(text: str, split: tuple[str, int]) -> None:
    assert split_host_port(text) == split


@pytest.mark.parametrize(
    ("value", "asn"),
    [(64512, 64512), ("64512", 64512), ("1.10", 65546), (4294967295, 4294967295), (65000.0, 65000)],
)
def test_asn_forms(value: object, asn: int) -> None:
    assert parse_asn(value) == (asn, None)


@pytest.mark.parametrize("value", [0, -1, 2**32, "1.70000", "x", 1.5, None, True, "١٢"])
def test_bad_asn(value: object) -> None:
    number, message = parse_asn(value)
    assert number is None
    assert message


def test_go_json_is_compact_and_escapes_html() -> None:
    assert go_json({"a": "<&>", "b": [1, None], "c": "é"}) == (
        '{"a":"\\u003c\\u0026\\u003e","b":[1,null],"c":"é"}'
    )

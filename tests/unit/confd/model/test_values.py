"""The Go conventions the model reproduces (ParseDuration, math.Round, SplitHostPort, json)."""

from __future__ import annotations

import pytest

from bgpd.confd.model.values import (
    decode_json,
    go_json,
    parse_asn,
    parse_decimal,
    parse_go_duration,
    round_seconds,
    split_host_port,
    unencodable,
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
        ("٣s", None),  # Arabic-Indic 3: regex \d and float() accept it, Go does not
        ("1.٣s", None),
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
        ("10.0.0.1:²", ("10.0.0.1:²", 0)),  # isdigit() but not int()
        ("10.0.0.1:٣", ("10.0.0.1:٣", 0)),  # int() but not Go
        ("10.0.0.1:" + "1" * 5000, ("10.0.0.1:" + "1" * 5000, 0)),  # past int()'s digit limit
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


@pytest.mark.parametrize(
    "value",
    [0, -1, 2**32, "1.70000", "x", 1.5, None, True, "١٢", "²", "1.²", "+1", " 1", "9" * 5000],
)
def test_bad_asn(value: object) -> None:
    number, message = parse_asn(value)
    assert number is None
    assert message


def test_go_json_is_compact_and_escapes_html() -> None:
    assert go_json({"a": "<&>", "b": [1, None], "c": "é"}) == (
        '{"a":"\\u003c\\u0026\\u003e","b":[1,null],"c":"é"}'
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("179", 179),
        ("00065000", 65000),
        ("4294967295", 4294967295),
        ("9" * 5000, 10**20),  # longer than any field allows: out of every range, no ValueError
        ("", None),
        ("²", None),
        ("٣", None),
        ("\uff11\uff12", None),  # fullwidth digits
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_000", None),  # int() reads it
        ("0x10", None),
    ],
)
def test_parse_decimal_reads_ascii_digits_only(text: str, value: int | None) -> None:
    assert parse_decimal(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"spec": {"node": "\\ud800"}}', "spec.node holds a lone UTF-16 surrogate"),
        ('[1, {"a": ["x", "\\udfff"]}]', "[1].a[1] holds"),
        ('{"\\ud800": 1}', "a key in the value holds"),
        ('"\\ud800"', "the value holds"),
        ("NaN", "NaN is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("1" * 5000, "digits"),
        ("{", "Expecting"),
    ],
)
def test_decode_json_refuses_with_value_error_only(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode_json(text)


def test_decode_json_keeps_valid_unicode() -> None:
    assert decode_json('["\\ud83d\\ude00", "é", "\\u003c"]') == ["😀", "é", "<"]
    assert unencodable("ok é 😀") is None
    assert unencodable("ab\ud800") == 2

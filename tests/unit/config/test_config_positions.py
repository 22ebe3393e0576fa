"""Config problems carry FILE:LINE:COL, semantic ones included (issue 17, point 7)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bgpd.config import ConfigError, load_config, parse_config
from bgpd.config.toml_positions import key_positions, location_path, position_of
from tests.unit.config.helpers import build

TRICKY = """\
# a comment with [brackets] and key = "value"
title = "a # not a comment ] }"   # trailing
"quoted.key" = 1
dotted . inner = 'lit'

[bgp]
listen = [
  "10.0.0.1",  # first
  # a comment line inside the array
  '10.0.0.2',
]
text = \"\"\"
line one "quoted" [x]
asn = 5
\\\"\"\"still in\"\"\"
labels = { rack = "r1", "zone x" = { a = [1, 2] } }

[[calico.pool]]
cidr = "10.0.0.0/16"

[[calico.pool]]
cidr = "10.1.0.0/16"

[calico.pool.sub]
x = 1

[[peer]]
name = "a"

[peer.bfd]
enabled = true
"""


def test_tricky_text_is_valid_toml() -> None:
    tomllib.loads(TRICKY)


@pytest.mark.parametrize(
    ("path", "position"),
    [
        (("title",), (2, 1)),
        (("quoted.key",), (3, 1)),
        (("dotted", "inner"), (4, 1)),
        (("bgp",), (6, 1)),
        (("bgp", "listen"), (7, 1)),
        (("bgp", "listen", 0), (8, 3)),
        (("bgp", "listen", 1), (10, 3)),
        (("bgp", "text"), (12, 1)),
        (("bgp", "labels"), (16, 1)),
        (("bgp", "labels", "rack"), (16, 12)),
        (("bgp", "labels", "zone x", "a"), (16, 38)),
        (("bgp", "labels", "zone x", "a", 1), (16, 46)),
        (("calico", "pool", 0), (18, 1)),
        (("calico", "pool", 1, "cidr"), (22, 1)),
        (("calico", "pool", 1, "sub", "x"), (25, 1)),
        (("peer", 0), (27, 1)),
        (("peer", 0, "bfd", "enabled"), (31, 1)),
    ],
)
def test_scanner_positions(path: tuple[str | int, ...], position: tuple[int, int]) -> None:
    positions = key_positions(TRICKY)
    assert positions[path] == position
    # the text starts there with the last key (or the header / the element)
    line, col = position
    assert TRICKY.splitlines()[line - 1][col - 1] not in " \t"


def test_multiline_string_hides_its_keys() -> None:
    # `asn = 5` inside the multi-line string is no key
    assert ("bgp", "asn") not in key_positions(TRICKY)


def test_location_path_and_fallback() -> None:
    assert location_path('peer[3].hold_time (name "x.y")') == ("peer", 3, "hold_time")
    assert location_path("static[0].communities[1]") == ("static", 0, "communities", 1)
    positions = key_positions(TRICKY)
    # a missing key: its table's header; a missing section: the top of the file
    assert position_of(positions, ("peer", 0, "asn")) == (27, 1)
    assert position_of(positions, ("kernel", "enabled")) == (1, 1)


def _at(text: str, needle: str) -> str:
    """LINE:COL of the first line that starts with `needle`."""
    return f"{1 + next(i for i, ln in enumerate(text.splitlines()) if ln.startswith(needle))}:1"


def test_semantic_problems_have_file_line_col(tmp_path: Path) -> None:
    text = build(
        peers=[
            {},
            {"name": '"b"', "address": '"127.0.0.3"'},
            {"name": '"c"', "address": '"127.0.0.4"', "hold_time": "1"},
        ]
    )
    path = tmp_path / "bgpd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.location == 'peer[2].hold_time (name "c")'
    assert problem.at == f"{path}:{_at(text, 'hold_time = 1')}"
    assert str(info.value).startswith(f"{path}:{_at(text, 'hold_time = 1')}: peer[2].hold_time")


def test_cross_section_problem_is_located() -> None:
    text = build(peers=[{}, {"name": '"b"'}])  # the same address twice
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="f.toml")
    assert info.value.problems
    for p in info.value.problems:
        line, col = (int(n) for n in p.at.split(":")[1:])
        key = location_path(p.location)[-1]
        assert isinstance(key, str)
        assert text.splitlines()[line - 1][col - 1 :].startswith(key), p


def test_missing_key_points_at_its_table() -> None:
    text = build(peers=[{"asn": None}])
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="f.toml")
    (problem,) = info.value.problems
    assert problem.message == "missing required key"
    assert problem.at == f"f.toml:{_at(text, '[[peer]]')}"


def test_a_misspelt_required_key_is_reported_once() -> None:
    text = build(peers=[{"address": None, "adress": '"127.0.0.2"'}])
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [(p.location, p.message) for p in info.value.problems] == [
        (
            'peer[0].adress (name "Mesh_127_0_0_2")',
            'unknown key "adress"; did you mean "address"?',
        )
    ]
    # an unknown key that is no typo of the missing one still leaves it reported missing
    text = build(peers=[{"address": None, "colour": '"red"'}])
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [p.message for p in info.value.problems][-1] == "missing required key"

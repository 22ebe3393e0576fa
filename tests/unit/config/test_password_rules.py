"""The TCP-MD5 password rules (`bgpd.config.checks.add_password_problems`), one home for
`[[peer]]` and `[mesh]`."""

from __future__ import annotations

import pytest

from bgpd.config import ConfigError, MeshSection, parse_config
from bgpd.config.checks import Collector, add_password_problems
from tests.unit.config.helpers import MINIMAL

BOTH = "password and password_unavailable exclude each other"


def test_rules_directly() -> None:
    c = Collector()
    add_password_problems(c, "secret", "secret not readable")
    add_password_problems(c, None, "")
    add_password_problems(c, "ok", None)
    assert [(p.location, p.message) for p in c.problems] == [
        ("password_unavailable", BOTH),
        ("password_unavailable", c.problems[1].message),
    ]
    assert "must say why" in c.problems[1].message


def test_a_peer_and_the_mesh_apply_them() -> None:
    text = MINIMAL + 'password = "s3cret"\npassword_unavailable = "secret missing"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert any(p.message == BOTH for p in info.value.problems)
    with pytest.raises(ConfigError) as mesh:
        MeshSection(password="s3cret", password_unavailable="secret missing")
    assert [p.message for p in mesh.value.problems] == [BOTH]

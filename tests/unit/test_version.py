"""The version is written once (bgpd.__version__) and every command reports that one.

pyproject.toml takes it from there at build time, `--version` on bgpd, `bgpd confd`, bgpctl and
bgp-reflector prints the same line, the metrics' build info carries it, and CHANGELOG.md has a
section for it. The installed wheel's commands are checked the same way in
tests/integration/test_wheel.py.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

import bgpd
from bgpd.control.bgpctl import main as bgpctl_main
from bgpd.main import main as bgpd_main
from bgpd.metrics.snapshot import build_version
from bgpd.version import VERSION_TEXT
from reflector.command import main as reflector_main

REPO = Path(__file__).resolve().parents[2]

COMMANDS: dict[str, tuple[Callable[[list[str]], int], list[str]]] = {
    "bgpd": (bgpd_main, ["--version"]),
    "bgpd confd": (bgpd_main, ["confd", "--version"]),
    "bgpctl": (bgpctl_main, ["--version"]),
    "bgp-reflector": (reflector_main, ["--version"]),
}


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", bgpd.__version__), bgpd.__version__
    assert f"bgpd {bgpd.__version__}" == VERSION_TEXT


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "bgpd.__version__"}


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_command_prints_the_one_version_line(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main, argv = COMMANDS[command]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"{VERSION_TEXT}\n"


def test_the_metrics_build_info_carries_the_same_version() -> None:
    assert build_version() == bgpd.__version__


def test_the_changelog_has_a_section_for_the_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[0] == "Unreleased", headings
    assert bgpd.__version__ in headings, headings

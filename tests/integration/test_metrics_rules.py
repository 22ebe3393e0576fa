"""The example alert rules in docs/alerts: `promtool check rules` accepts them and
`promtool test rules` shows each alert firing (and staying quiet) when it should."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .bgpd_proc import REPO

ALERTS = REPO / "docs" / "alerts"
PROMTOOL = "/usr/bin/promtool"


def promtool(*args: str, cwd: Path = ALERTS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_check_rules_accepts_the_example_rules() -> None:
    result = promtool("check", "rules", "bgpd-rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_the_example_alerts_fire_as_documented() -> None:
    result = promtool("test", "rules", "bgpd-rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_notices_a_broken_rule(tmp_path: Path) -> None:
    # The check above is meaningful only if promtool rejects a bad expression.
    bad = (ALERTS / "bgpd-rules.yml").read_text().replace("bgpd_peer_up == 0", "bgpd_peer_up ==", 1)
    (tmp_path / "bad.yml").write_text(bad)
    result = promtool("check", "rules", "bad.yml", cwd=tmp_path)
    assert result.returncode != 0

"""`make demo` installs BIRD 2's birdcl before the demo runs (issue 17, point 9), so the
README's first command shows BIRD's own client on bgpd's BIRD socket, not raw protocol text
(the demo itself picks birdcl when it is there: tests/integration/test_demo.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_make_demo_gets_birdcl_before_running_the_demo() -> None:
    dry = subprocess.run(
        ["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    install = next(i for i, line in enumerate(dry) if "install-debian-deps.sh --demo" in line)
    demo = next(i for i, line in enumerate(dry) if line.endswith("-m bgpd.demo"))
    assert install < demo


def test_the_demo_step_is_quiet_when_birdcl_is_there(tmp_path: Path) -> None:
    fake = tmp_path / "birdcl"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", str(REPO / "scripts/install-debian-deps.sh"), "--demo"],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert (done.stdout, done.stderr) == ("", "")

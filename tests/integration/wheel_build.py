"""The sdist and the wheel built from this tree, as a release builds them, once per test run.

`build_dist(basetemp)` copies the tree without what a checkout accumulates (.git, the venv,
caches, build output), builds the sdist from the copy and the wheel from the sdist
(`python -m build`, each in its own isolated build environment), so whatever the sdist misses
the wheel misses too. The result is kept under the run's temporary root, keyed by a digest of
the copied source: a second module asking in the same run (the container image's test, say)
gets the same files, and a later run with other code builds again. Nothing of our code is kept
between runs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What a checkout holds that is not source (the build writes build/ and *.egg-info itself).
NOT_SOURCE = (
    ".git",
    ".venv",
    ".deps",
    ".helpers",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dist:
    """The built release files and the copy of the tree they were built from."""

    source: Path
    sdist: Path
    wheel: Path


def source_digest(root: Path) -> str:
    """A digest of every file under `root`: its relative path and its bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_dist(basetemp: Path) -> Dist:
    """The sdist and the wheel of the tree as it is now (built once per source digest)."""
    staging = basetemp / "dist-staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(REPO, staging, ignore=shutil.ignore_patterns(*NOT_SOURCE), symlinks=True)
    built = basetemp / f"dist-{source_digest(staging)[:16]}"
    out = built / "dist"
    if not (built / "done").exists():
        shutil.rmtree(built, ignore_errors=True)
        built.mkdir()
        staging.rename(built / "source")
        done = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(out), str(built / "source")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        (built / "done").touch()
    else:
        shutil.rmtree(staging)
    (sdist,) = out.glob("bgpd-*.tar.gz")
    (wheel,) = out.glob("bgpd-*-py3-none-any.whl")
    return Dist(source=built / "source", sdist=sdist, wheel=wheel)

"""What a pip-installed bgpd carries: the wheel built from this tree, installed outside the
checkout, renders a config with `bgpd confd --onetime` from its own shipped templates (the
editable tree hid that the wheel had none)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from bgpd.config import load_config

from .test_confd_cli import REPO, node_vars, v1_cluster

_NOT_SOURCE = (
    ".git",
    ".venv",
    ".deps",
    "build",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: the build writes build/ and *.egg-info into its source folder.
    source = out / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("bgpd-*.whl")
    return built


def test_the_wheel_carries_the_confd_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "bgpd/confd_templates/conf.d/bgpd.toml",
        "bgpd/confd_templates/templates/bgpd.toml.j2",
        "bgpd/confd_templates/templates/peers.toml.j2",
    } <= names


def test_installed_wheel_renders_with_bgpd_confd(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        check=True,
        capture_output=True,
        timeout=120,
    )
    kv = tmp_path / "calico.yaml"
    kv.write_text(yaml.safe_dump(v1_cluster()))
    root = tmp_path / "root"
    # PYTHONPATH puts the installed copy before the checkout's editable install; the working
    # directory is outside the checkout, so nothing of the source tree is found.
    env = {**os.environ, "NODENAME": "node-1", "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import bgpd; print(bgpd.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site)), where.stdout
    argv = ["--backend", "file", "--file", str(kv), "--dest-root", str(root), "--onetime"]
    done = subprocess.run(
        [sys.executable, "-m", "bgpd", "confd", *argv, *node_vars(tmp_path, "node-1")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    config = load_config(root / "etc/bgpd/bgpd.toml")
    assert config.node is not None and config.node.name == "node-1"

"""OS errors in plain words (issue 17, point 7): the path, then the reason, lower case."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from bgpd.config import ConfigError, load_config
from bgpd.errors import os_error_text
from bgpd.main import main


def test_os_error_text() -> None:
    exc = OSError(errno.ENOTDIR, "Not a directory", "/etc/hosts")
    assert os_error_text(exc) == "/etc/hosts: not a directory"
    assert os_error_text(exc, about="/etc/hosts") == "not a directory"
    assert os_error_text(OSError(errno.EADDRINUSE, "x.ctl is in use")) == "x.ctl is in use"


def test_an_unreadable_config_path_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "etc").write_text("a file")
    path = tmp_path / "etc" / "bgpd.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: cannot read: not a directory"
    assert main(["check", "-c", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"{path}: cannot read: not a directory"
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read: is a directory"

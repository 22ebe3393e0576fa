"""Claiming a unix socket path: a stale file is replaced, a live socket is never stolen."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from bgpd.control.unix import claim_socket_path, release_socket_path, socket_identity


def test_a_live_socket_is_not_taken_over(tmp_path: Path) -> None:
    path = str(tmp_path / "bird.ctl")
    owner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        owner.bind(path)
        owner.listen(1)
        with pytest.raises(OSError) as info:
            claim_socket_path(path)
        assert info.value.errno == errno.EADDRINUSE
        assert Path(path).exists()
    finally:
        owner.close()


def test_a_stale_file_is_replaced_and_missing_folders_made(tmp_path: Path) -> None:
    path = str(tmp_path / "run" / "calico" / "bird.ctl")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    Path(path).parent.mkdir(parents=True)
    dead.bind(path)
    dead.close()  # the file stays, nobody listens: what a SIGKILLed daemon leaves
    claim_socket_path(path)
    assert not Path(path).exists()
    claim_socket_path(str(tmp_path / "new" / "x.ctl"))
    assert (tmp_path / "new").is_dir()


def test_release_removes_only_our_own_file(tmp_path: Path) -> None:
    path = str(tmp_path / "bgpd.ctl")
    Path(path).write_text("ours")
    ours = socket_identity(path)
    other = tmp_path / "other"
    other.write_text("someone else's, put in place after us")
    other.replace(path)
    release_socket_path(path, ours)
    assert Path(path).exists()
    release_socket_path(path, socket_identity(path))
    assert not Path(path).exists()


@pytest.mark.parametrize("below", ["", "a"])
def test_a_file_in_the_way_is_not_a_directory_in_plain_words(tmp_path: Path, below: str) -> None:
    from bgpd.errors import os_error_text

    blocker = tmp_path / "run"
    blocker.write_text("a file where the folder should be")
    path = blocker / below / "bird.ctl" if below else blocker / "bird.ctl"
    with pytest.raises(NotADirectoryError) as info:
        claim_socket_path(str(path))
    where = blocker / below if below else blocker
    assert os_error_text(info.value) == f"{where}: not a directory"

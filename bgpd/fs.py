"""Filesystem steps the edges share (the control sockets, confd's rendered files).

Why: `os.makedirs(..., exist_ok=True)` answers a file in the way with `FileExistsError` ("File
exists"), which reads as if nothing were wrong; the operator needs "not a directory".
"""

from __future__ import annotations

import errno
import os


def make_directories(directory: str | os.PathLike[str]) -> None:
    """Creates `directory` and its parents as needed; NotADirectoryError naming the path when
    a file stands where a directory must be."""
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            errno.ENOTDIR, os.strerror(errno.ENOTDIR), os.fspath(directory)
        ) from None

"""Claiming a unix socket path safely: a stale file is replaced, a live socket is not stolen.

Why: with Calico's fixed paths (/var/run/calico/bird.ctl) a second speaker on the same host
would otherwise unlink the first one's socket and silently take its place, and on exit remove
a path another process now owns.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

from bgpd.fs import make_directories


def claim_socket_path(path: str) -> None:
    """Makes `path` free for a new listener; OSError(EADDRINUSE) when something answers on it."""
    directory = os.path.dirname(path)
    if directory:
        make_directories(directory)
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # nobody listens: a leftover of a process that died
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"{path} is in use by another running process")


def socket_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the socket file we created, to remove it only if it is still ours."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def release_socket_path(path: str, identity: tuple[int, int] | None) -> None:
    if identity is not None and socket_identity(path) == identity:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def bind_unix_socket(path: str) -> socket.socket:
    """A listening, non-blocking unix socket at `path` (claimed first); OSError when it cannot
    be. Binding before the server starts lets a reload refuse a path it cannot use while the
    old socket still serves."""
    claim_socket_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(100)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def discard_unix_socket(sock: socket.socket) -> None:
    """Closes a socket from `bind_unix_socket` that will not serve, and removes its file."""
    path = sock.getsockname()
    sock.close()
    if isinstance(path, str) and path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

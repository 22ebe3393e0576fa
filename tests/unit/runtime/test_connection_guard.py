"""The runtime's last line of defence: whatever a connection's owner raises is logged with its
traceback and closes that connection only; asyncio's exception handler never sees it.

A real event loop and real TCP connections on 127.0.0.1: the far end sees the close as EOF.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from bgpd.runtime.connection import BgpConnection


class ForcedError(RuntimeError):
    pass


class Owner:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def on_connected(self, conn: BgpConnection) -> None:
        pass

    def on_data(self, conn: BgpConnection, data: bytes) -> None:
        self.data.append(data)
        if data == b"boom":
            raise ForcedError("owner bug")

    def on_lost(self, conn: BgpConnection) -> None:
        pass

    def on_writable(self, conn: BgpConnection, writable: bool) -> None:
        pass


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    return accepted, client


def test_an_exception_from_the_owner_closes_only_that_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], bytes, bytes]:
        loop = asyncio.get_running_loop()
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: handled.append(context))
        owner = Owner()
        ours_bad, theirs_bad = tcp_pair()
        ours_good, theirs_good = tcp_pair()
        bad = BgpConnection(owner, 1, outbound=False, peer="bad")
        good = BgpConnection(owner, 2, outbound=False, peer="good")
        for ours, conn in ((ours_bad, bad), (ours_good, good)):
            await loop.create_connection(lambda conn=conn: conn, sock=ours)  # type: ignore[misc]
        for theirs in (theirs_bad, theirs_good):
            theirs.setblocking(False)
        theirs_bad.send(b"boom")
        eof = await asyncio.wait_for(loop.sock_recv(theirs_bad, 10), 5)
        good.write(b"still here")
        alive = await asyncio.wait_for(loop.sock_recv(theirs_good, 10), 5)
        for sock in (theirs_bad, theirs_good):
            sock.close()
        good.close()
        return handled, eof, alive

    with caplog.at_level(logging.ERROR):
        handled, eof, alive = asyncio.run(scenario())
    assert handled == []  # asyncio's handler saw nothing
    assert eof == b""  # the failing connection was closed
    assert alive == b"still here"  # the other one was not
    (record,) = [r for r in caplog.records if "runtime callback failed" in r.getMessage()]
    assert "peer=bad" in record.getMessage() and "callback=data" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ForcedError

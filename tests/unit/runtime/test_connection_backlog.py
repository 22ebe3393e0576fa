"""A backlog the peer does not read waits in the connection's queue as the chunks written
(references to bytes shared with other peers, not copies); the transport is handed one slice
at a time, so asyncio copies at most that much per connection; the owner is told the
connection is not writable past the high-water mark and writable again once drained; every
byte arrives, in order, also when the connection is closed with a backlog.

A real event loop and a real TCP connection on 127.0.0.1 whose far end does not read at first.
"""

from __future__ import annotations

import asyncio
import socket

from bgpd.runtime.connection import (
    TRANSPORT_SLICE,
    WRITE_HIGH_WATER,
    BgpConnection,
)


def message(kind: int, body: bytes = b"") -> bytes:
    return b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + bytes([kind]) + body


class Owner:
    def __init__(self) -> None:
        self.writable: list[bool] = []

    def on_connected(self, conn: BgpConnection) -> None:
        pass

    def on_data(self, conn: BgpConnection, data: bytes) -> None:
        pass

    def on_lost(self, conn: BgpConnection) -> None:
        pass

    def on_writable(self, conn: BgpConnection, writable: bool) -> None:
        self.writable.append(writable)


async def connected(owner: Owner) -> tuple[BgpConnection, socket.socket]:
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as server:
        theirs = socket.create_connection(server.getsockname())
        ours, _ = server.accept()
    theirs.setblocking(False)
    conn = BgpConnection(owner, 1, outbound=False, peer="p")
    await loop.create_connection(lambda: conn, sock=ours)
    return conn, theirs


async def read_all(sock: socket.socket, size: int, *, eof: bool = False) -> bytes:
    """What the far end reads until it holds `size` octets (or EOF), within 10 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    seen = bytearray()
    while loop.time() < deadline and (eof or len(seen) < size):
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            await asyncio.sleep(0.001)
            continue
        if not chunk:
            break
        seen += chunk
    return bytes(seen)


# UPDATEs a whole update group shares: one bytes object written to the connection many times.
SHARED = message(2, bytes(4000)) * 1000  # about 4 MB


def test_a_backlog_is_queued_by_reference_and_drains_in_order() -> None:
    async def scenario() -> None:
        owner = Owner()
        conn, theirs = await connected(owner)
        for _ in range(8):
            conn.write_chunks((SHARED,))
        await asyncio.sleep(0.05)  # the loop runs; the far end still does not read
        assert conn.transport is not None
        # The socket's buffers are full: asyncio holds at most one slice, copied ...
        assert 0 < conn.transport.get_write_buffer_size() <= TRANSPORT_SLICE
        # ... and the rest waits as references to the shared bytes.
        assert conn.backlog() > WRITE_HIGH_WATER
        for chunk in conn._queue:
            assert chunk is SHARED or (isinstance(chunk, memoryview) and chunk.obj is SHARED)
        assert owner.writable == [False]
        data = await read_all(theirs, len(SHARED) * 8)
        assert data == SHARED * 8
        assert owner.writable == [False, True]
        assert conn.backlog() == 0
        conn.close()
        theirs.close()

    asyncio.run(scenario())


def test_a_close_sends_the_backlog_then_the_last_message() -> None:
    async def scenario() -> None:
        owner = Owner()
        conn, theirs = await connected(owner)
        for _ in range(4):
            conn.write_chunks((SHARED,))
        notification = message(3, b"\x06\x02")
        conn.write(notification)
        conn.close()
        data = await read_all(theirs, 0, eof=True)
        assert data == SHARED * 4 + notification
        theirs.close()

    asyncio.run(scenario())

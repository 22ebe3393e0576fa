"""UPDATEs written to a peer are coalesced (bgpd/runtime/connection.py): the first after a quiet
spell at once, the rest of the window together at its end, and any other message only after
what is held. A real event loop and a real TCP connection on 127.0.0.1; the far end reads
what arrived, each socket read of the far end is one wake-up of the peer."""

from __future__ import annotations

import asyncio
import socket

from bgpd.runtime.connection import UPDATE_COALESCE_MAX, UPDATE_COALESCE_S, BgpConnection


def message(kind: int, body: bytes = b"") -> bytes:
    return b"\xff" * 16 + (19 + len(body)).to_bytes(2, "big") + bytes([kind]) + body


def update(n: int) -> bytes:
    return message(2, n.to_bytes(4, "big"))


KEEPALIVE = message(4)


class Owner:
    def on_connected(self, conn: BgpConnection) -> None:
        pass

    def on_data(self, conn: BgpConnection, data: bytes) -> None:
        pass

    def on_lost(self, conn: BgpConnection) -> None:
        pass

    def on_writable(self, conn: BgpConnection, writable: bool) -> None:
        pass


async def connected() -> tuple[BgpConnection, socket.socket]:
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as server:
        theirs = socket.create_connection(server.getsockname())
        ours, _ = server.accept()
    theirs.setblocking(False)
    conn = BgpConnection(Owner(), 1, outbound=False, peer="p")
    await loop.create_connection(lambda: conn, sock=ours)
    return conn, theirs


def received(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return data
        data += chunk


async def until(sock: socket.socket, expected: bytes, seen: bytes = b"") -> bytes:
    """What the far end has read once it holds `expected` (at most a second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1
    while len(seen) < len(expected) and loop.time() < deadline:
        await asyncio.sleep(0.001)
        seen += received(sock)
    return seen


def test_a_burst_of_updates_arrives_in_two_writes_and_in_order() -> None:
    async def scenario() -> None:
        conn, theirs = await connected()
        burst = [update(i) for i in range(50)]
        conn.write(burst[0])  # a quiet connection: at once
        first = await until(theirs, burst[0])
        assert first == burst[0]
        for data in burst[1:]:
            conn.write(data)
        # Held until the window ends, then one write of everything, in order.
        assert received(theirs) == b""
        rest = await until(theirs, b"".join(burst[1:]))
        assert rest == b"".join(burst[1:])
        conn.close()
        theirs.close()

    asyncio.run(scenario())


def test_any_other_message_goes_after_what_is_held() -> None:
    async def scenario() -> None:
        conn, theirs = await connected()
        conn.write(update(1))
        conn.write(update(2))  # held
        conn.write(KEEPALIVE)  # sends update 2 first, then itself
        expected = update(1) + update(2) + KEEPALIVE
        assert await until(theirs, expected) == expected
        # After a quiet spell the next UPDATE goes out at once again.
        await asyncio.sleep(UPDATE_COALESCE_S * 2)
        conn.write(update(3))
        assert conn._timer is None and not conn._held_octets  # written, not held
        assert await until(theirs, update(3)) == update(3)
        conn.close()
        theirs.close()

    asyncio.run(scenario())


def test_a_big_backlog_is_not_held() -> None:
    async def scenario() -> None:
        conn, theirs = await connected()
        conn.write(update(0))
        big = message(2, bytes(4000))
        n = UPDATE_COALESCE_MAX // len(big) + 1
        for _ in range(n):
            conn.write(big)
        # The window has not ended: everything left because the held octets reached the cap.
        assert conn._timer is None and not conn._held_octets
        expected = update(0) + big * n
        assert await until(theirs, expected) == expected
        conn.close()
        theirs.close()

    asyncio.run(scenario())

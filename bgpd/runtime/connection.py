"""One TCP connection to a BGP peer: an asyncio Protocol that forwards bytes to the daemon.

Invariants: the protocol never interprets BGP; it reports bytes, loss and write-buffer
pressure to its owner, which owns the speaker. The transport's write buffer is bounded by the
high-water mark; above it the owner stops generating UPDATEs for the peer until it drains.
No exception from the owner reaches asyncio's handler (which would log it and carry on with
the connection in an unknown state): the speaker contains what one peer's processing raises
(`bgpd.errors.contained`), and whatever still escapes is logged here and closes this
connection only, the last line of defence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 1 << 18


class ConnectionOwner(Protocol):
    def on_connected(self, conn: BgpConnection) -> None: ...
    def on_data(self, conn: BgpConnection, data: bytes) -> None: ...
    def on_lost(self, conn: BgpConnection) -> None: ...
    def on_writable(self, conn: BgpConnection, writable: bool) -> None: ...


class BgpConnection(asyncio.Protocol):
    __slots__ = (
        "conn_id",
        "local_address",
        "local_port",
        "outbound",
        "owner",
        "peer",
        "remote_address",
        "transport",
    )

    def __init__(
        self, owner: ConnectionOwner, conn_id: int, *, outbound: bool, peer: str | None
    ) -> None:
        self.owner = owner
        self.conn_id = conn_id
        self.outbound = outbound
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.local_address = ""
        self.remote_address = ""
        self.local_port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        sockname = transport.get_extra_info("sockname")
        self.local_address, self.local_port = str(sockname[0]), int(sockname[1])
        self.remote_address = str(transport.get_extra_info("peername")[0])
        self._guarded("connected", lambda: self.owner.on_connected(self))

    def data_received(self, data: bytes) -> None:
        self._guarded("data", lambda: self.owner.on_data(self, data))

    def connection_lost(self, exc: Exception | None) -> None:
        self._guarded("lost", lambda: self.owner.on_lost(self))

    def pause_writing(self) -> None:
        self._guarded("pause_writing", lambda: self.owner.on_writable(self, False))

    def resume_writing(self) -> None:
        self._guarded("resume_writing", lambda: self.owner.on_writable(self, True))

    def _guarded(self, callback: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            logger.exception(
                "runtime callback failed peer=%s conn=%d callback=%s action=close",
                self.peer,
                self.conn_id,
                callback,
            )
            self.close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

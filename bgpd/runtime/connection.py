"""One TCP connection to a BGP peer: an asyncio Protocol that forwards bytes to the daemon.

Invariants: the protocol never interprets BGP; it reports bytes, loss and write-buffer
pressure to its owner, which owns the speaker. The transport's write buffer is bounded by the
high-water mark; above it the owner stops generating UPDATEs for the peer until it drains.
UPDATEs are coalesced (`UPDATE_COALESCE_S`): the first after a quiet spell goes out at once,
those that follow within the window go out together at its end, so a peer sent a stream of
small UPDATEs (a reflector's clients joining one by one) wakes once per window, not once per
UPDATE. Any other message first sends what is held: the order on the wire never changes.
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
# 200 BIRD clients joining a cold reflector at once: each client's 199 UPDATEs arrived one by
# one (40,000 wake-ups of 200 processes); coalesced, the clients' CPU fell 2.2-2.9 s -> 0.8-1.0 s
# (docs/performance.md, "Reflect with real BIRD 2 clients").
UPDATE_COALESCE_S = 0.01
UPDATE_COALESCE_MAX = 1 << 16  # held octets that go out at once (a bulk transfer is not held)
_UPDATE = 2  # the message type octet of the first message (RFC 4271 §4.1)


class ConnectionOwner(Protocol):
    def on_connected(self, conn: BgpConnection) -> None: ...
    def on_data(self, conn: BgpConnection, data: bytes) -> None: ...
    def on_lost(self, conn: BgpConnection) -> None: ...
    def on_writable(self, conn: BgpConnection, writable: bool) -> None: ...


class BgpConnection(asyncio.Protocol):
    __slots__ = (
        "_held",
        "_held_octets",
        "_quiet_at",
        "_timer",
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
        self._held: list[bytes] = []
        self._held_octets = 0
        self._quiet_at = 0.0  # loop time from which an UPDATE goes out at once
        self._timer: asyncio.TimerHandle | None = None

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
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if len(data) > 18 and data[18] == _UPDATE:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if not self._held and now >= self._quiet_at:
                self._quiet_at = now + UPDATE_COALESCE_S
                transport.write(data)
                return
            self._held.append(data)
            self._held_octets += len(data)
            if self._held_octets >= UPDATE_COALESCE_MAX:
                self._release()
            elif self._timer is None:
                self._timer = loop.call_at(self._quiet_at, self._release)
            return
        self._release()
        transport.write(data)

    def _release(self) -> None:
        """Sends the held UPDATEs; the next one within the window is held again."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held, self._held_octets = self._held, [], 0
        if held and self.transport is not None and not self.transport.is_closing():
            self._quiet_at = asyncio.get_running_loop().time() + UPDATE_COALESCE_S
            self.transport.write(b"".join(held))

    def close(self) -> None:
        self._release()
        if self.transport is not None:
            self.transport.close()

"""One TCP connection to a BGP peer: an asyncio Protocol that forwards bytes to the daemon.

Invariants: the protocol never interprets BGP; it reports bytes, loss and write-buffer
pressure to its owner, which owns the speaker. What is written waits in the connection's own
queue as the chunks it was given (references to bytes a whole update group shares, not
copies), and is handed to the transport a slice (`TRANSPORT_SLICE`) at a time, the next slice
only once the transport's own buffer is empty (asyncio copies what the socket does not take at
once: bounded so by one slice per connection). The owner is told the connection is not
writable when the backlog (queue and transport) passes the high-water mark, and writable again
once it is back under the low-water mark; meanwhile it stops generating UPDATEs for the peer.
UPDATEs are coalesced (`UPDATE_COALESCE_S`): the first after a quiet spell goes out at once,
those that follow within the window go out together at its end, so a peer sent a stream of
small UPDATEs (a reflector's clients joining one by one) wakes once per window, not once per
UPDATE. Any other message first sends what is held: the order on the wire never changes, and
a close sends everything queued before it.
No exception from the owner reaches asyncio's handler (which would log it and carry on with
the connection in an unknown state): the speaker contains what one peer's processing raises
(`bgpd.errors.contained`), and whatever still escapes is logged here and closes this
connection only, the last line of defence.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)

Chunk = bytes | memoryview

WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 1 << 18
# At most this many octets are handed to the transport at once (and copied into its buffer
# when the socket does not take them): 5,000 reflector clients each behind a copy of the ~1 MB
# they were being sent held 5.9 GiB (docs/performance.md, "A reflector for a big cluster").
# 16 KiB measured at a 2,000-node join: peak RSS 128-157 -> 87-91 MiB for 10-20% more CPU.
TRANSPORT_SLICE = 1 << 16
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
        "_blocked",
        "_held_octets",
        "_paused",
        "_queue",
        "_queued",
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
        self.local_port = 0
        self.remote_address = ""
        self._queue: deque[Chunk] = deque()  # not yet handed to the transport, in order
        self._queued = 0  # octets in `_queue`
        self._held_octets = 0  # octets of UPDATEs waiting for the coalescing window to end
        self._paused = False  # the transport holds a slice the socket has not taken yet
        self._blocked = False  # the owner was told the connection is not writable
        self._quiet_at = 0.0  # loop time from which an UPDATE goes out at once
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Paused as soon as the socket leaves anything of a slice; resumed once it took it all.
        transport.set_write_buffer_limits(0, 0)
        sockname = transport.get_extra_info("sockname")
        self.local_address, self.local_port = str(sockname[0]), int(sockname[1])
        self.remote_address = str(transport.get_extra_info("peername")[0])
        self._guarded("connected", lambda: self.owner.on_connected(self))

    def data_received(self, data: bytes) -> None:
        self._guarded("data", lambda: self.owner.on_data(self, data))

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._queue.clear()
        self._queued = self._held_octets = 0
        self._guarded("lost", lambda: self.owner.on_lost(self))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._pump()
        if self._blocked and self.backlog() <= WRITE_LOW_WATER:
            self._blocked = False
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

    def backlog(self) -> int:
        """Octets written and not yet taken by the socket."""
        transport = self.transport
        buffered = 0 if transport is None else transport.get_write_buffer_size()
        return self._queued + buffered

    def write(self, data: Chunk) -> None:
        self.write_chunks((data,))

    def write_chunks(self, chunks: Sequence[Chunk]) -> None:
        """Queues `chunks` (whole messages together, in order); the first decides whether
        they are UPDATEs to coalesce."""
        transport = self.transport
        if transport is None or transport.is_closing() or not chunks:
            return
        octets = 0
        queue = self._queue
        for chunk in chunks:
            if chunk:
                queue.append(chunk)
                octets += len(chunk)
        if not octets:
            return
        self._queued += octets
        first = chunks[0]
        if len(first) > 18 and first[18] == _UPDATE:
            loop = asyncio.get_running_loop()
            now = loop.time()
            if not self._held_octets and now >= self._quiet_at:
                self._quiet_at = now + UPDATE_COALESCE_S
                self._pump()
            else:
                self._held_octets += octets
                if self._held_octets >= UPDATE_COALESCE_MAX:
                    self._release()
                elif self._timer is None:
                    self._timer = loop.call_at(self._quiet_at, self._release)
        else:
            self._release()
        if not self._blocked and self.backlog() > WRITE_HIGH_WATER:
            self._blocked = True
            self._guarded("pause_writing", lambda: self.owner.on_writable(self, False))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        """Sends the held UPDATEs; the next one within the window is held again."""
        self._cancel_timer()
        if self._held_octets:
            self._held_octets = 0
            self._quiet_at = asyncio.get_running_loop().time() + UPDATE_COALESCE_S
        self._pump()

    def _pump(self, limit: int = TRANSPORT_SLICE) -> None:
        """Hands the transport what is queued, a slice of at most `limit` octets at a time,
        while the socket takes each whole (what is held for the window stays)."""
        transport = self.transport
        queue = self._queue
        while queue and not self._paused:
            if transport is None or transport.is_closing():
                return
            # What is held waits for the window; what was queued before it does not.
            budget = min(limit, self._queued - self._held_octets)
            if budget <= 0:
                return
            parts: list[Chunk] = []
            left = budget
            while queue and left:
                chunk = queue[0]
                size = len(chunk)
                if size <= left:
                    queue.popleft()
                    parts.append(chunk)
                    left -= size
                else:
                    view = chunk if isinstance(chunk, memoryview) else memoryview(chunk)
                    parts.append(view[:left])
                    queue[0] = view[left:]
                    left = 0
            self._queued -= budget - left
            transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        """Closes after everything queued (a NOTIFICATION last) is handed to the transport."""
        self._cancel_timer()
        self._held_octets = 0
        self._paused = False
        self._pump(limit=max(self._queued, 1))
        if self.transport is not None:
            self.transport.close()

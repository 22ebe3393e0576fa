"""One TCP connection of a peer: framing, its outbox, its timers and what it negotiated.

Invariants: a `Connection` exists only while its TCP connection is up and the Session owns it; it
starts in OpenSent with our OPEN already queued (RFC 4271 §8.2.2: the OPEN is sent as soon as the
connection is confirmed) and the hold timer at `LARGE_HOLD_TIME`. `negotiated` is set exactly
from OpenConfirm on, `decoder` exactly in Established. The FSM decisions live in `Session`; this
class only holds per-connection state so that two connections can coexist during a collision.
"""

from __future__ import annotations

from collections.abc import Iterable

from bgpd.session.events import SessionState
from bgpd.session.settings import LARGE_HOLD_TIME
from bgpd.wire.codec import UpdateDecoder
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN
from bgpd.wire.framing import Chunk, MessageReader
from bgpd.wire.messages import OpenMessage
from bgpd.wire.negotiated import Negotiated


class Connection:
    __slots__ = (
        "_out",
        "conn_id",
        "decoder",
        "hold_deadline",
        "hold_interval",
        "keepalive_deadline",
        "keepalive_interval",
        "local_open",
        "made_at",
        "negotiated",
        "outbound",
        "reader",
        "remote_open",
        "state",
    )

    def __init__(
        self,
        conn_id: int,
        *,
        outbound: bool,
        local_open: OpenMessage,
        open_bytes: bytes,
        extended_message: bool,
        now: float,
    ) -> None:
        self.conn_id = conn_id
        self.outbound = outbound
        self.made_at = now  # when the TCP connection came up (tells a collision from a restart)
        self.state = SessionState.OPEN_SENT
        self.local_open = local_open
        self.remote_open: OpenMessage | None = None
        self.negotiated: Negotiated | None = None
        self.decoder: UpdateDecoder | None = None
        # Until both OPENs are known, accept what we may negotiate (RFC 8654): a fast peer's
        # first UPDATEs can share a read with its OPEN, before `max_len` is narrowed.
        self.reader = MessageReader(
            MAX_EXTENDED_MESSAGE_LEN if extended_message else MAX_MESSAGE_LEN
        )
        self._out: list[Chunk] = [open_bytes]
        self.hold_interval: float = LARGE_HOLD_TIME  # RFC 4271 §8.2.2
        self.hold_deadline: float | None = now + LARGE_HOLD_TIME
        self.keepalive_interval: float | None = None
        self.keepalive_deadline: float | None = None

    @property
    def inbound(self) -> bool:
        return not self.outbound

    def queue(self, data: Chunk) -> None:
        self._out.append(data)

    def queue_many(self, chunks: Iterable[Chunk]) -> None:
        self._out.extend(chunks)

    def take_output(self) -> bytes:
        out = self._out
        if not out:
            return b""
        first = out[0]
        # A single chunk (the common case: one UPDATE shared by a whole group) is not copied.
        data = first if len(out) == 1 and isinstance(first, bytes) else b"".join(out)
        out.clear()
        return data

    def take_chunks(self) -> list[Chunk]:
        """The queued bytes as the chunks they were queued as (shared, not copied)."""
        out, self._out = self._out, []
        return out

    def restart_hold(self, now: float) -> None:
        if self.hold_deadline is not None:
            self.hold_deadline = now + self.hold_interval

    def next_deadline(self) -> float | None:
        hold = self.hold_deadline
        keepalive = self.keepalive_deadline
        if hold is None:
            return keepalive
        if keepalive is None:
            return hold
        return min(hold, keepalive)

    def __repr__(self) -> str:
        direction = "out" if self.outbound else "in"
        return f"Connection({self.conn_id}, {direction}, {self.state})"

"""Splits the TCP byte stream into BGP messages (RFC 4271 §4.1, §6.1).

Invariants: `MessageReader.feed` returns every complete message in arrival order as
(type, body) with the 19-octet header removed, keeps any partial message for the next call, and
raises `WireError` (Message Header Error) on the first bad header; after an error the reader
must not be used again (the session is closed). The per-type length checks here are the ones
RFC 4271 §6.1 assigns to header error handling, so the message decoders can rely on them.
`check_length` is the one home of those limits: the session also applies it to messages framed
before its OPEN narrowed `max_len` (they arrived in the same read as the OPEN).
"""

from __future__ import annotations

import struct

from bgpd.errors import WireError
from bgpd.wire.constants import (
    HEADER_LEN,
    MARKER,
    MAX_MESSAGE_LEN,
    ErrorCode,
    HeaderSubcode,
)

# A piece of an outgoing byte stream (whole messages): bytes an update group shares, or a slice
# of them, passed on by reference down to the socket (one copy per member would be C copies).
Chunk = bytes | memoryview

_LENGTH_TYPE = struct.Struct("!HB")
# Minimum and maximum total length per message type (index = type), RFC 4271 §4 and RFC 2918 §3.
# RFC 8654 §3: OPEN and KEEPALIVE stay within 4,096 octets even with extended messages. A
# ROUTE-REFRESH longer than 23 octets passes here: RFC 7313 §5 gives it its own error
# (ROUTE-REFRESH Message Error / Invalid Message Length, `codec.decode_route_refresh`).
_MIN_LEN = (0, 29, 23, 21, 19, 23)
_MAX_LEN = (0, MAX_MESSAGE_LEN, 65535, 65535, 19, 65535)


def _bad_length(length: int) -> WireError:
    # RFC 4271 §6.1: the Data field holds the erroneous Length field.
    return WireError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.BAD_MESSAGE_LENGTH,
        length.to_bytes(2, "big"),
        f"bad message length {length}",
    )


def check_length(msg_type: int, length: int, max_len: int) -> None:
    """Raises the Message Header Error a message of that type and total length deserves."""
    if length < HEADER_LEN or length > max_len:
        raise _bad_length(length)
    if not 1 <= msg_type <= 5:
        raise WireError(
            ErrorCode.MESSAGE_HEADER,
            HeaderSubcode.BAD_MESSAGE_TYPE,
            bytes((msg_type,)),
            f"bad message type {msg_type}",
        )
    if length < _MIN_LEN[msg_type] or length > _MAX_LEN[msg_type]:
        raise _bad_length(length)


class MessageReader:
    """Stateful de-framer for one connection; `max_len` grows to 65535 after RFC 8654 is agreed."""

    __slots__ = ("_buf", "max_len")

    def __init__(self, max_len: int = MAX_MESSAGE_LEN) -> None:
        self.max_len = max_len
        self._buf = b""

    @property
    def pending(self) -> int:
        """Octets of an incomplete message kept for the next `feed`."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else bytes(data)
        out: list[tuple[int, bytes]] = []
        append = out.append
        unpack = _LENGTH_TYPE.unpack_from
        max_len = self.max_len
        pos = 0
        end = len(buf)
        while end - pos >= HEADER_LEN:
            if not buf.startswith(MARKER, pos):
                raise WireError(
                    ErrorCode.MESSAGE_HEADER,
                    HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
                    message="bad marker",
                )
            length, msg_type = unpack(buf, pos + 16)
            if (
                length > max_len
                or not 1 <= msg_type <= 5
                or not _MIN_LEN[msg_type] <= length <= _MAX_LEN[msg_type]
            ):
                check_length(msg_type, length, max_len)  # raises the right error
            nxt = pos + length
            if nxt > end:
                break
            append((msg_type, buf[pos + HEADER_LEN : nxt]))
            pos = nxt
        self._buf = buf[pos:] if pos < end else b""
        return out


def frame(msg_type: int, body: bytes) -> bytes:
    """A complete message: marker, length, type, body."""
    return MARKER + _LENGTH_TYPE.pack(HEADER_LEN + len(body), msg_type) + body

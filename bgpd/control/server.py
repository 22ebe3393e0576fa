"""The asyncio unix-socket server of the control protocol.

Role: accept connections, read one request line at a time, hand it to the handler the daemon
wires in, write the reply. It knows nothing about peers or routes: the handler does.
Invariants: a failing or slow client never blocks the speaker (each client is its own task,
requests are size-limited; a long reply (`RowStream`) is written chunk by chunk, each chunk
drained before the next is made, so a slow reader holds back its own answer only); every
request line gets one reply line, an error when the handler fails before any row of the reply
is written (a bug is logged with its traceback, the connection and the server stay up), a cut
line and a closed connection when it fails after (logged the same); the socket file is
removed on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable

from bgpd.control.protocol import (
    MAX_REQUEST_BYTES,
    ControlCommandError,
    Request,
    RowStream,
    decode_request,
    encode_error,
    encode_reply,
    reply_pieces,
)
from bgpd.control.unix import bind_unix_socket, release_socket_path, socket_identity
from bgpd.views import Json

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable["Json | RowStream"]]


class ControlServer:
    __slots__ = ("_handler", "_identity", "_path", "_server")

    def __init__(self, path: str, handler: Handler) -> None:
        self._path = path
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None

    @property
    def path(self) -> str:
        return self._path

    async def start(self, sock: socket.socket | None = None) -> None:
        """Serves on `sock` (from `bind_unix_socket(path)`), or binds the path itself."""
        if sock is None:
            sock = bind_unix_socket(self._path)
        self._server = await asyncio.start_unix_server(
            self._serve, sock=sock, limit=MAX_REQUEST_BYTES
        )
        os.chmod(self._path, 0o660)
        self._identity = socket_identity(self._path)
        logger.info("control socket listening path=%s", self._path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        release_socket_path(self._path, self._identity)

    async def _answer(self, line: bytes) -> bytes | tuple[bytes, AsyncGenerator[bytes, None]]:
        """The reply's line, or a stream's first piece (its head and first rows, made here so
        that a refusal found before any row, an unknown peer say, is still an error reply)
        and the rest of its pieces."""
        try:
            reply = await self._handler(decode_request(line))
            if not isinstance(reply, RowStream):
                return encode_reply(reply)
            pieces = reply_pieces(reply)
            first = await anext(pieces) + await anext(pieces)
            return first, pieces
        except ControlCommandError as exc:
            return encode_error(str(exc))
        except Exception as exc:  # one bad request must not end the connection or the server
            logger.exception("control command failed path=%s", self._path)
            return encode_error(f"internal error: {type(exc).__name__}: {exc}")

    async def _stream(
        self, writer: asyncio.StreamWriter, first: bytes, pieces: AsyncGenerator[bytes, None]
    ) -> bool:
        """Writes a streamed reply, each piece drained before the next is made; False when it
        failed midway (logged): the line is cut, the connection is to be closed."""
        try:
            writer.write(first)
            await writer.drain()
            async for piece in pieces:
                writer.write(piece)
                await writer.drain()
        except ConnectionError:
            raise
        except Exception:
            logger.exception("control reply cut path=%s", self._path)
            return False
        finally:
            await pieces.aclose()
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(encode_error("request too long"))
                    break
                if not line:
                    break
                answer = await self._answer(line)
                if isinstance(answer, bytes):
                    writer.write(answer)
                    await writer.drain()
                elif not await self._stream(writer, *answer):
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

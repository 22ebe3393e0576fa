"""The listening sockets of the BIRD-compatible control (`bird_server.BirdControl`): their
client sessions, each command read, answered by `BirdControl.execute_stream` and written as it
is made.

Invariants: a slow or broken client never blocks the speaker (each connection is its own
task, commands are size-limited as BIRD's 1 KiB, and a too-long command ends the connection as
in BIRD); a reply is written a chunk of lines at a time, each drained before the next is made;
every command gets a reply, one that fails inside bgpd `8008` (logged with its traceback),
after lines already sent too; the socket files are created mode 0660 and removed on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from importlib import metadata
from typing import TYPE_CHECKING

from bgpd.control.bird_protocol import (
    MAX_COMMAND_BYTES,
    Command,
    IpVersion,
    ParseError,
    Quit,
    Reply,
    ReplyEncoder,
    ReplyLine,
    Restrict,
    error_reply,
    parse_command,
    welcome,
)
from bgpd.control.steps_loop import run_stream
from bgpd.control.unix import bind_unix_socket, release_socket_path, socket_identity
from bgpd.speaker.steps import chunks

if TYPE_CHECKING:
    from bgpd.control.bird_server import BirdControl

logger = logging.getLogger(__name__)

SOCKET_MODE = 0o660  # BIRD's control socket: owner and group read/write


def bird_version() -> str:
    """The version BIRD's greeting and `show status` carry: "v<bgpd version>+bgpd".

    It starts with "v" because Calico's node-status reporter reads the version from a line
    starting "BIRD v" (BIRD in calico-node says "BIRD v0.3.3+birdv1.6.8").
    """
    try:
        ours = metadata.version("bgpd")
    except metadata.PackageNotFoundError:
        ours = "0+unknown"
    return f"v{ours}+bgpd"


class BirdSocket:
    """One listening socket (bird.ctl or bird6.ctl) and its client sessions."""

    __slots__ = ("_clients", "_control", "_identity", "_server", "path", "version")

    def __init__(self, path: str, control: BirdControl, version: IpVersion) -> None:
        self.path = path
        self._control = control
        self.version: IpVersion = version
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None
        # Open sessions, ended on close (newer Pythons' wait_closed() waits for them).
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Serves on `sock` (from `bind_unix_socket(path)`), or binds the path itself."""
        if sock is None:
            sock = bind_unix_socket(self.path)
        self._server = await asyncio.start_unix_server(
            self._serve, sock=sock, limit=MAX_COMMAND_BYTES
        )
        os.chmod(self.path, SOCKET_MODE)
        self._identity = socket_identity(self.path)
        logger.info("bird control socket listening path=%s version=%d", self.path, self.version)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        release_socket_path(self.path, self._identity)

    def _parse(self, raw: bytes) -> Command:
        try:
            return parse_command(raw.decode("utf-8", "replace").rstrip("\r\n"), self.version)
        except Exception as exc:  # the parser answers 9001 by design; a bug still gets a reply
            logger.exception("bird control socket command failed path=%s", self.path)
            return ParseError(code=Reply.RUNTIME_ERROR, message=f"Internal error: {exc!r}")

    async def _reply(
        self,
        command: Command,
        restricted: bool,
        writer: asyncio.StreamWriter,
        encoder: ReplyEncoder,
    ) -> None:
        """Writes the reply to `command` as it is made, a chunk of lines at a time, each one
        drained before the next is made (a slow client holds back its own reply only)."""
        try:
            async for lines in run_stream(
                self._control.execute_stream(command, self.version, restricted)
            ):
                for batch in chunks(lines):  # a chunk can be a whole reply of many lines
                    writer.write(encoder.encode(batch))
                    await writer.drain()
        except ConnectionError:
            raise
        except Exception as exc:  # one broken command must not end the session or the socket
            logger.exception("bird control socket command failed path=%s", self.path)
            # after lines already sent too: a final line ends the reply, as BIRD's errors do
            writer.write(
                encoder.encode(error_reply(Reply.RUNTIME_ERROR, f"Internal error: {exc!r}"))
            )
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        encoder = ReplyEncoder()
        restricted = False
        self._clients.add(writer)
        try:
            writer.write(encoder.encode(welcome(bird_version())))
            await writer.drain()
            while True:
                try:
                    raw = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(
                        encoder.encode(error_reply(Reply.COMMAND_TOO_LONG, "Command too long"))
                    )
                    break
                if not raw:
                    break
                command = self._parse(raw)
                if isinstance(command, Quit):
                    break
                if isinstance(command, Restrict):
                    restricted = True
                    lines = [ReplyLine(Reply.ACCESS_RESTRICTED, "Access restricted", final=True)]
                    writer.write(encoder.encode(lines))
                    await writer.drain()
                else:
                    await self._reply(command, restricted, writer, encoder)
        except ConnectionError:
            pass
        except Exception:  # a bug outside a command (encoding a reply): end this session only
            logger.exception("bird control socket session failed path=%s", self.path)
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

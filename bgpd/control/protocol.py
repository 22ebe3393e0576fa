"""bgpctl's wire protocol over the control socket: one JSON object per line each way.

A request is `{"command": "show peers", "args": {...}}`; the reply is `{"ok": true, "data": ...}`
or `{"ok": false, "error": "..."}`. Plain JSON lines keep the protocol debuggable with
`socat - UNIX-CONNECT:/path` and trivially versionable (unknown keys are ignored).

A reply whose data is a long list (a whole table: a million routes), or an object holding
long lists (`--received`), is written as it is made, rows by rows (`RowStream`), still as the
one line `{"ok":true,"data":...}` that `encode_reply` makes: the client reads it as any other
reply. Should the daemon fail once rows are on their way, it closes the
connection without the line's end (the client reports a cut reply; the daemon logs why).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from bgpd.views import Json

MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    command: str
    args: dict[str, Any] = field(default_factory=dict)


class ControlCommandError(Exception):
    """A request the daemon understood but refused (unknown peer, bad prefix...)."""


def encode_request(request: Request) -> bytes:
    return json.dumps({"command": request.command, "args": request.args}).encode() + b"\n"


def decode_request(line: bytes) -> Request:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise ControlCommandError(f"request is not JSON: {exc}") from exc
    except RecursionError as exc:  # `[[[[...` deeper than the parser's recursion limit
        raise ControlCommandError("request is nested too deeply") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("command"), str):
        raise ControlCommandError('request must be an object with a string "command"')
    args = obj.get("args") or {}
    if not isinstance(args, dict):
        raise ControlCommandError('"args" must be an object')
    return Request(command=obj["command"], args=args)


def encode_reply(data: Json) -> bytes:
    return json.dumps({"ok": True, "data": data}, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class RowStream:
    """A reply whose data holds long lists, made chunk by chunk: each item of `chunks` is the
    next rows of the current list (each one's JSON text, compact), written and dropped before
    the next chunk is made, or the JSON text that goes between two lists (the rows after it
    are the next list's). `head` and `tail` are the data's text before its first list's rows
    and after its last one's: by default the data is one list."""

    chunks: AsyncGenerator[list[str] | bytes, None]
    head: bytes = b"["
    tail: bytes = b"]"


REPLY_HEAD = b'{"ok":true,"data":'  # what `encode_reply` writes before the data
REPLY_TAIL = b"}\n"


def encode_rows(rows: list[str], first: bool) -> bytes:
    """Rows of a `RowStream`'s list as they go after the rows before them (comma-led but for
    the list's first rows): with the list's brackets, what `encode_reply` makes of the list."""
    if not rows:
        return b""
    body = ",".join(rows).encode()
    return body if first else b"," + body


async def reply_pieces(reply: RowStream) -> AsyncGenerator[bytes, None]:
    """A `RowStream`'s reply line, a piece per chunk (the head with nothing of the chunks
    read, then the first rows with it): joined, the line `encode_reply` makes of the whole
    data. A failure of the chunks ends the pieces without the line's end."""
    yield REPLY_HEAD + reply.head
    listed = False  # rows given in the current list
    try:
        async for chunk in reply.chunks:
            if isinstance(chunk, bytes):  # the text between two lists
                listed = False
                yield chunk
            elif chunk:
                yield encode_rows(chunk, not listed)
                listed = True
    finally:
        await reply.chunks.aclose()  # the walk's generators end now, cut or not
    yield reply.tail + REPLY_TAIL


def encode_error(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}).encode() + b"\n"

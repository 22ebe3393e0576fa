"""bgpctl's wire protocol over the control socket: one JSON object per line each way.

A request is `{"command": "show peers", "args": {...}}`; the reply is `{"ok": true, "data": ...}`
or `{"ok": false, "error": "..."}`. Plain JSON lines keep the protocol debuggable with
`socat - UNIX-CONNECT:/path` and trivially versionable (unknown keys are ignored).
"""

from __future__ import annotations

import json
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


def encode_error(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}).encode() + b"\n"

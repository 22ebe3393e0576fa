"""The messages between the daemon and its BFD process (bgpd.runtime.bfd_process starts it,
bgpd.runtime.bfd_child runs it), over a Unix stream socketpair.

Framing: a 4-byte big-endian length, then one UTF-8 JSON object carrying `v` (the protocol
version, `VERSION`) and `type`. The daemon sends `configure` (the wanted sessions, whole, and
the log level) and `shutdown` (AdminDown to every neighbour, then exit); the BFD process sends
`hello` once started, `changes` (state changes, in order), `status` (the sessions' views and
drop counters: after every change, and once a second, which tells the daemon it lives), `log`
(its log records, re-emitted by the daemon so that one stream, format and level serve both)
and `closed` after a shutdown.

Invariants: a frame of another version, an unknown type, a malformed body or a length above
`MAX_FRAME` raises `BfdMessageError` (the reader of that channel is then broken: the daemon
restarts the process, the process exits); nothing is skipped silently. Both sides run the same
code (the daemon starts the process with its own interpreter and package), so a version
mismatch means a package replaced under a running daemon.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bgpd.bfd import BfdPeer, BfdSettings, Diagnostic, PeerStateChanged, State, StateChanged
from bgpd.errors import BgpdError

__all__ = [
    "MAX_FRAME",
    "VERSION",
    "BfdMessageError",
    "Changes",
    "Closed",
    "Configure",
    "FrameReader",
    "Hello",
    "LogLine",
    "Message",
    "SessionStatus",
    "Shutdown",
    "Status",
    "encode_message",
]

VERSION = 1
MAX_FRAME = 16 << 20  # thousands of sessions fit many times over
_LENGTH = struct.Struct("!I")


class BfdMessageError(BgpdError):
    """A frame that is not a message of this version."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Configure:
    peers: tuple[BfdPeer, ...]
    log_level: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    pid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Changes:
    changes: tuple[PeerStateChanged, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStatus:
    """One session as `show bfd sessions` shows it; `since` is wall-clock time."""

    peer: str
    address: str
    state: str
    since: float
    interval_s: float
    timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    sessions: tuple[SessionStatus, ...]
    drops: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine:
    """A log record of the BFD process: the template and its arguments, not the rendered
    text, so that the daemon's formatters parse the event and its keys as for its own lines."""

    level: int
    logger: str
    msg: str
    args: tuple[str | int | float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    pass


Message = Configure | Shutdown | Hello | Changes | Status | LogLine | Closed


def _peer(p: BfdPeer) -> dict[str, Any]:
    s = p.settings
    return {
        "name": p.name,
        "address": p.address,
        "multihop": p.multihop,
        "local_address": p.local_address,
        "min_tx_us": s.desired_min_tx_us,
        "min_rx_us": s.required_min_rx_us,
        "multiplier": s.detect_mult,
    }


def _change(c: PeerStateChanged) -> dict[str, Any]:
    ch = c.change
    return {
        "peer": c.peer,
        "old": ch.old.value,
        "new": ch.new.value,
        "diag": ch.diag.value,
        "at": ch.at,
        "failure": ch.failure,
    }


def _body(msg: Message) -> dict[str, Any]:
    if isinstance(msg, Configure):
        return {"peers": [_peer(p) for p in msg.peers], "log_level": msg.log_level}
    if isinstance(msg, Hello):
        return {"pid": msg.pid}
    if isinstance(msg, Changes):
        return {"changes": [_change(c) for c in msg.changes]}
    if isinstance(msg, Status):
        sessions = [
            [s.peer, s.address, s.state, s.since, s.interval_s, s.timeout_s] for s in msg.sessions
        ]
        return {"sessions": sessions, "drops": dict(msg.drops)}
    if isinstance(msg, LogLine):
        return {"level": msg.level, "logger": msg.logger, "msg": msg.msg, "args": msg.args}
    return {}


_TYPES: dict[type[Any], str] = {
    Configure: "configure",
    Shutdown: "shutdown",
    Hello: "hello",
    Changes: "changes",
    Status: "status",
    LogLine: "log",
    Closed: "closed",
}


def encode_message(msg: Message) -> bytes:
    body = _body(msg)
    body["v"] = VERSION
    body["type"] = _TYPES[type(msg)]
    data = json.dumps(body, separators=(",", ":")).encode()
    return _LENGTH.pack(len(data)) + data


def _decode(obj: Any) -> Message:
    if not isinstance(obj, dict):
        raise BfdMessageError("a message is a JSON object")
    if obj.get("v") != VERSION:
        raise BfdMessageError(f"protocol version {obj.get('v')!r}, expected {VERSION}")
    kind = obj.get("type")
    if kind == "configure":
        peers = tuple(
            BfdPeer(
                name=p["name"],
                address=p["address"],
                multihop=bool(p["multihop"]),
                local_address=p["local_address"],
                settings=BfdSettings(
                    desired_min_tx_us=int(p["min_tx_us"]),
                    required_min_rx_us=int(p["min_rx_us"]),
                    detect_mult=int(p["multiplier"]),
                ),
            )
            for p in obj["peers"]
        )
        return Configure(peers=peers, log_level=int(obj["log_level"]))
    if kind == "shutdown":
        return Shutdown()
    if kind == "hello":
        return Hello(pid=int(obj["pid"]))
    if kind == "changes":
        changes = tuple(
            PeerStateChanged(
                peer=c["peer"],
                change=StateChanged(
                    old=State(c["old"]),
                    new=State(c["new"]),
                    diag=Diagnostic(c["diag"]),
                    at=float(c["at"]),
                    failure=bool(c["failure"]),
                ),
            )
            for c in obj["changes"]
        )
        return Changes(changes=changes)
    if kind == "status":
        sessions = tuple(
            SessionStatus(
                peer=str(peer),
                address=str(address),
                state=str(state),
                since=float(since),
                interval_s=float(interval),
                timeout_s=float(timeout),
            )
            for peer, address, state, since, interval, timeout in obj["sessions"]
        )
        drops = {str(k): int(v) for k, v in obj["drops"].items()}
        return Status(sessions=sessions, drops=drops)
    if kind == "log":
        args = tuple(a if isinstance(a, int | float) else str(a) for a in obj["args"])
        return LogLine(level=int(obj["level"]), logger=obj["logger"], msg=obj["msg"], args=args)
    if kind == "closed":
        return Closed()
    raise BfdMessageError(f"unknown message type {kind!r}")


class FrameReader:
    """Bytes of the stream in, whole messages out."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        out: list[Message] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise BfdMessageError(f"a frame of {length} bytes (at most {MAX_FRAME})")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            frame = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            try:
                out.append(_decode(json.loads(frame)))
            except BfdMessageError:
                raise
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise BfdMessageError(f"a malformed message: {exc!r}") from exc
        return out

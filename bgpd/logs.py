"""Logging set-up: event lines (text or JSON), a live level, and a rate limit for floods.

Every log statement in bgpd follows one convention, so that both formats come from the same
lazy ``%`` call and no statement has to build a dict::

    logger.warning("peer down peer=%s reason=%s", name, reason)

The template is an *event* (a stable lower-case phrase or dotted name, ``peer down``,
``kernel.op_failed``) followed by ``key=value`` tokens. The formatters parse the template, not
the rendered text, so a value with spaces (``reason=hold timer expired``) stays one field:

- text: ``2026-12-07T16:41:09.539+00:00 WARNING bgpd.session.fsm: peer down peer=Mesh_10_0_0_2
  reason="hold timer expired"`` (values with spaces, quotes or ``=`` are quoted, logfmt
  style; the time is RFC 3339 in the host's zone, with its offset);
- JSON: ``{"ts": ..., "level": "warning", "logger": ..., "event": "peer down",
  "peer": "Mesh_10_0_0_2", "reason": "hold timer expired", "msg": ...}``.

A template that does not follow the convention is never lost: its whole rendered message is
the event. Invariants: formatting never raises for a record the stdlib could format, and the
root level is the only level bgpd sets, so `set_level` changes every logger at once.

`RateLimitFilter` keeps per-route lines (debug) from flooding: at most N records per template
per second, then one ``logs suppressed`` line with the count.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bgpd.text import escape_controls, is_safe
from bgpd.throttle import WindowBudget

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 1,
}

# Keys of the JSON object itself; a field with one of these names gets a trailing underscore.
RESERVED = frozenset({"ts", "level", "logger", "event", "msg", "exc"})

# One printf conversion (the subset `%` formatting accepts, without mapping keys).
_PLACEHOLDER = re.compile(r"%(?:%|[#0\- +]*(?:\d+)?(?:\.\d+)?[hlL]?([diouxXeEfFgGcrsa]))")
_KEY = re.compile(r"([a-z][a-z0-9_.]*)=(.*)", re.DOTALL)
_NEEDS_QUOTES = re.compile(r'[\s"=]|^$')
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class _Piece:
    """One token of a template: its text, the args it consumes, the key when it has one."""

    key: str | None
    template: str
    first_arg: int
    nargs: int
    conversion: str | None  # the conversion when the token's value is exactly one placeholder


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A log record as an event: its name and its fields in template order."""

    event: str
    fields: dict[str, Any]


def _split(template: str) -> tuple[_Piece, ...] | None:
    """The template's tokens, or None when it uses what the convention cannot map."""
    pieces: list[_Piece] = []
    arg = 0
    for token in template.split():
        convs = [m.group(1) for m in _PLACEHOLDER.finditer(token) if m.group(1) is not None]
        if "%(" in token or ("*" in token and "%" in token):
            return None  # mapping keys or star widths: leave the record as it is
        match = _KEY.fullmatch(token)
        if match is not None:
            key, value = match.group(1), match.group(2)
            exact = _PLACEHOLDER.fullmatch(value)
            conversion = exact.group(1) if exact is not None else None
            pieces.append(
                _Piece(
                    key=key, template=value, first_arg=arg, nargs=len(convs), conversion=conversion
                )
            )
        else:
            pieces.append(
                _Piece(key=None, template=token, first_arg=arg, nargs=len(convs), conversion=None)
            )
        arg += len(convs)
    return tuple(pieces)


def _typed(piece: _Piece, value: Any, rendered: str) -> Any:
    """Numbers stay numbers in JSON when the value is exactly one numeric placeholder."""
    # Exact types only: an IntEnum shows its name in text, so it stays a string in JSON too.
    conv = piece.conversion
    kind = type(value)
    if conv in ("d", "i") and kind in (int, float):
        return int(value)
    if conv is not None and conv in "eEfFgG" and kind in (int, float):
        return float(rendered)
    if conv in ("s", "r") and (value is None or kind in (bool, int, float)):
        return value
    return rendered


class EventParser:
    """Turns records into `Event`s; caches each template's split (templates are few)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[str, tuple[_Piece, ...] | None] = {}

    def _pieces(self, template: str) -> tuple[_Piece, ...] | None:
        try:
            return self._cache[template]
        except KeyError:
            pass
        pieces = _split(template)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()  # only templates built at runtime could fill it; start over
        self._cache[template] = pieces
        return pieces

    def event_name(self, template: str) -> str:
        """The event of a template: its words before the first field."""
        pieces = self._pieces(template)
        if pieces is None:
            return template
        words: list[str] = []
        for piece in pieces:
            if piece.key is not None or piece.nargs:
                break
            words.append(piece.template)
        return " ".join(words) or template

    def add_after(
        self,
        record: logging.LogRecord,
        key: str,
        new_key: str,
        value_of: Callable[[str], str | None],
    ) -> None:
        """Inserts ``new_key=VALUE`` after the one-placeholder field `key` of `record`, VALUE
        being `value_of` that field's value; nothing when the template has no such field,
        already has `new_key`, or `value_of` gives None."""
        template, args = record.msg, record.args
        if not isinstance(template, str) or not isinstance(args, tuple):
            return
        pieces = self._pieces(template)
        if pieces is None or any(p.key == new_key for p in pieces):
            return
        found = next(
            (
                i
                for i, p in enumerate(pieces)
                if p.key == key and p.nargs == 1 and p.conversion == "s"
            ),
            None,
        )
        if found is None or len(args) != sum(p.nargs for p in pieces):
            return
        index, piece = found, pieces[found]
        value = value_of(str(args[piece.first_arg]))
        if value is None:
            return
        tokens = template.split()
        tokens.insert(index + 1, f"{new_key}=%s")
        at = piece.first_arg + 1
        record.msg = " ".join(tokens)
        record.args = (*args[:at], value, *args[at:])

    def parse(self, record: logging.LogRecord) -> Event:
        template = record.msg
        args = record.args
        if not isinstance(template, str) or isinstance(args, dict):
            return Event(event=record.getMessage(), fields={})
        values: tuple[Any, ...] = args if isinstance(args, tuple) else ()
        pieces = self._pieces(template)
        if pieces is None or sum(p.nargs for p in pieces) != len(values):
            return Event(event=record.getMessage(), fields={})
        words: list[str] = []
        fields: dict[str, Any] = {}
        last: str | None = None
        try:
            for piece in pieces:
                own = values[piece.first_arg : piece.first_arg + piece.nargs]
                # Without args the stdlib leaves the template as it is (`%%` stays `%%`).
                rendered = piece.template % own if values else piece.template
                if piece.key is not None:
                    key = piece.key + "_" if piece.key in RESERVED else piece.key
                    value = own[0] if len(own) == 1 else rendered
                    fields[key] = _typed(piece, value, rendered)
                    last = key
                elif last is None:
                    words.append(rendered)
                else:
                    # A word after a field continues it (`reason=max peers %d`): one value.
                    fields[last] = f"{fields[last]} {rendered}"
        except (TypeError, ValueError):
            return Event(event=record.getMessage(), fields={})
        return Event(event=" ".join(words), fields=fields)


def _quote(value: Any) -> str:
    text = str(value)
    if _NEEDS_QUOTES.search(text) or not is_safe(text):
        # JSON's escapes (ensure_ascii) show every control and non-ASCII character: \n, \u001b.
        return json.dumps(text)
    return text


def render_text(event: Event) -> str:
    """``event key=value ...`` with logfmt quoting, so each line splits back unambiguously.

    A value or event that comes from outside (a peer's shutdown text, a datastore name) can hold
    a line break or a terminal escape: quoted values are JSON-escaped, and an event (a record
    outside the convention is its whole message) is escaped by `escape_controls`, so one record
    stays one line and never drives the reader's terminal.
    """
    name = escape_controls(event.event)
    if not event.fields:
        return name
    body = " ".join(f"{k}={_quote(v)}" for k, v in event.fields.items())
    return f"{name} {body}" if name else body


class PeerAddressFilter(logging.Filter):
    """Adds the peer's address beside its name (``peer=tor address=10.0.0.1``) to every line
    that names a session peer and not its address, so a line can be matched to a packet
    capture or the other side's log without the config at hand.

    The daemon sets `lookup` (name -> address of a configured or accepted peer); lines of
    confd, where `peer=` names a datastore resource, are left alone.
    """

    __slots__ = ("_parser", "lookup")

    def __init__(self) -> None:
        super().__init__()
        self._parser = EventParser()
        self.lookup: Callable[[str], str | None] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        lookup = self.lookup
        if lookup is not None and not record.name.startswith("bgpd.confd"):
            self._parser.add_after(record, "peer", "address", lookup)
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: event key=value ...``; the time is RFC 3339 in the host's zone
    with its offset (``2026-12-07T17:41:09.539+01:00``), so lines from hosts in different
    zones, or read after a change of zone, compare."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._parser = EventParser()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        local = datetime.datetime.fromtimestamp(record.created).astimezone()
        return local.isoformat(timespec="milliseconds")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - stdlib name
        record.message = render_text(self._parser.parse(record))
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, the event's fields, msg, exc."""

    def __init__(self) -> None:
        super().__init__()
        self._parser = EventParser()

    def format(self, record: logging.LogRecord) -> str:
        event = self._parser.parse(record)
        obj: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event.event,
        }
        obj.update(event.fields)
        obj["msg"] = record.getMessage()
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str)  # ensure_ascii: no control character stays raw


class RateLimitFilter(logging.Filter):
    """At most `per_second` records per (logger, template) per second at or below `max_level`.

    Per-route lines share one template, so a full table arriving at debug costs `per_second`
    lines a second, not one per prefix. What was dropped is reported by one ``logs suppressed``
    record (at the level of the dropped lines) when the window of that template ends; it goes
    to `emit` (the handler the filter is attached to) and is itself never limited. Windows are
    checked when records arrive, so the summary of the last burst waits for the next record.
    """

    __slots__ = ("_clock", "_emit", "_lock", "_max_level", "_parser", "_windows")

    def __init__(
        self,
        emit: Callable[[logging.LogRecord], Any],
        *,
        per_second: int = 20,
        max_level: int = logging.DEBUG,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._max_level = max_level
        self._clock = clock
        self._lock = threading.Lock()
        self._parser = EventParser()
        # Keyed by (logger, template, level); the rule is `bgpd.throttle`'s.
        self._windows: WindowBudget[tuple[str, str, int]] = WindowBudget(
            burst=per_second, window=1.0
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "bgpd_summary", False):
            return True
        now = self._clock()
        with self._lock:
            due = self._expire(now)
            allowed = True
            if record.levelno <= self._max_level:
                key = (record.name, str(record.msg), record.levelno)
                allowed = self._windows.admit(key, now)
        for summary in due:  # outside the lock: the summary comes back through this filter
            self._emit(summary)
        return allowed

    def flush(self) -> None:
        """Reports every suppression now, whether or not its window has ended."""
        with self._lock:
            due = self._expire(float("inf"))
        for summary in due:
            self._emit(summary)

    def _expire(self, now: float) -> list[logging.LogRecord]:
        due: list[logging.LogRecord] = []
        for (name, template, level), suppressed in self._windows.take_ended(now):
            summary = logging.LogRecord(
                name,
                level,
                __file__,
                0,
                "logs suppressed count=%d for=%s",
                (suppressed, self._parser.event_name(template)),
                None,
            )
            summary.bgpd_summary = True
            due.append(summary)
        return due


def setup_logging(level: str, fmt: str, stream: Any = None) -> logging.Handler:
    """One handler on the root logger (stderr unless `stream`), replacing any earlier one."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(_formatter(fmt))
    handler.addFilter(RateLimitFilter(handler.handle))
    handler.addFilter(PeerAddressFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries below us log their own internals at debug (grpc: several lines per etcd
    # retry); an operator asking bgpd for debug wants bgpd's lines.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    set_level(level)
    return handler


QUIET_LIBRARIES = ("asyncio", "grpc", "hpack", "urllib3")


def _formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if str(fmt) == "json" else TextFormatter()


def set_format(fmt: str) -> None:
    """Text or JSON lines from now on, on the handlers `setup_logging` installed (live)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, TextFormatter | JsonFormatter):
            handler.setFormatter(_formatter(fmt))


def set_peer_lookup(lookup: Callable[[str], str | None] | None) -> None:
    """Where the handlers `setup_logging` installed find a peer's address by its name."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, PeerAddressFilter):
                f.lookup = lookup


def set_level(level: str) -> None:
    """The root level, so every bgpd logger follows; an unknown name means info."""
    logging.getLogger().setLevel(LEVELS.get(str(level), logging.INFO))

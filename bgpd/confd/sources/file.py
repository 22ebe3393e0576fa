"""A confd source backed by one YAML or TOML file of ``key: value`` pairs.

Role: the embedded default that lets bgpd confd run without etcd (small setups, tests, demos).
The file is a mapping of datastore keys to values; string values are taken as they are, any
other value (a number, a bool, a nested mapping or list) is JSON-encoded the way calicoctl
writes values (compact separators), so ``as_num: 64512`` and ``as_num: "64512"`` are the same.

Change detection is a stat check every ``poll_interval`` seconds (default 1 s) comparing inode,
device, size, mtime and ctime. It is not busy polling (one ``stat`` per second), it needs no
dependency, and unlike inotify on the file it follows every way a file gets replaced: in-place
writes, atomic renames over it, and Kubernetes ConfigMap volumes, whose files are symlinks
that are swapped through a ``..data`` directory (an inotify watch on the old inode would go
quiet after the first swap). The cost is up to one interval of latency, which the render loop's
debounce dwarfs anyway.

Invariants:
- The first snapshot is yielded after the first good read; until then errors are logged and
  the file is re-checked every interval.
- A file that fails to read or parse never replaces the last good snapshot; its error is
  logged once per change of the file (not every interval) and shown in `status()`.
- A file caught while being rewritten (its stat changed during the read) is read again at the
  next interval without an error.
- ``revision`` counts good reads whose content differed from the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import tomllib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from bgpd.confd.sources.base import KvSnapshot, SourceError, SourceStatus, freeze_values

__all__ = ["FileSource", "FileSourceError", "parse_kv_file", "parse_kv_text"]

logger = logging.getLogger(__name__)

_StatKey = tuple[int, int, int, int, int]


class FileSourceError(SourceError):
    """A key/value file that cannot be used; the message names the file and the problem."""


def _json_default(value: object) -> str:
    # YAML and TOML both turn unquoted dates into date objects; keep them as ISO text.
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"cannot encode a {type(value).__name__} value")


def _encode_value(key: str, value: object, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # an unquoted date at the top level: keep the text written
    try:
        return json.dumps(value, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise FileSourceError(f"{where}: key {key!r}: {exc}") from exc


def parse_kv_text(text: str, *, fmt: str, where: str = "<text>") -> dict[str, str]:
    """Parse ``text`` (``fmt`` is ``"yaml"`` or ``"toml"``) into a key -> raw value dict.

    Raises `FileSourceError` naming ``where`` (and the line, when the parser reports it).
    """
    data: Any
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FileSourceError(f"{where}: invalid TOML: {exc}") from exc
    elif fmt == "yaml":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FileSourceError(f"{where}: invalid YAML: {exc}") from exc
    else:
        raise FileSourceError(f"{where}: unknown format {fmt!r} (use yaml or toml)")
    if data is None:
        # An empty document is much more likely a file caught half-written (or truncated by
        # mistake) than a wish to delete every key; an empty mapping is written as `{}`.
        raise FileSourceError(f"{where}: empty file (write {{}} for no keys)")
    if not isinstance(data, dict):
        raise FileSourceError(
            f"{where}: expected a mapping of key -> value at the top level, "
            f"got {type(data).__name__}"
        )
    values: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise FileSourceError(f"{where}: key {key!r} is not a string")
        values[key] = _encode_value(key, value, where)
    return values


def _format_of(path: Path) -> str:
    return "toml" if path.suffix.lower() == ".toml" else "yaml"


def parse_kv_file(path: Path) -> dict[str, str]:
    """Read and parse ``path`` (TOML when it ends in ``.toml``, YAML otherwise).

    JSON files are YAML, so ``.json`` works too. Raises `FileSourceError`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileSourceError(f"{path}: cannot read: {exc}") from exc
    return parse_kv_text(text, fmt=_format_of(path), where=str(path))


def _stat_key(path: Path) -> _StatKey | None:
    try:
        st = os.stat(path)  # follows symlinks: a ConfigMap swap changes the inode seen here
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileSource:
    """Snapshots of a YAML or TOML key/value file, re-read when the file changes."""

    __slots__ = (
        "_closed",
        "_full_reads",
        "_last_error",
        "_path",
        "_poll_interval",
        "_revision",
        "_values",
    )

    def __init__(self, path: Path | str, *, poll_interval: float = 1.0) -> None:
        if poll_interval <= 0:
            raise FileSourceError(f"poll_interval must be positive, got {poll_interval}")
        self._path = Path(path)
        self._poll_interval = poll_interval
        self._closed = asyncio.Event()
        self._values: Mapping[str, str] | None = None
        self._revision = 0
        self._full_reads = 0
        self._last_error: str | None = None

    @property
    def path(self) -> Path:
        """The file this source reads."""
        return self._path

    def status(self) -> SourceStatus:
        """Whether the file currently reads and parses, and the revision held."""
        return SourceStatus(
            connected=self._values is not None and self._last_error is None,
            last_error=self._last_error,
            revision=self._revision,
            full_reads=self._full_reads,
            unreadable=self._last_error is not None,
        )

    async def close(self) -> None:
        """End the running `snapshots` iterators at their next check."""
        self._closed.set()

    async def _wait_interval(self) -> bool:
        """Sleep one interval; True when the source was closed meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self._poll_interval)
        return self._closed.is_set()

    async def _read(self, before: _StatKey | None) -> dict[str, str] | None:
        """Parse the file; None when it changed under us (try again next interval)."""
        values = await asyncio.to_thread(parse_kv_file, self._path)
        if _stat_key(self._path) != before:
            logger.debug("confd.file.changed_while_reading path=%s", self._path)
            return None
        return values

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        """Yield the file's content after the first good read, then after each change."""
        seen: _StatKey | None = None
        first = True
        while not self._closed.is_set():
            current = _stat_key(self._path)
            if first or current != seen:
                snapshot = await self._check(current, seen)
                seen = current
                if snapshot is not None:
                    first = False
                    yield snapshot
                    continue
            if await self._wait_interval():
                return

    async def _check(self, current: _StatKey | None, seen: _StatKey | None) -> KvSnapshot | None:
        """Read after a stat change; a snapshot when the content is new and valid."""
        try:
            if current is None:
                raise FileSourceError(f"{self._path}: cannot read: file does not exist")
            values = await self._read(current)
        except FileSourceError as exc:
            message = str(exc)
            if message != self._last_error or current != seen:
                logger.error(
                    "confd.file.invalid error=%s keeping=%s",
                    message,
                    f"revision {self._revision}" if self._values is not None else "nothing yet",
                )
            self._last_error = message
            return None
        if values is None:
            return None
        self._last_error = None
        self._full_reads += 1
        if self._values is not None and dict(self._values) == values:
            logger.debug("confd.file.unchanged path=%s", self._path)
            return None
        self._revision += 1
        self._values = freeze_values(values)
        logger.info(
            "confd.file.loaded path=%s keys=%d revision=%d", self._path, len(values), self._revision
        )
        return KvSnapshot(revision=self._revision, values=self._values)

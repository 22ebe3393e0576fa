"""A confd source of Felix's endpoint status files, for peering with workloads on this node.

Role: Felix writes one JSON file per workload endpoint of this node into
`<prefix>/endpoint-status/` (prefix: Felix's EndpointStatusPathPrefix, /var/run/calico), naming
the BGPPeer whose `localWorkloadSelector` chose the workload (libcalico-go/lib/epstatusfile).
Calico's confd watches that directory (confd/pkg/backends/calico/local_bgp_peer_watcher.go);
this source does the same for bgpd confd. Each good file is the key
`/calico/endpoint-status/<file name>` with the file's text as its value; the model turns those
into `Local_Workload_*` peers (`bgpd.confd.model.workloads`). It runs beside the datastore's
source, merged by `CompositeSource`.

Change detection polls: one `scandir` and one `stat` per file every `poll_interval` (1 s), and a
read only of the files whose inode, size, mtime or ctime changed. The standard library has no
inotify binding and the directory holds one small file per pod of the node, so a dependency
for it would buy at most a second of latency (Calico itself falls back to polling, every 30 s).
Polling also needs nothing when the directory appears late (Felix creates it, possibly after
bgpd starts) or is removed and made again.

Invariants:
- The first snapshot is yielded after the first scan; a missing directory is an empty one
  (logged once when it goes and once when it comes), never an error.
- A file that cannot be read or parsed (`read_endpoint_status`) never changes the view: its
  last good content stays until the file is fixed or removed. Felix writes files in place
  (truncate, then write), so a bad read is read again at the next poll and logged, once per
  change of the file, only when it is still bad with the same stat; a file that changed while
  it was read is read again at the next poll.
- A removed file leaves the view at the next poll.
- One snapshot per poll that changed the view, never one for an unchanged view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bgpd.confd.model.workloads import (
    ENDPOINT_STATUS_PREFIX,
    MAX_STATUS_BYTES,
    EndpointStatusError,
    read_endpoint_status,
)
from bgpd.confd.sources.base import KvSnapshot, SourceError, SourceStatus, freeze_values

__all__ = [
    "DEFAULT_PREFIX",
    "PREFIX_ENV",
    "STATUS_DIR",
    "EndpointStatusSource",
    "FileRead",
    "StatusFiles",
    "status_directory",
]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "/var/run/calico"  # client.go endpointStatusPathPrefix, Felix's default
PREFIX_ENV = "CALICO_ENDPOINT_STATUS_PATH_PREFIX"  # client.go envEndpointStatusPathPrefix
STATUS_DIR = "endpoint-status"  # epstatusfile.GetDirStatus()

_StatKey = tuple[int, int, int, int, int]


def status_directory(prefix: str | os.PathLike[str]) -> Path:
    """`<prefix>/endpoint-status`, where Felix writes and confd reads."""
    return Path(prefix) / STATUS_DIR


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRead:
    """One file as a poll saw it: its stat and, when it was read, its text or why not."""

    stat: _StatKey
    text: str | None = None
    error: str | None = None


class _Tracked:
    __slots__ = ("error", "reported", "stat", "text")

    def __init__(self, stat: _StatKey) -> None:
        self.stat = stat
        self.text: str | None = None  # the last good content
        self.error: str | None = None  # why the content at `stat` is bad
        self.reported = False  # `error` was logged


class StatusFiles:
    """The directory's view, updated from one poll's observations (no I/O here).

    A poll calls `to_read` with every file's stat, reads those files, and hands the results
    to `update`, which returns whether the key view changed.
    """

    __slots__ = ("_files",)

    def __init__(self) -> None:
        self._files: dict[str, _Tracked] = {}

    def to_read(self, stats: Mapping[str, _StatKey]) -> list[str]:
        """The files whose content must be read: new, changed, or bad and not yet logged."""
        return [name for name, stat in stats.items() if self._must_read(name, stat)]

    def _must_read(self, name: str, stat: _StatKey) -> bool:
        tracked = self._files.get(name)
        if tracked is None or tracked.stat != stat:
            return True
        return tracked.error is not None and not tracked.reported

    def update(self, present: Mapping[str, _StatKey], reads: Mapping[str, FileRead]) -> bool:
        """Take one poll: `present` every file's stat, `reads` what was read of them."""
        changed = False
        for name in self._files.keys() - present.keys():
            tracked = self._files.pop(name)
            if tracked.text is not None:
                changed = True
                logger.info("confd.endpoint_status.removed file=%s", name)
        for name, read in reads.items():
            if name in present:
                changed |= self._take(name, read)
        return changed

    def _take(self, name: str, read: FileRead) -> bool:
        tracked = self._files.get(name)
        if tracked is None:
            tracked = self._files[name] = _Tracked(read.stat)
        error = read.error
        status = None
        if error is None:
            assert read.text is not None
            try:
                status = read_endpoint_status(read.text)
            except EndpointStatusError as exc:
                error = str(exc)
        if error is not None:
            again = tracked.stat == read.stat and tracked.error is not None
            tracked.stat, tracked.error = read.stat, error
            if again and not tracked.reported:
                # Bad twice at the same stat: not a write caught half-way.
                tracked.reported = True
                logger.error(
                    "confd.endpoint_status.invalid file=%s error=%s keeping=%s",
                    name,
                    error,
                    "the last good content" if tracked.text is not None else "nothing",
                )
            elif not again:
                tracked.reported = False
                logger.debug("confd.endpoint_status.retry file=%s error=%s", name, error)
            return False
        assert status is not None and read.text is not None
        tracked.stat, tracked.error, tracked.reported = read.stat, None, False
        if tracked.text == read.text:
            return False
        tracked.text = read.text
        logger.info(
            "confd.endpoint_status.loaded file=%s bgp_peer=%s ipv4=%s ipv6=%s",
            name,
            status.bgp_peer_name or "-",
            status.ipv4 or "-",
            status.ipv6 or "-",
        )
        return True

    def values(self) -> dict[str, str]:
        """`/calico/endpoint-status/<file>` -> text, for every file with good content."""
        return {
            ENDPOINT_STATUS_PREFIX + name: t.text
            for name, t in sorted(self._files.items())
            if t.text is not None
        }

    def bad_files(self) -> list[str]:
        """The files whose current content is bad and was logged (for `status()`)."""
        return sorted(n for n, t in self._files.items() if t.error is not None and t.reported)


def _stat_key(st: os.stat_result) -> _StatKey:
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _list(directory: Path) -> dict[str, _StatKey] | None:
    """Every regular file's stat; None when the directory is not there."""
    out: dict[str, _StatKey] = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.is_file():
                        out[entry.name] = _stat_key(entry.stat())
                except OSError:
                    continue  # gone between the listing and the stat: next poll
    except (FileNotFoundError, NotADirectoryError):
        return None
    return out


def _read(path: Path, stat: _StatKey) -> FileRead | None:
    """The file's text; None when it changed while it was read (read again next poll)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_STATUS_BYTES + 1)
            after = _stat_key(os.fstat(f.fileno()))
    except OSError as exc:
        return FileRead(stat=stat, error=f"cannot read: {exc.strerror or exc}")
    if after != stat:
        return None
    if len(data) > MAX_STATUS_BYTES:
        return FileRead(stat=stat, error=f"larger than {MAX_STATUS_BYTES} bytes")
    try:
        return FileRead(stat=stat, text=data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return FileRead(stat=stat, error=f"not UTF-8: {exc.reason} at byte {exc.start}")


class EndpointStatusSource:
    """Snapshots of `/calico/endpoint-status/<file>` keys from a directory; see the module."""

    __slots__ = ("_closed", "_dir", "_files", "_missing", "_poll_interval", "_polls", "_revision")

    def __init__(self, directory: Path | str, *, poll_interval: float = 1.0) -> None:
        if poll_interval <= 0:
            raise SourceError(f"poll_interval must be positive, got {poll_interval}")
        self._dir = Path(directory)
        self._poll_interval = poll_interval
        self._files = StatusFiles()
        self._closed = asyncio.Event()
        self._missing: bool | None = None  # unknown before the first poll
        self._revision = 0
        self._polls = 0

    @property
    def directory(self) -> Path:
        return self._dir

    def status(self) -> SourceStatus:
        """Always connected (an absent directory is no workload); bad files as the error."""
        bad = self._files.bad_files()
        return SourceStatus(
            connected=True,
            last_error=f"bad endpoint status files in {self._dir}: {', '.join(bad)}"
            if bad
            else None,
            revision=self._revision,
            full_reads=self._polls,
        )

    async def close(self) -> None:
        self._closed.set()

    def poll(self) -> bool:
        """One scan of the directory (blocking I/O); True when the key view changed."""
        listing = _list(self._dir)
        if (listing is None) != self._missing:
            self._missing = listing is None
            if listing is None:
                logger.info("confd.endpoint_status.no_directory dir=%s", self._dir)
            else:
                logger.info("confd.endpoint_status.watching dir=%s", self._dir)
        present = listing or {}
        reads: dict[str, FileRead] = {}
        for name in self._files.to_read(present):
            read = _read(self._dir / name, present[name])
            if read is not None:
                reads[name] = read
        self._polls += 1
        return self._files.update(present, reads)

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        """The first snapshot after the first scan, then one per change of the view."""
        first = True
        while not self._closed.is_set():
            changed = await asyncio.to_thread(self.poll)
            if changed or first:
                first = False
                self._revision += 1
                yield KvSnapshot(revision=self._revision, values=freeze_values(self.values()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), self._poll_interval)

    def values(self) -> dict[str, str]:
        return self._files.values()

"""What every confd source provides: immutable key/value snapshots and a status.

Role: the contract between a datastore adapter (etcd, a file) and the render loop. A source
reads everything under its prefixes once, then follows changes; the consumer only ever sees
whole snapshots, so it never renders from a half-applied batch.

Invariants:
- The first snapshot is yielded only after a complete read; every later one is a whole, new
  snapshot (never a diff), and a snapshot never changes after it was yielded.
- An outage never ends `Source.snapshots()`: the source keeps its last state and resumes.
  Only `Source.close()` ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from bgpd.errors import BgpdError

__all__ = [
    "KvSnapshot",
    "Source",
    "SourceError",
    "SourceStatus",
    "SourceUnreadableError",
    "freeze_values",
]


class SourceError(BgpdError):
    """A source was configured in a way that cannot work (raised at construction)."""


class SourceUnreadableError(BgpdError):
    """A source failed every way to read it before its first read (`--onetime` gives up)."""


def freeze_values(values: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy of ``values``, safe to hand to another task."""
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True, kw_only=True)
class KvSnapshot:
    """Every key under the watched prefixes at one point in time."""

    revision: int  # etcd revision (file source: a counter of good reads)
    values: Mapping[str, str]  # key -> raw value; read-only

    def __post_init__(self) -> None:
        # A plain dict handed in by a caller could still be mutated through its other
        # references; a snapshot must not change after it was yielded.
        if not isinstance(self.values, MappingProxyType):
            object.__setattr__(self, "values", freeze_values(self.values))


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceStatus:
    """How a source is doing right now (for logs, health and metrics)."""

    connected: bool  # etcd reachable now (file source: file readable and valid)
    last_error: str | None  # the current problem, None while healthy
    revision: int  # revision of the state held (0 before the first complete read)
    full_reads: int  # complete (re-)reads so far; a compaction adds one
    # every way to read it failed since it last read (etcd: each endpoint once; a file:
    # missing or invalid): what `bgpd confd --onetime` gives up on before a first read
    unreadable: bool = False


class Source(Protocol):
    """A datastore adapter as the render loop sees it."""

    def snapshots(self) -> AsyncIterator[KvSnapshot]:
        """Yield the first snapshot after a complete read, then one per batch of changes.

        An outage never ends the iterator: the source logs, retries with backoff and keeps
        the last state. Only `close` ends it.
        """
        ...

    def status(self) -> SourceStatus:
        """The current status (cheap; safe to call at any time)."""
        ...

    async def close(self) -> None:
        """Stop following changes, release connections, end running `snapshots` iterators."""
        ...

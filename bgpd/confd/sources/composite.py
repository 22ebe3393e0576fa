"""Two sources as one: etcd for Calico's resources, the Kubernetes API for the rest.

Role: with ``--backend etcd`` inside a cluster, calico-node still reads Services,
EndpointSlices and password Secrets from the Kubernetes API. `CompositeSource` merges the
snapshots of a primary source (etcd) and a secondary one (a `KubernetesSource` of scope
SERVICES) into one stream, so the watcher and the model see one key view. The same merge adds
this node's endpoint status files (`EndpointStatusSource`, ``/calico/endpoint-status/...``)
to whichever datastore source there is.

Invariants:
- The first merged snapshot comes only after both sources yielded their first (each after
  its own complete read); then one per change of either, built from both latest snapshots.
- The two sources write disjoint key spaces (``/calico/...`` and ``/kubernetes/...``, or the
  datastore's and ``/calico/endpoint-status/...``); were a key in both, the primary's value
  wins.
- An outage of either never ends the stream; the merged status is connected only while both
  are, and names each source's problem. Only `close` (or a failed source) ends it.
- ``follow_primary`` sees every primary snapshot before it is merged (the Kubernetes source
  learns from it which Secrets the BGPPeers name).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from bgpd.confd.sources.base import KvSnapshot, Source, SourceError, SourceStatus

__all__ = ["CompositeSource"]


class CompositeSource:
    """The merged snapshots of two sources; see the module docstring."""

    __slots__ = (
        "_closed",
        "_follow",
        "_generation",
        "_latest",
        "_readers",
        "_sources",
        "_wakeup",
    )

    def __init__(
        self,
        primary: Source,
        secondary: Source,
        *,
        follow_primary: Callable[[Mapping[str, str]], None] | None = None,
    ) -> None:
        self._sources = (primary, secondary)
        self._follow = follow_primary
        self._latest: list[KvSnapshot | None] = [None, None]
        self._generation = 0
        self._readers: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._closed = False

    @property
    def parts(self) -> tuple[Source, Source]:
        """(primary, secondary), for per-datastore metrics."""
        return self._sources

    def status(self) -> SourceStatus:
        a, b = (s.status() for s in self._sources)
        errors = [e for e in (a.last_error, b.last_error) if e]
        return SourceStatus(
            connected=a.connected and b.connected,
            last_error="; ".join(errors) if errors else None,
            revision=self._generation,
            full_reads=a.full_reads + b.full_reads,
            unreadable=a.unreadable or b.unreadable,
        )

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        if self._closed:
            raise SourceError("CompositeSource is closed")
        if not self._readers:
            loop = asyncio.get_running_loop()
            self._readers = [
                loop.create_task(self._read(i), name=f"bgpd-confd-composite-{i}") for i in (0, 1)
            ]
        seen = 0
        while True:
            while not self._closed and self._generation == seen and self._failure() is None:
                await self._wakeup.wait()
            if self._closed:
                return
            failure = self._failure()
            if failure is not None:
                raise failure
            seen = self._generation
            primary, secondary = self._latest
            assert primary is not None and secondary is not None
            yield KvSnapshot(
                revision=self._generation, values={**secondary.values, **primary.values}
            )

    async def close(self) -> None:
        self._closed = True
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for source in self._sources:
            await source.close()
        self._wake()

    def _failure(self) -> BaseException | None:
        for task in self._readers:
            if task.done() and not task.cancelled():
                exc = task.exception()
                return exc if exc is not None else SourceError("a source's snapshots ended")
        return None

    def _wake(self) -> None:
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    async def _read(self, index: int) -> None:
        try:
            async for snapshot in self._sources[index].snapshots():
                if index == 0 and self._follow is not None:
                    self._follow(snapshot.values)
                self._latest[index] = snapshot
                if all(s is not None for s in self._latest):
                    self._generation += 1
                    self._wake()
        finally:
            self._wake()

"""The render loop: source snapshots -> key view -> rendered files -> speaker reload.

Role: confd's processor loop for bgpd. It reads whole snapshots from a `Source`, debounces
bursts, derives the `/calico/bgp/v1` view (the model), renders every template resource through
`Renderer`, and asks the speaker to reload when an installed file changed: an in-process
callback when bgpd runs the watcher itself, or SIGHUP to the PID in a pidfile.

Invariants:
- Nothing is rendered before the source's first complete read (its first snapshot).
- The first snapshot renders at once; later ones wait for `quiet_s` without a newer snapshot,
  and never longer than `max_delay_s` after the first of a burst, then the newest is rendered.
- A render pass never runs concurrently with another; it runs in a worker thread so a big
  cluster does not stall the speaker's loop when both share it.
- Bad data (`BgpdError` from the model or a template helper) or a failed check keeps every
  installed file as it was, logs one line naming the key or config location, and is counted.
  Any other exception in a render pass is a render failure too (logged with its traceback):
  nothing a snapshot holds can end the render loop.
- `run` only ever ends by cancellation or by raising: a failed source, or a source whose
  stream of snapshots ended (it would never report a change again). Its callers treat that
  as fatal, so the process exits and its supervisor restarts it.
- The reload hook runs on the loop thread, once per pass, only when some file changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bgpd.confd.arguments import DEFAULT_QUIET_S
from bgpd.confd.pidfile import ReloadError, signal_pidfile
from bgpd.confd.render_pass import Outcome, Renderer, RenderResult, describe_error
from bgpd.confd.sources.base import KvSnapshot, Source, SourceStatus, SourceUnreadableError
from bgpd.errors import BgpdError

__all__ = [
    "DeriveView",
    "ReloadError",
    "ReloadHook",
    "Watcher",
    "WatcherStatus",
    "describe_error",
    "signal_pidfile",
]

logger = logging.getLogger(__name__)

DeriveView = Callable[[Mapping[str, str]], Mapping[str, str]]
ReloadHook = Callable[[], object]

DEFAULT_MAX_DELAY_S = 1.0


# How often `run_once` looks at the source's status while waiting for its first read.
_ONETIME_STATUS_INTERVAL = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class WatcherStatus:
    """Counters and state of the render loop (exported by the metrics edge)."""

    renders_total: int  # render passes started (one per debounced snapshot)
    render_failures_total: int  # passes refused for bad data or a template error
    check_failures_total: int  # rendered files the check refused
    installs_total: int  # files replaced because their content changed
    reloads_total: int  # reload hooks run
    reload_failures_total: int
    last_success: float | None  # wall-clock time of the last pass with no failure
    last_error: str | None  # the last failure line, None after a clean pass
    revision: int  # source revision of the last rendered snapshot (0: none yet)
    source: SourceStatus


class Watcher:
    """Follows a source and keeps the rendered files current; see the module docstring."""

    __slots__ = (
        "_changed",
        "_check_failures",
        "_derive",
        "_installs",
        "_last_error",
        "_last_success",
        "_latest",
        "_max_delay",
        "_quiet",
        "_reader",
        "_ready",
        "_reload",
        "_reload_failures",
        "_reloads",
        "_render_failures",
        "_renderer",
        "_renders",
        "_revision",
        "_source",
    )

    def __init__(
        self,
        source: Source,
        renderer: Renderer,
        derive: DeriveView,
        *,
        reload: ReloadHook | None = None,
        quiet_s: float = DEFAULT_QUIET_S,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
    ) -> None:
        self._source = source
        self._renderer = renderer
        self._derive = derive
        self._reload = reload
        self._quiet = quiet_s
        self._max_delay = max(max_delay_s, quiet_s)
        self._latest: KvSnapshot | None = None
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._renders = 0
        self._render_failures = 0
        self._check_failures = 0
        self._installs = 0
        self._reloads = 0
        self._reload_failures = 0
        self._last_success: float | None = None
        self._last_error: str | None = None
        self._revision = 0

    # ----------------------------------------------------------------------------- API

    def set_reload(self, reload: ReloadHook | None) -> None:
        """Replace the reload hook (in-process mode sets it once the speaker exists)."""
        self._reload = reload

    def status(self) -> WatcherStatus:
        return WatcherStatus(
            renders_total=self._renders,
            render_failures_total=self._render_failures,
            check_failures_total=self._check_failures,
            installs_total=self._installs,
            reloads_total=self._reloads,
            reload_failures_total=self._reload_failures,
            last_success=self._last_success,
            last_error=self._last_error,
            revision=self._revision,
            source=self._source.status(),
        )

    async def wait_ready(self) -> None:
        """Return once a render pass ended with every destination file in place."""
        await self._ready.wait()

    async def run_once(self) -> list[RenderResult]:
        """`--onetime`: wait for the first complete read, render it once, return the results.

        SourceUnreadableError as soon as the source has failed every way to read it (it would
        retry for ever: right for the watcher, a hang for a one-shot run)."""
        first = asyncio.ensure_future(anext(aiter(self._source.snapshots()), None))
        try:
            while not first.done():
                status = self._source.status()
                if status.unreadable:
                    raise SourceUnreadableError(status.last_error or "the source cannot be read")
                # the sources report failures in their status only: look again shortly
                await asyncio.wait({first}, timeout=_ONETIME_STATUS_INTERVAL)
            snapshot = first.result()
        finally:
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await first
        if snapshot is None:
            raise ReloadError("the source ended before its first complete read")
        return await self._render(snapshot)

    async def run(self) -> None:
        """Render until cancelled (or the source fails for good)."""
        self._reader = asyncio.create_task(self._read(), name="confd-source")
        loop = asyncio.get_running_loop()
        first = True
        try:
            while True:
                await self._changed.wait()
                self._raise_if_reader_failed()
                if not first:
                    await self._debounce(loop)
                self._changed.clear()
                first = False
                snapshot = self._latest
                assert snapshot is not None
                await self._render(snapshot)
        finally:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def close(self) -> None:
        await self._source.close()

    # ------------------------------------------------------------------------ internals

    async def _read(self) -> None:
        try:
            async for snapshot in self._source.snapshots():
                self._latest = snapshot
                self._changed.set()
        finally:
            # Wake the render loop so it sees a failed (or ended) reader instead of hanging.
            self._changed.set()

    def _raise_if_reader_failed(self) -> None:
        reader = self._reader
        if reader is not None and reader.done() and not reader.cancelled():
            exc = reader.exception()
            if exc is not None:
                raise exc
            if self._latest is None:
                raise ReloadError("the source ended before its first complete read")
            # A source never ends on its own (an outage only pauses it): carrying on would
            # keep the last file and silently ignore every later change.
            raise ReloadError("the source stopped following changes")

    async def _debounce(self, loop: asyncio.AbstractEventLoop) -> None:
        deadline = loop.time() + self._max_delay
        while True:
            self._changed.clear()
            remaining = min(self._quiet, deadline - loop.time())
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return
            self._raise_if_reader_failed()

    async def _render(self, snapshot: KvSnapshot) -> list[RenderResult]:
        results = await asyncio.to_thread(self._render_pass, snapshot)
        # Counted once the pass is over, so a status showing it also shows its outcome.
        self._renders += 1
        self._revision = snapshot.revision
        failed = [r for r in results if r.outcome in (Outcome.RENDER_FAILED, Outcome.CHECK_FAILED)]
        for r in results:
            dest, kept = r.resource.dest, r.resource.dest.exists()
            # Before any good render (at start) there is no file to keep: said so, since the
            # in-process speaker then waits for one.
            if r.outcome is Outcome.CHECK_FAILED:
                self._check_failures += 1
                if kept:
                    logger.error("confd check failed, keeping the last good %s: %s", dest, r.error)
                else:
                    logger.error(
                        "confd check failed, nothing installed yet dest=%s error=%s", dest, r.error
                    )
            elif r.outcome is Outcome.RENDER_FAILED:
                self._render_failures += 1
                if kept:
                    logger.error("confd render failed, keeping the last good %s: %s", dest, r.error)
                else:
                    logger.error(
                        "confd render failed, nothing installed yet dest=%s error=%s", dest, r.error
                    )
        installed = [r for r in results if r.outcome is Outcome.INSTALLED]
        self._installs += len(installed)
        for r in installed:
            logger.info("confd installed dest=%s revision=%d", r.resource.dest, snapshot.revision)
        if failed:
            self._last_error = failed[0].error
        else:
            self._last_error = None
            self._last_success = time.time()
        if installed:
            await self._run_reloads(installed)
        if all(r.resource.dest.exists() for r in results):
            self._ready.set()
        return results

    def _render_pass(self, snapshot: KvSnapshot) -> list[RenderResult]:
        """Model and render every resource; a failure fails the resources not yet done."""
        resources = self._renderer.resources
        results: list[RenderResult] = []
        stage = "model"
        try:
            view = self._derive(snapshot.values)
            for resource in resources:
                stage = resource.name
                results.append(self._renderer.render_one(resource, view))
        except BgpdError as exc:  # bad data, named by the model or an environment value
            error = describe_error(exc)
        # The render loop's one catch-all. Whatever else a pass raises (a bug in the model,
        # a template helper or the config loader, met with data nobody foresaw) is a render
        # failure like bad data: logged with its traceback, counted, the installed files
        # kept. Letting it end the watcher would ignore every later change, silently.
        except Exception as exc:
            error = f"unexpected {type(exc).__name__} rendering {stage}: {describe_error(exc)}"
            logger.exception(
                "confd render pass failed unexpectedly revision=%d stage=%s",
                snapshot.revision,
                stage,
            )
        else:
            return results
        failed = [
            RenderResult(resource=r, outcome=Outcome.RENDER_FAILED, error=error)
            for r in resources[len(results) :]
        ]
        return results + failed

    async def _run_reloads(self, installed: list[RenderResult]) -> None:
        for r in installed:
            error = await asyncio.to_thread(Renderer.run_reload_cmd, r.resource)
            if error is not None:
                self._reload_failures += 1
                logger.error("confd resource failed resource=%s error=%s", r.resource.name, error)
        if self._reload is None:
            return
        self._reloads += 1
        try:
            ok = self._reload()
        except BgpdError as exc:
            self._reload_failures += 1
            logger.error("confd speaker reload failed error=%s", describe_error(exc))
            return
        if ok is False:  # the in-process hook says the speaker refused the file (it logged why)
            self._reload_failures += 1

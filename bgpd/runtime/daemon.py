"""The running speaker: one asyncio loop wiring sockets, timers, signals and the control socket
to the sans-IO `Speaker`.

Invariants:
- The speaker is only called from the loop thread, and after every call `_flush()` carries its
  outputs to the sockets and re-arms the single timer at the speaker's next deadline.
- `now` given to the core is `loop.time()` (monotonic); wall-clock time never reaches the core.
- A config that fails to load never replaces the running one (reload keeps the old config).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from typing import Protocol

from bgpd.bfd import PeerStateChanged
from bgpd.config import (
    Config,
    ConfigError,
    load_config,
)
from bgpd.control.bird_server import BirdControl
from bgpd.control.protocol import ControlCommandError, Request, encode_request
from bgpd.control.server import ControlServer
from bgpd.control.unix import bind_unix_socket, discard_unix_socket
from bgpd.errors import BgpdError, os_error_text
from bgpd.kernel import KernelStats
from bgpd.logs import set_format, set_level, set_peer_lookup
from bgpd.metrics import (
    ConfdStatus,
    Health,
    MetricsServer,
    SnapshotSource,
    probe_unix_socket,
)
from bgpd.runtime.bfd_process import BfdProcess
from bgpd.runtime.control_dispatch import ControlDispatch
from bgpd.runtime.kernel_wiring import KernelWiring
from bgpd.runtime.listeners import BgpListeners, ListenError, SocketStage
from bgpd.runtime.memory import MemoryTrimmer
from bgpd.runtime.reload import Reloader, ReloadPlan
from bgpd.runtime.restart_state import RestartStateWriter, any_established, start_mode
from bgpd.runtime.sessions import Sessions
from bgpd.speaker import Close, Dial, KernelRouteView, Send, Speaker

logger = logging.getLogger(__name__)


class StartupError(BgpdError):
    """The speaker cannot start (a port in use, a socket path not writable...)."""


SHUTDOWN_GRACE_S = 3.0


class Daemon:
    __slots__ = (
        "_bfd",
        "_bird",  # the BIRD-compatible control sockets
        "_confd",
        "_config_path",
        "_control",
        "_control_task",
        "_dispatch",
        "_kernel",
        "_kernel_converged",
        "_listeners",
        "_load",
        "_loop",
        "_metrics",
        "_metrics_source",
        "_metrics_task",
        "_pidfile",
        "_reloader",
        "_restart_state",
        "_sessions",
        "_speaker",
        "_stopping",
        "_timer",
        "_trimmer",
    )

    def __init__(
        self,
        config: Config,
        config_path: str | None,
        pidfile: str | None = None,
        *,
        load: Callable[[str], Config] = load_config,
        confd: Callable[[], ConfdStatus | None] = lambda: None,
    ) -> None:
        # `load` reads the file on reload: the standalone reflector passes its profile's loader.
        self._load = load
        self._confd = confd  # an in-process confd watcher's counters, for the metrics
        self._config_path = config_path
        self._pidfile = pidfile
        self._speaker = Speaker(config, random.Random())
        set_peer_lookup(self._peer_address)  # every peer line names the address too
        # bgpctl's commands (bgpd/runtime/control_dispatch.py)
        self._dispatch = ControlDispatch(
            self._speaker,
            now=self.now,
            reload=self.reload,
            flush=self._flush,
            kernel=lambda: self._kernel,
            config_path=config_path,
            load=load,
            bfd=lambda: self._bfd,
        )
        # connections, dialing, MD5/TTL, dynamic neighbours (bgpd/runtime/sessions.py)
        self._sessions = Sessions(
            self._speaker, loop=lambda: self.loop, now=self.now, flush=self._flush
        )
        # the BGP listening sockets (bgpd/runtime/listeners.py), opened in run()
        self._listeners: BgpListeners | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._control: ControlServer | None = None
        self._control_task: asyncio.Task[None] | None = None  # a control socket move on reload
        self._stopping: asyncio.Event | None = None
        self._kernel: KernelWiring | None = None
        self._kernel_converged = False
        self._trimmer: MemoryTrimmer | None = None
        # BIRD-compatible sockets (bgpd/control/bird_server.py), opened in run().
        self._bird: BirdControl | None = None
        # the reload sequence and its outcomes (bgpd/runtime/reload.py)
        self._reloader = Reloader(
            self._speaker,
            self._sessions,
            self,
            config_path=config_path,
            load=load,
            kernel=lambda: self._kernel,
            flush=self._flush,
            now=self.now,
        )
        # the metrics listener and its snapshot source (bgpd/metrics/)
        self._metrics: MetricsServer | None = None
        self._metrics_source: SnapshotSource | None = None
        self._metrics_task: asyncio.Task[None] | None = None  # a listener move on reload
        self._bfd: BfdProcess | None = None  # BFD's process, run() makes it
        self._restart_state: RestartStateWriter | None = None  # [bgp] restart_state_file

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def _peer_address(self, name: str) -> str | None:
        try:
            return str(self._speaker.peer_config(name).address)
        except KeyError:
            return None

    def now(self) -> float:
        return self.loop.time()

    # --------------------------------------------------------------------------- lifecycle

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        if self._stopping is None:  # stop() may come first
            self._stopping = asyncio.Event()
        config = self._speaker.config
        try:
            self._listeners = BgpListeners(
                self.loop, lambda: self._sessions.new_connection(None, False)
            )
            try:
                await self._listeners.open(config)
            except ListenError as exc:
                raise StartupError(str(exc)) from exc
            self._control = ControlServer(config.control.socket, self._dispatch.handle)
            await self._control.start()
            # [control] bird_socket / bird6_socket, when set.
            self._bird = BirdControl(self._dispatch.bird_hooks())
            await self._bird.start()
        except OSError as exc:
            await self._close_sockets()
            raise StartupError(f"cannot open control socket: {os_error_text(exc)}") from exc
        except StartupError:
            await self._close_sockets()
            raise
        # /metrics, /livez, /readyz on this loop when [metrics] listen is set.
        try:
            await self._start_metrics(config)
        except OSError as exc:
            await self._close_sockets()
            msg = f"cannot listen for metrics on {config.metrics.listen}: {exc.strerror or exc}"
            raise StartupError(msg) from exc
        adopted = 0
        if config.kernel.enabled:
            self._kernel = KernelWiring(config, self._on_kernel_learned)
            await self._kernel.start(self._speaker.fib_snapshot())
            adopted = len(self._kernel.sync.installed)
            if adopted and config.bgp.graceful_restart:
                logger.info("graceful restart kernel routes kept routes=%d", adopted)
        if start_mode(config, adopted).restarting:
            # We restarted with forwarding state (kernel routes of our last run), or we are a
            # route reflector whose clients may still hold our routes (the restart state
            # file says our sessions were up recently, or there is no usable file) and must
            # not see a half-built table: say so (R and F bits) and send nothing until our
            # peers' End-of-RIB has rebuilt the table (RFC 4724 §4.1), as calico-node's BIRD
            # does under -R. Otherwise nothing of ours is held: routes go out as they arrive.
            self._speaker.set_restarting(True)
        self.loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        self.loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        self.loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        if self._pidfile:
            with open(self._pidfile, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()}\n")
        logger.info(
            "bgpd started asn=%s router_id=%s peers=%d",
            config.local_asn,
            config.bgp.router_id,
            len(config.all_peers),
        )
        self._trimmer = self._sessions.trimmer = MemoryTrimmer(self.loop)
        MemoryTrimmer.freeze_startup_objects()
        self._speaker.start(self.now())
        self._restart_state = RestartStateWriter(
            self.loop, lambda: self._speaker.config, lambda: any_established(self._speaker)
        )
        self._bfd = BfdProcess(self.loop, self._on_bfd_changed)
        self._bfd.configure(config)
        self._flush()
        await self._stopping.wait()
        await self._shutdown()
        return 0

    def stop(self) -> None:
        """Shut the daemon down as SIGTERM does (`run` then returns, at once if not begun)."""
        if self._stopping is None:
            self._stopping = asyncio.Event()
        self._stopping.set()

    async def _shutdown(self) -> None:
        logger.info("bgpd stopping action=cease_every_peer")
        if self._restart_state is not None:  # while the sessions are still up
            self._restart_state.stopping()
        if self._bfd is not None:  # AdminDown first: the neighbours must not see a failure
            await self._bfd.close()
        self._sessions.release("stop")  # a batch held open goes out (and to the kernel) first
        self._speaker.shutdown(self.now())
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
        if self._trimmer is not None:
            self._trimmer.close()
        for task in self._sessions.dialing.values():
            task.cancel()
        deadline = self.now() + SHUTDOWN_GRACE_S
        while self._sessions.connections and self.now() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self._sessions.connections.values()):
            if conn.transport is not None:
                conn.transport.abort()
        await self._close_sockets()
        if self._kernel is not None:
            persist = self._speaker.config.bgp.persist_routes
            await self._kernel.sync.close(persist=persist)
            logger.info("kernel routes on exit action=%s", "kept" if persist else "removed")
        if self._pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._pidfile)
        logger.info("bgpd stopped")

    async def _close_sockets(self) -> None:
        if self._listeners is not None:
            self._listeners.close()
        if self._control is not None:
            await self._control.close()
            self._control = None
        # the BIRD-compatible sockets go with the other sockets.
        if self._bird is not None:
            await self._bird.close()
            self._bird = None
        # the metrics listener goes with the other sockets.
        if self._metrics is not None:
            await self._metrics.close()
            self._metrics = None

    # the metrics listener (bgpd/metrics/) and its inputs. -----------------------

    async def _start_metrics(self, config: Config, sock: socket.socket | None = None) -> None:
        """Starts the listener of `config.metrics` (none when `listen` is unset)."""
        if self._metrics_source is None:
            self._metrics_source = SnapshotSource(
                self._speaker,
                clock=self.now,
                wall=time.time,
                kernel=self._kernel_stats,
                reloads=self._reloader.stats,
                confd=self._confd,
                unknown_connections=lambda: self._sessions.refused.total,
                bfd_drops=lambda: {} if self._bfd is None else self._bfd.drops(),
                bfd_restarts=lambda: 0 if self._bfd is None else self._bfd.restarts,
            )
        listen = config.metrics.listen
        if listen is None:
            return
        server = MetricsServer(
            listen.host,
            listen.port,
            self._metrics_source,
            live=self._probe_liveness,
            threshold=config.metrics.ready_threshold,
        )
        await server.start(sock)
        self._metrics = server

    def _kernel_stats(self) -> KernelStats | None:
        return None if self._kernel is None else self._kernel.sync.stats()

    async def _probe_liveness(self) -> Health:
        """`/livez`: this coroutine running proves the loop turns; the control socket must
        answer a request too (as calico-node's -bird-live asks BIRD's socket)."""
        if self._control is None:
            return Health(ok=False, reason="control socket closed")
        request = encode_request(Request(command="ping"))
        return await probe_unix_socket(self._control.path, request, timeout=2.0)

    def _reconfigure_metrics(self, new: Config, stage: SocketStage) -> None:
        """A changed `[metrics]` on reload: the listener moves to the socket `stage` bound
        (or the threshold changes)."""
        if self._metrics is not None and not stage.metrics_moves:
            self._metrics.threshold = new.metrics.ready_threshold
            return
        if not stage.metrics_moves:
            return
        old_server, self._metrics = self._metrics, None
        sock, stage.metrics = stage.metrics, None

        async def move() -> None:
            if sock is not None:
                await self._start_metrics(new, sock)
            if old_server is not None:
                await old_server.close()

        self._metrics_task = self.loop.create_task(move())

    def _stage_sockets(self, old: Config, new: Config, plan: ReloadPlan) -> SocketStage:
        """Binds every listening socket the new config adds, before anything is applied; an
        OSError or ListenError leaves the running ones as they were."""
        stage = SocketStage()
        try:
            if plan.listen and self._listeners is not None:
                stage.bgp = self._listeners.stage(old, new)
            if plan.metrics_moves:
                stage.metrics_moves = True
                stage.stage_metrics(self._metrics, old, new)
            if plan.control_moves:
                stage.control = bind_unix_socket(new.control.socket)
            if self._bird is not None:
                self._bird.stage(new.control)
        except (OSError, ListenError):
            self._abort_sockets(stage)
            raise
        return stage

    def _abort_sockets(self, stage: SocketStage) -> None:
        if stage.bgp is not None and self._listeners is not None:
            self._listeners.abort(stage.bgp)
        restored = stage.abort_metrics()
        if restored is not None and self._metrics is not None:
            self._metrics_task = self.loop.create_task(self._metrics.start(restored))
        if stage.control is not None:
            discard_unix_socket(stage.control)
        if self._bird is not None:
            self._bird.unstage()

    def _commit_control(self, new: Config, stage: SocketStage) -> None:
        """`[control] socket` moved: the new path serves before the old one closes."""
        sock, stage.control = stage.control, None
        if sock is None:
            return
        old_server = self._control
        self._control = ControlServer(new.control.socket, self._dispatch.handle)
        server = self._control

        async def move() -> None:
            await server.start(sock)
            if old_server is not None:
                await old_server.close()

        self._control_task = self.loop.create_task(move())

    def _on_sighup(self) -> None:
        logger.info("reload requested by SIGHUP")
        with contextlib.suppress(ControlCommandError):
            self.reload()  # a rejected file was logged; the running config stays

    def reload(self) -> list[str]:
        """Re-reads the config file and applies it part by part (bgpd/runtime/reload.py)."""
        return self._reloader.reload()

    # the daemon's listening sockets as a reload moves them (reload.SocketEdges) -----------

    def stage(self, old: Config, new: Config, plan: ReloadPlan) -> SocketStage:
        return self._stage_sockets(old, new, plan)

    def commit(self, new: Config, plan: ReloadPlan, stage: SocketStage) -> None:
        if stage.bgp is not None and self._listeners is not None:
            self._listeners.commit(stage.bgp)
        self._commit_control(new, stage)
        if plan.metrics:  # a changed [metrics] moves the listener or sets the threshold
            self._reconfigure_metrics(new, stage)
        if self._bird is not None:  # "Last reconfiguration on" in `show status`
            self._bird.reconfigured()
        if self._bfd is not None:
            self._speaker.bfd_keep_only(set(self._bfd.configure(new)), self.now())
            self._flush()

    def listening(self) -> list[socket.socket]:
        return [] if self._listeners is None else self._listeners.sockets()

    # ------------------------------------------------------------------------------ core I/O

    def _on_kernel_learned(
        self, added: list[KernelRouteView], removed: list[KernelRouteView]
    ) -> None:
        self._speaker.kernel_routes_changed(added, removed, self.now())
        self._flush()

    def _on_bfd_changed(self, changes: list[PeerStateChanged]) -> None:
        now = self.now()
        for c in changes:
            self._speaker.bfd_changed(
                c.peer,
                c.change.new.label,
                failure=c.change.failure,
                diag=c.change.diag.text,
                now=now,
            )
        self._flush()

    def _flush(self) -> None:
        for output in self._speaker.take_outputs():
            if isinstance(output, Send):
                conn = self._sessions.connections.get(output.conn_id)
                if conn is not None:
                    conn.write_chunks(output.chunks)
            elif isinstance(output, Close):
                conn = self._sessions.connections.get(output.conn_id)
                if conn is not None:
                    conn.close()
            elif isinstance(output, Dial):
                self._sessions.dial(output.peer)
        updates = self._speaker.take_fib_updates()
        if self._kernel is not None:
            self._kernel.apply(updates)
            if not self._kernel_converged and self._speaker.converged():
                # Every peer sent End-of-RIB: routes adopted from a previous run that nobody
                # re-announced can go now (BIRD waits for the same with -R).
                self._kernel_converged = True
                self._kernel.sync.converged()
                logger.info("kernel stale routes removed reason=all_peers_converged")
        if self._trimmer is not None:  # a mass withdrawal frees memory without any input
            rib = self._speaker.rib
            self._trimmer.note_rib_size(sum(rib.count(f)[1] for f in rib.families()))
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self._speaker.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() == deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._speaker.handle_timer(self.now())
        except Exception:
            # The speaker contains each peer's timers; what escapes is not a session's (the
            # graceful-restart sweep, say). Logged, and the timer stays armed: an exception
            # in asyncio's handler would stop every timer of every session for good.
            logger.exception("runtime timer failed action=continue")
        self._flush()


def run_daemon(
    config: Config,
    config_path: str | None,
    pidfile: str | None = None,
    *,
    load: Callable[[str], Config] = load_config,
) -> int:
    """Run the speaker until SIGTERM; `load` re-reads `config_path` on reload."""
    return asyncio.run(Daemon(config, config_path, pidfile, load=load).run())


# a companion in the speaker's loop (`bgpd run --confd-backend ...`: bgpd confd's
# watcher in-process). It puts the config file in place before the speaker starts, then tells
# the speaker to reload after each changed render, without a signal. The daemon knows it only
# through this protocol, so the runtime edge does not import the confd edge.


class Companion(Protocol):
    async def prepare(self) -> None:
        """Return once the config file exists (the watcher's first good render)."""
        ...

    async def run(self, reload: Callable[[], bool]) -> None:
        """Run alongside the speaker; `reload()` re-reads the file, False if it was refused."""
        ...

    async def close(self) -> None: ...

    def metrics_status(self) -> tuple[int, int, int, tuple[tuple[str, bool], ...]]:
        """(renders, render failures, check failures, (datastore, connected) pairs)."""
        ...

    def unsupported_fields(self) -> tuple[tuple[str, str, int], ...]:
        """(kind, field, resources setting it) for the datastore fields bgpd refuses."""
        ...


def run_daemon_with(config_path: str, pidfile: str | None, companion: Companion) -> int:
    """Run the speaker on the file `companion` maintains, until SIGTERM."""
    return asyncio.run(_run_with_companion(config_path, pidfile, companion))


async def _run_with_companion(config_path: str, pidfile: str | None, companion: Companion) -> int:
    try:
        await companion.prepare()
        try:
            config = load_config(config_path)
        except (ConfigError, OSError) as exc:
            raise StartupError(f"{config_path}: config unusable: {exc}") from exc
        set_level(config.bgp.log_level)
        set_format(config.bgp.log_format)
        stopped: list[str] = []  # why the companion stopped, once it has

        def confd_status() -> ConfdStatus:
            renders, render_failures, check_failures, stores = companion.metrics_status()
            return ConfdStatus(
                renders_total=renders,
                render_failures_total=render_failures,
                check_failures_total=check_failures,
                etcd_connected=dict(stores).get("etcd"),
                datastores=stores,
                stopped=stopped[0] if stopped else None,
                unsupported_fields=companion.unsupported_fields(),
            )

        daemon = Daemon(config, config_path, pidfile, confd=confd_status)

        def reload() -> bool:
            try:
                daemon.reload()
            except ControlCommandError:
                return False  # reload() logged why; the running config stays
            return True

        speaker = asyncio.create_task(daemon.run(), name="speaker")
        task = asyncio.create_task(companion.run(reload), name="companion")
        try:
            await asyncio.wait({task, speaker}, return_when=asyncio.FIRST_COMPLETED)
            if speaker.done():
                return speaker.result()
            # The companion only ends by failing; a speaker whose config no longer follows
            # the datastore must not look healthy. Fatal and visible: logged, /readyz says
            # so, the speaker stops cleanly and bgpd exits non-zero for its supervisor.
            failure = None if task.cancelled() else task.exception()
            reason = "ended" if failure is None else f"{type(failure).__name__}: {failure}"
            stopped.append(" ".join(reason.encode("utf-8", "backslashreplace").decode().split()))
            logger.error("confd watcher stopped, exiting error=%s", stopped[0], exc_info=failure)
            daemon.stop()
            await speaker
            return 1
        finally:
            for running in (task, speaker):
                if not running.done():
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
    finally:
        await companion.close()

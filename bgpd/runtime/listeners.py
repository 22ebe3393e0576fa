"""The BGP listening sockets: bound at start, moved on reload without losing the old ones.

Role: `BgpListeners` owns one listening TCP socket per `[bgp] listen` address (and its asyncio
server). A reload moves them in two steps: `stage(old, new)` binds every new address first,
synchronously, before the new config is applied anywhere; `commit(stage)` then closes the
listeners the new config dropped and serves the new ones, or `abort(stage)` forgets the new
ones when another part of the reload failed.

Invariants:
- A reload whose new address cannot be bound raises `ListenError` from `stage()` with the old
  listeners still accepting: the daemon refuses the whole reload ("a bad config never replaces
  a good one").
- Linux refuses to bind an address while one of our own wildcard listeners holds the port
  (0.0.0.0 -> 10.0.0.1, or the reverse), whatever SO_REUSEADDR says. Only then is the
  overlapping old listener closed first; when the new bind still fails it is bound again.
- A socket is listening (the kernel queues connections) from the moment it is bound here; its
  asyncio server starts a loop turn later, so no connection is refused during a move.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bgpd.config import Config, IPAddress
from bgpd.errors import BgpdError
from bgpd.metrics import MetricsServer, bind_metrics_socket
from bgpd.runtime.sockopts import set_md5_key

# The accept queue asked for: the kernel clamps it to net.core.somaxconn (4,096 by default, the
# same as socket.SOMAXCONN), so a host whose operator raised that for thousands of clients
# reconnecting at once gets it (5,000 nodes overflowed 4,096: SYNs dropped, retried 1-3 s on).
LISTEN_BACKLOG = 65535

__all__ = ["BgpListeners", "ListenError", "ListenStage", "SocketStage", "bind_listener"]

logger = logging.getLogger(__name__)

Key = tuple[str, int]  # (address, port)


class ListenError(BgpdError):
    """A listening socket cannot be opened (address not on this host, port in use...)."""


def _version(key: Key) -> int:
    return 6 if ":" in key[0] else 4


def _passwords(config: Config, version: int) -> list[tuple[str, str]]:
    return [
        (str(p.address), p.password)
        for p in config.all_peers
        if p.password and p.address.version == version
    ]


def bind_listener(
    address: IPAddress | str, port: int, passwords: Iterable[tuple[str, str]]
) -> socket.socket:
    """A bound, listening, non-blocking socket at `address`:`port` carrying the MD5 keys."""
    v6 = ":" in str(address)
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((str(address), port))
        for peer, password in passwords:
            set_md5_key(sock, peer, password)
        sock.listen(LISTEN_BACKLOG)  # a reflector's clients all reconnect at once
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        msg = f"cannot listen on {address} port {port}: {exc.strerror or exc}"
        raise ListenError(msg) from exc
    return sock


@dataclass(slots=True, kw_only=True)
class ListenStage:
    """A listener move in progress: new sockets bound, old ones still serving (but those
    `released` early because they overlapped a new one)."""

    old: Config
    new: Config
    opened: dict[Key, socket.socket] = field(default_factory=dict)
    retired: list[Key] = field(default_factory=list)
    released: list[Key] = field(default_factory=list)


class BgpListeners:
    __slots__ = ("_factory", "_loop", "_servers", "_sockets", "_tasks")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol]
    ) -> None:
        self._loop = loop
        self._factory = factory
        self._sockets: dict[Key, socket.socket] = {}
        self._servers: dict[Key, asyncio.AbstractServer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def sockets(self) -> list[socket.socket]:
        return list(self._sockets.values())

    def keys(self) -> set[Key]:
        return set(self._sockets)

    async def open(self, config: Config) -> None:
        """Start: every `[bgp] listen` address, or ListenError with none left open."""
        stage = ListenStage(old=config, new=config)
        try:
            for address in config.bgp.listen:
                key = (str(address), config.bgp.port)
                if key not in stage.opened:
                    stage.opened[key] = bind_listener(
                        address, key[1], _passwords(config, _version(key))
                    )
        except ListenError:
            self.abort(stage)
            raise
        self.commit(stage)
        await self.started()

    async def started(self) -> None:
        """Waits until every bound socket has its asyncio server."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    def stage(self, old: Config, new: Config) -> ListenStage:
        """Binds the addresses `new` adds; ListenError (old listeners kept) when one fails."""
        stage = ListenStage(old=old, new=new)
        wanted = [(str(a), new.bgp.port) for a in new.bgp.listen]
        stage.retired = [k for k in self._sockets if k not in wanted]
        try:
            for key in wanted:
                if key in self._sockets or key in stage.opened:
                    continue
                passwords = _passwords(new, _version(key))
                try:
                    stage.opened[key] = bind_listener(key[0], key[1], passwords)
                except ListenError as exc:
                    overlapping = [
                        k
                        for k in stage.retired
                        if k[1] == key[1]
                        and _version(k) == _version(key)
                        and k not in stage.released
                    ]
                    cause = exc.__cause__
                    if (
                        not overlapping
                        or not isinstance(cause, OSError)
                        or cause.errno != errno.EADDRINUSE
                    ):
                        raise
                    for k in overlapping:  # our own wildcard (or specific) listener is in the way
                        self._stop(k)
                        stage.released.append(k)
                    stage.opened[key] = bind_listener(key[0], key[1], passwords)
        except ListenError:
            self.abort(stage)
            raise
        return stage

    def commit(self, stage: ListenStage) -> None:
        """The new listeners serve; those the new config dropped close."""
        for key in stage.retired:
            if key not in stage.released:
                self._stop(key)
            logger.info("stopped listening address=%s port=%d", *key)
        for key, sock in stage.opened.items():
            self._serve(key, sock)
            logger.info("listening address=%s port=%d", *key)
        stage.opened = {}

    def abort(self, stage: ListenStage) -> None:
        """Forgets the staged sockets; listeners released for them are bound again."""
        for sock in stage.opened.values():
            sock.close()
        stage.opened = {}
        for key in stage.released:
            try:
                sock = bind_listener(key[0], key[1], _passwords(stage.old, _version(key)))
            except ListenError as exc:
                logger.error("listener restore failed address=%s port=%d error=%s", *key, exc)
                continue
            self._serve(key, sock)
        stage.released = []

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for key in list(self._sockets):
            self._stop(key)

    def _stop(self, key: Key) -> None:
        server = self._servers.pop(key, None)
        if server is not None:
            server.close()
        sock = self._sockets.pop(key, None)
        if sock is not None:
            sock.close()

    def _serve(self, key: Key, sock: socket.socket) -> None:
        self._sockets[key] = sock

        async def serve() -> None:
            if self._sockets.get(key) is not sock:
                return  # stopped before it served
            # asyncio listens again with its own backlog (100 by default) and accepts at most
            # that many connections per readiness: thousands of clients reconnecting at once
            # overflowed it (SYNs dropped, clients retrying for minutes).
            server = await self._loop.create_server(
                self._factory, sock=sock, backlog=LISTEN_BACKLOG
            )
            if self._sockets.get(key) is sock:
                self._servers[key] = server
            else:  # stopped meanwhile
                server.close()

        task = self._loop.create_task(serve())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@dataclass(slots=True, kw_only=True)
class SocketStage:
    """Every listener a reload moves, bound before the config is applied: the BGP ports, the
    metrics listener and the control socket (the BIRD sockets stage inside `BirdControl`)."""

    bgp: ListenStage | None = None
    metrics_moves: bool = False
    metrics: socket.socket | None = None
    # the (host, port) of the running metrics listener when it had to stop first (overlap)
    metrics_released: tuple[str, int] | None = None
    control: socket.socket | None = None

    def stage_metrics(self, current: MetricsServer | None, old: Config, new: Config) -> None:
        listen, was = new.metrics.listen, old.metrics.listen
        if listen is None:
            return
        try:
            self.metrics = bind_metrics_socket(listen.host, listen.port)
            return
        except OSError as exc:
            overlap = current is not None and was is not None and was.port == listen.port
            if exc.errno != errno.EADDRINUSE or not overlap:
                raise
        assert current is not None and was is not None
        current.stop_accepting()  # our own listener holds the port (wildcard vs specific)
        self.metrics_released = (was.host, was.port)
        self.metrics = bind_metrics_socket(listen.host, listen.port)

    def abort_metrics(self) -> socket.socket | None:
        """Closes the staged metrics socket; a listener stopped for it is bound again (the
        socket for `MetricsServer.start`), None when there is none to restart."""
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        released, self.metrics_released = self.metrics_released, None
        if released is None:
            return None
        host, port = released
        try:
            return bind_metrics_socket(host, port)
        except OSError as exc:
            logger.error(
                "metrics listener restore failed address=%s port=%d error=%s", host, port, exc
            )
            return None

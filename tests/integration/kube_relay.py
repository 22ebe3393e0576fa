"""The test API server, reachable from inside network namespaces: a TCP relay per namespace.

The `KubeApiServer` fixture listens on the host's 127.0.0.1, which a process in another network
namespace cannot reach (each namespace has its own loopback). `LoopbackRelay.add(ns)` opens a
listener on 127.0.0.1:<the API server's port> *inside* ``ns`` and relays every connection,
byte for byte, to the API server on the host's loopback: TLS is end to end (the serving
certificate is for 127.0.0.1), so a kubeconfig from `KubeApiServer.kubeconfig_for` works
unchanged inside the namespace, as a node reaches its API server through a load balancer.
No interface or address is created in the host namespace; traffic stays on the two loopbacks.

`pause(ns)` closes that namespace's listener and cuts its open connections (the API server
unreachable from that node); `resume(ns)` listens again.

Invariants: one asyncio loop in one daemon thread owns every socket; the listening sockets are
created by the calling thread while it is switched into the namespace (`Namespace.entered`),
the upstream connections by the loop thread, which never leaves the host namespace. `close`
stops everything, also when called twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .peers.netns import Namespace

__all__ = ["LoopbackRelay"]

_T = TypeVar("_T")


class LoopbackRelay:
    """Relays 127.0.0.1:``port`` inside each added namespace to the host's 127.0.0.1:``port``."""

    __slots__ = ("_closed", "_conns", "_loop", "_servers", "_thread", "port")

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._servers: dict[str, asyncio.Server] = {}
        self._conns: dict[str, set[asyncio.Task[None]]] = {}
        self._closed = False
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kube-relay", daemon=True
        )
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def add(self, ns: Namespace) -> None:
        """Listen on 127.0.0.1:port inside ``ns`` (again, after `pause`)."""
        with ns.entered():
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._conns.setdefault(ns.name, set())
        self._servers[ns.name] = self._call(self._serve(ns.name, listener))

    async def _serve(self, name: str, listener: socket.socket) -> asyncio.Server:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._conns[name].add(task)
            try:
                with contextlib.suppress(asyncio.CancelledError):  # `pause` cut it: done
                    await self._relay(reader, writer)
            finally:
                self._conns[name].discard(task)

        return await asyncio.start_server(accepted, sock=listener)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            writer.close()  # the API server is down: the client sees its connection closed
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    def pause(self, ns: Namespace) -> None:
        """Stop listening in ``ns`` and cut its relayed connections."""
        self._call(self._pause(ns.name))

    async def _pause(self, name: str) -> None:
        server = self._servers.pop(name, None)
        if server is not None:
            server.close()
        tasks = list(self._conns.get(name, ()))
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def resume(self, ns: Namespace) -> None:
        """Listen in ``ns`` again after `pause`."""
        self.add(ns)

    def close(self) -> None:
        """Close every listener and connection, then stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        for name in list(self._servers) + list(self._conns):
            self._call(self._pause(name))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> LoopbackRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

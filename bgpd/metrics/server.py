"""The metrics listener: `/metrics`, `/livez` and `/readyz` over a minimal asyncio HTTP/1.1 server.

Role: accept scrapes and probes on the daemon's own loop (no thread), so the snapshot is built
on the loop thread that owns the speaker, between two speaker calls.

Invariants:
- One request per connection (`Connection: close`); a request head is size- and time-limited,
  so a slow or hostile client never holds more than its own task.
- Only GET and HEAD on the three paths; anything else is 404/405, never an exception.
- `/livez` answers 200 only when the loop served the request AND the liveness probe (the
  control socket answering a request) passed; `/readyz` applies `bgpd.metrics.health.readiness`
  to a fresh snapshot. Both put the reason in a one-line text body; failure is HTTP 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

from bgpd.metrics.collector import new_registry, render
from bgpd.metrics.health import Health, readiness
from bgpd.metrics.snapshot import SnapshotSource

__all__ = ["LivenessProbe", "MetricsServer", "bind_metrics_socket"]

logger = logging.getLogger(__name__)

LivenessProbe = Callable[[], Awaitable[Health]]

MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT_S = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


def bind_metrics_socket(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking socket for `host:port`; OSError when it cannot be."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "[::]:PORT" means every address, IPv4 too (as Go exporters do); a specific
            # IPv6 address is that address only.
            any_v6 = host == "::"
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if any_v6 else 1)
        sock.bind(sockaddr)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class MetricsServer:
    """Serves one `SnapshotSource` at `host:port` until `close()`."""

    __slots__ = ("_host", "_live", "_port", "_registry", "_server", "_source", "threshold")

    def __init__(
        self,
        host: str,
        port: int,
        source: SnapshotSource,
        *,
        live: LivenessProbe,
        threshold: float,
    ) -> None:
        self._host = host
        self._port = port
        self._source = source
        self._live = live
        self.threshold = threshold  # readiness threshold, seconds after start
        self._registry = new_registry(source.snapshot)
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is the real one when 0 was asked."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self, sock: socket.socket | None = None) -> None:
        """Serves on `sock` (from `bind_metrics_socket`), or binds the listener itself; raises
        OSError (with the plain strerror) when it cannot."""
        if sock is None:
            sock = bind_metrics_socket(self._host, self._port)
        self._server = await asyncio.start_server(self._serve, sock=sock, limit=MAX_HEAD_BYTES)
        logger.info("metrics listening address=%s port=%d", *self.address)

    def stop_accepting(self) -> None:
        """Closes the listening socket now (a reload needs its port); `close()` still ends
        the server."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def readiness(self) -> Health:
        since = self._source.now() - self._source.started_at
        return readiness(self._source.snapshot(), since_start=since, threshold=self.threshold)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            status, body, ctype, head_only = await self._respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, body, ctype, head_only = 400, b"bad request\n", "text/plain", False
        except ConnectionError:
            writer.close()
            return
        try:
            writer.write(
                (
                    f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                    f"Content-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode("ascii")
            )
            if not head_only:
                writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> tuple[int, bytes, str, bool]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, b"bad request\n", "text/plain", False
        method, target = parts[0], parts[1]
        path = target.split("?", 1)[0]
        head_only = method == "HEAD"
        if path not in {"/metrics", "/livez", "/readyz"}:
            return 404, b"not found: try /metrics, /livez or /readyz\n", "text/plain", head_only
        if method not in {"GET", "HEAD"}:
            return 405, b"method not allowed\n", "text/plain", head_only
        text = "text/plain; charset=utf-8"
        if path == "/metrics":
            accept = ""
            for line in lines[1:]:
                key, _, value = line.partition(":")
                if key.strip().lower() == "accept":
                    accept = value.strip()
            body, ctype = render(self._registry, accept)
            return 200, body, ctype, head_only
        health = await self._live() if path == "/livez" else self.readiness()
        prefix = "ok" if health.ok else "not ready" if path == "/readyz" else "not live"
        body = f"{prefix}: {health.reason}\n".encode()
        return (200 if health.ok else 503), body, text, head_only

"""The etcd v3 source: Calico's keys read and followed through gRPC (the only aetcd importer).

Role: keep an in-memory copy of every key under the configured prefixes and hand the render
loop immutable snapshots of it, surviving whatever etcd does.

What aetcd provides here is its generated protobuf messages and gRPC stubs (``aetcd.rpc``); its
``Client`` is not used because it cannot do what this adapter needs: it hard-codes an insecure
channel (no TLS), its range reads ignore ``limit`` and ``revision`` (no consistent pagination),
and its watcher flattens responses into single events, losing the batch boundaries, progress
notifications and the compaction signal's place in the stream.

How it works (one supervisor task per source, started by the first `EtcdSource.snapshots`):
- Connect to one endpoint (TLS with a CA and a client certificate/key when the endpoint is
  ``https://``; user/password through etcd's Authenticate RPC, the token sent as metadata), and
  probe it with a one-key read bounded by ``dial_timeout``.
- Full read: every prefix, in pages of ``page_size`` keys, all at the revision of the first
  page (a consistent cut). A page the client cannot receive (RESOURCE_EXHAUSTED) is retried at
  half the page size.
- Watch every prefix on one stream from its last applied revision + 1, with progress
  notifications (so an idle prefix's resume point follows the store and a later compaction
  does not force a needless re-read). Each watch response (one transaction, or a catch-up
  batch) is applied whole, then published.
- On any connection error (a hung server is found by keepalive pings within about 15 s): the
  next endpoint at once; after a whole round of endpoints failed, back off (``backoff_initial``
  doubling to ``backoff_max``, jittered) and go round again. The watch resumes from the last
  applied revision + 1, so nothing is lost or applied twice.
- Compaction past our revision (the watch reports it), a store that went back in time, or a
  different cluster: a full re-read (``full_reads`` + 1).

Backoff is a small loop rather than ``tenacity``/``backoff``: those libraries retry one call
until it succeeds, while this loop rotates endpoints per attempt, resets after progress (not
only after a successful call), updates the status on every failure and never gives up.

Invariants:
- The state only changes inside synchronous sections (a whole watch response, or the swap to
  a completed full read), and snapshots are taken between them: a consumer never sees half a
  transaction or half a re-read. (With several prefixes, each has its own watch: a transaction
  that spans two prefixes arrives as two batches.)
- Snapshots are built when a consumer asks, from the latest state: a slow consumer gets one
  snapshot covering every change since its previous one.
- The per-prefix revision only moves forward, to a revision whose changes are all applied.
- Only `close` ends `snapshots`; an unexpected bug in the supervisor is raised to consumers
  rather than leaving them waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
from aetcd import rpc

from bgpd.confd.sources.base import KvSnapshot, SourceError, SourceStatus, freeze_values

__all__ = [
    "DEFAULT_ENDPOINT",
    "EtcdEndpoint",
    "EtcdSettings",
    "EtcdSettingsError",
    "EtcdSource",
    "prefix_range",
]

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"  # calico-node's default (ETCD_SCHEME + ETCD_AUTHORITY)
_EVENT_DELETE = 1  # mvccpb.Event.EventType.DELETE


class EtcdSettingsError(SourceError):
    """EtcdSettings that cannot work; the message lists every problem."""


class _CompactedError(Exception):
    """The revision we need is gone: re-read everything."""

    def __init__(self, compact_revision: int, reason: str) -> None:
        self.compact_revision = compact_revision
        super().__init__(reason)


class _StreamFailedError(Exception):
    """The server ended or refused a watch (treated like a lost connection)."""


_RETRYABLE: tuple[type[BaseException], ...] = (
    grpc.RpcError,
    OSError,
    TimeoutError,
    _StreamFailedError,
)


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """The ``[key, range_end)`` covering every key that starts with ``prefix``.

    The empty prefix means every key (``\\0`` .. ``\\0`` in etcd's convention).
    """
    if not prefix:
        return b"\0", b"\0"
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] < 0xFF:
            return prefix, prefix[:i] + bytes([prefix[i] + 1])
    return prefix, b"\0"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdEndpoint:
    """One etcd client URL, parsed."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, text: str, *, default_tls: bool = False) -> EtcdEndpoint:
        """Parse ``http://h:p``, ``https://h:p``, ``h:p`` or ``[v6]:p`` (port default 2379).

        Without a scheme, TLS is used when ``default_tls`` (a CA or client cert is set).
        Raises ValueError with the reason.
        """
        raw = text.strip()
        if not raw:
            raise ValueError("empty endpoint")
        if "://" not in raw:
            raw = f"{'https' if default_tls else 'http'}://{raw}"
        parts = urlsplit(raw)
        if parts.scheme not in {"http", "https"}:
            raise ValueError(f"endpoint {text!r}: scheme must be http or https")
        if parts.path not in {"", "/"} or parts.query or parts.fragment:
            raise ValueError(f"endpoint {text!r}: unexpected path or query")
        try:
            port = parts.port or 2379
        except ValueError as exc:
            raise ValueError(f"endpoint {text!r}: {exc}") from exc
        if not parts.hostname:
            raise ValueError(f"endpoint {text!r}: no host")
        return cls(host=parts.hostname, port=port, tls=parts.scheme == "https")

    @property
    def target(self) -> str:
        """The gRPC target, ``host:port`` (IPv6 literals in brackets)."""
        try:
            literal6 = ipaddress.ip_address(self.host).version == 6
        except ValueError:
            literal6 = False
        return f"[{self.host}]:{self.port}" if literal6 else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint as a URL, for logs."""
        return f"{'https' if self.tls else 'http'}://{self.target}"


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdSettings:
    """How to reach etcd and what to read; see `from_env` for calico-node's variables."""

    endpoints: Sequence[str] = (DEFAULT_ENDPOINT,)
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefixes: Sequence[str] = ("/calico/",)
    dial_timeout: float = 5.0  # connect + auth + probe of one endpoint
    request_timeout: float = 30.0  # one page of a full read
    page_size: int = 2000  # keys per range request
    backoff_initial: float = 0.25  # confd's own retry starts at 250 ms ...
    backoff_max: float = 5.0  # ... and doubles up to 5 s
    max_message_bytes: int = 64 * 1024 * 1024  # gRPC's 4 MiB default fails on big catch-ups

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        object.__setattr__(self, "prefixes", tuple(self.prefixes))
        for name in ("ca_cert", "cert", "key"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        problems: list[str] = []
        if not self.endpoints:
            problems.append("no etcd endpoints")
        for text in self.endpoints:
            try:
                EtcdEndpoint.parse(text, default_tls=self.tls_material)
            except ValueError as exc:
                problems.append(str(exc))
        if (self.cert is None) != (self.key is None):
            problems.append("a client certificate needs its key (ETCD_CERT_FILE + ETCD_KEY_FILE)")
        if (self.username is None) != (self.password is None):
            problems.append("user/password auth needs both (ETCD_USERNAME + ETCD_PASSWORD)")
        if not self.prefixes:
            problems.append("no key prefixes to read")
        if self.page_size < 1:
            problems.append(f"page_size must be >= 1, got {self.page_size}")
        for name in ("dial_timeout", "request_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if problems:
            raise EtcdSettingsError("invalid etcd settings: " + "; ".join(problems))

    @property
    def tls_material(self) -> bool:
        """True when a CA or a client certificate is configured."""
        return self.ca_cert is not None or self.cert is not None

    def parsed_endpoints(self) -> tuple[EtcdEndpoint, ...]:
        """The endpoints, parsed, in the configured (failover) order."""
        return tuple(
            EtcdEndpoint.parse(text, default_tls=self.tls_material) for text in self.endpoints
        )

    def key_prefixes(self) -> tuple[bytes, ...]:
        """The prefixes as bytes, without duplicates or prefixes covered by another one."""
        raw = sorted({p.encode() for p in self.prefixes})
        kept: list[bytes] = []
        for prefix in raw:
            if not any(prefix.startswith(k) for k in kept):
                kept.append(prefix)
        return tuple(kept)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> EtcdSettings:
        """Settings from calico-node's variables.

        ``ETCD_ENDPOINTS`` (comma-separated URLs; when unset, ``ETCD_SCHEME`` +
        ``ETCD_AUTHORITY`` as older calico-node releases read them, default
        ``http://127.0.0.1:2379``), ``ETCD_CA_CERT_FILE``, ``ETCD_CERT_FILE``,
        ``ETCD_KEY_FILE``, ``ETCD_USERNAME``, ``ETCD_PASSWORD``. Empty values count as unset.
        ``overrides`` set any other field (e.g. ``prefixes``).
        """

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        endpoints = _split_list(environ.get("ETCD_ENDPOINTS", ""))
        if not endpoints:
            authority = get("ETCD_AUTHORITY") or "127.0.0.1:2379"
            endpoints = (f"{get('ETCD_SCHEME') or 'http'}://{authority}",)
        kwargs: dict[str, Any] = {
            "endpoints": endpoints,
            "username": get("ETCD_USERNAME"),
            "password": environ.get("ETCD_PASSWORD") or None,
        }
        for name, var in (
            ("ca_cert", "ETCD_CA_CERT_FILE"),
            ("cert", "ETCD_CERT_FILE"),
            ("key", "ETCD_KEY_FILE"),
        ):
            value = get(var)
            kwargs[name] = Path(value) if value is not None else None
        kwargs.update(overrides)
        return cls(**kwargs)


class _Connection:
    """One channel to one endpoint, authenticated; closed by the supervisor."""

    __slots__ = ("channel", "endpoint", "kv", "metadata")

    def __init__(self, endpoint: EtcdEndpoint, channel: Any, metadata: tuple[tuple[str, str], ...]):
        self.endpoint = endpoint
        self.channel = channel
        self.metadata = metadata
        self.kv = rpc.KVStub(channel)


class EtcdSource:
    """Snapshots of every key under the settings' prefixes; see the module docstring."""

    __slots__ = (
        "_closed",
        "_cluster_id",
        "_connected",
        "_delay",
        "_endpoint_index",
        "_endpoints",
        "_failures",
        "_full_reads",
        "_generation",
        "_last_error",
        "_need_full_read",
        "_prefixes",
        "_revision",
        "_revisions",
        "_rng",
        "_settings",
        "_snapshot",
        "_snapshot_generation",
        "_task",
        "_values",
        "_wakeup",
    )

    def __init__(self, settings: EtcdSettings, *, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._endpoints = settings.parsed_endpoints()
        self._prefixes = settings.key_prefixes()
        self._rng = rng if rng is not None else random.Random()
        self._values: dict[str, str] = {}
        self._revisions = [0] * len(self._prefixes)  # last fully applied revision per prefix
        self._revision = 0
        self._cluster_id: int | None = None
        self._need_full_read = True
        self._full_reads = 0
        self._generation = 0  # bumped on every published change; 0 = nothing read yet
        self._snapshot: KvSnapshot | None = None
        self._snapshot_generation = 0
        self._connected = False
        self._last_error: str | None = None
        self._endpoint_index = 0
        self._failures = 0
        self._delay = settings.backoff_initial
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()  # replaced on every wake (see _wake)
        self._closed = False

    @property
    def settings(self) -> EtcdSettings:
        """The settings this source was built with."""
        return self._settings

    # -- public API --------------------------------------------------------------------------

    def status(self) -> SourceStatus:
        """Connection state, the current problem, the revision held, full reads so far."""
        return SourceStatus(
            connected=self._connected,
            last_error=self._last_error,
            revision=self._revision,
            full_reads=self._full_reads,
            unreadable=not self._connected and self._failures >= len(self._endpoints),
        )

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        """Yield after the first complete read, then whenever the state changed."""
        self._start()
        seen = 0
        while True:
            while not self._closed and self._generation == seen and self._failure() is None:
                await self._wakeup.wait()
            if self._closed:
                return
            failure = self._failure()
            if failure is not None:
                raise failure  # a bug in the supervisor: surface it rather than hang
            seen = self._generation
            yield self._current_snapshot()

    async def close(self) -> None:
        """Stop the supervisor (closing its connection) and end every `snapshots` iterator."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connected = False
        self._wake()

    # -- plumbing between the supervisor and the consumers ---------------------------------

    def _start(self) -> None:
        if self._closed:
            raise SourceError("EtcdSource is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name="bgpd-confd-etcd"
            )
            self._task.add_done_callback(lambda _task: self._wake())

    def _failure(self) -> BaseException | None:
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    def _wake(self) -> None:
        # Every waiter holds the current event; setting it wakes all of them, and the fresh
        # event makes the next wait block again (a broadcast without a lock).
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    def _publish(self) -> None:
        self._generation += 1
        self._wake()

    def _current_snapshot(self) -> KvSnapshot:
        if self._snapshot is None or self._snapshot_generation != self._generation:
            self._snapshot = KvSnapshot(revision=self._revision, values=freeze_values(self._values))
            self._snapshot_generation = self._generation
        return self._snapshot

    # -- the supervisor ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            endpoint = self._endpoints[self._endpoint_index]
            try:
                await self._session(endpoint)
            except _RETRYABLE as exc:
                await self._after_failure(endpoint, exc)

    async def _after_failure(self, endpoint: EtcdEndpoint, exc: BaseException) -> None:
        self._connected = False
        self._last_error = f"{endpoint.url}: {_describe(exc)}"
        self._failures += 1
        count = len(self._endpoints)
        self._endpoint_index = (self._endpoint_index + 1) % count
        if self._failures % count:
            logger.warning(
                "confd.etcd.endpoint_failed endpoint=%s error=%s next=%s",
                endpoint.url,
                _describe(exc),
                self._endpoints[self._endpoint_index].url,
            )
            return
        wait = self._delay * (0.5 + 0.5 * self._rng.random())
        logger.warning(
            "confd.etcd.unreachable endpoint=%s error=%s retry_in=%.2fs keeping_revision=%d",
            endpoint.url,
            _describe(exc),
            wait,
            self._revision,
        )
        self._delay = min(self._delay * 2, self._settings.backoff_max)
        await asyncio.sleep(wait)

    def _made_progress(self) -> None:
        self._failures = 0
        self._delay = self._settings.backoff_initial

    async def _session(self, endpoint: EtcdEndpoint) -> None:
        conn = await self._connect(endpoint)
        try:
            await self._probe(conn)
            self._connected = True
            self._last_error = None
            while True:
                try:
                    if self._need_full_read:
                        await self._full_read(conn)
                        self._made_progress()
                    await self._watch(conn)
                except _CompactedError as exc:
                    logger.warning(
                        "confd.etcd.compacted endpoint=%s reason=%s compact_revision=%d "
                        "held_revision=%d action=full-reread",
                        endpoint.url,
                        exc,
                        exc.compact_revision,
                        self._revision,
                    )
                    self._need_full_read = True
        finally:
            await conn.channel.close()

    async def _connect(self, endpoint: EtcdEndpoint) -> _Connection:
        s = self._settings
        options = [
            ("grpc.max_receive_message_length", s.max_message_bytes),
            # Detect a hung server under a long-lived watch (its TCP connection stays open):
            # ping every 10 s (etcd's default enforcement accepts >= 5 s while a stream is
            # open). gRPC 1.6x+ enforces the ping's answer with ping_timeout (default 60 s),
            # not keepalive_timeout alone: measured, a frozen etcd went unnoticed without it.
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.http2.ping_timeout_ms", 5_000),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        if endpoint.tls:
            creds = grpc.ssl_channel_credentials(
                root_certificates=s.ca_cert.read_bytes() if s.ca_cert else None,
                private_key=s.key.read_bytes() if s.key else None,
                certificate_chain=s.cert.read_bytes() if s.cert else None,
            )
            channel = grpc.aio.secure_channel(endpoint.target, creds, options=options)
        else:
            channel = grpc.aio.insecure_channel(endpoint.target, options=options)
        try:
            metadata: tuple[tuple[str, str], ...] = ()
            if s.username is not None and s.password is not None:
                reply = await rpc.AuthStub(channel).Authenticate(
                    rpc.AuthenticateRequest(name=s.username, password=s.password),
                    timeout=s.dial_timeout,
                )
                metadata = (("token", str(reply.token)),)
        except BaseException:
            await channel.close()
            raise
        return _Connection(endpoint, channel, metadata)

    async def _probe(self, conn: _Connection) -> None:
        """A one-key read bounded by dial_timeout; detects a store that changed under us."""
        start, end = prefix_range(self._prefixes[0])
        reply = await conn.kv.Range(
            rpc.RangeRequest(key=start, range_end=end, limit=1, keys_only=True),
            timeout=self._settings.dial_timeout,
            metadata=conn.metadata,
        )
        cluster_id, revision = int(reply.header.cluster_id), int(reply.header.revision)
        if self._full_reads and not self._need_full_read:
            if self._cluster_id is not None and cluster_id != self._cluster_id:
                logger.warning(
                    "confd.etcd.cluster_changed endpoint=%s action=full-reread", conn.endpoint.url
                )
                self._need_full_read = True
            elif revision < self._revision:
                # Restored from a backup: the revisions we hold mean nothing there any more.
                logger.warning(
                    "confd.etcd.revision_went_back endpoint=%s store=%d held=%d action=full-reread",
                    conn.endpoint.url,
                    revision,
                    self._revision,
                )
                self._need_full_read = True
        self._cluster_id = cluster_id

    async def _full_read(self, conn: _Connection) -> None:
        """Read every prefix at one revision, page by page, then swap the state in whole."""
        s = self._settings
        page = s.page_size
        values: dict[str, str] = {}
        revision = 0  # 0 = latest for the first page; then pinned to its header revision
        for prefix in self._prefixes:
            start, end = prefix_range(prefix)
            while True:
                request = rpc.RangeRequest(key=start, range_end=end, limit=page, revision=revision)
                try:
                    reply = await conn.kv.Range(
                        request, timeout=s.request_timeout, metadata=conn.metadata
                    )
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and page > 1:
                        page = max(1, page // 2)
                        logger.warning(
                            "confd.etcd.page_too_large endpoint=%s retry_page_size=%d",
                            conn.endpoint.url,
                            page,
                        )
                        continue
                    if code == grpc.StatusCode.OUT_OF_RANGE:  # pinned revision compacted away
                        raise _CompactedError(revision, "compacted during the full read") from exc
                    raise
                if revision == 0:
                    revision = int(reply.header.revision)
                for item in reply.kvs:
                    values[_decode(item.key)] = _decode(item.value)
                if not reply.more or not reply.kvs:
                    break
                start = bytes(reply.kvs[-1].key) + b"\0"
        self._full_reads += 1
        self._need_full_read = False
        changed = self._generation == 0 or values != self._values
        self._values = values
        self._revisions = [revision] * len(self._prefixes)
        self._revision = revision
        logger.info(
            "confd.etcd.full_read endpoint=%s revision=%d keys=%d full_reads=%d changed=%s",
            conn.endpoint.url,
            revision,
            len(values),
            self._full_reads,
            changed,
        )
        if changed:
            self._publish()

    async def _watch(self, conn: _Connection) -> None:
        """Follow every prefix from its revision + 1; returns only by raising."""
        call = rpc.WatchStub(conn.channel).Watch(metadata=conn.metadata)
        try:
            for index, prefix in enumerate(self._prefixes):
                start, end = prefix_range(prefix)
                create = rpc.WatchCreateRequest(
                    key=start,
                    range_end=end,
                    start_revision=self._revisions[index] + 1,
                    progress_notify=True,
                )
                await call.write(rpc.WatchRequest(create_request=create))
            pending = list(range(len(self._prefixes)))  # etcd answers creates in order
            watches: dict[int, int] = {}  # watch id -> prefix index (ids start at 0)
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise _StreamFailedError("watch stream closed by the server")
                if response.created:
                    if not pending:
                        raise _StreamFailedError("unexpected watch creation")
                    watches[int(response.watch_id)] = pending.pop(0)
                    if not pending:
                        self._made_progress()
                        logger.info(
                            "confd.etcd.watching endpoint=%s from_revision=%d",
                            conn.endpoint.url,
                            min(self._revisions) + 1,
                        )
                which = watches.get(int(response.watch_id))
                if which is None:
                    continue
                if response.compact_revision:
                    raise _CompactedError(
                        int(response.compact_revision), "watch revision compacted"
                    )
                if response.canceled:
                    raise _StreamFailedError(
                        f"watch canceled by the server: {response.cancel_reason or 'no reason'}"
                    )
                if response.events:
                    self._apply(which, response.events)
                elif not response.created:
                    # A progress notification: every change up to this revision was sent.
                    self._advance(which, int(response.header.revision))
        finally:
            call.cancel()

    def _apply(self, index: int, events: Sequence[Any]) -> None:
        """Apply one watch response (a whole transaction or catch-up batch), then publish."""
        values = self._values
        last = self._revisions[index]
        changed = False
        for event in events:
            key = _decode(event.kv.key)
            if event.type == _EVENT_DELETE:
                changed = values.pop(key, None) is not None or changed
            else:
                value = _decode(event.kv.value)
                if values.get(key) != value:
                    values[key] = value
                    changed = True
            last = max(last, int(event.kv.mod_revision))
        self._advance(index, last)
        if changed:
            self._publish()

    def _advance(self, index: int, revision: int) -> None:
        if revision > self._revisions[index]:
            self._revisions[index] = revision
            self._revision = max(self._revision, revision)


def _describe(exc: BaseException) -> str:
    code: Callable[[], Any] | None = getattr(exc, "code", None)
    details: Callable[[], Any] | None = getattr(exc, "details", None)
    if isinstance(exc, grpc.RpcError) and callable(code) and callable(details):
        return f"{code().name}: {details()}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

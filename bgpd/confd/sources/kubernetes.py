"""The Kubernetes API source: Calico's KDD objects listed and watched (the only aiohttp importer).

Role: keep the key view of the Kubernetes objects bgpd uses (converted by
`bgpd.confd.sources.kube_objects`, so the model sees the keys the etcd source would hold) and
hand the render loop immutable snapshots of it, surviving whatever the API server does.

Why aiohttp and not a Kubernetes client (measured, docs/kubernetes.md): kubernetes_asyncio
imports in ~340 ms and ~63 MiB (its generated models), lightkube's and kr8s's watches take no
``allowWatchBookmarks``, and lightkube answers ``410 Gone`` by watching again from "now",
which loses the deletions in between; what is needed is a paged GET and a line-delimited
watch stream, which this module does in a few hundred lines over aiohttp.

How it works, per kind (`KubeKind`), in its own task:
- List, in pages of ``page_size`` (``limit``/``continue``; an expired continue token restarts
  the list), then watch from the list's ``resourceVersion`` with ``allowWatchBookmarks``, so an
  idle kind's resume point follows the server. The server ends a watch after
  ``timeoutSeconds`` (jittered, as client-go does); the next resumes from the last version.
- ``410 Gone`` (as the response or as an ERROR event): a fresh list, swapped in whole
  (``full_reads`` + 1).
- Any other failure (connection refused or reset, a 5xx, a timeout, 401/403): the kind backs
  off (``backoff_initial`` doubling to ``backoff_max``, jittered) and tries again, resuming its
  watch from the last version; the source reports itself disconnected
  (`SourceStatus.connected`, the metrics' datastore gauge) and logs the outage and the
  recovery once each. The state held stays as it was.
- An optional kind (one Secret) that is forbidden or absent counts as listed and empty, so it
  cannot hold up every render; it is logged and retried at ``backoff_max``.

The bearer token is read from its file before every request: a rotated (projected) token is
used from the next request on. The CRD group (``crd.projectcalico.org/v1`` or
``projectcalico.org/v3``) is ``CALICO_API_GROUP`` when set, else discovered as libcalico-go
does (``projectcalico.org`` served without ``crd.projectcalico.org``: v3).

Invariants:
- No snapshot before every kind completed its first list, and none while a kind added later
  (a newly named Secret) has not: nothing is rendered from a partial view.
- An object's keys are replaced whole; an event whose converted keys did not change publishes
  nothing (a kubelet's status heartbeat costs a JSON decode and a comparison, no render).
- Only `close` ends `snapshots`; an unexpected bug in a kind's task is raised to consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import aiohttp

from bgpd.confd.sources.base import KvSnapshot, SourceError, SourceStatus, freeze_values
from bgpd.confd.sources.kube_config import KubeSettings, KubeSettingsError
from bgpd.confd.sources.kube_objects import (
    CRD_GROUP,
    V3_GROUP,
    KubeKind,
    MalformedObjectError,
    calico_kinds,
    node_kind,
    secret_kind,
    secret_names_in,
    service_kinds,
)

__all__ = ["KubeScope", "KubernetesSource", "choose_api_group"]

logger = logging.getLogger(__name__)


class KubeScope(Enum):
    """What one source instance watches."""

    DATASTORE = "datastore"  # Calico's CRDs + Nodes + Services/EndpointSlices + named Secrets
    SERVICES = "services"  # beside etcd: Services/EndpointSlices + the Secrets `set_secret_names`


class _GoneError(Exception):
    """410 Gone: the resourceVersion we hold is too old; list again."""


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


_RETRYABLE: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    ValueError,  # a response that is not the JSON it should be
    _HttpError,
)


def choose_api_group(groups: Iterable[str]) -> str:
    """libcalico-go's discovery rule: v3 only when the API serves it and not the CRD group
    (both served means the v3 API server is backed by the v1 CRDs: read those)."""
    names = set(groups)
    return V3_GROUP if V3_GROUP in names and CRD_GROUP not in names else CRD_GROUP


@dataclass(slots=True)
class _KindState:
    kind: KubeKind
    objects: dict[str, dict[str, str]]  # namespace/name -> its keys
    version: str | None = None  # resourceVersion to watch from; None: list first
    listed: bool = False
    error: str | None = None  # the current failure of this kind


class KubernetesSource:
    """Snapshots of the Kubernetes objects bgpd uses; see the module docstring."""

    __slots__ = (
        "_closed",
        "_connected_once",
        "_failure",
        "_full_reads",
        "_generation",
        "_http",
        "_rng",
        "_scope",
        "_secret_names",
        "_settings",
        "_snapshot",
        "_snapshot_generation",
        "_ssl",
        "_states",
        "_supervisor",
        "_tasks",
        "_unpublished",
        "_values",
        "_wakeup",
    )

    def __init__(
        self,
        settings: KubeSettings,
        scope: KubeScope = KubeScope.DATASTORE,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._scope = scope
        self._rng = rng if rng is not None else random.Random()
        self._values: dict[str, str] = {}
        self._states: dict[str, _KindState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._secret_names: frozenset[str] = frozenset()
        self._generation = 0
        self._unpublished = False
        self._snapshot: KvSnapshot | None = None
        self._snapshot_generation = 0
        self._full_reads = 0
        self._connected_once = False
        self._failure: BaseException | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        if settings.server.startswith("https://"):
            try:
                self._ssl = self._ssl_context()
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise KubeSettingsError(f"Kubernetes TLS material unusable: {exc}") from exc
        self._supervisor: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._closed = False

    @property
    def settings(self) -> KubeSettings:
        return self._settings

    # -- public API --------------------------------------------------------------------------

    def status(self) -> SourceStatus:
        errors = sorted(f"{s.kind.name}: {s.error}" for s in self._states.values() if s.error)
        failing = any(s.error for s in self._states.values() if not s.kind.optional)
        connected = self._connected_once and not failing
        return SourceStatus(
            connected=connected,
            last_error="; ".join(errors) if errors else None,
            revision=self._generation,
            full_reads=self._full_reads,
            unreadable=failing,
        )

    async def snapshots(self) -> AsyncIterator[KvSnapshot]:
        """Yield after every kind's first complete list, then whenever the view changed."""
        self._start()
        seen = 0
        while True:
            while not self._closed and self._generation == seen and self._failure is None:
                await self._wakeup.wait()
            if self._closed:
                return
            if self._failure is not None:
                raise self._failure  # a bug in a kind's task: surface it rather than hang
            seen = self._generation
            yield self._current_snapshot()

    def set_secret_names(self, names: Iterable[str]) -> None:
        """Watch exactly these Secrets (in the settings' namespace) from now on."""
        wanted = frozenset(names)
        if wanted == self._secret_names:
            return
        self._secret_names = wanted
        if self._supervisor is not None:
            self._sync_secret_kinds()

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in (self._supervisor, *self._tasks.values()) if t is not None]
        self._supervisor = None
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._wake()

    # -- plumbing ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._closed:
            raise SourceError("KubernetesSource is closed")
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._begin(), name="bgpd-confd-kubernetes"
            )
            self._supervisor.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
            self._wake()

    def _wake(self) -> None:
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    def _current_snapshot(self) -> KvSnapshot:
        if self._snapshot is None or self._snapshot_generation != self._generation:
            self._snapshot = KvSnapshot(
                revision=self._generation, values=freeze_values(self._values)
            )
            self._snapshot_generation = self._generation
        return self._snapshot

    def _changed(self) -> None:
        """The view changed: publish it, unless some kind has not completed a list yet."""
        if self._scope is KubeScope.DATASTORE:
            self.set_secret_names(secret_names_in(self._values))
        if all(state.listed for state in self._states.values()):
            self._unpublished = False
            self._generation += 1
            self._wake()
        else:
            self._unpublished = True

    # -- setup -------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        s = self._settings
        ctx = ssl.create_default_context(
            cafile=str(s.ca_file) if s.ca_file else None, cadata=s.ca_data
        )
        if s.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if s.client_cert_file is not None and s.client_key_file is not None:
            ctx.load_cert_chain(s.client_cert_file, s.client_key_file)
        elif s.client_cert_data is not None and s.client_key_data is not None:
            # The ssl module loads a certificate from files only: a private directory,
            # removed as soon as the context holds the key.
            with tempfile.TemporaryDirectory(prefix="bgpd-kube-") as tmp:
                cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
                for path, data in ((cert, s.client_cert_data), (key, s.client_key_data)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                ctx.load_cert_chain(cert, key)
        return ctx

    async def _begin(self) -> None:
        """Build the client, choose the CRD group, then start one task per kind."""
        s = self._settings
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.request_timeout)
        )
        kinds = list(service_kinds())
        if self._scope is KubeScope.DATASTORE:
            group = s.api_group or await self._discover_group()
            kinds = [*calico_kinds(group), node_kind(use_pod_cidr=s.use_pod_cidr), *kinds]
            if s.use_pod_cidr:
                kinds = [k for k in kinds if k.name != "blockaffinities"]
        for kind in kinds:
            self._add_kind(kind)
        self._sync_secret_kinds()

    async def _discover_group(self) -> str:
        delay = self._settings.backoff_initial
        while True:
            try:
                body = await self._get_json("/apis", {})
                groups = [g.get("name", "") for g in body.get("groups", []) if isinstance(g, dict)]
                group = choose_api_group(groups)
                logger.info("confd.kubernetes.api_group group=%s discovered=true", group)
                return group
            except _RETRYABLE as exc:
                logger.warning(
                    "confd.kubernetes.discovery_failed server=%s error=%s",
                    self._settings.server,
                    _describe(exc),
                )
                await asyncio.sleep(delay * (0.5 + 0.5 * self._rng.random()))
                delay = min(delay * 2, self._settings.backoff_max)

    def _add_kind(self, kind: KubeKind) -> None:
        self._states[kind.name] = _KindState(kind=kind, objects={})
        task = asyncio.get_running_loop().create_task(
            self._follow(kind), name=f"bgpd-confd-kubernetes-{kind.name}"
        )
        task.add_done_callback(self._task_done)
        self._tasks[kind.name] = task

    def _sync_secret_kinds(self) -> None:
        namespace = self._settings.namespace
        wanted = {f"secrets/{name}": name for name in self._secret_names}
        for name in [n for n in self._states if n.startswith("secrets/") and n not in wanted]:
            state = self._states.pop(name)
            self._tasks.pop(name).cancel()
            if self._drop(state.objects.values()):
                self._changed()
        for kind_name, secret in wanted.items():
            if kind_name not in self._states:
                self._add_kind(secret_kind(namespace, secret))

    # -- requests ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        s = self._settings
        token = s.token
        if s.token_file is not None:
            token = s.token_file.read_text().strip()  # every request: follows rotation
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _get_json(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        assert self._http is not None
        timeout = aiohttp.ClientTimeout(total=self._settings.request_timeout)
        async with self._http.get(
            self._settings.server + path,
            params=dict(params),
            headers=self._headers(),
            ssl=self._ssl if self._ssl is not None else True,
            timeout=timeout,
        ) as response:
            body = await response.read()
            _check(response.status, body)
            value = json.loads(body)
            if not isinstance(value, dict):
                raise ValueError(f"{path}: the response is not a JSON object")
            return value

    # -- one kind ----------------------------------------------------------------------------

    async def _follow(self, kind: KubeKind) -> None:
        state = self._states[kind.name]
        s = self._settings
        delay = s.backoff_initial
        while True:
            try:
                if state.version is None:
                    await self._list(state)
                await self._watch(state)
                delay = s.backoff_initial
            except _GoneError:
                logger.info("confd.kubernetes.expired kind=%s action=relist", kind.name)
                state.version = None
            except _RETRYABLE as exc:
                if kind.optional and isinstance(exc, _HttpError) and exc.status in (403, 404):
                    self._optional_missing(state, exc)
                    await asyncio.sleep(s.backoff_max * (0.5 + 0.5 * self._rng.random()))
                    continue
                self._kind_failed(state, exc)
                await asyncio.sleep(delay * (0.5 + 0.5 * self._rng.random()))
                delay = min(delay * 2, s.backoff_max)

    def _kind_ok(self, state: _KindState) -> None:
        if state.error is None:
            return
        state.error = None
        if self.status().connected:
            logger.info("confd.kubernetes.reconnected server=%s", self._settings.server)

    def _kind_failed(self, state: _KindState, exc: BaseException) -> None:
        was_connected = self.status().connected
        # Logged again when the cause changes: an outage that turns into a 401 (a revoked or
        # expired token) or a 403 (a role changed) must not hide behind the first failure.
        first = state.error is None or _cause(state.error) != _cause(_describe(exc))
        state.error = _describe(exc)
        status = exc.status if isinstance(exc, _HttpError) else None
        if status in (401, 403):
            # Named for the cause: an operator fixes credentials or RBAC, not the network.
            server, kind, error = self._settings.server, state.kind.name, state.error
            if not (first or was_connected):
                logger.debug("confd.kubernetes.retry kind=%s error=%s", kind, error)
            elif status == 401:
                logger.warning(
                    "confd.kubernetes.unauthorized server=%s kind=%s error=%s keeping_revision=%d",
                    server,
                    kind,
                    error,
                    self._generation,
                )
            else:
                logger.warning(
                    "confd.kubernetes.forbidden server=%s kind=%s error=%s keeping_revision=%d",
                    server,
                    kind,
                    error,
                    self._generation,
                )
        elif was_connected:
            logger.warning(
                "confd.kubernetes.unreachable server=%s kind=%s error=%s keeping_revision=%d",
                self._settings.server,
                state.kind.name,
                state.error,
                self._generation,
            )
        elif first:
            logger.warning(
                "confd.kubernetes.request_failed server=%s kind=%s error=%s",
                self._settings.server,
                state.kind.name,
                state.error,
            )
        else:
            logger.debug("confd.kubernetes.retry kind=%s error=%s", state.kind.name, state.error)

    def _optional_missing(self, state: _KindState, exc: _HttpError) -> None:
        if state.error is None:
            logger.warning(
                "confd.kubernetes.unreadable kind=%s namespace=%s error=%s "
                "effect=peerings naming it stay down",
                state.kind.name,
                state.kind.namespace,
                exc,
            )
        state.error = str(exc)
        if not state.listed:
            state.listed = True
            if self._unpublished:
                self._changed()

    async def _list(self, state: _KindState) -> None:
        kind = state.kind
        objects: dict[str, dict[str, str]] = {}
        params: dict[str, str] = {"limit": str(self._settings.page_size)}
        if kind.field_selector:
            params["fieldSelector"] = kind.field_selector
        version = ""
        while True:
            try:
                body = await self._get_json(kind.path, params)
            except _GoneError:
                if "continue" not in params:
                    raise
                # The continue token expired between pages: start the list again.
                objects.clear()
                params.pop("continue")
                continue
            items = body.get("items")
            for item in items if isinstance(items, list) else []:
                converted = self._convert(kind, item)
                if converted is not None:
                    objects[converted[0]] = converted[1]
            metadata = body.get("metadata")
            metadata = metadata if isinstance(metadata, dict) else {}
            version = str(metadata.get("resourceVersion", ""))
            token = metadata.get("continue")
            if not token:
                break
            params["continue"] = str(token)
        if not version:
            raise ValueError(f"{kind.path}: the list has no resourceVersion")
        self._connected_once = True
        self._kind_ok(state)
        changed = _merged(state.objects.values()) != _merged(objects.values())
        self._drop(state.objects.values())
        for keys in objects.values():
            self._values.update(keys)
        state.objects = objects
        state.version = version
        first = not state.listed
        state.listed = True
        self._full_reads += 1
        logger.info(
            "confd.kubernetes.listed kind=%s objects=%d resource_version=%s",
            kind.name,
            len(objects),
            version,
        )
        if changed or first or self._unpublished:
            self._changed()

    def _drop(self, old: Iterable[dict[str, str]]) -> bool:
        changed = False
        for keys in old:
            for key in keys:
                changed = self._values.pop(key, None) is not None or changed
        return changed

    def _convert(self, kind: KubeKind, obj: object) -> tuple[str, dict[str, str]] | None:
        try:
            if not isinstance(obj, dict):
                raise MalformedObjectError("not a JSON object")
            metadata = obj.get("metadata")
            ident = _ident(metadata)
            return ident, kind.convert(obj)
        except MalformedObjectError as exc:
            logger.warning("confd.kubernetes.malformed_object kind=%s error=%s", kind.name, exc)
            return None

    async def _watch(self, state: _KindState) -> None:
        """Follow one kind from its version until the server ends the watch (or raise)."""
        assert self._http is not None and state.version is not None
        kind = state.kind
        s = self._settings
        seconds = int(s.watch_timeout * (1 + self._rng.random()))
        params = {
            "watch": "1",
            "resourceVersion": state.version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        if kind.field_selector:
            params["fieldSelector"] = kind.field_selector
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=s.request_timeout, sock_read=seconds + s.request_timeout
        )
        async with self._http.get(
            s.server + kind.path,
            params=params,
            headers=self._headers(),
            ssl=self._ssl if self._ssl is not None else True,
            timeout=timeout,
        ) as response:
            if response.status != 200:
                _check(response.status, await response.read())
            self._kind_ok(state)
            pending = b""
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if any(self._event(state, line) for line in lines if line.strip()):
                    self._changed()

    def _event(self, state: _KindState, line: bytes) -> bool:
        """Apply one watch event; True when the view changed."""
        event = json.loads(line)
        kind_name = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise ValueError("a watch event without an object")
        if kind_name == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise _GoneError()
            raise _HttpError(int(code) if isinstance(code, int) else 500, str(obj.get("message")))
        metadata = obj.get("metadata")
        version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        if isinstance(version, str) and version:
            state.version = version
        if kind_name == "BOOKMARK":
            return False
        converted = self._convert(state.kind, obj)
        if converted is None:
            return False
        ident, keys = converted
        if kind_name == "DELETED":
            keys = {}
        old = state.objects.get(ident, {})
        if keys == old:
            return False  # nothing bgpd uses changed (a status heartbeat, say)
        self._drop((old,))
        self._values.update(keys)
        if keys:
            state.objects[ident] = keys
        else:
            state.objects.pop(ident, None)
        return True


def _merged(objects: Iterable[dict[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for keys in objects:
        out.update(keys)
    return out


def _ident(metadata: object) -> str:
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise MalformedObjectError("no metadata.name")
    namespace = metadata.get("namespace")
    name = str(metadata["name"])
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


def _check(status: int, body: bytes) -> None:
    if status == 200:
        return
    if status == 410:
        raise _GoneError()
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = str(json.loads(body).get("message", ""))
    raise _HttpError(status, message or body[:200].decode("utf-8", "replace"))


def _cause(description: str) -> str:
    """What kind of failure a `_describe` text is: its exception type, and the status of an
    HTTP error (so a changing message of one cause does not count as a new cause)."""
    head, _, rest = description.partition(": ")
    if head == _HttpError.__name__:
        return rest.split(":", 1)[0]
    return head


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

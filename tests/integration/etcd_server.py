"""A real etcd (Debian's ``etcd-server``, ``/usr/bin/etcd``) on loopback for integration tests.

`EtcdServer` owns one single-member etcd process on 127.0.0.1 with kernel-chosen free ports and
a data directory under the test's temp dir. It can run with TLS (``--client-cert-auth``, a CA and
server/client certificates made with the ``openssl`` CLI) and with user/password auth (user
``root``). Lifecycle: ``start``, ``stop``, ``kill``, ``restart`` (same data directory),
``freeze``/``thaw`` (SIGSTOP: a hung server), ``move_away``/``move_back`` or ``moved_away()``
(etcd on another client port for a while: the data changes while a watcher cannot reach it).
Synchronous admin helpers talk gRPC through the protobuf stubs shipped with aetcd, so no
``etcdctl`` is needed: ``put``, ``put_json``, ``put_many`` (any number of keys), ``txn_put``
(one revision), ``delete``, ``delete_prefix``, ``get``, ``revision``, ``compact``. For the code
under test: ``endpoint``, ``settings(**overrides) -> EtcdSettings`` and ``env()`` (Calico's
``ETCD_*`` variables for a ``bgpd confd`` subprocess).

Fixtures (function-scoped; everything is stopped and removed at teardown, also on failure):
- ``etcd_factory(tls=False, auth=False, start=True) -> EtcdServer``
- ``etcd_server``: a plain started `EtcdServer`.
On a failing test the etcd logs are attached to the report (through the peer fixtures' hook).

Invariants: etcd runs with a clean environment (etcd reads ``ETCD_*`` variables as flags, and
``ETCD_CERT_FILE`` etc. mean something else to it than to Calico); only the process this module
started is ever signalled, by PID; `start` returns only once etcd answers a read.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from aetcd import rpc

from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Process, run, spawn
from .peers.poll import wait_until
from .peers.ports import free_tcp_port, free_tcp_ports

if TYPE_CHECKING:
    from bgpd.confd.sources.etcd import EtcdSettings

__all__ = [
    "ETCD_BINARY",
    "EtcdServer",
    "EtcdTls",
    "etcd_factory",
    "etcd_server",
    "make_test_certs",
]

ETCD_BINARY = Path("/usr/bin/etcd")
ROOT_PASSWORD = "bgpd-test-root-pw"
_TXN_OPS = 128  # etcd's default --max-txn-ops


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdTls:
    """PEM files of a test PKI: a CA, a server certificate for 127.0.0.1, a client one."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    run(["openssl", *args], timeout=60.0)


def make_test_certs(
    directory: Path, *, client_cn: str = "root", client_org: str | None = None
) -> EtcdTls:
    """Create a CA and server/client certificates (EC P-256, valid 2 days) in ``directory``.

    The server certificate names 127.0.0.1, ::1 and localhost; the client certificate's CN is
    ``client_cn`` (with auth enabled, etcd takes a client certificate's CN as the user name)
    and its O is ``client_org`` if given (kube-apiserver reads O as the user's group).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=bgpd-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip

    def leaf(name: str, subject: str, extensions: str) -> tuple[Path, Path]:
        key, csr, crt = (
            directory / f"{name}.key",
            directory / f"{name}.csr",
            directory / f"{name}.crt",
        )
        ext = directory / f"{name}.ext"
        ext.write_text(extensions)
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", subject,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext),
        )  # fmt: skip
        return crt, key

    server_cert, server_key = leaf(
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n",
    )
    client_cert, client_key = leaf(
        "client",
        (f"/O={client_org}" if client_org else "") + f"/CN={client_cn}",
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    return EtcdTls(
        ca=ca,
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
    )


def _prefix_end(prefix: bytes) -> bytes:
    # The smallest key greater than every key starting with `prefix` (etcd's prefix range).
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] < 0xFF:
            return prefix[:i] + bytes([prefix[i] + 1])
    return b"\0"


class EtcdServer:
    """One etcd member on 127.0.0.1, owned by the test; see the module docstring."""

    __slots__ = (
        "_auth_enabled",
        "_channel",
        "_client_port",
        "_closed",
        "_own_dir",
        "_process",
        "_token",
        "auth",
        "data_dir",
        "name",
        "peer_port",
        "port",
        "tls",
        "workdir",
    )

    def __init__(
        self, *, workdir: Path | None = None, tls: bool = False, auth: bool = False
    ) -> None:
        if not ETCD_BINARY.exists():
            raise FileNotFoundError(
                f"{ETCD_BINARY} is missing: install Debian's etcd-server (make deps)"
            )
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="bgpdt-etcd-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = "etcd"
        self.data_dir = self.workdir / "data"
        self.port, self.peer_port = free_tcp_ports(2)
        self._client_port = self.port  # where etcd listens now (differs inside moved_away)
        self.auth = auth
        self._auth_enabled = False
        self._process: Process | None = None
        self._channel: Any = None
        self._token: str | None = None
        self._closed = False
        atexit.register(self.close)
        try:
            self.tls = make_test_certs(self.workdir / "pki") if tls else None
        except BaseException:
            self.close()
            raise

    # -- addresses and client settings -----------------------------------------------------

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self.tls is not None else "http"

    @property
    def endpoint(self) -> str:
        """The client URL etcd normally listens on, e.g. ``http://127.0.0.1:43121``."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def settings(self, **overrides: Any) -> EtcdSettings:
        """`EtcdSettings` for `bgpd.confd.sources.etcd.EtcdSource` pointing at this server."""
        from bgpd.confd.sources.etcd import EtcdSettings

        kwargs: dict[str, Any] = {"endpoints": (self.endpoint,)}
        if self.tls is not None:
            kwargs.update(ca_cert=self.tls.ca, cert=self.tls.client_cert, key=self.tls.client_key)
        if self.auth:
            kwargs.update(username="root", password=ROOT_PASSWORD)
        kwargs.update(overrides)
        return EtcdSettings(**kwargs)

    def env(self) -> dict[str, str]:
        """Calico's ``ETCD_*`` environment variables for a ``bgpd confd`` subprocess."""
        env = {"DATASTORE_TYPE": "etcdv3", "ETCD_ENDPOINTS": self.endpoint}
        if self.tls is not None:
            env.update(
                ETCD_CA_CERT_FILE=str(self.tls.ca),
                ETCD_CERT_FILE=str(self.tls.client_cert),
                ETCD_KEY_FILE=str(self.tls.client_key),
            )
        if self.auth:
            env.update(ETCD_USERNAME="root", ETCD_PASSWORD=ROOT_PASSWORD)
        return env

    # -- process lifecycle -----------------------------------------------------------------

    def _argv(self, client_port: int) -> list[str]:
        client_url = f"{self.scheme}://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            str(ETCD_BINARY),
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{self.name}={peer_url}",
            "--initial-cluster-state", "new",
            "--logger", "zap",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.tls is not None:
            argv += [
                "--cert-file", str(self.tls.server_cert),
                "--key-file", str(self.tls.server_key),
                "--trusted-ca-file", str(self.tls.ca),
                "--client-cert-auth",
            ]  # fmt: skip
        return argv

    @property
    def running(self) -> bool:
        """True while the etcd process runs."""
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        """The PID of the running etcd, None when stopped."""
        return self._process.pid if self.running and self._process is not None else None

    def start(self, *, client_port: int | None = None, timeout: float = 30.0) -> None:
        """Start etcd (on ``client_port``, default its own) and wait until it answers a read."""
        if self._closed:
            raise RuntimeError("EtcdServer is closed")
        if self.running:
            raise RuntimeError("etcd is already running")
        self._client_port = self.port if client_port is None else client_port
        self._close_channel()
        # A clean environment: etcd maps ETCD_* variables onto its own flags.
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        self._process = spawn(
            self._argv(self._client_port), name=self.name, log_dir=self.workdir, env=env
        )
        try:
            wait_until(
                self._ready,
                timeout,
                0.05,
                f"etcd answering on 127.0.0.1:{self._client_port}",
                retry_on=(grpc.RpcError,),
                describe=self.diagnostics,
            )
            if self.auth and not self._auth_enabled:
                self._enable_auth()
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self._process is None or not self._process.running:
            raise AssertionError(f"etcd exited early:\n{self.diagnostics()}")
        self._kv().Range(rpc.RangeRequest(key=b"\0", limit=1), **self._call_kwargs(2.0))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop etcd cleanly (SIGTERM, SIGKILL after ``timeout``); the data dir stays."""
        self._close_channel()
        if self._process is not None:
            self._process.stop(timeout)
            self._process = None

    def kill(self) -> None:
        """SIGKILL etcd (a crash); the data dir stays."""
        self._close_channel()
        if self._process is not None:
            self._process.kill()
            self._process = None

    def freeze(self) -> None:
        """SIGSTOP etcd: its sockets stay open but nothing answers (a hung server)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT etcd after `freeze`."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def move_away(self, port: int | None = None) -> int:
        """Restart etcd on another client port (``port`` or a free one); returns that port.

        Clients of `endpoint` lose it until `move_back`; the helpers (put, compact, ...) keep
        working, so a test can change data while a watcher is away.
        """
        self.stop()
        other = free_tcp_port() if port is None else port
        self.start(client_port=other)
        return other

    def move_back(self) -> None:
        """Restart etcd on its own client port (after `move_away`)."""
        self.stop()
        self.start()

    @contextlib.contextmanager
    def moved_away(self, port: int | None = None) -> Iterator[int]:
        """`move_away` for the block, `move_back` after it; yields the temporary port."""
        other = self.move_away(port)
        try:
            yield other
        finally:
            self.move_back()

    def diagnostics(self) -> str:
        """The tail of etcd's output, for failure reports."""
        if self._process is None:
            logs = [self.workdir / f"{self.name}.{s}" for s in ("stdout", "stderr")]
            text = "\n".join(p.read_text(errors="replace")[-6000:] for p in logs if p.exists())
            return f"[etcd, stopped]\n{text}"
        return self._process.output()

    def close(self) -> None:
        """Stop etcd and remove the work directory this object created (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            atexit.unregister(self.close)

    def __enter__(self) -> EtcdServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- admin client (synchronous gRPC through aetcd's stubs) -----------------------------

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self._token = None

    def _get_channel(self) -> Any:
        if self._channel is None:
            target = f"127.0.0.1:{self._client_port}"
            if self.tls is None:
                self._channel = grpc.insecure_channel(target)
            else:
                creds = grpc.ssl_channel_credentials(
                    root_certificates=self.tls.ca.read_bytes(),
                    private_key=self.tls.client_key.read_bytes(),
                    certificate_chain=self.tls.client_cert.read_bytes(),
                )
                self._channel = grpc.secure_channel(target, creds)
        return self._channel

    def _kv(self) -> Any:
        return rpc.KVStub(self._get_channel())

    def _call_kwargs(self, timeout: float = 30.0) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"timeout": timeout}
        if self._auth_enabled:
            if self._token is None:
                reply = rpc.AuthStub(self._get_channel()).Authenticate(
                    rpc.AuthenticateRequest(name="root", password=ROOT_PASSWORD), timeout=timeout
                )
                self._token = str(reply.token)
            kwargs["metadata"] = (("token", self._token),)
        return kwargs

    def _enable_auth(self) -> None:
        # What `etcdctl user add root && etcdctl auth enable` does (etcd 3.4).
        auth = rpc.AuthStub(self._get_channel())
        auth.RoleAdd(rpc.AuthRoleAddRequest(name="root"), timeout=10)
        auth.UserAdd(rpc.AuthUserAddRequest(name="root", password=ROOT_PASSWORD), timeout=10)
        auth.UserGrantRole(rpc.AuthUserGrantRoleRequest(user="root", role="root"), timeout=10)
        auth.AuthEnable(rpc.AuthEnableRequest(), timeout=10)
        self._auth_enabled = True
        self._token = None

    def revision(self) -> int:
        """The current store revision."""
        reply = self._kv().Range(rpc.RangeRequest(key=b"\0", limit=1), **self._call_kwargs())
        return int(reply.header.revision)

    def put(self, key: str, value: str) -> int:
        """Write one key; returns the revision of the write."""
        reply = self._kv().Put(
            rpc.PutRequest(key=key.encode(), value=value.encode()), **self._call_kwargs()
        )
        return int(reply.header.revision)

    def put_json(self, key: str, value: object) -> int:
        """Write ``value`` as compact JSON (as calicoctl writes resources); returns the revision."""
        return self.put(key, json.dumps(value, separators=(",", ":")))

    def put_many(self, items: Mapping[str, str]) -> int:
        """Write many keys in transactions of 128 puts; returns the last revision."""
        pairs = list(items.items())
        revision = self.revision()
        for start in range(0, len(pairs), _TXN_OPS):
            ops = [
                rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=v.encode()))
                for k, v in pairs[start : start + _TXN_OPS]
            ]
            reply = self._kv().Txn(rpc.TxnRequest(success=ops), **self._call_kwargs())
            revision = int(reply.header.revision)
        return revision

    def txn_put(self, items: Mapping[str, str]) -> int:
        """Write up to 128 keys in ONE transaction (one revision); returns it."""
        if len(items) > _TXN_OPS:
            raise ValueError(f"one transaction holds at most {_TXN_OPS} operations")
        ops = [
            rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=v.encode()))
            for k, v in items.items()
        ]
        reply = self._kv().Txn(rpc.TxnRequest(success=ops), **self._call_kwargs())
        return int(reply.header.revision)

    def delete(self, key: str) -> int:
        """Delete one key; returns the revision after the delete."""
        reply = self._kv().DeleteRange(
            rpc.DeleteRangeRequest(key=key.encode()), **self._call_kwargs()
        )
        return int(reply.header.revision)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; returns the revision after the delete."""
        raw = prefix.encode()
        reply = self._kv().DeleteRange(
            rpc.DeleteRangeRequest(key=raw, range_end=_prefix_end(raw)), **self._call_kwargs()
        )
        return int(reply.header.revision)

    def get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        reply = self._kv().Range(rpc.RangeRequest(key=key.encode()), **self._call_kwargs())
        return reply.kvs[0].value.decode() if reply.kvs else None

    def compact(self, revision: int | None = None) -> int:
        """Compact history below ``revision`` (default: the current one); returns it."""
        rev = self.revision() if revision is None else revision
        self._kv().Compact(
            rpc.CompactionRequest(revision=rev, physical=True), **self._call_kwargs()
        )
        return rev


# -- pytest fixtures -----------------------------------------------------------------------


def close_all(servers: Sequence[Any]) -> None:
    """Closes every fixture-made server, newest first; the first error is raised after all."""
    errors: list[BaseException] = []
    for server in reversed(servers):
        try:
            server.close()
        except Exception as exc:  # close the rest, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def etcd_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., EtcdServer]]:
    """Make `EtcdServer`s: ``etcd_factory(tls=False, auth=False, start=True)``."""
    made: list[EtcdServer] = []

    def make(*, tls: bool = False, auth: bool = False, start: bool = True) -> EtcdServer:
        server = EtcdServer(workdir=tmp_path / f"etcd{len(made)}", tls=tls, auth=auth)
        made.append(server)
        request.node.stash.setdefault(DIAGNOSTICS, []).append(server.diagnostics)
        if start:
            server.start()
        return server

    yield make
    close_all(made)


@pytest.fixture
def etcd_server(etcd_factory: Callable[..., EtcdServer]) -> EtcdServer:
    """A started plain-HTTP etcd without auth."""
    return etcd_factory()

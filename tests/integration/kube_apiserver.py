"""A real kube-apiserver on loopback, over Debian's etcd, for the Kubernetes-datastore tests.

The binaries are built from the Kubernetes Go module by ``scripts/build-kube-binaries.sh``
(``make deps``) into ``${BGPD_TEST_CACHE:-/var/cache/bgpd-test}/kube-<version>/``; the version
is the one ``tools/kube/go.mod`` pins. `KubeApiServer` owns one API server on 127.0.0.1 (a
kernel-chosen free port) in front of its own `EtcdServer` (plain HTTP, loopback only), with:

- a test PKI made with the ``openssl`` CLI (`make_test_certs`): a CA, a serving certificate
  for 127.0.0.1/localhost and an admin client certificate (CN ``bgpd-test-admin``, group
  ``system:masters``), plus an EC key pair that signs service-account tokens;
- ``--authorization-mode=RBAC``; the default admission plugins. There is no controller-manager:
  the API server itself makes the system namespaces (default, kube-system, ...) and the
  bootstrap RBAC roles, and allocates Service cluster IPs; nothing creates EndpointSlices,
  service-account token Secrets or finalizes a deleted namespace (it stays Terminating). So a
  test creates the ServiceAccounts and EndpointSlices it needs, gets tokens through the
  TokenRequest API (`token_for`), and uses fresh namespaces rather than deleting one;
- the project's manifests applied at first start: ``deploy/crds`` (then waits until every CRD
  is Established) and ``deploy/rbac`` (the ``bgpd`` ClusterRole, the password Role in
  kube-system, the ``kube-system/bgpd`` ServiceAccount bound to both).

Helpers: ``kubectl(*args)`` (admin), ``apply(obj)``/``delete(obj)`` (YAML text, a dict or a
list of dicts), ``request(method, path, body=, token=)`` and ``get(path)`` (plain HTTPS from
Python, as the admin or with a bearer token), ``watch(path, token=)`` (the event stream) and
``watch_status(path, token=)``, ``ensure_service_account``, ``token_for(sa, namespace,
duration)``, ``kubeconfig_for(sa, namespace)`` (a kubeconfig file that authenticates with that
account's token), ``admin_kubeconfig``, ``url``, ``ca``; lifecycle ``start``, ``stop``,
``restart`` (same etcd data: objects and resourceVersions survive), ``close``.

Fixtures (everything is stopped and removed at teardown, also on failure; the API server's and
etcd's logs are attached to a failing test's report):
- ``kube_apiserver_factory(start=True) -> KubeApiServer`` and ``kube_apiserver`` (function
  scope, a fresh server: ~3-5 s to start);
- ``kube_apiserver_shared``: one server per test module, for read-mostly tests that use
  distinct object names.

Invariants: only processes this module started are signalled, by PID; `start` returns only once
``/readyz`` answers ok and (first start) the manifests are applied and Established; private keys
and tokens stay in the 0700 work directory.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import os
import re
import shutil
import ssl
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from .etcd_server import EtcdServer, close_all, make_test_certs
from .peers.binaries import REPO_ROOT
from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Process, run, spawn
from .peers.poll import wait_until
from .peers.ports import free_tcp_port

__all__ = [
    "ADMIN_USER",
    "DEPLOY_DIR",
    "KubeApiServer",
    "KubeBinaries",
    "KubeResponse",
    "kube_apiserver",
    "kube_apiserver_factory",
    "kube_apiserver_shared",
    "kube_binaries",
]

DEPLOY_DIR = REPO_ROOT / "deploy"
ADMIN_USER = "bgpd-test-admin"
_GO_MOD = REPO_ROOT / "tools" / "kube" / "go.mod"
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeBinaries:
    """The kube-apiserver and kubectl built by scripts/build-kube-binaries.sh."""

    version: str
    apiserver: Path
    kubectl: Path


def kube_binaries() -> KubeBinaries:
    """Locate the cached binaries of the version tools/kube/go.mod pins; fail clearly if absent."""
    match = re.search(r"^require k8s\.io/kubernetes (v\S+)$", _GO_MOD.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{_GO_MOD} does not pin k8s.io/kubernetes")
    version = match.group(1)
    cache = Path(os.environ.get("BGPD_TEST_CACHE", "/var/cache/bgpd-test"))
    directory = cache / f"kube-{version}"
    found = KubeBinaries(
        version=version,
        apiserver=directory / "kube-apiserver",
        kubectl=directory / "kubectl",
    )
    for path in (found.apiserver, found.kubectl):
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(
                f"{path} is missing: build kube-apiserver and kubectl {version} with `make deps` "
                "(scripts/build-kube-binaries.sh)"
            )
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeResponse:
    """One API reply: the HTTP status and the decoded JSON body (None if not JSON)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


def _documents(obj: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    # kubectl reads a YAML stream from stdin; dicts become JSON documents (JSON is YAML).
    if isinstance(obj, str):
        return obj
    items = [obj] if isinstance(obj, Mapping) else list(obj)
    return "\n---\n".join(json.dumps(item) for item in items)


class KubeApiServer:
    """One kube-apiserver (and its etcd) on 127.0.0.1, owned by the test; see the module doc."""

    __slots__ = (
        "_closed",
        "_manifests_applied",
        "_own_dir",
        "_process",
        "_ssl_admin",
        "admin_kubeconfig",
        "binaries",
        "etcd",
        "pki",
        "port",
        "sa_public_key",
        "sa_signing_key",
        "workdir",
    )

    def __init__(self, *, workdir: Path | None = None) -> None:
        self.binaries = kube_binaries()
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="bgpdt-kube-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        self._closed = False
        self._process: Process | None = None
        self._ssl_admin: ssl.SSLContext | None = None
        self._manifests_applied = False
        self.port = free_tcp_port()
        try:
            self.etcd = EtcdServer(workdir=self.workdir / "etcd")
        except BaseException:  # e.g. no etcd binary: nothing runs yet, only the directory
            if self._own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        atexit.register(self.close)
        try:
            # One PKI: the CA signs the serving certificate (127.0.0.1, localhost) and the
            # admin's client certificate; the API server trusts the CA for client auth.
            self.pki = make_test_certs(
                self.workdir / "pki", client_cn=ADMIN_USER, client_org="system:masters"
            )
            self.sa_signing_key = self.workdir / "pki" / "sa.key"
            self.sa_public_key = self.workdir / "pki" / "sa.pub"
            run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                 "-out", str(self.sa_signing_key)])  # fmt: skip
            run(["openssl", "ec", "-in", str(self.sa_signing_key), "-pubout",
                 "-out", str(self.sa_public_key)])  # fmt: skip
            self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
            self._write_kubeconfig(
                self.admin_kubeconfig,
                ADMIN_USER,
                {
                    "client-certificate": str(self.pki.client_cert),
                    "client-key": str(self.pki.client_key),
                },
            )
        except BaseException:
            self.close()
            raise

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API server's URL, e.g. ``https://127.0.0.1:40123``."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        """The CA certificate (PEM) that signed the serving certificate."""
        return self.pki.ca

    # -- process lifecycle -------------------------------------------------------------------

    def _argv(self) -> list[str]:
        return [
            str(self.binaries.apiserver),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={self.pki.server_cert}",
            f"--tls-private-key-file={self.pki.server_key}",
            f"--client-ca-file={self.pki.ca}",
            f"--etcd-servers={self.etcd.endpoint}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={self.sa_public_key}",
            f"--service-account-signing-key-file={self.sa_signing_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            # No kubernetes Service endpoints lease games: one server, no controller-manager.
            "--endpoint-reconciler-type=none",
            # As a cluster that runs Calico must: calico-node is a privileged container.
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]

    @property
    def running(self) -> bool:
        """True while the API server process runs."""
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        """The PID of the running kube-apiserver, None when stopped."""
        return self._process.pid if self._process is not None and self.running else None

    def start(self, *, timeout: float = 60.0) -> None:
        """Start etcd (if stopped) and the API server; wait for readiness and the manifests."""
        if self._closed:
            raise RuntimeError("KubeApiServer is closed")
        if self.running:
            raise RuntimeError("kube-apiserver is already running")
        if not self.etcd.running:
            self.etcd.start()
        env = {"PATH": os.environ.get("PATH", _SYSTEM_PATH)}
        self._process = spawn(self._argv(), name="kube-apiserver", log_dir=self.workdir, env=env)
        try:
            wait_until(
                self._ready,
                timeout,
                0.1,
                f"kube-apiserver ready on {self.url}",
                retry_on=(OSError, http.client.HTTPException),
                describe=self.diagnostics,
            )
            if not self._manifests_applied:
                self.apply_manifests()
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self._process is None or not self._process.running:
            raise AssertionError(f"kube-apiserver exited early:\n{self.diagnostics()}")
        reply = self.request("GET", "/readyz")
        return reply.status == 200

    def apply_manifests(self) -> None:
        """Apply deploy/crds and deploy/rbac; wait until every CRD is Established."""
        self.kubectl("apply", "-f", str(DEPLOY_DIR / "crds"))
        names = [
            yaml.safe_load(path.read_text())["metadata"]["name"]
            for path in sorted((DEPLOY_DIR / "crds").glob("*.yaml"))
        ]
        self.kubectl(
            "wait", "--for=condition=Established", "--timeout=30s",
            *(f"customresourcedefinition/{name}" for name in names),
        )  # fmt: skip
        # Established is not yet watchable: each resource's watch cache starts on first use
        # and answers 429 until it has its initial list. Warm them here, not in every test.
        for path in sorted((DEPLOY_DIR / "crds").glob("*.yaml")):
            spec = yaml.safe_load(path.read_text())["spec"]
            collection = f"/apis/{spec['group']}/v1/{spec['names']['plural']}?resourceVersion=0"

            def watchable(collection: str = collection) -> bool:
                return self.watch_status(collection) == 200

            wait_until(
                watchable,
                30.0,
                0.05,
                f"a watch on {collection}",
                describe=self.diagnostics,
            )
        self.kubectl("apply", "-f", str(DEPLOY_DIR / "rbac"))
        self._manifests_applied = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the API server (SIGTERM, SIGKILL after ``timeout``); etcd keeps running."""
        if self._process is not None:
            self._process.stop(timeout)
            self._process = None

    def restart(self) -> None:
        """Stop and start the API server again on the same port and etcd data."""
        self.stop()
        self.start()

    def diagnostics(self) -> str:
        """The tail of the API server's and etcd's output, for failure reports."""
        if self._process is not None:
            text = self._process.output()
        else:
            logs = [self.workdir / f"kube-apiserver.{s}" for s in ("stdout", "stderr")]
            text = "[kube-apiserver, stopped]\n" + "\n".join(
                p.read_text(errors="replace")[-6000:] for p in logs if p.exists()
            )
        return f"{text}\n{self.etcd.diagnostics()}"

    def close(self) -> None:
        """Stop the API server and etcd; remove the work directory if this object made it."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            try:
                self.etcd.close()
            finally:
                if self._own_dir:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                atexit.unregister(self.close)

    def __enter__(self) -> KubeApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clients -----------------------------------------------------------------------------

    def _admin_context(self) -> ssl.SSLContext:
        if self._ssl_admin is None:
            context = ssl.create_default_context(cafile=str(self.pki.ca))
            context.load_cert_chain(str(self.pki.client_cert), str(self.pki.client_key))
            self._ssl_admin = context
        return self._ssl_admin

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> KubeResponse:
        """One HTTPS request to the API server: as the admin, or with ``token`` as bearer.

        The whole reply is read: for a watch use `watch` or `watch_status`.
        """
        conn, headers = self._connect(token, timeout)
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=payload, headers=headers)
            reply = conn.getresponse()
            raw = reply.read()
        finally:
            conn.close()
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return KubeResponse(status=reply.status, body=decoded)

    def _connect(
        self, token: str | None, timeout: float
    ) -> tuple[http.client.HTTPSConnection, dict[str, str]]:
        if token is None:
            context = self._admin_context()
            headers = {}
        else:
            context = ssl.create_default_context(cafile=str(self.pki.ca))
            headers = {"Authorization": f"Bearer {token}"}
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=timeout)
        return conn, headers

    def watch_status(self, path: str, *, token: str | None = None) -> int:
        """Open a watch on ``path`` and return its HTTP status without waiting for events.

        A denied watch answers 403 at once; a permitted one 200, at once when it starts from
        a given ``resourceVersion`` (put ``resourceVersion=0`` in ``path`` for "any"). Without
        one the watch cache first waits to be fresh (3 s with Debian's etcd 3.4, which cannot
        be asked for a progress notification), as for any client. ``watch=1`` is added.
        """
        conn, headers = self._connect(token, 10.0)
        try:
            sep = "&" if "?" in path else "?"
            conn.request("GET", f"{path}{sep}watch=1", headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    def watch(
        self, path: str, *, token: str | None = None, timeout: float = 10.0
    ) -> Generator[dict[str, Any]]:
        """Stream the watch events of collection ``path`` (one dict per event).

        ``watch=1`` and ``timeoutSeconds`` (``timeout``) are added; put ``resourceVersion``
        and selectors in ``path``. The stream ends when the server closes it; a status other
        than 200 raises AssertionError with the server's reply.
        """
        conn, headers = self._connect(token, timeout + 5.0)
        try:
            sep = "&" if "?" in path else "?"
            conn.request(
                "GET", f"{path}{sep}watch=1&timeoutSeconds={int(timeout)}", headers=headers
            )
            reply = conn.getresponse()
            if reply.status != 200:
                raise AssertionError(f"watch {path}: {reply.status} {reply.read()!r}")
            for line in reply:
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> str:
        """Run the fixture's kubectl (as the admin unless ``kubeconfig``); returns stdout.

        Raises `CommandError` (with kubectl's stderr) on failure when ``check`` is true.
        """
        config = self.admin_kubeconfig if kubeconfig is None else kubeconfig
        argv = [str(self.binaries.kubectl), f"--kubeconfig={config}", *args]
        env = {"PATH": os.environ.get("PATH", _SYSTEM_PATH), "HOME": str(self.workdir)}
        proc = run(argv, input=input, check=check, timeout=timeout, env=env)
        return proc.stdout if proc.returncode == 0 else proc.stdout + proc.stderr

    def apply(
        self,
        obj: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *extra: str,
        kubeconfig: Path | None = None,
    ) -> str:
        """``kubectl apply`` YAML text, a dict or a list of dicts (``extra``: more flags)."""
        return self.kubectl(
            "apply", "-f", "-", *extra, input=_documents(obj), kubeconfig=kubeconfig
        )

    def delete(
        self,
        obj: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *extra: str,
    ) -> str:
        """``kubectl delete`` the objects described (YAML text, a dict or a list of dicts)."""
        return self.kubectl("delete", "--wait=false", "-f", "-", *extra, input=_documents(obj))

    def get(self, path: str) -> Any:
        """GET ``path`` as the admin; the decoded body (AssertionError unless 2xx)."""
        reply = self.request("GET", path)
        assert reply.ok, f"GET {path}: {reply.status} {reply.body}"
        return reply.body

    # -- service accounts --------------------------------------------------------------------

    def ensure_service_account(self, name: str, namespace: str = "kube-system") -> None:
        """Create the ServiceAccount unless it exists (there is no controller to make them)."""
        path = f"/api/v1/namespaces/{quote(namespace)}/serviceaccounts"
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        reply = self.request("POST", path, body)
        if not reply.ok and reply.status != 409:  # 409: it exists already
            raise AssertionError(f"create ServiceAccount {namespace}/{name}: {reply.body}")

    def token_for(
        self, service_account: str, namespace: str = "kube-system", duration: int = 3600
    ) -> str:
        """A bound token for the ServiceAccount (TokenRequest API; ``duration`` >= 600 s)."""
        path = (
            f"/api/v1/namespaces/{quote(namespace)}/serviceaccounts/{quote(service_account)}/token"
        )
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": duration},
        }
        reply = self.request("POST", path, body)
        if not reply.ok:
            raise AssertionError(f"TokenRequest {namespace}/{service_account}: {reply.body}")
        token: str = reply.body["status"]["token"]
        return token

    def kubeconfig_for(
        self,
        service_account: str = "bgpd",
        namespace: str = "kube-system",
        duration: int = 3600,
    ) -> Path:
        """A kubeconfig (mode 0600) authenticating as the ServiceAccount with a fresh token.

        The default, ``kube-system/bgpd``, is the sample account of deploy/rbac, bound to the
        project's ClusterRole and password Role.
        """
        token = self.token_for(service_account, namespace, duration)
        path = self.workdir / f"sa-{namespace}-{service_account}.kubeconfig"
        self._write_kubeconfig(path, f"{namespace}-{service_account}", {"token": token})
        return path

    def _write_kubeconfig(self, path: Path, user: str, credentials: Mapping[str, str]) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "bgpd-test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.pki.ca)},
                }
            ],
            "users": [{"name": user, "user": dict(credentials)}],
            "contexts": [{"name": "bgpd-test", "context": {"cluster": "bgpd-test", "user": user}}],
            "current-context": "bgpd-test",
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(config, out)


def decode_secret_value(secret: Mapping[str, Any], key: str) -> str:
    """The text of one key of a Secret object as the API returns it (base64 in ``data``)."""
    return base64.b64decode(secret["data"][key]).decode()


# -- pytest fixtures -----------------------------------------------------------------------


@pytest.fixture
def kube_apiserver_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., KubeApiServer]]:
    """Make `KubeApiServer`s: ``kube_apiserver_factory(start=True)``."""
    made: list[KubeApiServer] = []

    def make(*, start: bool = True) -> KubeApiServer:
        server = KubeApiServer(workdir=tmp_path / f"kube{len(made)}")
        made.append(server)
        request.node.stash.setdefault(DIAGNOSTICS, []).append(server.diagnostics)
        if start:
            server.start()
        return server

    yield make
    close_all(made)


@pytest.fixture
def kube_apiserver(kube_apiserver_factory: Callable[..., KubeApiServer]) -> KubeApiServer:
    """A started API server with the project's CRDs and RBAC applied."""
    return kube_apiserver_factory()


@pytest.fixture(scope="module")
def _kube_apiserver_module() -> Iterator[KubeApiServer]:
    with KubeApiServer() as server:
        server.start()
        yield server


@pytest.fixture
def kube_apiserver_shared(
    request: pytest.FixtureRequest, _kube_apiserver_module: KubeApiServer
) -> KubeApiServer:
    """The module's one API server (started once); tests use distinct object names."""
    request.node.stash.setdefault(DIAGNOSTICS, []).append(_kube_apiserver_module.diagnostics)
    return _kube_apiserver_module

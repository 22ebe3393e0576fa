"""How to reach the Kubernetes API: in-cluster credentials or a kubeconfig (pure, no client).

Role: read calico-node's environment (``KUBECONFIG``, ``KUBERNETES_SERVICE_HOST``/``_PORT``,
``NAMESPACE``, ``USE_POD_CIDR``, ``CALICO_API_GROUP``) and the files they name into
`KubeSettings`: the server URL, the CA, a client certificate or a bearer token file, and what to
watch. The source builds its TLS context and reads the token from these.

Credentials, in calico-node's order:
- ``KUBECONFIG`` set: that file's current context (server, ``certificate-authority`` or
  ``-data``, ``insecure-skip-tls-verify``; user ``client-certificate``/``client-key`` or their
  ``-data``, ``token`` or ``tokenFile``). Exec plugins and auth providers are refused by name:
  bgpd runs no external commands to get credentials.
- otherwise in-cluster: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` with
  the pod's service-account token and CA under ``/var/run/secrets/kubernetes.io/serviceaccount``.

Invariants: a bearer token is kept as a file path whenever one exists (the in-cluster token
and a kubeconfig ``tokenFile``), so the source re-reads it and follows rotation (projected
tokens expire); inline credentials (``-data``, ``token``) are held in memory only and never
appear in ``repr`` or logs.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bgpd.confd.sources.base import SourceError
from bgpd.confd.sources.kube_objects import CRD_GROUP, V3_GROUP

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "KubeSettings",
    "KubeSettingsError",
    "kube_credentials_available",
]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_TRUE = ("true", "1", "yes")


class KubeSettingsError(SourceError):
    """Kubernetes settings that cannot work; the message names the problem."""


def kube_credentials_available(environ: Mapping[str, str]) -> bool:
    """True when `KubeSettings.from_env` has credentials to try (KUBECONFIG, or in-cluster)."""
    return bool(environ.get("KUBECONFIG", "").strip()) or bool(
        environ.get("KUBERNETES_SERVICE_HOST", "").strip()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class KubeSettings:
    """The API server, credentials and what to read; see `from_env`."""

    server: str  # https://host:port
    ca_file: Path | None = None
    ca_data: str | None = field(default=None, repr=False)  # PEM
    insecure_skip_verify: bool = False
    client_cert_data: bytes | None = field(default=None, repr=False)  # PEM
    client_key_data: bytes | None = field(default=None, repr=False)
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    token_file: Path | None = None  # re-read before each request (rotation)
    token: str | None = field(default=None, repr=False)
    namespace: str = "kube-system"  # calico-node's NAMESPACE: where BGP password Secrets live
    use_pod_cidr: bool = False  # host-local IPAM: Node.spec.podCIDRs are the node's blocks
    api_group: str | None = None  # CRD_GROUP, V3_GROUP, or None = discover (Calico's rule)
    page_size: int = 500  # objects per list page
    request_timeout: float = 30.0  # one list page or watch start
    watch_timeout: float = 300.0  # the server ends a watch after 1-2 times this (jittered)
    backoff_initial: float = 0.25
    backoff_max: float = 5.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        parts = urlsplit(self.server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            problems.append(f"server {self.server!r} is not an https:// URL")
        if (self.client_cert_data is None) != (self.client_key_data is None):
            problems.append("client-certificate-data needs client-key-data")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            problems.append("client-certificate needs client-key")
        if self.api_group not in (None, CRD_GROUP, V3_GROUP):
            problems.append(
                f"CALICO_API_GROUP {self.api_group!r} is not {CRD_GROUP}/v1 or {V3_GROUP}/v3"
            )
        if self.page_size < 1:
            problems.append("page_size must be >= 1")
        for name in ("request_timeout", "watch_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if problems:
            raise KubeSettingsError("invalid Kubernetes settings: " + "; ".join(problems))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
        **overrides: Any,
    ) -> KubeSettings:
        """Settings from calico-node's environment (see the module docstring)."""

        def get(name: str) -> str:
            return environ.get(name, "").strip()

        kwargs: dict[str, Any] = {
            "namespace": get("NAMESPACE") or "kube-system",
            "use_pod_cidr": get("USE_POD_CIDR").lower() in _TRUE,
            "api_group": _api_group(get("CALICO_API_GROUP")),
        }
        kubeconfig = get("KUBECONFIG")
        if kubeconfig:
            # client-go merges a colon-separated list; the first file names the context here.
            kwargs.update(_from_kubeconfig(Path(kubeconfig.split(":")[0])))
        elif get("KUBERNETES_SERVICE_HOST"):
            host = get("KUBERNETES_SERVICE_HOST")
            port = get("KUBERNETES_SERVICE_PORT") or "443"
            if _is_ipv6(host):
                host = f"[{host}]"
            kwargs.update(
                server=f"https://{host}:{port}",
                ca_file=service_account_dir / "ca.crt",
                token_file=service_account_dir / "token",
            )
        else:
            raise KubeSettingsError(
                "no Kubernetes credentials: set KUBECONFIG, or run in a pod "
                "(KUBERNETES_SERVICE_HOST and a service-account token)"
            )
        kwargs.update(overrides)
        return cls(**kwargs)


def _api_group(text: str) -> str | None:
    if not text:
        return None
    group = text.split("/", maxsplit=1)[0]
    if group not in (CRD_GROUP, V3_GROUP):
        raise KubeSettingsError(
            f"CALICO_API_GROUP={text!r}: expected {CRD_GROUP}/v1 or {V3_GROUP}/v3"
        )
    return group


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _named(entries: object, name: str, what: str, path: Path) -> dict[str, Any]:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(what)
            return body if isinstance(body, dict) else {}
    raise KubeSettingsError(f"{path}: no {what} named {name!r}")


def _from_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeSettingsError(f"KUBECONFIG {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise KubeSettingsError(f"KUBECONFIG {path}: not a kubeconfig")
    current = doc.get("current-context")
    if not isinstance(current, str) or not current:
        raise KubeSettingsError(f"KUBECONFIG {path}: no current-context")
    context = _named(doc.get("contexts"), current, "context", path)
    cluster = _named(doc.get("clusters"), str(context.get("cluster", "")), "cluster", path)
    user: dict[str, Any] = {}
    if context.get("user"):
        user = _named(doc.get("users"), str(context["user"]), "user", path)
    base = path.parent

    def rel(value: object) -> Path | None:
        if not value:
            return None
        p = Path(str(value))
        return p if p.is_absolute() else base / p

    def data(value: object, what: str) -> bytes | None:
        if not value:
            return None
        try:
            return base64.b64decode(str(value), validate=True)
        except ValueError as exc:
            raise KubeSettingsError(f"KUBECONFIG {path}: {what} is not base64") from exc

    for unsupported in ("exec", "auth-provider", "username"):
        if user.get(unsupported):
            raise KubeSettingsError(
                f"KUBECONFIG {path}: user {context.get('user')!r} uses {unsupported!r}, "
                "which bgpd does not support (use a client certificate, token or tokenFile)"
            )
    ca_data = data(cluster.get("certificate-authority-data"), "certificate-authority-data")
    token = user.get("token")
    return {
        "server": str(cluster.get("server", "")),
        "ca_file": rel(cluster.get("certificate-authority")),
        "ca_data": ca_data.decode() if ca_data is not None else None,
        "insecure_skip_verify": bool(cluster.get("insecure-skip-tls-verify", False)),
        "client_cert_data": data(user.get("client-certificate-data"), "client-certificate-data"),
        "client_key_data": data(user.get("client-key-data"), "client-key-data"),
        "client_cert_file": rel(user.get("client-certificate")),
        "client_key_file": rel(user.get("client-key")),
        "token_file": rel(user.get("tokenFile")),
        "token": str(token) if token else None,
    }

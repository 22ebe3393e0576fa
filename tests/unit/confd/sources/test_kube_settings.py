"""KubeSettings.from_env: in-cluster credentials, kubeconfig users, calico-node's variables."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from bgpd.confd.sources.kube_config import (
    KubeSettings,
    KubeSettingsError,
    kube_credentials_available,
)
from bgpd.confd.sources.kube_objects import CRD_GROUP, V3_GROUP
from bgpd.confd.sources.kubernetes import choose_api_group


def kubeconfig(tmp_path: Path, user: str, cluster: str = "server: https://10.0.0.1:6443") -> Path:
    path = tmp_path / "config"
    path.write_text(
        f"""
apiVersion: v1
kind: Config
current-context: ctx
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
clusters:
- name: c
  cluster: {{{cluster}}}
users:
- name: u
  user: {{{user}}}
"""
    )
    return path


def test_in_cluster(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert kube_credentials_available(env)
    s = KubeSettings.from_env(env, service_account_dir=tmp_path)
    assert s.server == "https://10.96.0.1:443"
    assert s.token_file == tmp_path / "token"
    assert s.ca_file == tmp_path / "ca.crt"
    assert s.namespace == "kube-system"
    assert not s.use_pod_cidr
    assert s.api_group is None
    v6 = KubeSettings.from_env({"KUBERNETES_SERVICE_HOST": "fd00::1"}, service_account_dir=tmp_path)
    assert v6.server == "https://[fd00::1]:443"


def test_calico_node_variables(tmp_path: Path) -> None:
    env = {
        "KUBERNETES_SERVICE_HOST": "h",
        "NAMESPACE": "calico-system",
        "USE_POD_CIDR": "true",
        "CALICO_API_GROUP": "projectcalico.org/v3",
    }
    s = KubeSettings.from_env(env, service_account_dir=tmp_path)
    assert (s.namespace, s.use_pod_cidr, s.api_group) == ("calico-system", True, V3_GROUP)
    with pytest.raises(KubeSettingsError, match="CALICO_API_GROUP"):
        KubeSettings.from_env({**env, "CALICO_API_GROUP": "example.org/v1"})


def test_no_credentials() -> None:
    assert not kube_credentials_available({})
    with pytest.raises(KubeSettingsError, match="no Kubernetes credentials"):
        KubeSettings.from_env({})


def test_kubeconfig_token_file_relative_to_the_file(tmp_path: Path) -> None:
    path = kubeconfig(
        tmp_path, "tokenFile: tok", "server: https://127.0.0.1:6443, certificate-authority: ca.pem"
    )
    s = KubeSettings.from_env({"KUBECONFIG": str(path)})
    assert s.server == "https://127.0.0.1:6443"
    assert s.token_file == tmp_path / "tok"
    assert s.ca_file == tmp_path / "ca.pem"


def test_kubeconfig_inline_credentials_stay_out_of_repr(tmp_path: Path) -> None:
    cert = base64.b64encode(b"CERT").decode()
    key = base64.b64encode(b"KEY-SECRET").decode()
    path = kubeconfig(
        tmp_path,
        f"client-certificate-data: {cert}, client-key-data: {key}, token: tok-secret",
    )
    s = KubeSettings.from_env({"KUBECONFIG": str(path)})
    assert s.client_cert_data == b"CERT"
    assert s.client_key_data == b"KEY-SECRET"
    assert s.token == "tok-secret"
    assert "SECRET" not in repr(s) and "tok-secret" not in repr(s)


@pytest.mark.parametrize("user", ["exec: {command: aws}", "auth-provider: {name: gcp}"])
def test_kubeconfig_plugins_refused_by_name(tmp_path: Path, user: str) -> None:
    with pytest.raises(KubeSettingsError, match=user.split(":", maxsplit=1)[0]):
        KubeSettings.from_env({"KUBECONFIG": str(kubeconfig(tmp_path, user))})


def test_kubeconfig_problems(tmp_path: Path) -> None:
    with pytest.raises(KubeSettingsError, match="KUBECONFIG"):
        KubeSettings.from_env({"KUBECONFIG": str(tmp_path / "missing")})
    with pytest.raises(KubeSettingsError, match="client-key"):
        KubeSettings.from_env(
            {"KUBECONFIG": str(kubeconfig(tmp_path, "client-certificate: c.pem"))}
        )


def test_api_group_discovery_rule() -> None:
    assert choose_api_group(["apps", CRD_GROUP]) == CRD_GROUP
    assert choose_api_group(["apps", V3_GROUP]) == V3_GROUP
    # Both: the v3 API server is backed by the v1 CRDs, which are read directly.
    assert choose_api_group([V3_GROUP, CRD_GROUP]) == CRD_GROUP
    assert choose_api_group([]) == CRD_GROUP

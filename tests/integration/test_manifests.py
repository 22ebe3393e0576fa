"""Every Kubernetes manifest in deploy/, against the real kube-apiserver of the tests.

- One server-side dry run of all of them (`kubectl apply --dry-run=server`), CRDs first; a
  kustomize overlay (deploy/calico-node/sidecar) is rendered with `kubectl kustomize` over
  tests/integration/calico_standin/calico.yaml, our stand-in for Calico's calico.yaml (Calico's
  manifest is not ours to commit, and nothing is fetched during a test), and the rendered
  objects are dry-run applied.
- What the calico-node overlay must do, read from the rendered DaemonSet: the bgpd container
  beside calico-node on the host network, sharing /var/run/calico (same hostPath volume) and
  /var/lib/calico; calico-node's BIRD and confd off (CALICO_NETWORKING_BACKEND=vxlan, the
  ConfigMap reference dropped); no -bird-live/-bird-ready left in calico-node's probes; bgpd's
  probes on /livez and /readyz at its metrics port, which is neither Felix's 9091 nor 9099.
- The operator DaemonSet and the reflector DaemonSet make the same promises; the reflector's
  ConfigMap files pass `bgp-reflector check`, and its ports match them.
- Every bgpd image reference is `bgpd:<the package version>`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kube_apiserver import DEPLOY_DIR, KubeApiServer
from .peers.netns import CommandError

REPO = DEPLOY_DIR.parent
STANDIN = Path(__file__).parent / "calico_standin" / "calico.yaml"
SIDECAR = DEPLOY_DIR / "calico-node" / "sidecar"
OPERATOR = DEPLOY_DIR / "calico-node" / "operator" / "bgpd-daemonset.yaml"
REFLECTOR = DEPLOY_DIR / "reflector"
FELIX_PORTS = {9091, 9099}  # Felix's Prometheus metrics and its health endpoints
OPERATOR_NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "calico-system"},
}


def _version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    if "version" in project:
        return str(project["version"])
    from bgpd import __version__

    return str(__version__)


def _overlays() -> list[Path]:
    return sorted(p.parent for p in DEPLOY_DIR.rglob("kustomization.yaml"))


def _plain_manifests() -> list[Path]:
    """Every YAML file not part of an overlay, CRDs first."""
    overlays = _overlays()
    files = [
        p for p in sorted(DEPLOY_DIR.rglob("*.yaml")) if not any(o in p.parents for o in overlays)
    ]
    return sorted(files, key=lambda p: (DEPLOY_DIR / "crds" not in p.parents, p))


def render(kube: KubeApiServer, overlay: Path, workdir: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a copy of `overlay` with the stand-in as its calico.yaml."""
    copy = workdir / overlay.name
    shutil.copytree(overlay, copy)
    shutil.copy(STANDIN, copy / "calico.yaml")
    text = kube.kubectl("kustomize", str(copy))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _daemonset(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "DaemonSet" and d["metadata"]["name"] == name)


def _container(ds: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def _volume(ds: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == name)


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _listen_port(args: list[str]) -> int:
    value = next(a.split("=", 1)[1] for a in args if a.startswith("metrics_listen="))
    return int(value.rsplit(":", 1)[1])


def assert_bgpd_container(ds: dict[str, Any]) -> dict[str, Any]:
    """The promises shared by the sidecar and the operator DaemonSet; returns the container."""
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    bgpd = _container(ds, "bgpd")
    assert bgpd["image"] == f"bgpd:{_version()}"
    mounts = _mounts(bgpd)
    for path in ("/var/run/calico", "/var/lib/calico"):
        assert _volume(ds, mounts[path])["hostPath"]["path"] == path
    assert _env(bgpd)["NODENAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    port = _listen_port(bgpd["args"])
    assert port not in FELIX_PORTS
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert bgpd[probe]["httpGet"] == {"host": "127.0.0.1", "path": path, "port": port}
    capabilities = bgpd["securityContext"]["capabilities"]
    assert capabilities == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_BIND_SERVICE"]}
    return bgpd


def test_every_manifest_passes_a_server_side_dry_run(
    kube_apiserver_shared: KubeApiServer, tmp_path: Path
) -> None:
    kube = kube_apiserver_shared
    kube.apply(OPERATOR_NAMESPACE)  # the operator's namespace, as an operator install has it
    applied: list[str] = []
    failures: list[str] = []
    sources = [(p, None) for p in _plain_manifests()]
    sources += [(o, render(kube, o, tmp_path)) for o in _overlays()]
    for source, rendered in sources:
        where = str(source.relative_to(DEPLOY_DIR))
        try:
            if rendered is None:
                out = kube.kubectl("apply", "--dry-run=server", "-f", str(source))
            else:
                stream = "\n---\n".join(yaml.safe_dump(doc) for doc in rendered)
                out = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=stream)
        except CommandError as exc:
            failures.append(f"{where}:\n{exc.stderr}")
            continue
        assert "(server dry run)" in out, out
        applied.append(where)
    assert not failures, "server-side dry run failed:\n" + "\n".join(failures)
    assert applied[0].startswith("crds/")
    for expected in ("calico-node/sidecar", "calico-node/operator/bgpd-daemonset.yaml"):
        assert expected in applied, applied
    assert {"reflector/configmap.yaml", "reflector/daemonset.yaml"} <= set(applied), applied


def test_the_sidecar_overlay_puts_bgpd_in_birds_place(
    kube_apiserver_shared: KubeApiServer, tmp_path: Path
) -> None:
    docs = render(kube_apiserver_shared, SIDECAR, tmp_path)
    ds = _daemonset(docs, "calico-node")
    names = [c["name"] for c in ds["spec"]["template"]["spec"]["containers"]]
    assert names == ["calico-node", "bgpd"]
    bgpd = assert_bgpd_container(ds)
    calico = _container(ds, "calico-node")
    # The same host directories, through the same volumes, in both containers.
    for path in ("/var/run/calico", "/var/lib/calico"):
        assert _mounts(bgpd)[path] == _mounts(calico)[path]
    # BIRD and confd off, by the value rc.local reads; the ConfigMap reference is gone.
    assert _env(calico)["CALICO_NETWORKING_BACKEND"] == {
        "name": "CALICO_NETWORKING_BACKEND",
        "value": "vxlan",
    }
    # calico-node's probes: Felix's own endpoints only, no BIRD check left.
    assert "bird" not in yaml.safe_dump([calico["livenessProbe"], calico["readinessProbe"]])
    assert calico["livenessProbe"]["httpGet"] == {
        "host": "localhost",
        "path": "/liveness",
        "port": 9099,
    }
    assert calico["readinessProbe"]["httpGet"]["path"] == "/readiness"
    assert "exec" not in calico["livenessProbe"] and "exec" not in calico["readinessProbe"]
    # The base's other settings are kept (a merge, not a replacement).
    assert calico["livenessProbe"]["failureThreshold"] == 6
    assert _env(calico)["IP"]["value"] == "autodetect"
    assert bgpd["args"][:5] == ["run", "-c", "/etc/bgpd/bgpd.toml", "--confd-backend", "kubernetes"]
    assert _env(bgpd)["DATASTORE_TYPE"]["value"] == _env(calico)["DATASTORE_TYPE"]["value"]


def test_the_operator_daemonset_shares_calico_nodes_directories() -> None:
    ds = yaml.safe_load(OPERATOR.read_text())
    assert ds["metadata"]["namespace"] == "calico-system"
    bgpd = assert_bgpd_container(ds)
    assert _env(bgpd)["NAMESPACE"]["value"] == "calico-system"


def test_the_reflector_configs_pass_its_check_and_match_the_daemonset(tmp_path: Path) -> None:
    configmap = yaml.safe_load((REFLECTOR / "configmap.yaml").read_text())
    ds = yaml.safe_load((REFLECTOR / "daemonset.yaml").read_text())
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    container = _container(ds, "bgp-reflector")
    assert container["image"] == f"bgpd:{_version()}"
    assert container["args"] == ["run", "-c", "/etc/bgp-reflector/$(NODE_NAME).toml"]
    assert _mounts(container)["/etc/bgp-reflector"] == "config"
    assert _volume(ds, "config")["configMap"]["name"] == configmap["metadata"]["name"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] not in FELIX_PORTS | {9179}  # 9179: bgpd beside calico-node
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"]["path"] == path
        assert container[probe]["httpGet"]["port"] == ports["metrics"]
    assert configmap["data"], "no reflector config"
    for name, text in configmap["data"].items():
        config = tomllib.loads(text)
        assert name == f"{config['node']['name']}.toml"  # the file the pod on that node reads
        assert config["bgp"]["port"] == ports["bgp"] >= 1024  # no NET_BIND_SERVICE needed
        assert int(config["metrics"]["listen"].rsplit(":", 1)[1]) == ports["metrics"]
        path = tmp_path / name
        path.write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "reflector", "check", "-c", str(path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("path", [SIDECAR / "kustomization.yaml"], ids=["sidecar"])
def test_the_overlay_names_the_image_by_the_package_version(path: Path) -> None:
    images = yaml.safe_load(path.read_text())["images"]
    assert images == [{"name": "bgpd", "newName": "bgpd", "newTag": _version()}]

"""bgpd's OCI image for integration tests: built by scripts/build_image.py, unpacked with umoci,
run with runc (Debian's OCI runtime) inside network namespaces the tests create.

`ImageRoot` is the unpacked image: its root filesystem (shared read-only by every container)
and the runtime config umoci derives from the image config (user, entrypoint, command, env).
`Node` runs one bgpd from the image in one namespace, in one of two ways:

- ``oci``: a runc container whose network namespace is the test's, with /etc/bgpd (read-only)
  and /run/bgpd bind-mounted from the test's folders, the user and the capabilities given;
- ``chroot``: the fallback for machines where containers cannot run (runc needs cgroups):
  ``ip netns exec NS`` (which gives the process a mount namespace of its own, where the root
  is bind-mounted read-only on an empty folder and the two folders over the image's), setpriv
  to drop to the user and keep only the given capabilities (plus CAP_SYS_CHROOT, which chroot
  itself needs), then chroot into the image's root and exec the entrypoint.

Either way commands run inside the image with `exec` (bgpctl from the image, say). Containers
are deleted by ID, processes stopped by PID, also when the test fails.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from .peers.netns import Namespace, Process, run, spawn
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
UID = GID = 10179
Mode = Literal["oci", "chroot"]
# What docs/image.md says bgpd needs: port 179, and kernel routes (netlink RTM_NEWROUTE).
DOCUMENTED_CAPS = ("CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN")


def build_image(out: Path) -> Path:
    """`make image`'s builder, writing into `out`; returns the archive (cached layers reused)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts/build_image.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True, slots=True)
class ImageRoot:
    archive: Path
    layout: Path
    tag: str
    rootfs: Path
    spec: dict[str, Any]  # the runtime config umoci generated from the image config

    @classmethod
    def unpack(cls, archive: Path, where: Path) -> ImageRoot:
        layout, bundle = where / "layout", where / "bundle"
        layout.mkdir()
        run(["tar", "-xf", str(archive), "-C", str(layout)])
        index = json.loads((layout / "index.json").read_text())
        (manifest,) = index["manifests"]
        tag = manifest["annotations"]["org.opencontainers.image.ref.name"]
        run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)], timeout=300)
        spec = json.loads((bundle / "config.json").read_text())
        return cls(archive, layout, tag, bundle / "rootfs", spec)

    def blob(self, digest: str) -> Any:
        return json.loads((self.layout / "blobs/sha256" / digest.split(":")[1]).read_text())

    def config(self) -> dict[str, Any]:
        """The image config (labels, user, entrypoint, ...) from the archive itself."""
        index = json.loads((self.layout / "index.json").read_text())
        manifest = self.blob(index["manifests"][0]["digest"])
        config: dict[str, Any] = self.blob(manifest["config"]["digest"])
        return config


def runc_unusable(image: ImageRoot, workdir: Path) -> str | None:
    """Why runc cannot run a container here (None: it can): one trivial run of the image."""
    cid = f"bgpdt-probe-{os.getpid()}-{secrets.token_hex(3)}"
    bundle = workdir / cid
    bundle.mkdir()
    spec = copy.deepcopy(image.spec)
    spec["root"] = {"path": str(image.rootfs), "readonly": True}
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/usr/bin/python3", "-c", "print('ok')"]
    (bundle / "config.json").write_text(json.dumps(spec))
    try:
        done = subprocess.run(
            ["runc", "run", "--bundle", str(bundle), cid],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"runc run: {exc}"
    finally:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True, check=False)
    if done.returncode != 0 or done.stdout.strip() != "ok":
        return f"runc run exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return None


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed"
    return path


class Node:
    """One bgpd (or any command) from the image, in namespace `ns`; stop() or use `with`."""

    def __init__(
        self,
        image: ImageRoot,
        mode: Mode,
        ns: Namespace,
        name: str,
        workdir: Path,
        *,
        config: str,
        caps: Sequence[str] = DOCUMENTED_CAPS,
        args: Sequence[str] | None = None,
    ) -> None:
        self.image, self.mode, self.ns, self.name = image, mode, ns, name
        self.caps = tuple(caps)
        self.id = f"bgpdt-{name}-{os.getpid()}-{secrets.token_hex(3)}"
        self.dir = workdir / self.id
        self.etc, self.run_dir = self.dir / "etc", self.dir / "run"
        for d in (self.etc, self.run_dir):
            d.mkdir(parents=True)
            os.chown(d, UID, GID)
        conf = self.etc / "bgpd.toml"
        conf.write_text(config)  # owner-only: it may hold MD5 passwords
        conf.chmod(0o600)
        os.chown(conf, UID, GID)
        self.proc: Process | None = None
        self._created = False
        self._mountpoint: Path | None = None
        self.args = list(args) if args is not None else None

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> Self:
        if self.mode == "oci":
            self._write_bundle()
            argv = ["runc", "run", "--bundle", str(self.dir), self.id]
            self._created = True
            self.proc = spawn(argv, name=self.name, log_dir=self.dir)
        else:
            argv = self._chroot_argv(self.args or self._entrypoint())
            self.proc = spawn(argv, name=self.name, log_dir=self.dir)
        return self

    def _entrypoint(self) -> list[str]:
        process = self.image.spec["process"]
        return list(process["args"])

    def _write_bundle(self) -> None:
        spec = copy.deepcopy(self.image.spec)
        spec["root"] = {"path": str(self.image.rootfs), "readonly": True}
        spec["hostname"] = self.name
        process = spec["process"]
        process["terminal"] = False
        if self.args is not None:
            process["args"] = self.args
        process["noNewPrivileges"] = True
        process["capabilities"] = {
            key: list(self.caps)
            for key in ("bounding", "effective", "permitted", "inheritable", "ambient")
        }
        spec["mounts"] += [
            {"destination": "/etc/bgpd", "type": "bind", "source": str(self.etc),
             "options": ["rbind", "ro"]},
            {"destination": "/run/bgpd", "type": "bind", "source": str(self.run_dir),
             "options": ["rbind", "rw"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]},
        ]  # fmt: skip
        namespaces = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
        namespaces.append({"type": "network", "path": f"/run/netns/{self.ns.name}"})
        spec["linux"]["namespaces"] = namespaces
        (self.dir / "config.json").write_text(json.dumps(spec, indent=1))

    def _chroot_argv(self, argv: Sequence[str]) -> list[str]:
        caps = [c.removeprefix("CAP_").lower() for c in (*self.caps, "CAP_SYS_CHROOT")]
        capset = "-all," + ",".join(f"+{c}" for c in caps)
        # In `ip netns exec`'s own mount namespace (a slave of the host's: nothing propagates
        # back), the root goes read-only on an empty folder of ours that the user can reach
        # (the test's folders cannot be traversed by it), and the node's folders over the
        # image's.
        if self._mountpoint is None:
            self._mountpoint = Path(tempfile.mkdtemp(prefix="bgpdt-root-"))
            self._mountpoint.chmod(0o755)
        q, top = shlex.quote, shlex.quote(str(self._mountpoint))
        mounts = [
            f"mount --bind {q(str(self.image.rootfs))} {top}",
            f"mount -o remount,bind,ro {top}",
            f"mount --bind -o ro {q(str(self.etc))} {top}/etc/bgpd",
            f"mount --bind {q(str(self.run_dir))} {top}/run/bgpd",
        ]
        drop = [
            _tool("setpriv"), f"--reuid={UID}", f"--regid={GID}", "--clear-groups",
            f"--inh-caps={capset}", f"--ambient-caps={capset}", f"--bounding-set={capset}",
            "--no-new-privs", _tool("chroot"), str(self._mountpoint), *argv,
        ]  # fmt: skip
        env = "env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8"
        script = " && ".join(mounts) + f" && exec {env} {shlex.join(drop)}"
        return ["ip", "netns", "exec", self.ns.name, "sh", "-c", script]

    # -- inside ------------------------------------------------------------------------------

    def exec(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Runs `argv` inside the image beside the node (same user and capabilities)."""
        full = ["runc", "exec", self.id, *argv] if self.mode == "oci" else self._chroot_argv(argv)
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)

    def bgpctl(self, *args: str) -> Any:
        done = self.exec("/usr/local/bin/bgpctl", "--json", *args)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: bgpctl {' '.join(args)}: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def pid(self) -> int:
        """The PID (host's view) of the node's main process."""
        assert self.proc is not None
        if self.mode == "chroot":
            return self.proc.pid
        state = json.loads(run(["runc", "state", self.id]).stdout)
        return int(state["pid"])

    def status(self) -> dict[str, str]:
        """/proc/PID/status of the main process, as a dict."""
        lines = Path(f"/proc/{self.pid()}/status").read_text().splitlines()
        return dict(line.split(":\t", 1) for line in lines if ":\t" in line)

    def wait_answering(self, timeout: float = 30) -> None:
        def answering() -> bool:
            assert self.proc is not None
            if not self.proc.running:
                raise AssertionError(f"{self.name} exited early:\n{self.output()}")
            return self.exec("/usr/local/bin/bgpctl", "show", "peers").returncode == 0

        wait_until(answering, timeout, 0.2, f"{self.name} control socket", describe=self.output)

    def output(self) -> str:
        return self.proc.output() if self.proc else "<not started>"

    # -- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        try:
            if self.proc is not None and self.mode == "oci" and self.proc.running:
                subprocess.run(["runc", "kill", self.id, "TERM"], capture_output=True, check=False)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    subprocess.run(
                        ["runc", "kill", self.id, "KILL"], capture_output=True, check=False
                    )
            if self.proc is not None:
                self.proc.stop()
        finally:
            if self._mountpoint is not None:
                with contextlib.suppress(OSError):  # still busy only if a process lingers
                    self._mountpoint.rmdir()
            if self._created:
                subprocess.run(
                    ["runc", "delete", "--force", self.id], capture_output=True, check=False
                )
                self._created = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

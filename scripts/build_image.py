#!/usr/bin/env python3
"""Builds bgpd's OCI image archive from Debian's packages and our wheel, with no daemon and no
container registry: `make image` (see docs/image.md).

Three layers, each a plain tar written here and added verbatim by umoci:

1. base: a Debian 12 root with python3.11 and its shared libraries, extracted by mmdebstrap
   (variant `extract`: no dpkg, apt, shell or maintainer scripts in the result), then trimmed
   (docs, man pages, locales, iconv modules, test and GUI parts of the standard library, and
   the libraries nothing left links to); the non-root user bgpd (10179:10179); bytecode
   compiled by the image's own interpreter. Cached under
   ${BGPD_TEST_CACHE:-/var/cache/bgpd-test}/image-<hash>/, where the hash covers this recipe
   and the versions of the package set apt resolves from this machine's package lists.
2. deps: the runtime dependencies of our wheel (its Requires-Dist) as binary wheels from PyPI,
   installed for the image's Python (cp311, manylinux x86_64), cached beside the base by the
   hash of that list; the base + deps OCI layout is cached too.
3. app: our wheel, its console scripts, bytecode: the only layer a cached build adds.

Must run as root (mmdebstrap's root mode, chroot to compile bytecode with the image's own
Python). Prints the archive's path, the image's sizes and the time taken.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
PY = "python3.11"
PY_TAG = "311"
SITE = f"usr/local/lib/{PY}/dist-packages"  # on Debian's sys.path; no venv needed
UID = GID = 10179
# The Debian packages asked for; apt adds their dependencies.
INCLUDE = (
    f"{PY}-minimal",
    f"lib{PY}-stdlib",
    "libstdc++6",  # grpcio's, protobuf's and frozenlist's wheels link it
    "base-files",  # /etc/os-release: image scanners identify the distribution by it
    "netbase",  # /etc/services, /etc/protocols
    "iproute2",  # `ip -j addr show` for bgpd confd's address autodetection
)
# Dependencies only their maintainer scripts use (none run here): not followed.
CUT = frozenset({"debconf", "mawk", "libcap2-bin", "dpkg", "tar", "perl-base"})
# Of iproute2, only `ip` is used.
ONLY_EXECUTABLES = {"iproute2": frozenset({"bin/ip", "sbin/ip"})}
# Removed from the root (shell-style patterns on paths relative to it). Copyright files stay.
TRIM = (
    "dev/*",  # the runtime provides /dev
    "usr/share/doc/*/*",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bug",
    "usr/share/doc-base",
    "usr/lib/x86_64-linux-gnu/gconv",  # iconv modules: Python has its own codecs
    "etc/apt",
    "var/cache/apt",
    "var/lib/apt",
    "var/log/*",
    f"usr/lib/{PY}/test",
    f"usr/lib/{PY}/pydoc_data",
    f"usr/lib/{PY}/idlelib",
    f"usr/lib/{PY}/tkinter",
    f"usr/lib/{PY}/turtle.py",
    f"usr/lib/{PY}/turtledemo",
    f"usr/lib/{PY}/ensurepip",
    f"usr/lib/{PY}/lib2to3",
    f"usr/lib/{PY}/sqlite3",
    f"usr/lib/{PY}/curses",
    # extension modules nothing of ours imports; the libraries behind them go with them
    f"usr/lib/{PY}/lib-dynload/_test*",
    f"usr/lib/{PY}/lib-dynload/_ctypes_test.*",
    f"usr/lib/{PY}/lib-dynload/_xxtestfuzz.*",
    f"usr/lib/{PY}/lib-dynload/xxlimited*",
    f"usr/lib/{PY}/lib-dynload/_curses*",
    f"usr/lib/{PY}/lib-dynload/readline.*",
    f"usr/lib/{PY}/lib-dynload/nis.*",
    f"usr/lib/{PY}/lib-dynload/_dbm.*",
    f"usr/lib/{PY}/lib-dynload/_sqlite3.*",
    f"usr/lib/{PY}/lib-dynload/ossaudiodev.*",
)
# Shared libraries kept even when nothing in the base links them: the C and C++ runtimes
# (the deps layer's wheels link them; glibc and OpenSSL load some at run time).
KEEP_LIBS = frozenset({"libc6", "libgcc-s1", "libstdc++6", "libssl3"})
# What the deps layer does not need at run time.
DEPS_TRIM = ("bin", "*.pyx", "*.pxd", "*.pxi", "*.c", "*.h", "*.cpp")
# Bump when the base recipe changes in a way the constants above do not show.
BASE_RECIPE = 2
DEPS_RECIPE = 1
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
ELF_MAGIC = b"\x7fELF"


def log(message: str) -> None:
    print(f"build-image: {message}", file=sys.stderr, flush=True)


def run(
    argv: Sequence[str | Path], *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion; its output is shown only when it fails."""
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"build-image: {' '.join(map(str, argv))} exited {proc.returncode}\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """One builder at a time per cache: another clone may be building the same base."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".image-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# -- the wheel -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wheel:
    path: Path
    version: str
    summary: str
    license: str
    requires: tuple[str, ...]  # runtime Requires-Dist, extras excluded
    scripts: tuple[tuple[str, str], ...]  # (name, "module:function")


def build_wheel(work: Path) -> Path:
    """Builds the wheel from a copy of the source (a build writes build/ into its source)."""
    source = work / "source"
    listed = run(
        ["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    ).stdout
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, source / name)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", source])
    (wheel,) = (work / "dist").glob("bgpd-*.whl")
    return wheel


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(zf.read(meta_name).decode())
        entry = ConfigParser()
        entry.read_string(zf.read(meta_name.replace("METADATA", "entry_points.txt")).decode())
    requires = tuple(sorted(r for r in meta.get_all("Requires-Dist", []) if "extra ==" not in r))
    scripts = tuple(sorted(entry["console_scripts"].items()))
    return Wheel(path, meta["Version"], meta["Summary"], meta.get("License", ""), requires, scripts)


# -- layer 1: the Debian base ----------------------------------------------------------------


def resolved_packages(cache: Path, *, updated: bool = False) -> list[str]:
    """`name version` of the package set apt resolves for INCLUDE from this machine's package
    lists, as for an empty system (no network needed). Remembered per state of the lists:
    resolving takes apt seconds."""
    lists = sorted(Path("/var/lib/apt/lists").glob("*_Packages*"))
    state = digest(INCLUDE, [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in lists])
    remembered = cache / f".apt-resolved-{state}"
    if lists and remembered.exists():
        return remembered.read_text().splitlines()

    def simulate() -> subprocess.CompletedProcess[str]:
        argv = ["apt-get", "-s", "-o", "Dir::State::status=/dev/null"]
        argv += ["-o", "APT::Install-Recommends=false", "install", *INCLUDE]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    proc = simulate()
    if (proc.returncode != 0 or not lists) and not updated:  # no package lists yet
        run(["apt-get", "update", "-qq"])
        return resolved_packages(cache, updated=True)
    found = sorted(f"{n} {v}" for n, v in re.findall(r"^Inst (\S+) \((\S+)", proc.stdout, re.M))
    if proc.returncode != 0 or not found:
        raise SystemExit(f"build-image: apt cannot resolve {INCLUDE}:\n{proc.stderr}")
    cache.mkdir(parents=True, exist_ok=True)
    remembered.write_text("\n".join(found) + "\n")
    return found


@dataclass(frozen=True, slots=True)
class Deb:
    package: str
    control: str  # the control stanza
    depends: tuple[tuple[str, ...], ...]  # Pre-Depends + Depends: alternatives per entry
    files: tuple[str, ...]  # paths relative to the root, no leading "./"


def read_deb(path: Path) -> Deb:
    control = run(["dpkg-deb", "-f", path]).stdout.strip()
    fields = dict(re.findall(r"^(\S+): (.*(?:\n .*)*)", control, re.M))
    depends = []
    for field in ("Pre-Depends", "Depends"):
        for entry in filter(None, (e.strip() for e in fields.get(field, "").split(","))):
            depends.append(tuple(re.sub(r"[\s(:].*", "", alt.strip()) for alt in entry.split("|")))
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", path], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            names = [m.name for m in tar]
    if proc.returncode != 0:
        raise SystemExit(f"build-image: dpkg-deb --fsys-tarfile {path} failed")
    files = tuple(n.removeprefix("./").rstrip("/") for n in names if n not in ("./", "."))
    return Deb(fields["Package"], control, tuple(depends), files)


def kept_packages(debs: dict[str, Deb]) -> set[str]:
    """INCLUDE and what it depends on, not following CUT (apt also pulls in dpkg, tar, ...)."""
    kept: set[str] = set()
    todo = list(INCLUDE)
    while todo:
        name = todo.pop()
        if name in kept or name in CUT:
            continue
        kept.add(name)
        for alternatives in debs[name].depends:
            present = [a for a in alternatives if a in debs]
            if present:
                todo.append(present[0])
    return kept


def remove(root: Path, rel: str) -> None:
    path = root / rel
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()  # files, links, device nodes


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == ELF_MAGIC


def elf_files(root: Path, under: Sequence[str]) -> list[str]:
    found = []
    for top in under:
        for dirpath, _dirs, files in os.walk(root / top):
            for name in files:
                path = Path(dirpath, name)
                if is_elf(path):
                    found.append("/" + str(path.relative_to(root)))
    return sorted(found)


def linked_libraries(root: Path, elves: Sequence[str]) -> set[str]:
    """The libraries (paths in the root, symlinks resolved) the given ELF files load; fails on
    any that cannot be found there."""
    needed: set[str] = set()
    missing: list[str] = []
    for elf in elves:
        proc = subprocess.run(
            ["chroot", root, "/lib64/ld-linux-x86-64.so.2", "--list", elf],
            capture_output=True,
            text=True,
            check=False,
        )
        if "not a dynamic executable" in proc.stdout + proc.stderr or "statically" in proc.stdout:
            continue
        for line in proc.stdout.splitlines():
            if "not found" in line:
                missing.append(f"{elf}: {line.strip()}")
            elif m := re.search(r"=> (/\S+)", line):
                needed.add(os.path.realpath(root / m[1].lstrip("/")))
    if missing:
        raise SystemExit("build-image: unresolved shared libraries:\n" + "\n".join(missing))
    return needed


def trim(root: Path, debs: dict[str, Deb], kept: set[str]) -> None:
    kept_files = {f for p in kept for f in debs[p].files}
    for name, deb in debs.items():
        if name not in kept:
            for rel in sorted(deb.files, reverse=True):  # files before their directories
                path = root / rel
                if rel not in kept_files and (path.is_symlink() or path.is_file()):
                    path.unlink()
                elif rel not in kept_files and path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
    for name, keep in ONLY_EXECUTABLES.items():
        for rel in debs[name].files:
            if rel.split("/")[-2:-1] in (["bin"], ["sbin"]) and rel not in keep:
                remove(root, rel)
    for pattern in TRIM:
        for path in sorted(root.glob(pattern)):
            if path.name != "copyright":
                remove(root, str(path.relative_to(root)))


def prune_libraries(root: Path, debs: dict[str, Deb], kept: set[str]) -> None:
    """Removes shared libraries nothing in the root links to, but KEEP_LIBS' packages."""
    keep = {os.path.realpath(root / f) for p in KEEP_LIBS for f in debs[p].files}
    loaded = linked_libraries(root, elf_files(root, ["bin", "sbin", "usr/bin", "usr/sbin"]))
    loaded |= linked_libraries(root, elf_files(root, [f"usr/lib/{PY}"]))
    for top in LIB_DIRS:
        for path in sorted((root / top).glob("lib*.so*")):
            real = os.path.realpath(path)
            if real not in loaded and real not in keep:
                path.unlink()  # the versioned file and its symlinks alike
    if not any(any((root / d).glob("libkrb5.so*")) for d in LIB_DIRS):
        remove(root, "usr/lib/x86_64-linux-gnu/krb5")  # Kerberos' plugin folder


def write_user_and_dirs(root: Path) -> None:
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"bgpd:x:{UID}:{GID}:bgpd:/nonexistent:/usr/sbin/nologin\n"
    )
    (root / "etc/group").write_text(f"root:x:0:\nbgpd:x:{GID}:\n")
    (root / "etc/nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    # /run/bgpd (the control socket) is the user's when no volume is mounted there
    for rel, mode, owner in (("etc/bgpd", 0o755, 0), ("run/bgpd", 0o755, UID), ("tmp", 0o1777, 0)):
        path = root / rel
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        os.chown(path, owner, owner)


def write_dpkg_status(root: Path, debs: dict[str, Deb], kept: set[str]) -> list[Deb]:
    """/var/lib/dpkg/status lists what the image holds, for image scanners (no dpkg in it)."""
    present = sorted(
        (
            debs[name]
            for name in kept
            if any(
                (root / f).is_file() and not f.startswith("usr/share/doc/")
                for f in debs[name].files
            )
        ),
        key=lambda deb: deb.package,
    )
    status = root / "var/lib/dpkg"
    shutil.rmtree(status, ignore_errors=True)
    status.mkdir(parents=True)
    stanzas = []
    for deb in present:
        lines = deb.control.splitlines()
        lines.insert(1, "Status: install ok installed")
        stanzas.append("\n".join(lines))
    (status / "status").write_text("\n\n".join(stanzas) + "\n")
    return present


def compile_bytecode(root: Path, *paths: str) -> None:
    # Hash-checked without reading sources, so clamped file times in the layer do not make
    # Python recompile (it could not write the result as a non-root user anyway).
    argv: list[str | Path] = ["chroot", root, f"/usr/bin/{PY}", "-m", "compileall", "-q"]
    run([*argv, "--invalidation-mode", "unchecked-hash", *paths])


def build_base(dest: Path, epoch: int) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".base-") as tmp:
        work = Path(tmp)
        root, debdir = work / "root", work / "debs"
        log(f"base: mmdebstrap --variant=extract {SUITE} ({', '.join(INCLUDE)})")
        run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=extract",
                f"--include={','.join(INCLUDE)}",
                f"--extract-hook=copy-out /var/cache/apt/archives/ {debdir}",
                SUITE,
                root,
            ],
            env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
        )
        debs = {d.package: d for d in map(read_deb, sorted((debdir / "archives").glob("*.deb")))}
        kept = kept_packages(debs)
        trim(root, debs, kept)
        write_user_and_dirs(root)
        (root / "usr/bin/python3").unlink(missing_ok=True)
        (root / "usr/bin/python3").symlink_to(PY)
        prune_libraries(root, debs, kept)
        present = write_dpkg_status(root, debs, kept)
        compile_bytecode(root, f"/usr/lib/{PY}")
        smoke = "import asyncio, ctypes, hashlib, json, lzma, bz2, ssl, uuid, zlib, decimal"
        run(["chroot", root, "/usr/bin/python3", "-I", "-c", smoke])
        run(["chroot", root, "/bin/ip", "-V"])
        write_layer(root, work / "rootfs.tar", epoch, trees=["."])
        version = {d.package: re.findall(r"^Version: (.*)$", d.control, re.M) for d in present}
        (dest / "packages.txt").write_text("".join(f"{p} {v[0]}\n" for p, v in version.items()))
        (work / "rootfs.tar").rename(dest / "rootfs.tar")  # last: its presence means done


# -- layers 2 and 3: Python packages ---------------------------------------------------------


def pip_target_args() -> list[str]:
    """Binary wheels for the image's interpreter: CPython 3.11 on glibc 2.36, x86_64."""
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11"]
    args += ["--abi", f"cp{PY_TAG}", "--abi", "abi3", "--abi", "none"]
    for minor in range(36, 16, -1):
        args += ["--platform", f"manylinux_2_{minor}_x86_64"]
    for legacy in ("manylinux2014", "manylinux2010", "manylinux1"):
        args += ["--platform", f"{legacy}_x86_64"]
    return args


def unpack(layer: Path, root: Path) -> None:
    run(["tar", "-x", "--numeric-owner", "-p", "-f", layer, "-C", root])


def build_deps(base: Path, dest: Path, wheel: Wheel, epoch: int) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".deps-") as tmp:
        work = Path(tmp)
        root, site = work / "root", work / "site"
        root.mkdir()
        unpack(base / "rootfs.tar", root)
        log(f"deps: pip install {' '.join(wheel.requires)}")
        pip: list[str | Path] = [sys.executable, "-m", "pip", "install", "-q", "--no-compile"]
        pip += ["--target", site]
        run([*pip, *pip_target_args(), *wheel.requires])
        frozen = run([sys.executable, "-m", "pip", "list", "--format=freeze", "--path", site])
        for pattern in DEPS_TRIM:
            for path in sorted(site.rglob(pattern), reverse=True):
                remove(site, str(path.relative_to(site)))
        shutil.copytree(site, root / SITE, symlinks=True)
        compile_bytecode(root, "/" + SITE)
        linked_libraries(root, elf_files(root, [SITE]))  # every .so's libraries are there
        imports = "import grpc, aiohttp, yaml, jinja2, aetcd, prometheus_client"
        run(["chroot", root, "/usr/bin/python3", "-I", "-c", imports])
        write_layer(root, dest / "deps.tar", epoch, trees=[SITE], dirs=parents(SITE))
        (dest / "requirements.txt").write_text(frozen.stdout)


def parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def write_layer(
    root: Path, out: Path, epoch: int, *, trees: Sequence[str], dirs: Sequence[str] = ()
) -> None:
    """A reproducible tar (sorted, numeric owners, times clamped to `epoch`) of `trees` (paths
    relative to root, with everything under them) and `dirs` (the entries alone)."""
    names = set(dirs)
    for tree in trees:
        names.add(tree)
        for dirpath, dirnames, files in os.walk(root / tree):
            rel = Path(dirpath).relative_to(root)
            names.update(str(rel / n) for n in dirnames + files)
    listing = out.with_suffix(".list")
    listing.write_text("\0".join(sorted(names)) + "\0")
    argv: list[str | Path] = ["tar", "-c", "-f", out, "-C", root, "--numeric-owner", "--format=gnu"]
    argv += [f"--mtime=@{epoch}", "--clamp-mtime", "--no-recursion", "--null", "-T", listing]
    run(argv)
    listing.unlink()


def build_app(root: Path, wheel: Wheel, out: Path, epoch: int) -> None:
    """Layer 3: our wheel (no dependencies) and its console scripts, compiled."""
    site = root.parent / "app-site"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-compile",
            "--target",
            site,
            wheel.path,
        ]
    )
    shutil.rmtree(site / "bin", ignore_errors=True)
    # the wheel's data files (man pages, completion scripts: pip puts them under --target's
    # share/): the image has neither man nor a shell; `bgpd manpage` prints the packaged pages
    shutil.rmtree(site / "share", ignore_errors=True)
    # pip's record of where it installed from (a temporary path): not part of the image
    for direct in site.glob("*.dist-info/direct_url.json"):
        direct.unlink()
        record = direct.with_name("RECORD")
        kept = [r for r in record.read_text().splitlines() if "/direct_url.json," not in r]
        record.write_text("\n".join(kept) + "\n")
    names = sorted(os.listdir(site))
    for name in names:
        shutil.move(site / name, root / SITE / name)
    bindir = root / "usr/local/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    scripts = []
    for name, target in wheel.scripts:
        module, _, func = target.partition(":")
        script = bindir / name
        # -I: the environment (PYTHONPATH, ...) and the working directory change no import.
        script.write_text(
            f"#!/usr/bin/{PY} -I\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"
        )
        script.chmod(0o755)
        scripts.append(f"usr/local/bin/{name}")
    compile_bytecode(root, *(f"/{SITE}/{n}" for n in names))
    for name, _target in wheel.scripts:
        run(["chroot", root, f"/usr/local/bin/{name}", "--help"])
    trees = [*scripts, *(f"{SITE}/{n}" for n in names)]
    write_layer(root, out, epoch, trees=trees, dirs=[*parents(SITE), SITE, "usr/local/bin"])


# -- the image -------------------------------------------------------------------------------


def umoci(*args: str | Path) -> None:
    run(["umoci", *args])


def base_layout(deps: Path, base: Path, created: str) -> None:
    """The OCI layout with the base and deps layers, cached beside deps.tar."""
    with tempfile.TemporaryDirectory(dir=deps, prefix=".oci-") as tmp:
        layout = Path(tmp) / "oci"
        image = f"{layout}:base"
        umoci("init", "--layout", layout)
        umoci("new", "--image", image)
        hist = ["--history.created", created, "--history.author", "bgpd build_image.py"]
        umoci(
            "raw",
            "add-layer",
            *hist,
            "--history.created_by",
            f"mmdebstrap --variant=extract {SUITE} {' '.join(INCLUDE)}; trimmed",
            "--image",
            image,
            base / "rootfs.tar",
        )
        umoci(
            "raw",
            "add-layer",
            *hist,
            "--history.created_by",
            "pip install --target /" + SITE + " (runtime dependencies of bgpd)",
            "--image",
            image,
            deps / "deps.tar",
        )
        layout.rename(deps / "oci")


def layer_sizes(layout: Path, tag: str) -> tuple[int, int]:
    """(compressed, uncompressed) bytes of the image's layers."""
    index = json.loads((layout / "index.json").read_text())
    (desc,) = [
        m
        for m in index["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag
    ]
    blob = layout / "blobs" / "sha256"
    manifest = json.loads((blob / desc["digest"].split(":")[1]).read_text())
    compressed = uncompressed = 0
    for layer in manifest["layers"]:
        path = blob / layer["digest"].split(":")[1]
        compressed += layer["size"]
        with gzip.open(path) as f:
            while chunk := f.read(1 << 20):
                uncompressed += len(chunk)
    return compressed, uncompressed


def image_config(wheel: Wheel, created: str) -> list[str]:
    """umoci config's arguments: user, entrypoint, command, environment, labels."""
    labels = {
        "org.opencontainers.image.title": "bgpd",
        "org.opencontainers.image.description": wheel.summary,
        "org.opencontainers.image.version": wheel.version,
        "org.opencontainers.image.licenses": wheel.license,
        "org.opencontainers.image.base.name": f"debian:{SUITE} (mmdebstrap, trimmed)",
    }
    config = ["--created", created, "--author", "bgpd", "--no-history"]
    config += ["--config.user", f"{UID}:{GID}", "--config.workingdir", "/"]
    config += ["--config.entrypoint", "/usr/local/bin/bgpd"]
    for arg in ("run", "-c", "/etc/bgpd/bgpd.toml"):
        config += ["--config.cmd", arg]
    config += ["--config.env", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
    config += ["--config.env", "LANG=C.UTF-8", "--config.exposedports", "179/tcp"]
    for key, value in labels.items():
        config += ["--config.label", f"{key}={value}", "--manifest.annotation", f"{key}={value}"]
    return config


def cached_layers(cache: Path, wheel: Wheel, epoch: int, created: str) -> tuple[Path, Path]:
    """The base and deps cache folders, built if missing."""
    base_key = digest(
        BASE_RECIPE,
        SUITE,
        INCLUDE,
        sorted(CUT),
        TRIM,
        sorted(KEEP_LIBS),
        {k: sorted(v) for k, v in ONLY_EXECUTABLES.items()},
        UID,
        resolved_packages(cache),
    )
    base = cache / f"image-{base_key}"
    deps = base / f"deps-{digest(DEPS_RECIPE, wheel.requires, DEPS_TRIM, pip_target_args())}"
    with locked(cache):
        if (base / "rootfs.tar").exists():
            log(f"base: cached {base}")
        else:
            base.mkdir(parents=True, exist_ok=True)
            build_base(base, epoch)
        if (deps / "oci").exists():
            log(f"deps: cached {deps}")
        else:
            deps.mkdir(parents=True, exist_ok=True)
            build_deps(base, deps, wheel, epoch)
            base_layout(deps, base, created)
    return base, deps


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "build/image", help="output folder")
    p.add_argument("--wheel", type=Path, help="use this wheel instead of building one")
    default_cache = Path(os.environ.get("BGPD_TEST_CACHE", "/var/cache/bgpd-test"))
    p.add_argument("--cache", type=Path, default=default_cache)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("build-image: run as root (mmdebstrap's root mode, chroot)")
    for tool in ("mmdebstrap", "umoci", "dpkg-deb", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise SystemExit(f"build-image: {tool} missing: run scripts/install-debian-deps.sh")
    started = time.monotonic()
    # Reproducible: every time in the image is the last commit's (or SOURCE_DATE_EPOCH).
    epoch = int(
        os.environ.get("SOURCE_DATE_EPOCH")
        or run(["git", "-C", REPO, "log", "-1", "--format=%ct"]).stdout
    )
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bgpd-image-") as tmp:
        work = Path(tmp)
        wheel = read_wheel(args.wheel or build_wheel(work))
        base, deps = cached_layers(args.cache, wheel, epoch, created)
        root = work / "root"
        root.mkdir()
        unpack(base / "rootfs.tar", root)
        unpack(deps / "deps.tar", root)
        build_app(root, wheel, work / "app.tar", epoch)
        layout, tag = work / "oci", wheel.version
        shutil.copytree(deps / "oci", layout)
        history = ["--history.created", created, "--history.created_by"]
        history.append(f"bgpd {wheel.version} wheel, console scripts")
        app = work / "app.tar"
        umoci("raw", "add-layer", "--tag", tag, *history, "--image", f"{layout}:base", app)
        umoci("config", *image_config(wheel, created), "--image", f"{layout}:{tag}")
        umoci("rm", "--image", f"{layout}:base")
        umoci("gc", "--layout", layout)
        compressed, uncompressed = layer_sizes(layout, tag)
        archive = args.out / f"bgpd-{wheel.version}.oci.tar"
        partial = archive.with_suffix(".tmp")
        write_layer(layout, partial, epoch, trees=["."])
        partial.rename(archive)
        shutil.copy2(deps / "requirements.txt", args.out / "requirements.txt")
        shutil.copy2(base / "packages.txt", args.out / "packages.txt")
    log(
        f"{archive} (tag {tag}): layers {compressed / 1e6:.1f} MB compressed, "
        f"{uncompressed / 1e6:.1f} MB uncompressed; {time.monotonic() - started:.1f} s"
    )
    print(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main())

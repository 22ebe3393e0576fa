"""What a pip-installed bgpd carries and runs: the release files built from this tree, installed
the way docs/install.md says, outside the checkout, run every command an operator runs.

The sdist is built from a clean copy of the tree and the wheel from the sdist (wheel_build.py);
the wheel is installed into a fresh venv made by Debian's `python3` with its dependencies from
PyPI (or the local pip cache), by running the marked blocks of docs/install.md themselves under a
temporary root (`/opt` and `/usr/local/bin` moved there). From that venv: `--version` on every
command, `bgpd check`, `bgpd confd --onetime --backend file`, `bgpd run` against BIRD 2 in a
network namespace until routes go both ways, `bgpctl show peers` against it, and
`bgp-reflector check` on the example config of deploy/systemd/; the shipped manual pages and
completion scripts: `bgpd completion` / `bgpd manpage` without their generators in the venv,
`man -w` finding the pages from PATH (the venv's bin, or the doc's links in /usr/local), and
bash-completion's own loader finding the bash scripts and completing subcommands. Then the pipx
block. The editable install of the checkout hid once that the wheel had no confd templates;
nothing here imports the checkout's code in the installed commands.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgpd.manuals import PROGRAMS
from bgpd.version import VERSION_TEXT

from .peers import BgpPeer, BirdConfig, Lan, StaticRoute, wait_until
from .peers.fixtures import DIAGNOSTICS, BirdFactory
from .test_confd_cli import node_vars, v1_cluster
from .wheel_build import REPO, Dist, build_dist

INSTALL_DOC = REPO / "docs" / "install.md"
DEPS_SCRIPT = REPO / "scripts" / "install-debian-deps.sh"
# A Debian 12 root's PATH, with the temporary root's /usr/local/bin first: `python3` is
# Debian's, never a developer's pyenv or the test venv.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
TEMPLATES = {
    "bgpd/confd_templates/conf.d/bgpd.toml",
    "bgpd/confd_templates/templates/bgpd.toml.j2",
    "bgpd/confd_templates/templates/peers.toml.j2",
}
# Debian's bash-completion (scripts/install-debian-deps.sh): its loader finds a command's script
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")
BGPD_ROUTE = "10.77.0.0/24"
BIRD_ROUTE = "10.88.0.0/24"


def doc_block(name: str) -> list[str]:
    """The lines of the shell block docs/install.md marks `<!-- test_wheel: name -->`."""
    text = INSTALL_DOC.read_text()
    match = re.search(
        rf"^<!-- test_wheel: {re.escape(name)} -->\n```sh\n(.*?)^```$", text, re.M | re.S
    )
    assert match, f"docs/install.md has no block marked test_wheel: {name}"
    return match.group(1).splitlines()


def debian_packages() -> set[str]:
    """The packages scripts/install-debian-deps.sh installs (what CI has)."""
    found = re.findall(r"^packages\+?=\(([^)]*)\)", DEPS_SCRIPT.read_text(), re.M)
    return {name for group in found for name in group.split()}


def run_doc_block(name: str, root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs the block with its absolute paths under `root`; apt-get lines only checked.

    `apt-get install` lines are what CI's deps script installs (checked here, not run: a test
    does not install system packages).
    """
    script = ["set -euo pipefail"]
    for line in doc_block(name):
        if line.startswith("apt-get install"):
            wanted = {w for w in line.split()[2:] if not w.startswith("-")}
            assert wanted <= debian_packages(), f"{DEPS_SCRIPT.name} lacks {wanted}"
            continue
        moved = line.replace("/opt/", f"{root}/opt/")
        script.append(moved.replace("/usr/local/", f"{root}/usr/local/"))
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=installed_env(root),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{name} block:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def installed_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{root}/usr/local/bin:{SYSTEM_PATH}"
    return env


@dataclass(frozen=True, slots=True, kw_only=True)
class Installed:
    """The commands installed under `root` (in `root`/usr/local/bin, as the doc links them)."""

    root: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.root / "usr/local/bin"

    def run(
        self,
        argv: Sequence[str | Path],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """`argv[0]` from the install (a command name, or the venv's `python`), outside the
        checkout, with `env` added to the environment."""
        first = str(argv[0])
        exe = self.venv / "bin/python" if first == "python" else self.bin / first
        return subprocess.run(
            [str(exe), *map(str, argv[1:])],
            cwd=cwd,
            env={**installed_env(self.root), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    return build_dist(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("venv-root")
    run_doc_block("venv", root, cwd=dist.wheel.parent)
    return Installed(root=root, venv=root / "opt/bgpd")


def package_files(names: Sequence[str], prefix: str = "") -> set[str]:
    """The files of the bgpd and reflector packages among archive file `names`, less `prefix`."""
    paths = (name.removeprefix(prefix) for name in names)
    return {path for path in paths if path.startswith(("bgpd/", "reflector/"))}


def test_the_sdist_and_the_wheel_carry_every_package_file(dist: Dist) -> None:
    in_tree = {
        str(p.relative_to(dist.source))
        for top in ("bgpd", "reflector")
        for p in (dist.source / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    with tarfile.open(dist.sdist) as sdist:
        files = [member.name for member in sdist.getmembers() if member.isfile()]
    (top,) = {name.split("/")[0] for name in files}
    in_sdist = package_files(files, f"{top}/")
    in_wheel = package_files(zipfile.ZipFile(dist.wheel).namelist())
    assert in_tree >= TEMPLATES
    assert in_sdist == in_tree, in_tree ^ in_sdist
    assert in_wheel == in_tree, in_tree ^ in_wheel


def test_every_installed_command_prints_the_one_version(
    dist: Dist, installed: Installed, tmp_path: Path
) -> None:
    assert dist.wheel.name.startswith(VERSION_TEXT.replace(" ", "-") + "-")
    for argv in (
        ["bgpd", "--version"],
        ["bgpd", "confd", "--version"],
        ["bgpctl", "--version"],
        ["bgp-reflector", "--version"],
        ["python", "-m", "bgpd", "--version"],
    ):
        done = installed.run(argv, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, f"{VERSION_TEXT}\n"), (argv, done.stderr)


def test_the_installed_commands_run_the_installed_code(
    installed: Installed, tmp_path: Path
) -> None:
    done = installed.run(
        ["python", "-c", "import bgpd, reflector; print(bgpd.__file__, reflector.__file__)"],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for where in done.stdout.split():
        assert where.startswith(str(installed.venv)), done.stdout
    for command in ("bgpd", "bgpctl", "bgp-reflector"):
        assert (installed.bin / command).resolve().parent == installed.venv / "bin"


def test_installed_bgpd_confd_renders_a_config_bgpd_check_accepts(
    installed: Installed, tmp_path: Path
) -> None:
    kv = tmp_path / "calico.yaml"
    kv.write_text(yaml.safe_dump(v1_cluster()))
    root = tmp_path / "root"
    argv = ["--backend", "file", "--file", kv, "--dest-root", root, "--onetime"]
    argv += node_vars(tmp_path, "node-1")
    done = installed.run(["bgpd", "confd", *argv], cwd=tmp_path, env={"NODENAME": "node-1"})
    assert done.returncode == 0, done.stdout + done.stderr
    rendered = root / "etc/bgpd/bgpd.toml"
    checked = installed.run(["bgpd", "check", "-c", rendered], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{rendered}: ok (1 peers, 0 static routes)\n"


def test_installed_bgp_reflector_checks_the_example_config(
    dist: Dist, installed: Installed, tmp_path: Path
) -> None:
    example = dist.source / "deploy/systemd/bgp-reflector.toml"
    done = installed.run(["bgp-reflector", "check", "-c", example], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{example}: ok (cluster 224.0.0.1, " in done.stdout


def test_installed_bgpd_prints_the_shipped_completion_and_pages_without_generators(
    dist: Dist, installed: Installed, tmp_path: Path
) -> None:
    generators = ("shtab", "argparse_manpage")
    probe = f"import importlib.util as u; print([m for m in {generators!r} if u.find_spec(m)])"
    found = installed.run(["python", "-c", probe], cwd=tmp_path)
    assert found.stdout == "[]\n", found.stdout + found.stderr  # neither generator installed
    shipped = dist.source / "bgpd/share"
    done = installed.run(["bgpd", "completion", "bash"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join((shipped / "bash" / p).read_text() for p in PROGRAMS)
    for program in PROGRAMS:
        assert (
            f"complete -o bashdefault -F _shtab_{program.replace('-', '_')} {program}"
            in done.stdout
        )
    page = installed.run(["bgpd", "manpage", "bgpctl"], cwd=tmp_path)
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith('.TH BGPCTL "1"'), page.stdout[:200]
    assert page.stdout == (shipped / "man1/bgpctl.1").read_text()


def run_man(argv: Sequence[str], path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Debian's man with `path` as PATH and no MANPATH: man-db derives where to look from PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("MANPATH", "PYTHONPATH")}
    env |= {"PATH": path, "MANPAGER": "cat", "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""}
    return subprocess.run(
        ["man", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_man_finds_the_installed_pages_from_path(installed: Installed, tmp_path: Path) -> None:
    in_venv = f"{installed.venv}/bin:{SYSTEM_PATH}"  # <venv>/bin -> <venv>/share/man
    for program in PROGRAMS:
        where = run_man(["-w", program], in_venv, tmp_path)
        assert where.stdout == f"{installed.venv}/share/man/man1/{program}.1\n", where.stderr
    # As the venv block links them: only /usr/local/bin on PATH (without the links man finds
    # OpenBGPD's bgpd(8) and bgpctl(8), which CI has)
    linked = f"{installed.bin}:{SYSTEM_PATH}"
    for program in PROGRAMS:
        where = run_man(["-w", program], linked, tmp_path)
        assert where.stdout == f"{installed.venv}/share/man/man1/{program}.1\n", where.stderr
    shown = run_man(["bgpctl"], linked, tmp_path)
    assert shown.stdout.startswith("BGPCTL(1)"), shown.stdout[:300] + shown.stderr
    assert "bgpd manual" in shown.stdout and "SEE ALSO" in shown.stdout


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (("bgpctl", "sh"), {"show"}),
        (("bgpd", "co"), {"completion", "confd"}),
        (("bgp-reflector", "r"), {"run"}),
    ],
)
def test_bash_completion_loads_the_installed_script_and_completes(
    installed: Installed, tmp_path: Path, words: tuple[str, ...], offered: set[str]
) -> None:
    assert BASH_COMPLETION.is_file(), "bash-completion missing: scripts/install-debian-deps.sh"
    line = " ".join(words)
    script = f"""
source {BASH_COMPLETION}
__load_completion {words[0]} || {{ echo "bash-completion found no script for {words[0]}"; exit 3; }}
fn=$(complete -p {words[0]} | sed -E 's/.* -F ([^ ]+) .*/\\1/')
COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}
"$fn" {words[0]} "{words[-1]}" "{words[-2]}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    # bash-completion looks in $XDG_DATA_DIRS/bash-completion/completions: /usr/local/share
    # (here under the temporary root) holds the venv block's links
    env = installed_env(installed.root) | {"XDG_DATA_DIRS": f"{installed.root}/usr/local/share"}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(done.stdout.split()) == offered


def bgpd_config(lan: Lan, socket: Path) -> str:
    node, router = lan.hosts
    return f"""
[bgp]
asn = 64512
router_id = "{node.ipv4}"
listen = ["{node.ipv4}"]

[control]
socket = "{socket}"

[[static]]
prefix = "{BGPD_ROUTE}"

[[peer]]
name = "bird"
address = "{router.ipv4}"
asn = 65001
local_address = "{node.ipv4}"
bfd = true
"""


def test_installed_bgpd_exchanges_routes_with_bird(
    installed: Installed,
    lan: Lan,
    bird_factory: BirdFactory,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    node, router = lan.hosts
    peer = BgpPeer(
        name="bgpd",
        local_as=65001,
        neighbor_address=str(node.ipv4),
        neighbor_as=64512,
        local_address=str(router.ipv4),
        extra="bfd on;",
    )
    statics = (StaticRoute(prefix=BIRD_ROUTE),)
    bird = bird_factory(
        BirdConfig(
            router_id=str(router.ipv4),
            peers=(peer,),
            static_routes=statics,
            extra='protocol bfd { interface "*" { min rx interval 100 ms; }; }\n',
        ),
        netns=router.ns,
    )
    socket = tmp_path / "bgpd.ctl"
    config = tmp_path / "bgpd.toml"
    config.write_text(bgpd_config(lan, socket))
    checked = installed.run(["bgpd", "check", "-c", config], cwd=tmp_path)
    assert checked.stdout == f"{config}: ok (1 peers, 1 static routes)\n", checked.stderr

    speaker = node.ns.spawn(
        [str(installed.bin / "bgpd"), "run", "-c", str(config)],
        name="bgpd-installed",
        log_dir=tmp_path,
        env=installed_env(installed.root),
        cwd=tmp_path,
    )
    request.node.stash.setdefault(DIAGNOSTICS, []).append(speaker.output)
    bird.wait_established("bgpd", timeout=30)
    bird.wait_route(BGPD_ROUTE, timeout=30)

    def bgpctl_json(*args: str) -> Any:
        done = installed.run(["bgpctl", "-s", socket, "--json", *args], cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    learned = wait_until(
        lambda: [r for r in bgpctl_json("show", "routes", BIRD_ROUTE) if r["peer"] == "bird"],
        timeout=30,
        message=f"installed bgpd learned {BIRD_ROUTE} from BIRD",
        describe=speaker.output,
    )
    assert learned[0]["next_hop"] == str(router.ipv4)
    table = installed.run(["bgpctl", "-s", socket, "show", "peers"], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if line.startswith("bird ")]
    assert "Established" in row and str(router.ipv4) in row, table.stdout
    # BFD's process is the installed interpreter running the installed package, found as any
    # installed module is (no path handed down)
    wait_until(
        lambda: bgpctl_json("show", "peer", "bird")["bfd"] == "Up",
        timeout=30,
        message="BFD Up",
        describe=speaker.output,
    )
    (child,) = Path(f"/proc/{speaker.pid}/task/{speaker.pid}/children").read_text().split()
    argv = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
    assert Path(argv[0]).parent == installed.venv / "bin", argv  # the command's interpreter
    assert argv[1:3] == ["-m", "bgpd.runtime.bfd_child"], argv
    assert b"PYTHONPATH=" not in Path(f"/proc/{child}/environ").read_bytes()
    assert speaker.stop(timeout=10) == 0, speaker.output()
    assert not Path(f"/proc/{child}").exists()


def test_pipx_install_as_documented(dist: Dist, tmp_path: Path) -> None:
    done = run_doc_block("pipx", tmp_path, cwd=dist.wheel.parent)
    assert done.stdout.endswith(f"{VERSION_TEXT}\n"), done.stdout
    pipx = Installed(root=tmp_path, venv=tmp_path / "opt/pipx/venvs/bgpd")
    for command in ("bgpctl", "bgp-reflector"):
        ran = pipx.run([command, "--version"], cwd=tmp_path)
        assert ran.stdout == f"{VERSION_TEXT}\n", ran.stderr
        assert (pipx.bin / command).resolve().parent == pipx.venv / "bin"

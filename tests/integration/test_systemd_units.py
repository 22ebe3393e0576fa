"""The systemd units of deploy/systemd/: valid for systemd, hardened, and enough for the daemon.

- `systemd-analyze verify` accepts each unit with no message at all. It checks that the
  commands exist on the real file system (systemd 252 ignores --root= for that, and with
  --root= it looks for systemd's own units there too), so it runs in a private mount
  namespace where /usr/local/bin, the units' binary folder, is a folder of stand-ins; with an
  empty folder there it must complain, which shows the stand-ins are what it checked.
- `systemd-analyze security --offline=yes` rates each unit's exposure at most `MAX_EXPOSURE`.
- `systemd-sysusers --root` makes the user and group `bgpd` from bgpd.sysusers.conf.
- Each unit's commands, with its Environment= defaults and with the alternatives its
  /etc/default file shows, parse with the program's own argument parser.
- The daemons run with exactly what their unit grants (systemd is not PID 1 here, so the
  parts that matter are rebuilt from the unit's own lines): an unprivileged user, the
  AmbientCapabilities= and CapabilityBoundingSet= capabilities only (setpriv), no_new_privs,
  the SystemCallFilter= allow-list, RestrictAddressFamilies=, MemoryDenyWriteExecute= and
  UMask= (unit_sandbox.py, the filters systemd 252 installs), the group-readable config and a
  RuntimeDirectory= of the user's. bgp-reflector, installed from the wheel, peers with BIRD 2
  on port 179 with a TCP-MD5 password and GTSM and exchanges routes (so neither needs a
  capability); bgpd installs BIRD's route in the namespace's kernel (CAP_NET_ADMIN). Without
  CAP_NET_BIND_SERVICE the reflector cannot listen: the capability is needed, and the
  rebuilt sandbox really drops it. Not rebuilt: the mount namespace settings (ProtectSystem=,
  PrivateTmp=, ...), which the daemons meet only as read-only or hidden paths they do not use.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bgpd.main import _parser as bgpd_parser
from reflector.command import _parser as reflector_parser

from .peers import BgpPeer, BirdConfig, Lan, LanHost, StaticRoute, wait_until
from .peers.fixtures import DIAGNOSTICS, BirdFactory
from .wheel_build import REPO, build_dist

UNITS = REPO / "deploy" / "systemd"
SERVICES = ("bgp-reflector.service", "bgpd.service")
MAX_EXPOSURE = 2.0  # systemd's scale: 0 (locked down) .. 10 (unprotected); these rate 1.6
SANDBOX_UID = 64179  # no passwd entry needed; never a user of the machine
DEBIAN_PYTHON = "/usr/bin/python3"  # has python3-seccomp (scripts/install-debian-deps.sh)
PASSWORD = "s3cret-md5"
REFLECTOR_ROUTE = "10.66.0.0/24"
BIRD_ROUTE = "10.88.0.0/24"


def unit_lines(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, in order, values of repeated keys kept apart."""
    found: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def unit(name: str) -> dict[str, list[str]]:
    return unit_lines(UNITS / name)


# ------------------------------------------------------------------------ systemd's own checks


def verify(service: Path, stand_ins: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` with `stand_ins` mounted on /usr/local/bin (privately)."""
    script = f"mount --bind {shlex.quote(str(stand_ins))} /usr/local/bin && " + shlex.join(
        ["systemd-analyze", "verify", str(service)]
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", SERVICES)
def test_systemd_analyze_verify_accepts_the_unit(name: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = verify(UNITS / name, empty)
    binary = unit(name)["ExecStart"][0].split()[0]
    assert f"Command {binary} is not executable" in missing.stderr, missing
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for command in ("bgpd", "bgp-reflector"):
        (stand_ins / command).write_text("#!/bin/sh\nexit 0\n")
        (stand_ins / command).chmod(0o755)
    done = verify(UNITS / name, stand_ins)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), done


@pytest.mark.parametrize("name", SERVICES)
def test_the_unit_is_hardened(name: str) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(rf"Overall exposure level for {re.escape(name)}: ([\d.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout


def test_sysusers_makes_the_bgpd_user(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()  # it writes passwd and group there, it does not make /etc
    done = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(UNITS / "bgpd.sysusers.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (user,) = [
        line.split(":")
        for line in (tmp_path / "etc/passwd").read_text().splitlines()
        if line.startswith("bgpd:")
    ]
    (group,) = [
        line.split(":")
        for line in (tmp_path / "etc/group").read_text().splitlines()
        if line.startswith("bgpd:")
    ]
    assert int(user[2]) < 1000 and user[3] == group[2]  # a system user, in its own group
    assert user[5:] == ["/var/lib/bgpd", "/usr/sbin/nologin"]
    for name in SERVICES:
        assert unit(name)["User"] == unit(name)["Group"] == ["bgpd"]


# ------------------------------------------------------------------ commands and environment


def expand(command: str, env: dict[str, str]) -> list[str]:
    """A unit's command line as systemd splits it: `${X}` one word, `$X` split on spaces."""
    words: list[str] = []
    for word in command.split():
        if re.fullmatch(r"\$[A-Z_]+", word):
            words += env.get(word[1:], "").split()
        else:
            words.append(re.sub(r"\$\{([A-Z_]+)\}", lambda m: env.get(m.group(1), ""), word))
    return words


def unit_environment(lines: dict[str, list[str]]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in lines.get("Environment", []))


def default_file_settings(path: Path) -> list[dict[str, str]]:
    """The alternatives an /etc/default file shows (`#KEY=value` lines, one set per block)."""
    settings: list[dict[str, str]] = [{}]
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"#([A-Z_]+)=(.*)", line)
        if match:
            settings[-1][match.group(1)] = match.group(2)
        elif not line.strip():
            settings.append({})
    return [s for s in settings if s]


PARSERS = {"bgpd": bgpd_parser, "bgp-reflector": reflector_parser}


@pytest.mark.parametrize("name", SERVICES)
def test_the_commands_parse_with_every_documented_setting(name: str) -> None:
    lines = unit(name)
    default = "/etc/default/" + name.removesuffix(".service")
    assert lines["EnvironmentFile"] == [f"-{default}"]
    example = UNITS / f"{name.removesuffix('.service')}.default"
    variables = set(unit_environment(lines))
    for setting in [{}, *default_file_settings(example)]:
        env = {**unit_environment(lines), **setting}
        assert set(setting) <= variables | {"NODENAME", "ETCD_ENDPOINTS"}, setting
        for command in [*lines["ExecStart"], lines["ExecReload"][0]]:
            program, *args = expand(command, env)
            assert program.startswith("/usr/local/bin/")
            parsed = PARSERS[Path(program).name]().parse_args(args)
            assert parsed.config == env[next(v for v in variables if v.endswith("_CONFIG"))]
    assert lines["ExecReload"][1] == "/bin/kill -HUP $MAINPID"


# --------------------------------------------------------------- the daemons in their sandbox


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandbox:
    """A folder the unprivileged user can read, holding a venv with the installed wheel."""

    home: Path

    @property
    def venv_bin(self) -> Path:
        return self.home / "venv/bin"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    dist = build_dist(tmp_path_factory.getbasetemp())
    # pytest's temporary folders are root's alone (0700); the daemons run as another user.
    home = Path(tempfile.mkdtemp(prefix="bgpd-units-"))
    try:
        home.chmod(0o755)
        subprocess.run([DEBIAN_PYTHON, "-m", "venv", str(home / "venv")], check=True, timeout=120)
        subprocess.run(
            [str(home / "venv/bin/pip"), "install", "-q", str(dist.wheel)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        shutil.copy(Path(__file__).with_name("unit_sandbox.py"), home / "unit_sandbox.py")
        yield Sandbox(home=home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def syscall_groups() -> dict[str, list[str]]:
    """systemd's syscall groups as this systemd knows them (`systemd-analyze syscall-filter`)."""
    text = subprocess.run(
        ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def allowed_syscalls(filters: list[str]) -> list[str]:
    """SystemCallFilter= lines resolved as systemd does: the allow-list less the `~` lists."""
    groups = syscall_groups()

    def names(item: str) -> set[str]:
        if not item.startswith("@"):
            return {item}
        return set().union(*(names(member) for member in groups[item]))

    allowed: set[str] = set()
    for line in filters:
        deny = line.startswith("~")
        items = set().union(*(names(item) for item in line.removeprefix("~").split()))
        allowed = allowed - items if deny else allowed | items
    return sorted(allowed)


def sandboxed(
    service: str, sandbox: Sandbox, argv: list[str], caps: list[str] | None = None
) -> list[str]:
    """`argv` as `service` would run it: setpriv (user, capabilities, no_new_privs), then
    unit_sandbox.py (seccomp, umask). `caps` overrides the unit's capabilities."""
    lines = unit(service)
    ambient = lines["AmbientCapabilities"][0].split()
    assert lines["CapabilityBoundingSet"][0].split() == ambient
    assert lines["NoNewPrivileges"] == ["yes"]
    chosen = ambient if caps is None else caps
    names = ",".join(["-all", *(f"+{c.removeprefix('CAP_').lower()}" for c in chosen)])
    families = [getattr(socket, f) for f in lines["RestrictAddressFamilies"][0].split()]
    spec = {
        "syscalls": allowed_syscalls(lines["SystemCallFilter"]),
        "errno": getattr(errno, lines["SystemCallErrorNumber"][0]),
        "families": families,
        "deny_write_execute": lines["MemoryDenyWriteExecute"] == ["yes"],
        "umask": lines["UMask"][0],
    }
    spec_path = sandbox.home / f"{service}-{len(chosen)}.json"
    spec_path.write_text(json.dumps(spec))
    spec_path.chmod(0o644)
    return [
        "setpriv",
        f"--reuid={SANDBOX_UID}",
        f"--regid={SANDBOX_UID}",
        "--clear-groups",
        f"--inh-caps={names}",
        f"--ambient-caps={names}",
        f"--bounding-set={names}",
        "--no-new-privs",
        DEBIAN_PYTHON,
        str(sandbox.home / "unit_sandbox.py"),
        str(spec_path),
        "--",
        *argv,
    ]


def runtime_dir(parent: Path, service: str) -> Path:
    """What RuntimeDirectory= makes: the user's own folder, with RuntimeDirectoryMode=."""
    lines = unit(service)
    folder = parent / lines["RuntimeDirectory"][0].split()[0]
    folder.mkdir(mode=int(lines["RuntimeDirectoryMode"][0], 8))
    os.chown(folder, SANDBOX_UID, SANDBOX_UID)
    return folder


def state_dir(parent: Path, service: str) -> Path:
    """What StateDirectory= makes: the user's own folder, with StateDirectoryMode=."""
    lines = unit(service)
    folder = parent / lines["StateDirectory"][0].split()[0]
    folder.mkdir(mode=int(lines["StateDirectoryMode"][0], 8))
    os.chown(folder, SANDBOX_UID, SANDBOX_UID)
    return folder


def group_readable_config(path: Path, text: str) -> Path:
    """The config as the docs install it: root's, readable by the group bgpd, 0640."""
    path.write_text(text)
    os.chown(path, 0, SANDBOX_UID)
    path.chmod(0o640)
    return path


def bgpctl_json(sandbox: Sandbox, socket_path: Path, *args: str) -> object:
    done = subprocess.run(
        [str(sandbox.venv_bin / "bgpctl"), "-s", str(socket_path), "--json", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def bird_peer(router: LanHost, node: LanHost, asn: int, node_asn: int) -> BirdConfig:
    peer = BgpPeer(
        name="node",
        local_as=asn,
        neighbor_address=str(node.ipv4),
        neighbor_as=node_asn,
        local_address=str(router.ipv4),
        password=PASSWORD,
        ttl_security=True,
    )
    statics = (StaticRoute(prefix=BIRD_ROUTE),)
    return BirdConfig(router_id=str(router.ipv4), peers=(peer,), static_routes=statics)


def reflector_config(lan: Lan, socket_path: Path) -> str:
    node, router = lan.hosts
    return f"""
[bgp]
asn = 64512
cluster_id = "224.0.0.1"

[node]
name = "rr"
ipv4 = "{node.ipv4_cidr}"

[control]
socket = "{socket_path}"

[[static]]
prefix = "{REFLECTOR_ROUTE}"

[[peer]]
name = "bird"
address = "{router.ipv4}"
asn = 64512
rr_client = true
password = "{PASSWORD}"
ttl_security = 1
"""


def test_bgp_reflector_runs_with_only_what_its_unit_grants(
    sandbox: Sandbox,
    lan: Lan,
    bird_factory: BirdFactory,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    node, router = lan.hosts
    bird = bird_factory(bird_peer(router, node, 64512, 64512), netns=router.ns)
    run = runtime_dir(sandbox.home, "bgp-reflector.service")
    control = run / "bgp-reflector.ctl"
    # The profile's restart_state_file, /var/lib/bgp-reflector/..., in the sandbox's copy.
    lib = sandbox.home / "var-lib"  # beside the RuntimeDirectory= of the same name
    lib.mkdir()
    state = state_dir(lib, "bgp-reflector.service") / "restart-state.json"
    config = group_readable_config(
        sandbox.home / "bgp-reflector.toml",
        reflector_config(lan, control).replace(
            "[bgp]\n", f'[bgp]\nrestart_state_file = "{state}"\n', 1
        ),
    )
    command = [str(sandbox.venv_bin / "bgp-reflector"), "run", "-c", str(config)]

    # Without CAP_NET_BIND_SERVICE it cannot listen on 179, and says so.
    refused = node.ns.run(
        sandboxed("bgp-reflector.service", sandbox, command, caps=[]), check=False
    )
    assert refused.returncode == 1, refused
    assert "179" in refused.stderr and "Permission denied" in refused.stderr, refused.stderr

    reflector = node.ns.spawn(
        sandboxed("bgp-reflector.service", sandbox, command),
        name="bgp-reflector-sandboxed",
        log_dir=tmp_path,
    )
    request.node.stash.setdefault(DIAGNOSTICS, []).append(reflector.output)
    bird.wait_established("node", timeout=30)
    bird.wait_route(REFLECTOR_ROUTE, timeout=30)
    wait_until(
        lambda: any(
            r["peer"] == "bird" for r in bgpctl_json(sandbox, control, "show", "routes", BIRD_ROUTE)
        ),
        timeout=30,
        message=f"the sandboxed reflector learned {BIRD_ROUTE}",
        describe=reflector.output,
    )
    (peer,) = bgpctl_json(sandbox, control, "show", "peers")
    assert peer["state"] == "Established"
    assert control.stat().st_uid == SANDBOX_UID and control.stat().st_mode & 0o777 == 0o660
    # Its sessions are recorded in its state directory, readable (times only) despite UMask=.
    wait_until(
        state.exists, timeout=10, message="the restart state file", describe=reflector.output
    )
    assert state.stat().st_uid == SANDBOX_UID and state.stat().st_mode & 0o777 == 0o644
    assert reflector.stop(timeout=10) == 0, reflector.output()
    assert json.loads(state.read_text())["clean_stop"] is True


def test_bgpd_programs_the_kernel_with_only_what_its_unit_grants(
    sandbox: Sandbox,
    lan: Lan,
    bird_factory: BirdFactory,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    node, router = lan.hosts
    bird = bird_factory(bird_peer(router, node, 65001, 64512), netns=router.ns)
    run = runtime_dir(sandbox.home, "bgpd.service")
    control = run / "bgpd.ctl"
    text = f"""
[bgp]
asn = 64512
router_id = "{node.ipv4}"

[control]
socket = "{control}"

[kernel]
enabled = true

[[peer]]
name = "bird"
address = "{router.ipv4}"
asn = 65001
password = "{PASSWORD}"
ttl_security = 1
"""
    config = group_readable_config(sandbox.home / "bgpd.toml", text)
    command = [str(sandbox.venv_bin / "bgpd"), "run", "-c", str(config)]
    speaker = node.ns.spawn(
        sandboxed("bgpd.service", sandbox, command), name="bgpd-sandboxed", log_dir=tmp_path
    )
    request.node.stash.setdefault(DIAGNOSTICS, []).append(speaker.output)
    bird.wait_established("node", timeout=30)
    routes = wait_until(
        lambda: [r for r in node.ns.kernel_routes(4, protocol="12") if r["dst"] == BIRD_ROUTE],
        timeout=30,
        message=f"the sandboxed bgpd installed {BIRD_ROUTE} in the kernel",
        describe=speaker.output,
    )
    assert routes[0]["gateway"] == str(router.ipv4)
    assert speaker.stop(timeout=10) == 0, speaker.output()

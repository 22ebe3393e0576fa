"""bgpd's container image (`make image`, docs/image.md), run as a user would run it.

The image is built by scripts/build_image.py (its Debian base and PyPI dependencies come from
the cache after the first build), unpacked with umoci and run with runc, Debian's OCI runtime:
two nodes in two network namespaces joined by a veth, each a bgpd from the image as user 10179
with only the capabilities docs/image.md names, establish a session with TCP-MD5, exchange
their static prefixes (seen with the image's own bgpctl) and program them into each other's
kernel. The same runs through the chroot fallback the doc describes for machines where
containers cannot run. A probe from the image shows what each capability is needed for.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .oci_image import DOCUMENTED_CAPS, UID, ImageRoot, Mode, Node, build_image, runc_unusable
from .peers import Lan, LanHost, Namespace, wait_until

PREFIXES = {0: "10.77.1.0/24", 1: "10.77.2.0/24"}
PASSWORD = "image-test-md5"
CAP_BITS = {"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_SYS_CHROOT": 18}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageRoot]:
    out, where = tmp_path_factory.mktemp("image-out"), tmp_path_factory.mktemp("image")
    try:
        yield ImageRoot.unpack(build_image(out), where)
    finally:  # ~200 MB: the archive, its layout and the unpacked root
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def oci_mode(image: ImageRoot, tmp_path_factory: pytest.TempPathFactory) -> Mode:
    """runc where this machine runs containers; the chroot fallback (said on stderr) if not."""
    reason = runc_unusable(image, tmp_path_factory.mktemp("runc-probe"))
    if reason is not None:
        print(f"test_image: containers cannot run here ({reason}); using the chroot fallback")
        return "chroot"
    return "oci"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    started: list[Node] = []

    def start(image: ImageRoot, mode: Mode, ns: Namespace, name: str, **kw: Any) -> Node:
        node = Node(image, mode, ns, name, tmp_path, **kw)
        started.append(node)
        return node.start()

    yield start
    for node in reversed(started):
        node.stop()


def node_config(me: LanHost, other: LanHost) -> str:
    return f"""
[bgp]
asn = 64512
router_id = "{me.ipv4}"
listen = ["{me.ipv4}"]
graceful_restart = false

[kernel]
enabled = true

[[static]]
prefix = "{PREFIXES[me.index]}"

[[peer]]
name = "other"
address = "{other.ipv4}"
asn = 64512
local_address = "{me.ipv4}"
password = "{PASSWORD}"
"""


def test_image_config_names_version_user_entrypoint_and_command(image: ImageRoot) -> None:
    config = image.config()
    labels = config["config"]["Labels"]
    # one version source: the installed package's metadata (pyproject), not a second copy
    assert labels["org.opencontainers.image.version"] == importlib.metadata.version("bgpd")
    assert image.tag == importlib.metadata.version("bgpd")
    assert config["config"]["User"] == f"{UID}:{UID}"
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/bgpd"]
    assert config["config"]["Cmd"] == ["run", "-c", "/etc/bgpd/bgpd.toml"]
    root = image.rootfs
    assert "bgpd:x:10179:10179:" in (root / "etc/passwd").read_text()
    # no package manager, pip or shell in the image; the speaker's Python and `ip` are
    for absent in ("usr/bin/dpkg", "usr/bin/apt", "bin/sh", "bin/bash", "usr/bin/pip3"):
        assert not (root / absent).exists(), absent
    assert not list((root / "usr/local/lib/python3.11/dist-packages").glob("pip*"))
    assert (root / "bin/ip").exists()
    assert "Package: libpython3.11-stdlib" in (root / "var/lib/dpkg/status").read_text()


@pytest.mark.parametrize("requested", ["oci", "chroot"])
def test_two_nodes_from_the_image_exchange_routes_into_the_kernel(
    requested: Mode,
    image: ImageRoot,
    oci_mode: Mode,
    lan_factory: Callable[..., Lan],
    nodes: Callable[..., Node],
) -> None:
    mode: Mode = oci_mode if requested == "oci" else "chroot"
    lan = lan_factory(2)
    a, b = lan.hosts
    node_a = nodes(image, mode, a.ns, "a", config=node_config(a, b))
    node_b = nodes(image, mode, b.ns, "b", config=node_config(b, a))
    for node in (node_a, node_b):
        node.wait_answering()

    for node, host, other in ((node_a, a, b), (node_b, b, a)):
        wait_learned_and_installed(node, host, other)
    whoami = node_a.exec("/usr/bin/python3", "-c", "import os; print(os.getuid(), os.getgid())")
    assert whoami.stdout.split() == [str(UID), str(UID)], whoami  # bgpctl ran as the user too
    peers = node_a.bgpctl("show", "peers")
    assert [p["state"] for p in peers] == ["Established"]

    # The speaker runs as the image's user with the documented capabilities, nothing more
    # (the fallback also keeps CAP_SYS_CHROOT, which chroot itself needs).
    status = node_a.status()
    assert status["Uid"].split() == [str(UID)] * 4
    effective = int(status["CapEff"], 16)
    wanted = {CAP_BITS[c] for c in DOCUMENTED_CAPS}
    if mode == "chroot":
        wanted.add(CAP_BITS["CAP_SYS_CHROOT"])
    assert {bit for bit in range(64) if effective >> bit & 1} == wanted


def wait_learned_and_installed(node: Node, host: LanHost, other: LanHost) -> None:
    """`node` learns the other's prefix (its bgpctl says so) and installs it in its kernel."""
    prefix = PREFIXES[other.index]

    def learned() -> dict[str, Any] | None:
        routes = node.bgpctl("show", "routes")
        return next((r for r in routes if r["prefix"] == prefix and r["peer"] != "static"), None)

    def installed() -> bool:
        routes = host.ns.kernel_routes(4, protocol="12")
        return any(r["dst"] == prefix and r.get("gateway") == str(other.ipv4) for r in routes)

    route = wait_until(learned, 60, 0.3, f"{node.name} learns {prefix}", describe=node.output)
    assert route is not None and route["next_hop"] == str(other.ipv4)
    wait_until(
        installed,
        30,
        message=f"{prefix} via {other.ipv4} in {node.name}'s kernel",
        describe=lambda: host.ns.ip("route"),
    )


PROBE = """
import errno, json, socket, subprocess
from bgpd.runtime.sockopts import set_md5_key

def attempt(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"

out = {}
out["bind_179"] = attempt(lambda: socket.socket().bind(("0.0.0.0", 179)))
out["tcp_md5sig"] = attempt(lambda: set_md5_key(socket.socket(), "192.0.2.1", "secret"))
done = subprocess.run(["/bin/ip", "route", "add", "198.51.100.0/24", "dev", "lo"],
                      capture_output=True, text=True)
out["route_add"] = "ok" if done.returncode == 0 else done.stderr.strip()
print(json.dumps(out))
"""


NOTHING = {"bind_179": "EACCES", "tcp_md5sig": "ok", "route_add": "EPERM"}


@pytest.mark.parametrize(
    ("caps", "port_start", "expected"),
    [
        ((), None, NOTHING),
        (("CAP_NET_BIND_SERVICE",), None, {**NOTHING, "bind_179": "ok"}),
        (("CAP_NET_ADMIN",), None, {**NOTHING, "route_add": "ok"}),
        # Kubernetes' safe sysctl: port 179 with no capability at all (pod network)
        ((), 179, {**NOTHING, "bind_179": "ok"}),
    ],
)
def test_what_each_capability_is_needed_for(
    caps: tuple[str, ...],
    port_start: int | None,
    expected: dict[str, str],
    image: ImageRoot,
    oci_mode: Mode,
    netns_factory: Callable[..., Namespace],
    nodes: Callable[..., Node],
) -> None:
    ns = netns_factory()
    if port_start is not None:
        ns.sysctl({"net.ipv4.ip_unprivileged_port_start": str(port_start)})
    probe = nodes(
        image, oci_mode, ns, "probe", config="", caps=caps, args=["/usr/bin/python3", "-c", PROBE]
    )
    assert probe.proc is not None
    assert probe.proc.wait(60) == 0, probe.output()
    result = json.loads(probe.proc.stdout_path.read_text().strip().splitlines()[-1])
    if result["route_add"] != "ok":
        assert "Operation not permitted" in result["route_add"], result
        result["route_add"] = "EPERM"
    assert result == expected

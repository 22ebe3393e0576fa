"""What the demos print at the end: the operator's three views of a running bgpd.

Role: run `bgpctl`, a BIRD client against bgpd's BIRD-compatible socket (what calicoctl,
calico-node's probes and bird_exporter talk to), and fetch `/metrics` and `/readyz`, so the
demos show each the way an operator would type it.

Invariants:
- The BIRD client is a real BIRD binary when one is installed: BIRD 2's `birdcl`, else BIRD
  1.6's `birdc` (`make deps` unpacks it under `.deps/bird1`; Debian 12 no longer packages
  BIRD 1.6). Only when neither exists does a few-line client of the same protocol stand in,
  and the header says so.
- Nothing here waits without a deadline.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "DEADLINE_S",
    "bgpctl",
    "bird_client",
    "birdcl_show_protocols",
    "established",
    "metrics_excerpt",
    "wait_for",
]

DEADLINE_S = 60.0
REPO = Path(__file__).resolve().parents[2]
BIRD1_BIRDC = REPO / ".deps" / "bird1" / "usr" / "sbin" / "birdc"
# The series worth a glance after a demo: sessions, prefixes, the table, readiness inputs.
METRICS_SHOWN = (
    "bgpd_peer_up",
    "bgpd_peer_prefixes_received",
    "bgpd_peer_prefixes_advertised",
    "bgpd_rib_prefixes",
    "bgpd_kernel_routes_installed",
)


def wait_for(what: str, check: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    """Polls `check` until it holds; exits the demo with a message at the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"demo: timed out after {deadline_s:.0f} s waiting for {what}")


def bgpctl(socket_path: str | Path, *args: str) -> str:
    """`bgpctl -s SOCKET ARGS...`: its stdout (stderr too when it failed)."""
    cmd = [sys.executable, "-m", "bgpd.control.bgpctl", "-s", str(socket_path), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return result.stdout if result.returncode == 0 else result.stdout + result.stderr


def established(socket_path: str | Path, peers: int) -> bool:
    """Whether bgpd on this socket has `peers` peers, all Established."""
    out = bgpctl(socket_path, "--json", "show", "peers")
    try:
        data = json.loads(out or "null")
    except ValueError:
        return False
    # Before the daemon listens, bgpctl --json answers {"error": ...}.
    if not isinstance(data, list) or len(data) != peers:
        return False
    return all(isinstance(p, dict) and p.get("state") == "Established" for p in data)


def bird_client() -> list[str] | None:
    """The BIRD client command to use, or None when no BIRD binary is installed."""
    birdcl = shutil.which("birdcl") or shutil.which("birdcl", path="/usr/sbin:/sbin")
    if birdcl:
        return [birdcl]
    if BIRD1_BIRDC.is_file():
        return [str(BIRD1_BIRDC)]
    return None


def _bird_protocol(path: str, command: str) -> str:
    """The BIRD 1.x CLI protocol by hand: greeting, one command, lines until a final code."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(path)
        reader = sock.makefile("r", encoding="utf-8", newline="\n")
        lines = [reader.readline().rstrip("\n")]  # 0001 BIRD ... ready.
        sock.sendall(command.encode() + b"\n")
        while True:
            line = reader.readline()
            if not line:
                break
            line = line.rstrip("\n")
            lines.append(line)
            # A reply ends with a line of four digits and a space: 0000 or an error code.
            if len(line) >= 5 and line[:4].isdigit() and line[4] == " " and line[0] in "089":
                break
    return "\n".join(lines)


def birdcl_show_protocols(path: str | Path) -> tuple[str, str]:
    """(the command line shown, its output) for `show protocols` on a BIRD-compatible socket."""
    client = bird_client()
    if client is None:
        out = _bird_protocol(str(path), "show protocols")
        return f"(no birdcl installed: the BIRD protocol by hand) show protocols on {path}", out
    cmd = [*client, "-s", str(path), "show", "protocols"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
    return " ".join(cmd), (result.stdout + result.stderr).rstrip()


def fetch(url: str, prefix: Sequence[str] = ()) -> str:
    """GET `url` (optionally through `ip netns exec NS`: prefix), the body as text, also
    for an error status (/readyz answers 503 with its reason)."""
    if prefix:
        code = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n"
            "    body = urllib.request.urlopen(sys.argv[1], timeout=5).read()\n"
            "except urllib.error.HTTPError as exc:\n"
            "    body = exc.read()\n"
            "sys.stdout.write(body.decode())\n"
        )
        cmd = [*prefix, sys.executable, "-c", code, url]
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())
    except OSError as exc:
        return f"cannot fetch {url}: {exc}"


def metrics_excerpt(base_url: str, prefix: Sequence[str] = ()) -> str:
    """A few lines of `/metrics` (see METRICS_SHOWN) and the `/readyz` answer."""
    text = fetch(f"{base_url}/metrics", prefix)
    lines = [
        line
        for line in text.splitlines()
        if line.partition("{")[0].partition(" ")[0] in METRICS_SHOWN
    ]
    ready = fetch(f"{base_url}/readyz", prefix).strip()
    return "\n".join([*lines, f"# GET {base_url}/readyz -> {ready}"])

"""Our own speaker as a real process for integration tests: config in, bgpctl JSON out.

`BgpdProcess` writes a TOML config into a temp dir, runs `python -m bgpd run -c` (inside a
namespace when given one), and reads its state through the control socket exactly as an
operator would, with bgpctl's client. Every wait polls with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgpd.control.bgpctl import UnreachableError, call
from bgpd.control.protocol import Request

from .peers.fixtures import DIAGNOSTICS
from .peers.netns import Lan, Namespace, Process, spawn
from .peers.poll import wait_until

REPO = Path(__file__).resolve().parents[2]


class BgpdProcess:
    """One bgpd speaker process; `stop()` (SIGTERM) or `kill()` (SIGKILL) by PID."""

    def __init__(
        self,
        name: str,
        config: str,
        workdir: Path,
        netns: Namespace | None = None,
    ) -> None:
        self.name = name
        self.workdir = workdir
        self.socket = str(workdir / f"{name}.ctl")
        self.config_path = workdir / f"{name}.toml"
        self.netns = netns
        self.write_config(config)
        self.proc: Process | None = None

    def write_config(self, config: str) -> None:
        text = config.replace("@SOCKET@", self.socket)
        if "[calico]" in text and "bird_socket" not in text:
            # Calico mode would open the BIRD-compatible sockets at the host's
            # /var/run/calico/bird*.ctl: every test speaker gets its own in its work dir.
            text = text.replace(
                f'socket = "{self.socket}"',
                f'socket = "{self.socket}"\n'
                f'bird_socket = "{self.workdir / (self.name + "-bird.ctl")}"\n'
                f'bird6_socket = "{self.workdir / (self.name + "-bird6.ctl")}"',
                1,
            )
        self.config_path.write_text(text)

    def start(self) -> BgpdProcess:
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(self.config_path)]
        if self.netns is not None:
            self.proc = self.netns.spawn(argv, name=self.name, log_dir=self.workdir, cwd=REPO)
        else:
            self.proc = spawn(argv, name=self.name, log_dir=self.workdir, cwd=REPO)
        wait_until(
            self._alive_and_answering,
            timeout=20,
            message=f"{self.name} control socket",
            describe=self.output,
        )
        return self

    def _alive_and_answering(self) -> bool:
        assert self.proc is not None
        if not self.proc.running:
            raise AssertionError(f"{self.name} exited early:\n{self.output()}")
        try:
            return bool(call(self.socket, Request(command="show peers"), timeout=2).get("ok"))
        except UnreachableError:
            return False

    def output(self) -> str:
        return self.proc.output() if self.proc else "<not started>"

    def ctl(self, command: str, **args: Any) -> Any:
        reply = call(self.socket, Request(command=command, args=args))
        if not reply.get("ok"):
            raise RuntimeError(f"{self.name}: {command}: {reply.get('error')}")
        return reply["data"]

    def peers(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.ctl("show peers")}

    def state(self, peer: str) -> str:
        return str(self.peers()[peer]["state"])

    def routes(self, prefix: str | None = None, peer: str | None = None) -> list[dict[str, Any]]:
        return list(self.ctl("show routes", prefix=prefix, peer=peer))

    def learned(self, prefix: str) -> dict[str, Any] | None:
        """The route for `prefix` learned from a peer (not our own static), if any."""
        return next((r for r in self.routes(prefix) if r["peer"] != "static"), None)

    def wait_established(self, peer: str, timeout: float = 30) -> None:
        wait_until(
            lambda: self.state(peer) == "Established",
            timeout=timeout,
            message=f"{self.name}: {peer} Established",
            retry_on=(UnreachableError, KeyError),
            describe=self.output,
        )

    def wait_route(self, prefix: str, timeout: float = 30) -> dict[str, Any]:
        route = wait_until(
            lambda: self.learned(prefix),
            timeout=timeout,
            message=f"{self.name}: route {prefix}",
            describe=lambda: f"{self.routes()}\n{self.output()}",
        )
        assert route is not None
        return route

    def wait_no_route(self, prefix: str, timeout: float = 30) -> None:
        wait_until(
            lambda: self.learned(prefix) is None,
            timeout=timeout,
            message=f"{self.name}: no route {prefix}",
        )

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10) -> int:
        assert self.proc is not None
        return self.proc.stop(timeout)

    def children(self) -> list[int]:
        """The PIDs of the daemon's child processes (its BFD process)."""
        assert self.proc is not None
        pid = self.proc.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(child) for child in text.split()]

    def freeze(self) -> None:
        """SIGSTOP to the whole speaker: the daemon and its BFD process (the daemon leads its
        own process group)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze` (also harmless when not frozen, or gone)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> int:
        assert self.proc is not None
        return self.proc.kill()


class BgpdFactory:
    """``bgpd_factory(where, config, host=0, name="bgpd")``: a started `BgpdProcess`.

    `where` is a LAN (the speaker runs on its host number `host`), a namespace, or None (the
    host's own network, for loopback-only tests).

    Every speaker it made is stopped at teardown, and its log is attached to the report of a
    failing test (through the same diagnostics hook as the peer daemons).
    """

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self._request = request
        self._workdir = workdir
        self.made: list[BgpdProcess] = []

    def __call__(
        self, where: Lan | Namespace | None, config: str, host: int = 0, name: str = "bgpd"
    ) -> BgpdProcess:
        netns = where[host].ns if isinstance(where, Lan) else where
        proc = BgpdProcess(f"{name}{len(self.made)}", config, self._workdir, netns)
        self.made.append(proc)
        self._request.node.stash.setdefault(DIAGNOSTICS, []).append(proc.output)
        return proc.start()

    def close(self) -> None:
        for proc in self.made:
            if proc.proc is not None:
                proc.stop()


@pytest.fixture
def bgpd_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BgpdFactory]:
    factory = BgpdFactory(request, tmp_path)
    yield factory
    factory.close()

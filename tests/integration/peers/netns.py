"""Network namespaces, veth links, bridged LANs and background processes for integration tests.

Everything here talks to the real kernel through iproute2 (`ip`), so tests exercise what a user
meets. Resources are owned by objects that are context managers:

- `Process`: a background process (optionally inside a namespace) with stdout/stderr captured to
  files; `stop()` sends SIGTERM, then SIGKILL after a deadline, always by PID.
- `Namespace`: a uniquely named namespace (``bgpdt-<pid>-<hex>``) with ``lo`` up and IPv6 DAD
  disabled, so addresses are usable as soon as they are added; it can run commands, spawn
  processes, and is deleted (after stopping the processes it spawned) on `close()`.
- `Lan`: N host namespaces on one IPv4 and one IPv6 subnet, joined by a direct veth pair (two
  hosts) or by a bridge living in its own namespace.

Invariants:
- Names are unique per process and random per run (no module-level counter): parallel runs and
  pytest-xdist workers never clash. Interface names are chosen inside the namespaces
  (``ip link add ... netns``), so nothing is ever created in the host namespace.
- Cleanup is idempotent and runs in ``__exit__`` (also when the body raised) and, as a fallback,
  at interpreter exit through `atexit` (each live object registers itself and unregisters on
  close, so no global registry is kept).
- Only processes started through this module are ever signalled, and only by PID.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from .poll import wait_until

__all__ = [
    "CommandError",
    "Lan",
    "LanHost",
    "Namespace",
    "Process",
    "remove_stale_namespaces",
    "run",
    "spawn",
    "veth",
]

logger = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
DEFAULT_PREFIX = "bgpdt"
_CLONE_NEWNET = 0x40000000
_IFNAMSIZ = 15  # usable characters in a Linux interface name


class CommandError(RuntimeError):
    """A command exited non-zero; the message carries its argv, exit code, stdout and stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"command {' '.join(self.argv)!r} exited {returncode}\n"
            f"stdout: {stdout.strip()[-2000:]}\nstderr: {stderr.strip()[-2000:]}"
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 30.0,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion and capture its output as text.

    Raises `CommandError` on a non-zero exit when ``check`` is true (the default).
    """
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=None if env is None else dict(env),
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr)
    return proc


class Process:
    """A background process whose stdout/stderr go to files in ``log_dir``.

    Create it with `spawn` or `Namespace.spawn`. `stop()` is idempotent: SIGTERM (plus SIGCONT,
    so a frozen process can act on it), then SIGKILL once ``timeout`` has passed. The log files
    are opened in append mode, so a restarted daemon keeps its earlier output for diagnostics.
    """

    __slots__ = ("_popen", "argv", "name", "netns", "stderr_path", "stdout_path")

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        log_dir: Path,
        netns: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.netns = netns
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        # `ip netns exec` setns()es and then execvp()s, so the PID we hold is the program's own.
        full = ["ip", "netns", "exec", netns, *self.argv] if netns else self.argv
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self._popen = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=None if env is None else dict(env),
                cwd=cwd,
                # Own session: a Ctrl-C in the terminal reaches pytest, which then cleans up.
                start_new_session=True,
            )
        atexit.register(self._stop_at_exit)
        logger.debug("process.started name=%s pid=%d netns=%s", name, self.pid, netns)

    @property
    def pid(self) -> int:
        """The PID of the program itself (not of a wrapper)."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while running (negative: killed by that signal)."""
        return self._popen.poll()

    @property
    def running(self) -> bool:
        """True while the process has not exited (a SIGSTOPped process is still running)."""
        return self._popen.poll() is None

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to this process if it is still running."""
        if self._popen.poll() is None:
            self._popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; raises subprocess.TimeoutExpired after ``timeout``."""
        return self._popen.wait(timeout)

    def stop(self, timeout: float = 5.0) -> int:
        """Terminate (SIGTERM, then SIGKILL after ``timeout`` s) and reap; returns the status."""
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            self._popen.send_signal(signal.SIGCONT)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "process.kill name=%s pid=%d reason=sigterm-timeout", self.name, self.pid
                )
                self._popen.kill()
                self._popen.wait(timeout)
        atexit.unregister(self._stop_at_exit)
        return self._popen.returncode

    def kill(self) -> int:
        """SIGKILL at once (no clean shutdown, e.g. to test graceful restart) and reap."""
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait(10.0)
        atexit.unregister(self._stop_at_exit)
        return self._popen.returncode

    def output(self, limit: int = 6000) -> str:
        """The last ``limit`` characters of stdout and of stderr, labelled, for diagnostics."""
        parts = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            try:
                text = path.read_text(errors="replace")
            except OSError as exc:
                text = f"<unreadable: {exc}>"
            parts.append(f"[{self.name} {label}, pid {self.pid}]\n{text[-limit:]}")
        return "\n".join(parts)

    def _stop_at_exit(self) -> None:
        self.stop(timeout=2.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Process(name={self.name!r}, pid={self.pid}, netns={self.netns!r})"


def spawn(
    argv: Sequence[str],
    *,
    name: str,
    log_dir: Path,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Process:
    """Start ``argv`` in the background (inside namespace ``netns`` if given)."""
    return Process(argv, name=name, log_dir=log_dir, netns=netns, env=env, cwd=cwd)


def _libc_setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class Namespace:
    """A network namespace named ``<prefix>-<pid>-<hex>``, deleted on `close()`.

    On creation ``lo`` is brought up and IPv6 DAD is disabled (``accept_dad=0`` for ``all`` and
    ``default``), so addresses added later are usable at once. With ``forwarding=True`` the
    namespace routes IPv4 and IPv6 between its interfaces.
    """

    __slots__ = ("_closed", "_processes", "name")

    def __init__(self, prefix: str = DEFAULT_PREFIX, *, forwarding: bool = False) -> None:
        self.name = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
        self._processes: list[Process] = []
        self._closed = False
        run(["ip", "netns", "add", self.name])
        atexit.register(self.close)
        try:
            self.ip("link", "set", "lo", "up")
            fwd = "1" if forwarding else "0"
            self.sysctl(
                {
                    "net.ipv6.conf.all.accept_dad": "0",
                    "net.ipv6.conf.default.accept_dad": "0",
                    "net.ipv4.ip_forward": fwd,
                    "net.ipv6.conf.all.forwarding": fwd,
                }
            )
        except BaseException:
            self.close()
            raise
        logger.debug("netns.created name=%s", self.name)

    # -- running things inside -------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace (``ip netns exec``) and capture its output."""
        return run(
            ["ip", "netns", "exec", self.name, *argv], check=check, timeout=timeout, input=input
        )

    def ip(self, *args: str) -> str:
        """Run ``ip -n <ns> <args>`` and return stdout (raises `CommandError` on failure)."""
        return run(["ip", "-n", self.name, *args]).stdout

    def ip_batch(self, commands: Sequence[str]) -> None:
        """Run several ``ip`` commands (one per line, without the leading ``ip``) in one exec."""
        if commands:
            run(["ip", "-n", self.name, "-batch", "-"], input="\n".join(commands) + "\n")

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        """Run ``ip -j -n <ns> <args>`` and return the decoded JSON list."""
        out = run(["ip", "-j", "-n", self.name, *args]).stdout.strip()
        data = json.loads(out) if out else []
        return data if isinstance(data, list) else [data]

    def sysctl(self, values: Mapping[str, str]) -> None:
        """Set sysctls (e.g. ``{"net.ipv4.ip_forward": "1"}``) inside the namespace."""
        if values:
            self.run(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())])

    def spawn(
        self,
        argv: Sequence[str],
        *,
        name: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        """Start ``argv`` in the background inside the namespace; `close()` stops it."""
        proc = spawn(argv, name=name, log_dir=log_dir, netns=self.name, env=env, cwd=cwd)
        self._processes.append(proc)
        return proc

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Switch the *calling thread* into the namespace for the duration of the block.

        Sockets created inside the block stay in the namespace after it ends, which lets an
        in-process server (e.g. an asyncio speaker) listen or connect from inside a namespace.
        Everything the thread does in the block happens in the namespace, including other
        coroutines that run while the block awaits: create the sockets, then leave.
        """
        with (
            Path("/proc/thread-self/ns/net").open("rb") as home,
            (NETNS_DIR / self.name).open("rb") as target,
        ):
            _libc_setns(target.fileno())
            try:
                yield
            finally:
                _libc_setns(home.fileno())

    # -- addresses and inspection ----------------------------------------------------------

    def add_address(self, ifname: str, cidr: str) -> None:
        """Add ``cidr`` (e.g. ``10.99.0.1/24``, ``fd00::1/64``) to ``ifname``, DAD skipped."""
        extra = ["nodad"] if ipaddress.ip_interface(cidr).version == 6 else []
        self.ip("addr", "add", cidr, "dev", ifname, *extra)

    def set_up(self, ifname: str) -> None:
        """Bring ``ifname`` up."""
        self.ip("link", "set", ifname, "up")

    def wait_ipv6_ready(self, ifname: str, timeout: float = 5.0) -> None:
        """Wait until IPv6 on ``ifname`` is fully up: link-local address and multicast route.

        ``nodad`` makes global addresses usable at once, but for the first ~50 ms after a link
        comes up the kernel has no ``ff00::/8`` route on it and drops neighbour solicitations;
        the peer then retries only after a second, which delays the first TCP connect by 1-2 s.
        """

        def ready() -> bool:
            routes = self.ip("-6", "route", "show", "table", "local", "dev", ifname)
            return "multicast ff00::/8" in routes and "local fe80::" in routes

        wait_until(ready, timeout, 0.01, f"IPv6 ready on {self.name}/{ifname}")

    def kernel_routes(
        self, family: Literal[4, 6] = 4, *, table: str = "main", protocol: str | None = None
    ) -> list[dict[str, Any]]:
        """The kernel routes of ``table`` as ``ip -j route`` dicts, optionally of one protocol.

        ``protocol`` is a name or number as ``ip route ... proto`` takes it (e.g. ``"12"``,
        ``"bird"``); the dicts have keys like ``dst``, ``gateway``, ``dev``, ``protocol``.
        """
        args = [f"-{family}", "route", "show", "table", table]
        if protocol is not None:
            args += ["proto", protocol]
        return self.ip_json(*args)

    def pids(self) -> list[int]:
        """PIDs of all processes currently inside the namespace (``ip netns pids``)."""
        out = run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(tok) for tok in out.split()]

    @property
    def exists(self) -> bool:
        """True while the namespace name is registered (``/run/netns/<name>``)."""
        return (NETNS_DIR / self.name).exists()

    @property
    def processes(self) -> tuple[Process, ...]:
        """Processes started with `spawn` on this namespace (running or not)."""
        return tuple(self._processes)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the processes spawned here (newest first), then delete the namespace."""
        if self._closed:
            return
        self._closed = True
        try:
            for proc in reversed(self._processes):
                proc.stop()
        finally:
            left = [pid for pid in self.pids() if pid not in {p.pid for p in self._processes}]
            if left:
                # Not ours to kill (started by something else): report, do not signal.
                logger.warning("netns.foreign_pids name=%s pids=%s", self.name, left)
            run(["ip", "netns", "del", self.name], check=False)
            atexit.unregister(self.close)
            logger.debug("netns.deleted name=%s", self.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"


def _check_ifname(name: str) -> None:
    if not 0 < len(name) <= _IFNAMSIZ or "/" in name or name.strip() != name:
        raise ValueError(f"bad interface name {name!r} (1..{_IFNAMSIZ} chars, no '/' or space)")


def veth(
    a: Namespace,
    b: Namespace,
    *,
    a_ifname: str = "eth0",
    b_ifname: str = "eth0",
    a_addresses: Sequence[str] = (),
    b_addresses: Sequence[str] = (),
) -> None:
    """Join ``a`` and ``b`` with a veth pair, add the given CIDR addresses, bring both ends up.

    Returns once IPv6 is usable on both ends (see `Namespace.wait_ipv6_ready`). The pair is
    created directly inside the namespaces, so the names only need to be unique within each
    namespace. It disappears when either namespace is deleted.
    """
    _check_ifname(a_ifname)
    _check_ifname(b_ifname)
    a.ip("link", "add", a_ifname, "type", "veth", "peer", "name", b_ifname, "netns", b.name)
    for ns, ifname, addrs in ((a, a_ifname, a_addresses), (b, b_ifname, b_addresses)):
        ns.ip_batch([_addr_cmd(ifname, cidr) for cidr in addrs] + [f"link set {ifname} up"])
    a.wait_ipv6_ready(a_ifname)
    b.wait_ipv6_ready(b_ifname)


def _addr_cmd(ifname: str, cidr: str) -> str:
    nodad = " nodad" if ipaddress.ip_interface(cidr).version == 6 else ""
    return f"addr add {cidr} dev {ifname}{nodad}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LanHost:
    """One host of a `Lan`: its namespace, interface and addresses on both families."""

    index: int
    ns: Namespace
    ifname: str
    ipv4: ipaddress.IPv4Address
    ipv6: ipaddress.IPv6Address
    ipv4_network: ipaddress.IPv4Network
    ipv6_network: ipaddress.IPv6Network

    @property
    def ipv4_cidr(self) -> str:
        """``ipv4`` with the LAN prefix length, e.g. ``10.99.0.1/24``."""
        return f"{self.ipv4}/{self.ipv4_network.prefixlen}"

    @property
    def ipv6_cidr(self) -> str:
        """``ipv6`` with the LAN prefix length, e.g. ``fd00:99::1/64``."""
        return f"{self.ipv6}/{self.ipv6_network.prefixlen}"


class Lan:
    """``n_hosts`` namespaces on one L2 segment with an IPv4 and an IPv6 address each.

    Host ``i`` (0-based) gets the ``i+1``-th address of each subnet (``10.99.0.1``,
    ``fd00:99::1``, ...) on interface ``ifname``. Two hosts are joined by a direct veth pair
    unless ``bridge=True``; more hosts hang off a Linux bridge (STP and multicast snooping off,
    so ports forward at once) that lives in its own namespace, ``lan.bridge``.
    Use as a context manager, or call `close()`; a failure half-way cleans up what exists.
    """

    __slots__ = ("_closed", "bridge", "hosts")

    def __init__(
        self,
        n_hosts: int,
        *,
        subnet_v4: str = "10.99.0.0/24",
        subnet_v6: str = "fd00:99::/64",
        ifname: str = "eth0",
        bridge: bool | None = None,
        forwarding: bool = False,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        net4 = ipaddress.IPv4Network(subnet_v4)
        net6 = ipaddress.IPv6Network(subnet_v6)
        if n_hosts < 1 or n_hosts > min(net4.num_addresses - 2, 4096):
            raise ValueError(f"n_hosts={n_hosts} does not fit {subnet_v4}")
        _check_ifname(ifname)
        use_bridge = n_hosts != 2 if bridge is None else bridge
        self._closed = False
        self.bridge: Namespace | None = None
        namespaces: list[Namespace] = []
        self.hosts: tuple[LanHost, ...] = ()
        try:
            for _ in range(n_hosts):
                namespaces.append(Namespace(prefix, forwarding=forwarding))
            hosts = tuple(
                LanHost(
                    index=i,
                    ns=ns,
                    ifname=ifname,
                    ipv4=net4[i + 1],
                    ipv6=net6[i + 1],
                    ipv4_network=net4,
                    ipv6_network=net6,
                )
                for i, ns in enumerate(namespaces)
            )
            self.hosts = hosts
            if use_bridge:
                self.bridge = Namespace(prefix)
                self._build_bridged(self.bridge, hosts)
            else:
                a, b = hosts
                veth(
                    a.ns,
                    b.ns,
                    a_ifname=ifname,
                    b_ifname=ifname,
                    a_addresses=[a.ipv4_cidr, a.ipv6_cidr],
                    b_addresses=[b.ipv4_cidr, b.ipv6_cidr],
                )
        except BaseException:
            for ns in namespaces:
                ns.close()
            if self.bridge is not None:
                self.bridge.close()
            raise

    @staticmethod
    def _build_bridged(br: Namespace, hosts: Sequence[LanHost]) -> None:
        # The bridge namespace carries frames only: no IPv6 of its own (no DAD/MLD chatter).
        br.sysctl(
            {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
        )
        br.ip_batch(["link add br0 type bridge stp_state 0 mcast_snooping 0", "link set br0 up"])
        for h in hosts:
            port = f"p{h.index}"
            h.ns.ip("link", "add", h.ifname, "type", "veth", "peer", "name", port, "netns", br.name)
            h.ns.ip_batch(
                [
                    _addr_cmd(h.ifname, h.ipv4_cidr),
                    _addr_cmd(h.ifname, h.ipv6_cidr),
                    f"link set {h.ifname} up",
                ]
            )
        br.ip_batch([f"link set p{h.index} master br0 up" for h in hosts])
        for h in hosts:
            h.ns.wait_ipv6_ready(h.ifname)

    @property
    def namespaces(self) -> tuple[Namespace, ...]:
        """Every namespace of the LAN (hosts, then the bridge if any)."""
        extra = (self.bridge,) if self.bridge is not None else ()
        return tuple(h.ns for h in self.hosts) + extra

    def close(self) -> None:
        """Delete every namespace of the LAN (stopping processes spawned in them)."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        for ns in self.namespaces:
            try:
                ns.close()
            except Exception as exc:  # keep deleting the others, report afterwards
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __getitem__(self, index: int) -> LanHost:
        return self.hosts[index]

    def __len__(self) -> int:
        return len(self.hosts)


def remove_stale_namespaces(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Delete ``<prefix>-<pid>-<hex>`` namespaces whose creating process no longer exists.

    A killed test run cannot clean up; the next run calls this once. Only namespace names are
    removed; no process is signalled. Returns the names deleted.
    """
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)-[0-9a-f]+")
    removed = []
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or Path(f"/proc/{m[1]}").exists():
            continue
        if run(["ip", "netns", "del", name], check=False).returncode == 0:
            removed.append(name)
    return removed

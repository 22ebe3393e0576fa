"""Calico-shaped ingest: a node with two route reflectors, a cluster's routes into the kernel.

What is measured (issue 18, point 4): one calico-node's BGP daemon (the node under test,
"the node") peers with two route reflectors that both send it the routes of N other nodes
(5,000 by default): each node's 4 IPAM blocks (/26) and 20 borrowed workload addresses (/32),
120,000 prefixes, two paths each. The time from the sessions coming up until every one of them
is a route in the node's kernel table, the node's CPU time, its peak RSS and the RSS it holds
once settled; then what one reflector going away costs (the other path takes over) and what
both going away cost (everything is removed from the kernel).

Topology (two network namespaces, one veth pair; no traffic outside them)::

    node  eth0 172.31.0.1/16 --- eth0 172.31.250.1/16, 172.31.250.2/16  reflectors

The other nodes' addresses (the routes' next hops, `bench.rr_clients.client_address`:
172.31.1.1 ...) are inside the node's connected /16, so the kernel takes ``via <node>`` routes
without any neighbour entry (no packet is sent).

- **The node**: bgpd (``python -m bgpd run``, this tree) configured as confd renders it for a
  calico-node whose BGPPeers are two reflectors: ``[node]``, no mesh, ``[calico]`` with an
  unencapsulated pool for the blocks (``10.0.0.0/8``) and one for the borrowed addresses
  (``100.64.0.0/10``), this node's own block, ``[kernel]`` on (the default with ``[calico]``),
  route priorities on (``compat`` 3.33: the LOCAL_PREF the nodes send becomes metric 1024).
  bgpd programs each route as ``<prefix> via <node> proto bird metric 1024``. The two peers
  are ``passive`` so that the benchmark decides when the sessions start. ``--dut bird2`` runs
  BIRD 2 as calico-node's BIRD would be configured (``bird.cfg``: kernel protocol with
  ``learn``, ``persist``, ``scan time 2``, ``merge paths on``, ``graceful restart``; device and
  direct protocols; ``gateway recursive``), with the same senders.
- **The reflectors**: two asyncio BGP sessions of this process (sockets in the reflectors'
  namespace) that send what a reflector sends a client: one UPDATE per originating node
  (its 24 prefixes share one attribute set: ORIGIN IGP, empty AS_PATH, NEXT_HOP the node,
  LOCAL_PREF 2147482623 (priority 1024), ORIGINATOR_ID the node, CLUSTER_LIST the reflector's
  cluster id), then End-of-RIB. Both send the same table, so the node holds two paths per
  prefix. They connect at once (t_go); t0 is the first session becoming Established (the
  sender writes its whole table at that moment).
- **The kernel**: a netlink socket in the node's namespace subscribed to IPv4 route
  notifications counts the unicast routes of protocol 12 (``bird``, what both daemons write)
  in the main table, by destination, as they arrive (one notification per route: the count
  costs about what the kernel sends, not a dump of 120,000 routes every poll). Its times are
  those of the read. A final dump checks the count; on a monitor overflow the watcher counts by
  dump instead.

Phases: ``ingest`` (t0 until 99 % and 100 % of the prefixes are in the kernel; CPU, VmHWM,
VmRSS before and 2 s after: bgpd trims its heap after a quiet second), ``drop_one`` (reflector
1 sends a Cease and closes: every prefix keeps the other path with the same next hop; the
kernel route notifications and the daemon's CPU until it has been idle for 1 s), ``drop_both``
(reflector 2 goes too: until no route of ours is left in the kernel).

Run as root: ``.venv/bin/python bench/calico_ingest_bench.py [--nodes 5000] [--dut bgpd bird2]
[--repeat N]``; results in ``bench/results/calico_ingest.json``, then
``.venv/bin/python bench/plot_calico.py --table`` prints the table of docs/performance.md.
Every namespace and process is created by this script and removed by it, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import os
import signal
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, peak_rss_kib, rss_kib, save, wait_for
from bench.forward_bench import cpu_seconds, print_profile
from bench.reflect_bench import _PROFILED_BGPD, alive, listening
from bench.rr_clients import client_address, prefix_entry
from bgpd.kernel import rtnl
from bgpd.net import IPV4_UNICAST
from bgpd.wire.attributes import encode_attribute
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol, RouteRefresh
from bgpd.wire.codec import encode_keepalive, encode_open
from bgpd.wire.constants import AttrType, MessageType
from bgpd.wire.framing import MessageReader, frame
from bgpd.wire.messages import OpenMessage
from tests.integration.peers import Namespace, Process, veth

ASN = 64512
NODE = "172.31.0.1"
NODE_CIDR = f"{NODE}/16"
REFLECTORS = ("172.31.250.1", "172.31.250.2")
CLUSTER_IDS = ("244.0.0.1", "244.0.0.2")
BLOCKS, BORROWED = 4, 20
POOLS = ("10.0.0.0/8", "100.64.0.0/10")  # rr_clients: /26 blocks, then the borrowed /32s
OWN_BLOCK = "10.255.255.0/26"  # this node's block (a blackhole route, not counted)
LOCAL_PREF = 2147483647 - 1024  # Calico's route priority 1024 as it travels (LOCAL_PREF)
NS_PREFIX = "bgpdcalico"
DUTS = ("bgpd", "bird2")
HOLD_TIME = 240
RTPROT_BIRD = 12
RTN_UNICAST = 1
SO_RCVBUFFORCE = 33
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
START_TIMEOUT_S = 60.0
IDLE_WINDOW_S = 6.0  # three of BIRD's kernel scans
QUIET_S = 1.0  # a daemon whose CPU time has not moved for this long is idle
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTA = struct.Struct("=HH")


# -- the reflectors' table ---------------------------------------------------------------------


def reflected_updates(nodes: int, cluster_id: str) -> bytes:
    """What a reflector sends a client: one UPDATE per originating node, then End-of-RIB."""
    well_known, optional = 0x40, 0x80
    cluster = ipaddress.IPv4Address(cluster_id).packed
    per_node = BLOCKS + BORROWED
    out: list[bytes] = []
    for i in range(nodes):
        address = ipaddress.IPv4Address(client_address(i)).packed
        attrs = b"".join(
            (
                encode_attribute(well_known, AttrType.ORIGIN, b"\x00"),
                encode_attribute(well_known, AttrType.AS_PATH, b""),
                encode_attribute(well_known, AttrType.NEXT_HOP, address),
                encode_attribute(well_known, AttrType.LOCAL_PREF, LOCAL_PREF.to_bytes(4, "big")),
                encode_attribute(optional, AttrType.ORIGINATOR_ID, address),
                encode_attribute(optional, AttrType.CLUSTER_LIST, cluster),
            )
        )
        nlri = b"".join(
            prefix_entry(g, BLOCKS, BORROWED) for g in range(i * per_node, (i + 1) * per_node)
        )
        out.append(
            frame(
                MessageType.UPDATE.value, b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs + nlri
            )
        )
    out.append(frame(MessageType.UPDATE.value, b"\x00\x00\x00\x00"))
    return b"".join(out)


class ReflectorFeed(asyncio.Protocol):
    """One reflector's session to the node: OPEN, then the whole table once Established."""

    def __init__(self, address: str, updates: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.address = address
        self.updates = updates
        self.established: asyncio.Future[float] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.error: str | None = None
        self._transport: asyncio.Transport | None = None
        self._reader = MessageReader()
        self._keepalive: asyncio.TimerHandle | None = None
        self._interval = HOLD_TIME / 3

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        caps = (Multiprotocol(family=IPV4_UNICAST), RouteRefresh(), FourOctetAs(asn=ASN))
        router_id = int(ipaddress.IPv4Address(self.address))
        transport.write(
            encode_open(
                OpenMessage(asn=ASN, hold_time=HOLD_TIME, router_id=router_id, capabilities=caps)
            )
        )

    def data_received(self, data: bytes) -> None:
        for msg_type, body in self._reader.feed(data):
            if msg_type == MessageType.OPEN.value:
                hold = min(HOLD_TIME, int.from_bytes(body[3:5], "big"))
                self._interval = hold / 3
                self._write(encode_keepalive())
            elif msg_type == MessageType.KEEPALIVE.value and not self.established.done():
                self.established.set_result(time.monotonic())
                self._write(self.updates)
                self._schedule_keepalive()
            elif msg_type == MessageType.NOTIFICATION.value:
                self.error = f"NOTIFICATION {body[0]}/{body[1]}"
                if self._transport is not None:  # RFC 4271 6.4: the connection closes
                    self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def _schedule_keepalive(self) -> None:
        if self._interval:
            loop = asyncio.get_running_loop()
            self._keepalive = loop.call_later(self._interval, self._keepalive_due)

    def _keepalive_due(self) -> None:
        self._write(encode_keepalive())
        self._schedule_keepalive()

    def shut_down(self) -> None:
        """A reflector going away cleanly: Cease / Administrative Shutdown, then close."""
        self._write(frame(MessageType.NOTIFICATION.value, bytes((6, 2))))
        if self._transport is not None:
            self._transport.close()


async def connect(ns: Namespace, address: str, updates: bytes) -> ReflectorFeed:
    with ns.entered():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind((address, 0))
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (NODE, 179))
    feed = ReflectorFeed(address, updates)
    await loop.create_connection(lambda: feed, sock=sock)
    return feed


# -- the kernel table, watched ---------------------------------------------------------------


class KernelWatch:
    """Counts the node's unicast protocol-12 routes from route notifications (a thread).

    ``expect(predicate)`` registers a goal before the action; ``wait(goal, timeout)`` returns
    the monotonic time of the read at which the count first satisfied it. ``events`` counts
    every notification of such a route.
    """

    def __init__(self, ns: Namespace) -> None:
        with ns.entered():
            self._monitor = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            self._dumper = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._monitor.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
        self._monitor.bind((0, 0x40))  # RTMGRP_IPV4_ROUTE
        self._monitor.settimeout(0.05)
        self._dumper.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        self._dumper.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        self._dumper.bind((0, 0))
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.keys: set[tuple[int, bytes]] = set(self.dump())
        self.events = 0
        self.overflows = 0
        self.timeline: list[tuple[float, int]] = []
        self._goals: list[list[Any]] = []  # [predicate, time first satisfied or None]
        self._stop = False
        self._last_mark = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _routes(data: bytes) -> Iterator[tuple[int, tuple[int, bytes]]]:
        """(message type, key) of each counted route message of a datagram."""
        for msg_type, _f, _s, _p, start, end in rtnl.iter_messages(data):
            if msg_type not in (rtnl.RTM_NEWROUTE, rtnl.RTM_DELROUTE):
                continue
            family, dst_len, _, _, table, proto, _, rtype, _ = _RTMSG.unpack_from(data, start)
            if family != socket.AF_INET or proto != RTPROT_BIRD or rtype != RTN_UNICAST:
                continue
            if table != 254:
                continue
            pos, dst = start + 12, b""
            while pos + 4 <= end:
                length, kind = _RTA.unpack_from(data, pos)
                if length < 4:
                    break
                if kind == rtnl.RTA_DST:
                    dst = data[pos + 4 : pos + length]
                    break
                pos += (length + 3) & ~3
            yield msg_type, (dst_len, dst)

    def dump(self) -> list[tuple[int, bytes]]:
        request = rtnl.encode_dump(rtnl.RTM_GETROUTE, 1, IPV4_UNICAST, 254)
        self._dumper.send(request)
        keys: list[tuple[int, bytes]] = []
        while True:
            data = self._dumper.recv(1 << 20)
            keys.extend(key for _t, key in self._routes(data))
            if any(t in (rtnl.NLMSG_DONE, rtnl.NLMSG_ERROR) for t, *_ in rtnl.iter_messages(data)):
                return keys

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self._monitor.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overflows += 1
                keys = set(self.dump())
                with self._cond:
                    self.keys = keys
                    self._mark(time.monotonic())
                continue
            now = time.monotonic()
            with self._cond:
                keys = self.keys
                for msg_type, key in self._routes(data):
                    self.events += 1
                    if msg_type == rtnl.RTM_NEWROUTE:
                        keys.add(key)
                    else:
                        keys.discard(key)
                self._mark(now)

    def _mark(self, now: float) -> None:
        n = len(self.keys)
        for goal in self._goals:
            if goal[1] is None and goal[0](n):
                goal[1] = now
        if now - self._last_mark >= 0.05:
            self._last_mark = now
            self.timeline.append((now, n))
        self._cond.notify_all()

    def expect(self, predicate: Callable[[int], bool]) -> list[Any]:
        with self._cond:
            goal: list[Any] = [predicate, None]
            self._goals.append(goal)
            self._mark(time.monotonic())
            return goal

    def wait(self, goal: list[Any], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self._cond:
            while goal[1] is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"kernel count stuck at {len(self.keys)}")
                self._cond.wait(min(left, 0.5))
            self._goals.remove(goal)
            when: float = goal[1]
            return when

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.keys)

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self._monitor.close()
        self._dumper.close()


# -- the node under test -----------------------------------------------------------------------


def bgpd_config(work: Path) -> str:
    peers = "".join(
        f"""
[[peer]]
name = "Node_{address.replace(".", "_")}"
address = "{address}"
asn = {ASN}
passive = true
"""
        for address in REFLECTORS
    )
    return f"""[bgp]
asn = {ASN}
router_id = "{NODE}"
listen = ["{NODE}"]
log_level = "warning"
families = ["ipv4-unicast"]

[control]
socket = "{work / "bgpd.ctl"}"

[node]
name = "node-under-test"
ipv4 = "{NODE_CIDR}"

[mesh]
enabled = false

[calico]
blocks = ["{OWN_BLOCK}"]

[[calico.pool]]
cidr = "{POOLS[0]}"

[[calico.pool]]
cidr = "{POOLS[1]}"

[kernel]
enabled = true
{peers}"""


def bird_config(work: Path) -> str:
    pools = " ".join(f"if net ~ {p} then accept;" for p in POOLS)
    peers = "".join(
        f"""
protocol bgp Node_{address.replace(".", "_")} from bgp_template {{
  neighbor {address} as {ASN};
  passive on;
}}
"""
        for address in REFLECTORS
    )
    return f"""router id {NODE};
log "{work / "bird.log"}" {{ warning, error, fatal }};

filter calico_kernel_programming {{
  if defined(bgp_local_pref) then krt_metric = 2147483647 - bgp_local_pref;
  {pools}
  reject;
}}

protocol kernel {{
  learn;
  persist;
  scan time 2;
  merge paths on;
  graceful restart;
  ipv4 {{ import all; export filter calico_kernel_programming; }};
}}

protocol device {{ scan time 2; }}

protocol direct {{
  ipv4;
  interface -"cali*", -"kube-ipvs*", "*";
}}

protocol static {{
  ipv4;
  route {OWN_BLOCK} blackhole;
}}

template bgp bgp_template {{
  local {NODE} as {ASN};
  graceful restart;
  connect delay time 2;
  connect retry time 5;
  error wait time 5,30;
  ipv4 {{ import all; export none; gateway recursive; }};
}}
{peers}"""


def start_dut(kind: str, ns: Namespace, work: Path, profile: Path | None = None) -> Process:
    if kind == "bgpd":
        config = work / "bgpd.toml"
        config.write_text(bgpd_config(work))
        argv = [sys.executable, "-m", "bgpd", "run", "-c", str(config)]
        if profile is not None:
            profile.unlink(missing_ok=True)
            argv = [sys.executable, "-c", _PROFILED_BGPD, str(profile), *argv[3:]]
    else:
        config = work / "bird.conf"
        config.write_text(bird_config(work))
        argv = ["bird", "-f", "-c", str(config), "-s", str(work / "bird.ctl")]
    proc = ns.spawn(argv, name=kind, log_dir=work, cwd=REPO)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not listening(ns):
        if not proc.running or time.monotonic() > deadline:
            raise RuntimeError(f"{kind} did not start\n{proc.output()}")
        time.sleep(0.05)
    return proc


def wait_idle(pid: int, timeout: float) -> float:
    """Waits until ``pid``'s CPU time has not moved for QUIET_S; returns when it last moved."""
    deadline = time.monotonic() + timeout
    last, moved = cpu_seconds(pid), time.monotonic()
    while time.monotonic() - moved < QUIET_S:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
        now = cpu_seconds(pid)
        if now != last:
            last, moved = now, time.monotonic()
    return moved


def stop_timed(proc: Process, timeout: float = 60.0) -> float | None:
    """SIGTERM; seconds until the daemon has exited (None: killed after ``timeout``)."""
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except Exception:  # subprocess.TimeoutExpired: the namespace's close kills it
        print(f"did not exit within {timeout} s of SIGTERM\n{proc.output()}", file=sys.stderr)
        return None
    return round(time.monotonic() - start, 3)


# -- one run -----------------------------------------------------------------------------------


@contextlib.contextmanager
def topology() -> Iterator[tuple[Namespace, Namespace]]:
    with contextlib.ExitStack() as stack:
        node = stack.enter_context(Namespace(NS_PREFIX))
        rrs = stack.enter_context(Namespace(NS_PREFIX))
        veth(node, rrs, a_addresses=[NODE_CIDR], b_addresses=[f"{a}/16" for a in REFLECTORS])
        yield node, rrs


async def run_once(
    kind: str, nodes: int, tables: tuple[bytes, bytes], timeout: float, profile: Path | None
) -> dict[str, Any]:
    prefixes = nodes * (BLOCKS + BORROWED)
    with topology() as (node, rrs), tempfile.TemporaryDirectory(prefix="calico-ingest-") as tmp:
        work = Path(tmp)
        profile = profile if kind == "bgpd" else None
        proc = start_dut(kind, node, work, profile)
        pid = proc.pid
        watch = KernelWatch(node)
        try:
            wait_idle(pid, 10)
            rss_before = rss_kib(pid)
            cpu0 = cpu_seconds(pid)
            bench_cpu0 = time.process_time()
            at99 = watch.expect(lambda n: n >= 0.99 * prefixes)
            at100 = watch.expect(lambda n: n >= prefixes)
            go = time.monotonic()
            feeds = await asyncio.gather(
                *(connect(rrs, a, t) for a, t in zip(REFLECTORS, tables, strict=True))
            )
            ups = await asyncio.wait_for(
                asyncio.gather(*(f.established for f in feeds)), START_TIMEOUT_S
            )
            t0 = min(ups)
            loop = asyncio.get_running_loop()
            t99 = await loop.run_in_executor(None, watch.wait, at99, timeout)
            t100 = await loop.run_in_executor(None, watch.wait, at100, timeout)
            cpu_done = cpu_seconds(pid) - cpu0
            first = next((t for t, n in watch.timeline if n > 0), t100)
            await asyncio.sleep(0)
            idle_at = await loop.run_in_executor(None, wait_idle, pid, 60)
            await asyncio.sleep(2.0)  # bgpd trims its heap after a quiet second
            held = rss_kib(pid)
            # At rest with every route held: what the daemon costs per second doing nothing
            # (BIRD's kernel protocol re-reads the whole table every `scan time`).
            cpu_rest = cpu_seconds(pid)
            await asyncio.sleep(IDLE_WINDOW_S)
            idle_cpu = (cpu_seconds(pid) - cpu_rest) / IDLE_WINDOW_S
            ingest = {
                "established_s": [round(u - go, 4) for u in ups],
                "seconds_99": round(t99 - t0, 4),
                "seconds": round(t100 - t0, 4),
                "first_route_s": round(first - t0, 4),
                "programming_rate": round(prefixes / max(t100 - first, 1e-6)),
                "cpu_seconds": round(cpu_done, 3),
                "cpu_seconds_settled": round(cpu_seconds(pid) - cpu0, 3),
                "idle_after_s": round(idle_at - t0, 3),
                "rss_before_kib": rss_before,
                "peak_rss_kib": peak_rss_kib(pid),
                "held_rss_kib": held,
                "bytes_per_prefix": round((held - rss_before) * 1024 / prefixes),
                "idle_cpu_per_s": round(idle_cpu, 4),
                "kernel_count": len(watch.dump()),
                "sample_routes": [
                    node.ip("-4", "route", "show", "exact", prefix).strip()
                    for prefix in ("10.0.0.0/26", "100.64.0.0/32", OWN_BLOCK)
                ],
                "timeline": [(round(t - t0, 3), n) for t, n in watch.timeline if t >= go],
            }
            if profile is not None:  # the ingest alone: sessions up until every route is in
                proc.send_signal(signal.SIGUSR1)
                await loop.run_in_executor(None, wait_for, profile.exists, 120, "the profile")
            # One reflector goes: the other path (same next hop) takes over.
            events0, cpu1 = watch.events, cpu_seconds(pid)
            t_drop = time.monotonic()
            feeds[0].shut_down()
            await asyncio.wait_for(feeds[0].closed, 10)
            idle_at = await loop.run_in_executor(None, wait_idle, pid, 60)
            spent, window = cpu_seconds(pid) - cpu1, time.monotonic() - t_drop
            drop_one = {
                "kernel_events": watch.events - events0,
                "kernel_count": watch.count,
                "cpu_seconds": round(spent, 3),
                "cpu_above_idle": round(max(0.0, spent - idle_cpu * window), 3),
                "busy_s": round(max(0.0, idle_at - t_drop), 3),
            }
            # The second goes too: every route leaves the kernel.
            events0, cpu2 = watch.events, cpu_seconds(pid)
            empty = watch.expect(lambda n: n == 0)
            t_drop = time.monotonic()
            feeds[1].shut_down()
            t_empty = await loop.run_in_executor(None, watch.wait, empty, timeout)
            cpu_empty = cpu_seconds(pid) - cpu2
            await loop.run_in_executor(None, wait_idle, pid, 60)
            drop_both = {
                "seconds": round(t_empty - t_drop, 4),
                "kernel_events": watch.events - events0,
                "cpu_seconds": round(cpu_empty, 3),
                "cpu_seconds_settled": round(cpu_seconds(pid) - cpu2, 3),
                "removal_rate": round(prefixes / max(t_empty - t_drop, 1e-6)),
            }
            if not alive(pid):
                raise RuntimeError(f"{kind} exited\n{proc.output()}")
            exit_s = stop_timed(proc)
            return {
                "dut": kind,
                "nodes": nodes,
                "prefixes": prefixes,
                "ingest": ingest,
                "drop_one": drop_one,
                "drop_both": drop_both,
                "exit_s": exit_s,
                "errors": [
                    f.error for f in feeds if f.error and not f.error.startswith("NOTIFICATION 6/")
                ],
                "overflows": watch.overflows,
                "bench_cpu_seconds": round(time.process_time() - bench_cpu0, 3),
                "load_average": os.getloadavg(),
            }
        except BaseException:
            print(proc.output(), file=sys.stderr)
            raise
        finally:
            watch.close()


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per DUT of the figures the table shows."""
    out: dict[str, Any] = {}
    for kind in dict.fromkeys(r["dut"] for r in runs):
        mine = [r for r in runs if r["dut"] == kind]

        def med(phase: str, key: str, mine: list[dict[str, Any]] = mine) -> float:
            return statistics.median(r[phase][key] for r in mine)

        out[kind] = {
            "runs": len(mine),
            "seconds": med("ingest", "seconds"),
            "seconds_range": [
                min(r["ingest"]["seconds"] for r in mine),
                max(r["ingest"]["seconds"] for r in mine),
            ],
            "seconds_99": med("ingest", "seconds_99"),
            "cpu_seconds": med("ingest", "cpu_seconds"),
            "programming_rate": med("ingest", "programming_rate"),
            "peak_rss_kib": med("ingest", "peak_rss_kib"),
            "held_rss_kib": med("ingest", "held_rss_kib"),
            "bytes_per_prefix": med("ingest", "bytes_per_prefix"),
            "idle_cpu_per_s": med("ingest", "idle_cpu_per_s"),
            "drop_one_events": med("drop_one", "kernel_events"),
            "drop_one_cpu": med("drop_one", "cpu_above_idle"),
            "drop_both_seconds": med("drop_both", "seconds"),
            "drop_both_cpu": med("drop_both", "cpu_seconds"),
        }
    return out


async def amain(args: argparse.Namespace) -> int:
    tables = tuple(reflected_updates(args.nodes, c) for c in CLUSTER_IDS)
    runs: list[dict[str, Any]] = []
    for rep in range(args.repeat):
        order = args.dut if rep % 2 == 0 else list(reversed(args.dut))
        for kind in order:
            result = await run_once(kind, args.nodes, tables, args.timeout, args.profile)  # type: ignore[arg-type]
            ing = result["ingest"]
            print(
                f"{kind} rep {rep + 1}: {result['prefixes']} prefixes in the kernel "
                f"{ing['seconds']:.2f} s (99 %: {ing['seconds_99']:.2f} s), "
                f"CPU {ing['cpu_seconds']:.2f} s, peak {ing['peak_rss_kib'] / 1024:.1f} MiB, "
                f"held {ing['held_rss_kib'] / 1024:.1f} MiB ({ing['bytes_per_prefix']} B/prefix); "
                f"one reflector down: {result['drop_one']['kernel_events']} kernel events; "
                f"both: {result['drop_both']['seconds']:.2f} s; exit {result['exit_s']} s "
                f"(load {result['load_average'][0]:.1f})",
                flush=True,
            )
            runs.append(result)
    if args.profile is not None:
        print_profile(args.profile)
    path = save(
        args.out,
        {"nodes": args.nodes, "repeat": args.repeat, "runs": runs, "median": summary(runs)},
    )
    print(f"results: {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=5000, help="other nodes (24 prefixes each)")
    parser.add_argument("--dut", nargs="+", choices=DUTS, default=list(DUTS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase")
    parser.add_argument(
        "--profile", type=Path, help="run bgpd under cProfile, write its ingest phase here"
    )
    parser.add_argument("--out", default="calico_ingest", help="results file name (no .json)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates network namespaces")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

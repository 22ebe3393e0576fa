"""A reflector client that stops reading never holds the others back, and catches up when it
reads again, through the real runtime: its connection's backlog (queued by reference to the
group's bytes) passes the high-water mark, it is split off its update group, keeps the latest
state while blocked, receives it when it drains, and folds back into the group.

One bgpd reflector on 127.0.0.1 and three raw clients from 127.0.0.2-4 (crafted bytes, so the
test reads exactly what was sent): `feeder` announces one /24 per UPDATE (each with its own
MED, so nothing packs together) and later withdraws and changes some; `fast` reads all along;
`slow` shrinks its receive buffer and reads nothing until told. The update groups are read
from the reflector's metrics (`bgpd_update_groups`).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import struct
import threading

from prometheus_client.parser import text_string_to_metric_families

from .bgpd_proc import BgpdFactory
from .peers.poll import wait_until
from .peers.ports import free_tcp_ports

ASN = 64512
PREFIXES = 60_000  # about 4 MB of reflected UPDATEs: well past the kernel's buffers and 1 MiB
CHANGED = range(1000)  # withdrawn while `slow` is blocked
MOVED = range(1000, 2000)  # announced again with another MED while `slow` is blocked


def message(kind: int, body: bytes = b"") -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def open_message(router_id: str) -> bytes:
    caps = bytes([1, 4]) + struct.pack("!HBB", 1, 0, 1)  # IPv4 unicast
    caps += bytes([65, 4]) + struct.pack("!I", ASN)  # AS4
    params = bytes([2, len(caps)]) + caps
    rid = ipaddress.IPv4Address(router_id).packed
    # Hold time 0: no KEEPALIVEs either way (RFC 4271 §4.2), so a client that does not read
    # keeps its session.
    return message(1, struct.pack("!BHH", 4, ASN, 0) + rid + bytes([len(params)]) + params)


def nlri(index: int) -> bytes:
    return bytes([24, 10, index >> 8, index & 0xFF])


def announce(index: int, med: int, next_hop: str) -> bytes:
    hop = ipaddress.IPv4Address(next_hop).packed
    attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x00" + b"\x40\x03\x04" + hop
    attrs += b"\x40\x05\x04" + struct.pack("!I", 100) + b"\x80\x04\x04" + struct.pack("!I", med)
    return message(2, b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs + nlri(index))


def withdraw(indices: range) -> list[bytes]:
    out = []
    for start in range(indices.start, indices.stop, 500):
        routes = b"".join(nlri(i) for i in range(start, min(start + 500, indices.stop)))
        out.append(message(2, struct.pack("!H", len(routes)) + routes + b"\x00\x00"))
    return out


def prefixes(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        size = 1 + (data[i] + 7) // 8
        out.append(data[i : i + size])
        i += size
    return out


def med_of(attrs: bytes) -> int | None:
    i = 0
    while i < len(attrs):
        flags, kind = attrs[i], attrs[i + 1]
        if flags & 0x10:
            size, head = struct.unpack("!H", attrs[i + 2 : i + 4])[0], 4
        else:
            size, head = attrs[i + 2], 3
        if kind == 4:
            return int.from_bytes(attrs[i + head : i + head + size], "big")
        i += head + size
    return None


class RawClient:
    """A route-reflector client: OPEN, KEEPALIVE, then what the test does; `table` is what it
    holds from the reflector (prefix -> MED), applied in the order received."""

    def __init__(self, source: str, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((source, 0))
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(open_message(source))
        self.buffer = b""
        self.table: dict[bytes, int | None] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        assert self._next()[0] == 1  # the reflector's OPEN
        self.sock.sendall(message(4))
        assert self._next()[0] == 4  # its KEEPALIVE: Established
        # End-of-RIB (RFC 4724 §2) for what it announces at start-up: nothing; the reflector
        # holds its exports back until every peer has sent one (or a timer runs out).
        self.sock.sendall(message(2, b"\x00\x00\x00\x00"))

    def _next(self) -> tuple[int, bytes]:
        while True:
            if len(self.buffer) >= 19:
                length, kind = struct.unpack("!HB", self.buffer[16:19])
                if len(self.buffer) >= length:
                    body, self.buffer = self.buffer[19:length], self.buffer[length:]
                    return kind, body
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("the reflector closed the session")
            self.buffer += chunk

    def read_on(self) -> None:
        """Reads and applies UPDATEs in a thread until `close`."""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                kind, body = self._next()
            except TimeoutError:
                continue
            except (EOFError, OSError):
                return
            if kind != 2:
                continue
            withdrawn_len = struct.unpack("!H", body[:2])[0]
            gone = body[2 : 2 + withdrawn_len]
            at = 2 + withdrawn_len
            attrs_len = struct.unpack("!H", body[at : at + 2])[0]
            attrs = body[at + 2 : at + 2 + attrs_len]
            with self.lock:
                for prefix in prefixes(gone):
                    self.table.pop(prefix, None)
                med = med_of(attrs)
                for prefix in prefixes(body[at + 2 + attrs_len :]):
                    self.table[prefix] = med

    def holds(self, expected: dict[bytes, int | None]) -> bool:
        with self.lock:
            return self.table == expected

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


def update_groups(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "bgpd_update_groups":
                return sample.value
    raise AssertionError("no bgpd_update_groups in the metrics")


def reflector_config(port: int, metrics_port: int) -> str:
    text = f"""
[bgp]
asn = {ASN}
router_id = "127.0.0.1"
cluster_id = "127.0.0.1"
listen = ["127.0.0.1"]
port = {port}

[control]
socket = "@SOCKET@"

[kernel]
enabled = false

[metrics]
listen = "127.0.0.1:{metrics_port}"
"""
    for name, address in (("feeder", "127.0.0.2"), ("fast", "127.0.0.3"), ("slow", "127.0.0.4")):
        text += f"""
[[peer]]
name = "{name}"
address = "{address}"
asn = {ASN}
passive = true
rr_client = true
"""
    return text


def test_a_client_that_stops_reading_is_split_off_catches_up_and_folds_back(
    bgpd_factory: BgpdFactory,
) -> None:
    port, metrics_port = free_tcp_ports(2)
    reflector = bgpd_factory(None, reflector_config(port, metrics_port), name="rr")
    clients: list[RawClient] = []
    try:
        feeder = RawClient("127.0.0.2", port)
        fast = RawClient("127.0.0.3", port)
        slow = RawClient("127.0.0.4", port, rcvbuf=4096)
        clients += [feeder, fast, slow]
        for name in ("feeder", "fast", "slow"):
            reflector.wait_established(name)
        feeder.read_on()  # it is sent nothing but End-of-RIB; read so that it never blocks
        fast.read_on()
        assert update_groups(metrics_port) == 1

        feeder.sock.sendall(b"".join(announce(i, i, "127.0.0.2") for i in range(PREFIXES)))
        expected: dict[bytes, int | None] = {nlri(i): i for i in range(PREFIXES)}
        # `fast` gets everything while `slow` reads nothing ...
        wait_until(lambda: fast.holds(expected), timeout=60, message="fast holds every route")
        # ... because `slow`, past its high-water mark, was split off into a group of its own.
        wait_until(lambda: update_groups(metrics_port) == 2, timeout=30, message="slow split off")

        # Changes while `slow` is blocked: its group keeps the latest state per prefix.
        changes = withdraw(CHANGED) + [announce(i, PREFIXES + i, "127.0.0.2") for i in MOVED]
        feeder.sock.sendall(b"".join(changes))
        for i in CHANGED:
            del expected[nlri(i)]
        for i in MOVED:
            expected[nlri(i)] = PREFIXES + i
        wait_until(lambda: fast.holds(expected), timeout=60, message="fast holds the changes")

        slow.read_on()
        wait_until(lambda: slow.holds(expected), timeout=60, message="slow caught up")
        wait_until(lambda: update_groups(metrics_port) == 1, timeout=30, message="slow folded back")

        # One group again: the next change reaches both.
        feeder.sock.sendall(announce(PREFIXES, 7, "127.0.0.2"))
        expected[nlri(PREFIXES)] = 7
        for client in (fast, slow):
            wait_until(lambda c=client: c.holds(expected), timeout=30, message="the last route")
    finally:
        for client in clients:
            client.close()

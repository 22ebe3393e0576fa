"""A raw BGP peer that comes up and then says nothing: `python -m tests.integration.silent_peer
ADDRESS ASN ROUTER_ID` (run inside the peer's namespace).

It connects to ADDRESS:179, sends an OPEN with the Graceful Restart capability for IPv4 unicast
(RFC 4724 §3, no R bit), prints the graceful-restart flags of the OPEN it receives as one line
`restart_flags=0xN` (the R bit is 0x8), confirms with a KEEPALIVE and then only keeps the
session alive: no UPDATE, so never an End-of-RIB. A restarting speaker waits for that End-of-RIB
(RFC 4724 §4.1); a cold one does not. Crafted bytes, so the test reads exactly what was sent.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import sys
import time

MARKER = b"\xff" * 16
OPEN, KEEPALIVE = 1, 4
CAP_MP, CAP_GR, CAP_AS4 = 1, 64, 65
HOLD = 9


def message(kind: int, body: bytes = b"") -> bytes:
    return MARKER + struct.pack("!HB", 19 + len(body), kind) + body


def open_message(asn: int, router_id: str) -> bytes:
    caps = bytes([CAP_MP, 4]) + struct.pack("!HBB", 1, 0, 1)
    caps += bytes([CAP_AS4, 4]) + struct.pack("!I", asn)
    caps += bytes([CAP_GR, 6]) + struct.pack("!HHBB", 120, 1, 1, 0)
    params = bytes([2, len(caps)]) + caps
    rid = ipaddress.IPv4Address(router_id).packed
    return message(OPEN, struct.pack("!BHH", 4, asn, HOLD) + rid + bytes([len(params)]) + params)


def read_message(sock: socket.socket) -> tuple[int, bytes]:
    head = read_exactly(sock, 19)
    length, kind = struct.unpack("!HB", head[16:])
    return kind, read_exactly(sock, length - 19)


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def restart_flags(open_body: bytes) -> int | None:
    """The Restart Flags (top 4 bits) of the OPEN's Graceful Restart capability, or None."""
    params = open_body[10 : 10 + open_body[9]]
    i = 0
    while i + 2 <= len(params):
        kind, size = params[i], params[i + 1]
        if kind == 2:
            caps = params[i + 2 : i + 2 + size]
            j = 0
            while j + 2 <= len(caps):
                code, clen = caps[j], caps[j + 1]
                if code == CAP_GR and clen >= 2:
                    return caps[j + 2] >> 4
                j += 2 + clen
        i += 2 + size
    return None


def main() -> int:
    address, asn, router_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.create_connection((address, 179), timeout=10)
    sock.sendall(open_message(asn, router_id))
    kind, body = read_message(sock)
    if kind != OPEN:
        print(f"expected an OPEN, got type {kind}", flush=True)
        return 1
    flags = restart_flags(body)
    print(f"restart_flags={'none' if flags is None else hex(flags)}", flush=True)
    sock.sendall(message(KEEPALIVE))
    sock.setblocking(False)
    next_keepalive = time.monotonic() + HOLD / 3
    while True:
        ready, _, _ = select.select([sock], [], [], max(0.0, next_keepalive - time.monotonic()))
        if ready and not sock.recv(65536):
            return 0  # the speaker closed the session
        if time.monotonic() >= next_keepalive:
            sock.sendall(message(KEEPALIVE))
            next_keepalive = time.monotonic() + HOLD / 3


if __name__ == "__main__":
    sys.exit(main())

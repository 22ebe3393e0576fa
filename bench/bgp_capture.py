"""What a BGP sender really put on the wire: capture one direction of its TCP stream, count UPDATEs.

`forward_bench.py` runs ``capture`` in the sender's network namespace (an AF_PACKET socket sees
the sender's outgoing packets, with the kernel's timestamps) while the sender feeds the DUT.
On SIGTERM it reassembles the TCP payload from ``source`` to ``dest`` (the connection that
carried the most bytes, by sequence number, retransmissions overlaid) and writes the byte stream
to ``OUT`` and the packets' stream offsets and times to ``OUT.json``. `stream_stats` then counts
the UPDATEs that announce something and their prefixes, and finds when the first one was sent.
The stream is what `forward_inproc.py --feed` replays.

    python bench/bgp_capture.py SOURCE DEST OUT      # until SIGTERM (run by forward_bench.py)
"""

from __future__ import annotations

import json
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33  # Linux; the socket module does not name it
ETH_P_ALL = 0x0003  # outgoing packets reach only the ETH_P_ALL taps
MARKER = b"\xff" * 16


def capture(source: str, dest: str, out: Path) -> None:
    """Records TCP payload from ``source`` to ``dest`` until SIGTERM, then writes it (see above)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    # A burst of a million prefixes must not overflow the socket while this process sleeps.
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
    sock.settimeout(0.2)
    src, dst = socket.inet_aton(source), socket.inet_aton(dest)
    # per connection (sport, dport): [(seq, time, payload)]
    flows: dict[tuple[int, int], list[tuple[int, float, bytes]]] = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        try:
            data, ancdata, _, _ = sock.recvmsg(1 << 18, 64)
        except (TimeoutError, InterruptedError):
            continue
        if (
            len(data) < 40
            or data[0] >> 4 != 4
            or data[9] != 6
            or data[12:16] != src
            or data[16:20] != dst
        ):
            continue
        ihl = (data[0] & 0x0F) * 4
        total = struct.unpack_from("!H", data, 2)[0]
        sport, dport, seq = struct.unpack_from("!HHI", data, ihl)
        payload = data[ihl + (data[ihl + 12] >> 4) * 4 : total]
        if not payload:
            continue
        stamp = 0.0
        for level, kind, value in ancdata:
            if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS):
                sec, nsec = struct.unpack("=qq", value[:16])
                stamp = sec + nsec / 1e9
        flows.setdefault((sport, dport), []).append((seq, stamp, payload))
    write(flows, out)


def write(flows: dict[tuple[int, int], list[tuple[int, float, bytes]]], out: Path) -> None:
    if not flows:
        out.write_bytes(b"")
        out.with_name(out.name + ".json").write_text(json.dumps({"packets": [], "gaps": 0}))
        return
    packets = max(flows.values(), key=lambda ps: sum(len(p) for _, _, p in ps))
    first = packets[0][0]
    stream = bytearray()
    covered = 0  # bytes [0, covered) are in the stream
    gaps = 0
    index: list[tuple[int, float]] = []
    for seq, stamp, payload in sorted(packets, key=lambda p: ((p[0] - first) % (1 << 32), p[1])):
        offset = (seq - first) % (1 << 32)
        end = offset + len(payload)
        if offset > covered:
            gaps += 1  # lost by the capture: what follows cannot be framed
            break
        if end > covered:
            stream += payload[covered - offset :]
            index.append((covered, stamp))
            covered = end
    out.write_bytes(bytes(stream))
    out.with_name(out.name + ".json").write_text(json.dumps({"packets": index, "gaps": gaps}))


def stream_stats(out: Path) -> dict[str, Any]:
    """UPDATEs that announce prefixes, their prefixes, and when the first of them was sent."""
    data = out.read_bytes()
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    updates = prefixes = withdraw_only = 0
    first_offset: int | None = None
    pos = 0
    while pos + 19 <= len(data):
        if data[pos : pos + 16] != MARKER:
            raise ValueError(f"capture: no BGP marker at stream offset {pos}")
        length, kind = struct.unpack_from("!HB", data, pos + 16)
        if pos + length > len(data):
            break
        if kind == 2:
            n = _nlri_count(data, pos + 19, pos + length)
            if n:
                updates += 1
                prefixes += n
                if first_offset is None:
                    first_offset = pos
            else:
                withdraw_only += 1
        pos += length
    first_time = None
    if first_offset is not None:
        first_time = max((t for o, t in meta["packets"] if o <= first_offset), default=None)
    return {
        "sender_updates": updates,
        "sender_prefixes": prefixes,
        "sender_prefixes_per_update": round(prefixes / updates, 2) if updates else None,
        "sender_other_updates": withdraw_only,
        "capture_gaps": meta["gaps"],
        "first_update_time": first_time,
    }


def _nlri_count(data: bytes, pos: int, end: int) -> int:
    """Prefixes in the IPv4 NLRI field of an UPDATE body [pos, end) (MP_REACH not counted)."""
    withdrawn = struct.unpack_from("!H", data, pos)[0]
    pos += 2 + withdrawn
    attrs = struct.unpack_from("!H", data, pos)[0]
    pos += 2 + attrs
    n = 0
    while pos < end:
        pos += 1 + (data[pos] + 7) // 8
        n += 1
    return n


if __name__ == "__main__":
    capture(sys.argv[1], sys.argv[2], Path(sys.argv[3]))

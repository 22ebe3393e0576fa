"""Simulated route-reflector clients: many iBGP sessions in one asyncio process.

Role: the load generator and the measuring instrument of ``bench/reflect_bench.py``. One process
plays clients ``first .. first+count-1`` of a population of ``clients`` (the benchmark starts a
few such workers side by side in the clients' network namespace). Client ``i`` connects from
its own address (`client_address`) to the reflector, announces its ``prefixes`` IPv4 routes,
and counts the prefixes the reflector sends it.

The table (`client_table`): client ``i`` owns the global prefix indexes ``i*P .. i*P+P-1``;
index ``g`` is the ``g``-th /26 of 10.0.0.0/8 (a Calico IPAM block per route: what a node
announces). Each client spreads its prefixes over ``sets`` attribute sets (contiguous runs,
as a node's blocks are), all with NEXT_HOP = the client's own address, LOCAL_PREF 100 and an
empty AS_PATH (iBGP-originated), and differing in communities, MED and ORIGIN. The client
sends each set as UPDATEs of at most 4,096 octets, then an End-of-RIB.

Counting what arrives is the hot path (at 200 clients x 500 prefixes every client receives
99,500 routes: 20 million in all; at 5,000 Calico nodes 25 million UPDATEs), so it is done by
`bench.rx_count.Tally` from the raw bytes, without decoding attributes: runs of look-alike
UPDATEs are framed with strided slices of the read, a field that is one client's whole block
is marked with one C loop per run, any other field is decoded once per process into cached
runs of global prefix indexes; the distinct count is taken lazily (only once enough prefixes
arrived to possibly reach the goal). The first UPDATE carrying NLRI is checked once per session
for RFC 4456 reflection (ORIGINATOR_ID and CLUSTER_LIST present, NEXT_HOP not the
reflector's): ``reflected``. ``--check N`` clients per process also run bgpd's own decoder
over the same bytes (`bench.rx_count.DecodeCheck`) and compare when done and at the report: a
difference is the client's ``check_failure``, and the run's status becomes ``check-failed``.

A client is done when it holds the (C-1)*P prefixes of the other clients (its own, if a
reflector echoes them, are counted apart as ``echoed``). Times are wall-clock (``time.time``)
so the parent can compare them across worker processes.

Protocol with the parent (line-based): the worker prints ``ready`` once its table is built,
waits for ``go`` on stdin, connects every client at once (or client ``i`` after
``spread * i / clients`` seconds; t0 of the measurement is the parent's ``go``), prints one
JSON line with every client's result once all are done or ``--timeout`` passed, then keeps the
sessions up (so the reflector is measured before any withdrawal) until stdin says ``quit`` or
closes. With ``--warm`` the clients connect at ``go`` but hold their routes: the worker
prints ``established N`` once its clients are all up (or the timeout passed) and sends the
routes of every client when stdin says ``announce``.

Invariants: only the addresses it is given are used; a session that is reset is reconnected
after 1 s with its counters cleared (``resets`` counts that); the process never waits without a
deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rx_count import DecodeCheck, Tally, Universe, sample
from bgpd.net import IPV4_UNICAST
from bgpd.wire.attributes import encode_attribute
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol, RouteRefresh
from bgpd.wire.codec import encode_keepalive, encode_open
from bgpd.wire.constants import AttrType, MessageType
from bgpd.wire.framing import frame
from bgpd.wire.messages import OpenMessage

ASN = 65000
HOLD_TIME = 240  # proposed; the reflector may lower it, and keepalives follow what was agreed
PREFIX_BASE = int(ipaddress.IPv4Address("10.0.0.0"))
PREFIX_LEN = 26
MAX_PREFIXES = 1 << (PREFIX_LEN - 8)  # /26s in 10.0.0.0/8: 262,144
BORROWED_BASE = int(ipaddress.IPv4Address("100.64.0.0"))  # --borrowed /32s: 100.64.0.0/10
MAX_UPDATE = 4096  # RFC 4271 §4: no extended messages are offered
RECONNECT_S = 1.0
_WELL_KNOWN = 0x40  # transitive
_OPTIONAL = 0x80
_OPTIONAL_TRANSITIVE = 0xC0
_ENTRY = 1 + (PREFIX_LEN + 7) // 8  # octets of one /26 in an NLRI field
_NOTIFICATION = MessageType.NOTIFICATION.value
_UPDATE = MessageType.UPDATE.value
_OPEN = MessageType.OPEN.value
_KEEPALIVE = MessageType.KEEPALIVE.value


def client_address(index: int) -> str:
    """Client ``index``'s address: 172.31.1.1, ..., 172.31.1.250, 172.31.2.1, ..."""
    return f"172.31.{1 + index // 250}.{1 + index % 250}"


def prefix_entry(g: int, prefixes: int = 0, borrowed: int = 0) -> bytes:
    """Global prefix ``g`` as it appears in an NLRI field (length octet, then 4 octets).

    With ``borrowed`` /32s per client (Calico's borrowed addresses, ``bench/scale_bench.py``),
    client ``i`` owns indexes ``i*(P+B) ..``: its P /26s (numbered as without them), then its
    B /32s from 100.64.0.0/10. Both are 5-octet entries.
    """
    if borrowed:
        node, k = divmod(g, prefixes + borrowed)
        if k >= prefixes:
            return b"\x20" + (BORROWED_BASE + node * borrowed + k - prefixes).to_bytes(4, "big")
        g = node * prefixes + k
    return bytes((PREFIX_LEN,)) + (PREFIX_BASE + (g << (32 - PREFIX_LEN))).to_bytes(4, "big")


def prefix_text(g: int) -> str:
    return f"{ipaddress.IPv4Address(PREFIX_BASE + (g << (32 - PREFIX_LEN)))}/{PREFIX_LEN}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AttrSet:
    """One attribute set of one client (its NEXT_HOP is the client's address)."""

    med: int | None
    communities: tuple[tuple[int, int], ...]
    incomplete: bool


def attr_sets(index: int, sets: int) -> list[AttrSet]:
    """The ``sets`` attribute sets of client ``index``: distinct per client and per set."""
    out = []
    for k in range(sets):
        communities = [(64512, 100 + k)]
        if k % 2 == 0:
            communities.append((64512, 1000 + index % 1000))  # a per-node tag
        out.append(
            AttrSet(
                med=10 * k if k % 2 else None,
                communities=tuple(communities),
                incomplete=k % 4 == 3,
            )
        )
    return out


def encode_attrs(attrs: AttrSet, next_hop: str) -> bytes:
    """The path attributes of an iBGP-originated route (RFC 4271 §5.1, 4-octet ASes)."""
    parts = [
        encode_attribute(_WELL_KNOWN, AttrType.ORIGIN, bytes((2 if attrs.incomplete else 0,))),
        encode_attribute(_WELL_KNOWN, AttrType.AS_PATH, b""),  # RFC 4271 §5.1.2: empty on iBGP
        encode_attribute(_WELL_KNOWN, AttrType.NEXT_HOP, ipaddress.IPv4Address(next_hop).packed),
    ]
    if attrs.med is not None:
        parts.append(encode_attribute(_OPTIONAL, AttrType.MED, attrs.med.to_bytes(4, "big")))
    parts.append(encode_attribute(_WELL_KNOWN, AttrType.LOCAL_PREF, (100).to_bytes(4, "big")))
    if attrs.communities:
        value = b"".join(a.to_bytes(2, "big") + b.to_bytes(2, "big") for a, b in attrs.communities)
        parts.append(encode_attribute(_OPTIONAL_TRANSITIVE, AttrType.COMMUNITIES, value))
    return b"".join(parts)


def client_table(index: int, prefixes: int, sets: int) -> list[tuple[AttrSet, list[int]]]:
    """Client ``index``'s routes: its global prefix indexes in ``sets`` contiguous runs."""
    first = index * prefixes
    groups = attr_sets(index, sets)
    out: list[tuple[AttrSet, list[int]]] = [(a, []) for a in groups]
    for j in range(prefixes):
        out[j * len(groups) // prefixes][1].append(first + j)
    return [(a, gs) for a, gs in out if gs]


def encode_updates(index: int, prefixes: int, sets: int, borrowed: int = 0) -> bytes:
    """Every UPDATE client ``index`` sends, then an End-of-RIB (RFC 4724 §2), as one buffer."""
    out: list[bytes] = []
    nh = client_address(index)
    for attrs, gs in client_table(index, prefixes + borrowed, sets):
        attr_bytes = encode_attrs(attrs, nh)
        # 19 header + 2 withdrawn length + 2 attribute length.
        per_update = (MAX_UPDATE - 23 - len(attr_bytes)) // _ENTRY
        for start in range(0, len(gs), per_update):
            nlri = b"".join(
                prefix_entry(g, prefixes, borrowed) for g in gs[start : start + per_update]
            )
            body = b"\x00\x00" + len(attr_bytes).to_bytes(2, "big") + attr_bytes + nlri
            out.append(frame(_UPDATE, body))
    out.append(frame(_UPDATE, b"\x00\x00\x00\x00"))
    return b"".join(out)


def open_message(index: int) -> bytes:
    router_id = int(ipaddress.IPv4Address(client_address(index)))
    caps = (Multiprotocol(family=IPV4_UNICAST), RouteRefresh(), FourOctetAs(asn=ASN))
    return encode_open(
        OpenMessage(asn=ASN, hold_time=HOLD_TIME, router_id=router_id, capabilities=caps)
    )


def make_universe(clients: int, prefixes: int, borrowed: int = 0) -> Universe:
    """Every prefix of ``clients`` clients of ``prefixes`` /26s (and ``borrowed`` /32s) each."""
    per_client = prefixes + borrowed
    entries = [prefix_entry(g, prefixes, borrowed) for g in range(clients * per_client)]
    return Universe(entries, per_client)


class Client(asyncio.Protocol):
    """One simulated client: its session, its count of what arrives (`Tally`) and its result.

    With ``check`` a `DecodeCheck` (bgpd's decoder) reads the same bytes, and the tally is
    compared with it when the client is done and when its result is taken: a difference is
    the client's ``check`` failure, never a silent wrong count.
    """

    __slots__ = (
        "_keepalive",
        "_level",
        "_transport",
        "_wake",
        "check",
        "check_failure",
        "closed",
        "done_at",
        "done_event",
        "error",
        "established_at",
        "established_event",
        "hold",
        "index",
        "keepalive_s",
        "on_done",
        "open_out",
        "reflector",
        "resets",
        "t99_at",
        "tally",
        "updates_out",
    )

    def __init__(  # noqa: PLR0917 - internal, two call sites
        self,
        index: int,
        universe: Universe,
        prefixes: int,
        updates_out: bytes,
        reflector: str,
        hold: bool = False,
        check: bool = False,
    ) -> None:
        self.index = index
        self.hold = hold  # warm mode: routes wait for announce()
        self.established_event = asyncio.Event()
        assert prefixes == universe.per  # client i owns block i
        self.tally = Tally(universe, index, ipaddress.IPv4Address(reflector).packed)
        self.check = DecodeCheck() if check else None
        self.check_failure: str | None = None
        self.updates_out = updates_out
        self.open_out = open_message(index)  # encoded once: a storm reconnects every client
        self.reflector = reflector
        self.resets = 0
        self.established_at: float | None = None
        self.t99_at: float | None = None
        self.done_at: float | None = None
        self.error: str | None = None
        self.keepalive_s = HOLD_TIME / 3
        self.closed = asyncio.get_running_loop().create_future()
        self.done_event = asyncio.Event()
        self._transport: asyncio.Transport | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._level = 0
        self._wake: asyncio.Future[None] | None = None
        self.on_done: Callable[[], None] | None = None  # the worker's count of done clients

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self.open_out)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.tally.feed(data)
        except Exception as exc:  # a framing error: report it, drop the session
            self.error = f"framing: {exc}"
            self._close()
            return
        if self.check is not None:
            self.check.feed(data)
        for msg_type, body in messages:
            if msg_type == _KEEPALIVE:
                if self.established_at is None:
                    self._established()
            elif msg_type == _OPEN:
                # RFC 4271 §4.2: the hold time is the smaller of the two proposals.
                hold = min(HOLD_TIME, int.from_bytes(body[3:5], "big"))
                self.keepalive_s = hold / 3 if hold else 0
                self._send(encode_keepalive())
            elif msg_type == _NOTIFICATION:
                self.error = f"NOTIFICATION {body[0]}/{body[1]} {body[2:].hex()}"
        if self.tally.level != self._level:
            self._progress()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self._wake is not None:
            _wake(self._wake)

    # -- session ---------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _established(self) -> None:
        self.established_at = time.time()
        if not self.hold:
            self._send(self.updates_out)
        self._schedule_keepalive()
        self.established_event.set()

    def announce(self) -> None:
        """Warm mode: send the routes now (the session is up), and at once after a reset."""
        self.hold = False
        if self.established_at is not None:
            self._send(self.updates_out)

    def _schedule_keepalive(self) -> None:
        if self.keepalive_s:
            loop = asyncio.get_running_loop()
            self._keepalive = loop.call_later(self.keepalive_s, self._keepalive_due)

    def _keepalive_due(self) -> None:
        self._send(encode_keepalive())
        self._schedule_keepalive()

    def reset_counters(self) -> None:
        """A new session starts from an empty table (the reflector sends everything again)."""
        self.tally.reset()
        if self.check is not None:
            self.check.reset()
        self._level = 0
        self.t99_at = None
        self.established_at = None
        self.closed = asyncio.get_running_loop().create_future()

    def rearm(self) -> None:
        """Forget being done, keep the table: done again once it holds every route again."""
        self.tally.rearm()
        self._level = 0
        self.t99_at = self.done_at = None
        self.done_event.clear()

    # -- counting --------------------------------------------------------------------------

    def _progress(self) -> None:
        now = time.time()
        self._level = level = self.tally.level
        if self.t99_at is None:
            self.t99_at = now
        if level == 2:
            self.done_at = now
            self._verify()
            self.done_event.set()
            if self._wake is not None:
                _wake(self._wake)
            if self.on_done is not None:
                self.on_done()

    def _verify(self) -> None:
        """The exact check, on the clients that have one: a difference is kept, loudly."""
        if self.check is not None and self.check_failure is None:
            self.check_failure = self.check.compare(self.tally)

    def result(self, go_at: float) -> dict[str, Any]:
        self._verify()
        tally = self.tally
        return {
            "client": self.index,
            "established": _rel(self.established_at, go_at),
            "t99": _rel(self.t99_at, go_at),
            "done": _rel(self.done_at, go_at),
            "distinct": tally.distinct(),
            "goal": tally.goal,
            "received": tally.received,
            "withdrawn": tally.withdrawn,
            "updates": tally.updates,
            "unexpected": tally.unexpected,
            "echoed": tally.echoed(),
            "reflected": tally.reflected,
            "resets": self.resets,
            "error": self.error,
            "checked": self.check is not None,
            "check_failure": self.check_failure,
        }

    async def run(self, deadline: float, delay: float = 0.0) -> None:
        """Connect after ``delay`` s (again after a reset) until done or ``deadline`` passes."""
        loop = asyncio.get_running_loop()
        if delay:
            await asyncio.sleep(delay)
        while self.done_at is None and time.monotonic() < deadline:
            # One future wakes this task: the session's end, the client done, or the deadline
            # (a task and an asyncio.wait per client cost more than its count at 5,000).
            wake = self._wake = loop.create_future()
            try:
                await loop.create_connection(
                    lambda: self,
                    self.reflector,
                    179,
                    local_addr=(client_address(self.index), 0),
                )
            except OSError as exc:
                self.error = f"connect: {exc}"
                await asyncio.sleep(RECONNECT_S)
                continue
            if not wake.done():
                timer = loop.call_later(max(0.0, deadline - time.monotonic()), _wake, wake)
                await wake
                timer.cancel()
            if self.done_at is not None or time.monotonic() >= deadline:
                return
            # The session went down before we were done: start over.
            self.resets += 1
            self.reset_counters()
            await asyncio.sleep(RECONNECT_S)

    def close(self) -> None:
        self._close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _rel(t: float | None, go_at: float) -> float | None:
    return None if t is None else round(t - go_at, 4)


async def _stdin_line() -> str:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, sys.stdin.readline)


async def amain(args: argparse.Namespace) -> int:
    size = args.clients * args.prefixes
    if size > MAX_PREFIXES:
        raise SystemExit(f"{size} prefixes do not fit in 10.0.0.0/8 as /26s")
    universe = make_universe(args.clients, args.prefixes)
    indexes = range(args.first, args.first + args.count)
    outgoing = {i: encode_updates(i, args.prefixes, args.sets) for i in indexes}
    checked = sample(indexes, args.check)
    clients = [
        Client(
            i,
            universe,
            args.prefixes,
            outgoing[i],
            args.reflector,
            hold=args.warm,
            check=i in checked,
        )
        for i in indexes
    ]
    print("ready", flush=True)
    if (await _stdin_line()).strip() != "go":
        return 1
    go_at = time.time()
    deadline = time.monotonic() + args.timeout
    # --spread: client i of C connects at go + spread * i / C (0: all at once).
    running = asyncio.gather(
        *(c.run(deadline, args.spread * c.index / args.clients) for c in clients)
    )
    if args.warm:
        # Every session up first, then the routes: the parent's t0 is its "announce".
        waiting = [asyncio.ensure_future(c.established_event.wait()) for c in clients]
        _, pending = await asyncio.wait(waiting, timeout=args.timeout)
        print(f"established {len(clients) - len(pending)}", flush=True)
        if (await _stdin_line()).strip() != "announce":
            return 1
        for c in clients:
            c.announce()
    await running
    result = {
        "go_at": go_at,
        "clients": [c.result(go_at) for c in clients],
    }
    print(json.dumps(result), flush=True)
    # Keep the sessions up until the parent has read the reflector's figures.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(_stdin_line(), timeout=args.linger)
    for c in clients:
        c.close()
    await asyncio.sleep(0)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reflector", required=True, help="the reflector's address")
    parser.add_argument("--clients", type=int, required=True, help="C: the whole population")
    parser.add_argument("--prefixes", type=int, required=True, help="P: prefixes per client")
    parser.add_argument("--sets", type=int, default=4, help="attribute sets per client")
    parser.add_argument("--first", type=int, default=0, help="first client index played here")
    parser.add_argument("--count", type=int, help="clients played here (default: all)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--spread", type=float, default=0.0, help="connect over this many s")
    parser.add_argument("--warm", action="store_true", help="announce only on 'announce'")
    parser.add_argument("--linger", type=float, default=120.0, help="max wait for 'quit'")
    parser.add_argument(
        "--check",
        type=int,
        default=1,
        help="clients of this process that also decode in full and compare (spread evenly)",
    )
    args = parser.parse_args()
    if args.count is None:
        args.count = args.clients - args.first
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

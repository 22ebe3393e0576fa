"""Reads that arrive in one loop turn reach the speaker as one batch (`receive_batch`): each
read is handled as `receive_data` handles it, and the Loc-RIB's changes go out once, after the
last, so every other member gets one write per batch (a cluster joining was O(C^2) writes).
The runtime hands the reads over in order, and before any other event of a connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bgpd.runtime.sessions import Sessions
from bgpd.speaker import Send
from bgpd.wire.constants import MessageType
from tests.unit.speaker.raw_peer import Bench, RawPeer
from tests.unit.wire.helpers import message, update_body

CONFIG = """
[bgp]
asn = 64512
router_id = "10.0.0.1"
cluster_id = "10.0.0.1"

[control]
socket = "/tmp/unused-batch.ctl"
""" + "".join(
    f"""
[[peer]]
name = "{name}"
address = "10.0.0.{i}"
asn = 64512
passive = true
rr_client = true
"""
    for i, name in ((2, "a"), (3, "b"), (4, "c"))
)


def update(next_hop: int, prefix: int) -> bytes:
    attrs = "40 01 01 00" + "40 02 00" + f"40 03 04 0a0000{next_hop:02x}" + "40 05 04 00000064"
    return message(MessageType.UPDATE, update_body("", attrs, f"18 0a{prefix:02x}00"))


def cluster() -> tuple[Bench, RawPeer, RawPeer, RawPeer]:
    bench = Bench(CONFIG)
    a = bench.peer("a", 64512, "10.0.0.2", "10.0.0.1")
    b = bench.peer("b", 64512, "10.0.0.3", "10.0.0.1")
    c = bench.peer("c", 64512, "10.0.0.4", "10.0.0.1")
    return bench, a, b, c


def writes_to(outputs: list[Any], peer: str) -> int:
    return sum(1 for o in outputs if isinstance(o, Send) and o.peer == peer)


def test_a_batch_reaches_each_member_in_one_write_with_the_same_routes() -> None:
    bench, a, b, c = cluster()
    reads = [("a", a.conn_id, update(2, 1)), ("b", b.conn_id, update(3, 2))]
    bench.speaker.receive_batch(reads, bench.now)
    outputs = bench.speaker.take_outputs()
    assert writes_to(outputs, "c") == 1
    for out in outputs:
        if isinstance(out, Send):
            bench.peers[out.peer].feed(out.data)
    assert c.announced() == {bytes.fromhex("180a0100"), bytes.fromhex("180a0200")}
    assert a.announced() == {bytes.fromhex("180a0200")}  # never its own route back
    assert b.announced() == {bytes.fromhex("180a0100")}


def test_read_by_read_is_one_write_per_read() -> None:
    """What the batch saves (and the same routes as above)."""
    bench, a, b, _c = cluster()
    bench.speaker.receive_data("a", a.conn_id, update(2, 1), bench.now)
    bench.speaker.receive_data("b", b.conn_id, update(3, 2), bench.now)
    assert writes_to(bench.speaker.take_outputs(), "c") == 2


class _Speaker:
    """What `Sessions` calls on the speaker, recorded in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def begin_batch(self) -> None:
        self.calls.append(("begin", None))

    def end_batch(self, now: float) -> None:
        self.calls.append(("end", None))

    def receive_data(self, peer: str, conn_id: int, data: bytes, now: float) -> None:
        self.calls.append(("data", data))

    def connection_lost(self, peer: str, conn_id: int, now: float) -> None:
        self.calls.append(("lost", conn_id))


class _Loop:
    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)


class _Conn:
    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id
        self.peer = "a"


def register(sessions: Sessions, conn: _Conn) -> None:
    """What on_connected records for an accepted connection of peer "a"."""
    sessions.connections[conn.conn_id] = conn  # type: ignore[assignment]
    sessions._peer_connections["a"] = sessions._peer_connections.get("a", 0) + 1


def test_the_runtime_hands_over_a_turns_reads_and_losses_in_order_in_one_batch() -> None:
    speaker, loop, flushes = _Speaker(), _Loop(), []
    sessions = Sessions(
        speaker,  # type: ignore[arg-type]
        loop=lambda: loop,  # type: ignore[arg-type, return-value]
        now=lambda: 1.0,
        flush=lambda: flushes.append(1),
    )
    one, two = _Conn(1), _Conn(2)
    for conn in (one, two):
        register(sessions, conn)
    sessions.on_data(one, b"x")  # type: ignore[arg-type]
    sessions.on_data(two, b"y")  # type: ignore[arg-type]
    assert speaker.calls == [] and len(loop.soon) == 1  # one hand-over per turn
    loop.soon.pop()()
    assert speaker.calls == [("begin", None), ("data", b"x"), ("data", b"y"), ("end", None)]
    assert flushes == [1]
    del speaker.calls[:]
    sessions.on_data(one, b"z")  # type: ignore[arg-type]
    sessions.on_lost(one)  # type: ignore[arg-type]
    sessions.on_data(two, b"w")  # type: ignore[arg-type]
    assert speaker.calls == [] and len(loop.soon) == 1
    sessions.take_inputs()  # as a new connection does before it is handled
    assert speaker.calls == [
        ("begin", None),
        ("data", b"z"),
        ("lost", 1),
        ("data", b"w"),
        ("end", None),
    ]
    loop.soon.pop()()  # the turn's hand-over finds nothing left
    assert len(speaker.calls) == 5


class _DynamicSpeaker(_Speaker):
    config = "config"

    def apply_peer_change(self, config: object, now: float, *, removed: str) -> None:
        self.calls.append(("removed", removed))


class _Dynamic:
    def is_dynamic(self, name: str) -> bool:
        return True

    def remove(self, config: object, name: str) -> object:
        return "smaller"


def test_a_dynamic_peer_goes_with_its_last_connection_only() -> None:
    """Counted per peer (no walk over every connection at each loss)."""
    speaker = _DynamicSpeaker()
    sessions = Sessions(
        speaker,  # type: ignore[arg-type]
        loop=_Loop,  # type: ignore[arg-type]
        now=lambda: 1.0,
        flush=lambda: None,
    )
    sessions.dynamic = _Dynamic()  # type: ignore[assignment]
    one, two = _Conn(1), _Conn(2)
    for conn in (one, two):
        register(sessions, conn)
    sessions.on_lost(one)  # type: ignore[arg-type]
    sessions.take_inputs()
    assert ("removed", "a") not in speaker.calls
    sessions.on_lost(two)  # type: ignore[arg-type]
    sessions.take_inputs()
    assert speaker.calls[-2] == ("removed", "a")


def keepalives_to(outputs: list[Any], peer: str) -> int:
    return sum(
        1
        for o in outputs
        if isinstance(o, Send) and o.peer == peer and o.data[18] == MessageType.KEEPALIVE
    )


def test_a_batch_held_over_several_turns_sends_once_and_only_the_export_waits() -> None:
    """The runtime holds a batch open while a peer's input is backlogged
    (`bgpd.runtime.export_hold`): each turn's reads join it and every member gets one UPDATE
    per path when it ends; session messages go out meanwhile, and convergence (the kernel's
    cue to drop stale routes) waits for the held changes."""
    bench, a, b, c = cluster()
    for peer in (a, b, c):
        peer.send_update(update_body())  # End-of-RIB
        peer.send(message(MessageType.UPDATE, bytes.fromhex("0000 0006 800f 03 0002 01")))
    assert bench.speaker.converged()
    bench.speaker.begin_batch()
    bench.speaker.receive_data("a", a.conn_id, update(2, 1), bench.now)
    held = bench.speaker.take_outputs()  # the runtime flushes after each turn
    bench.now += 100  # past the keepalive time
    bench.speaker.handle_timer(bench.now)
    bench.speaker.receive_data("a", a.conn_id, update(2, 2), bench.now)
    held += bench.speaker.take_outputs()
    assert writes_to(held, "c") == keepalives_to(held, "c") == 1  # the export waits
    assert bench.speaker.staged_changes() == 2
    assert not bench.speaker.converged()
    bench.speaker.end_batch(bench.now)
    assert bench.speaker.converged()
    outputs = bench.speaker.take_outputs()
    assert writes_to(outputs, "c") == 1
    before = len(c.updates)
    for out in outputs:
        if isinstance(out, Send):
            bench.peers[out.peer].feed(out.data)
    assert len(c.updates) == before + 1  # one UPDATE carries both reads' prefixes
    assert c.announced() == {bytes.fromhex("180a0100"), bytes.fromhex("180a0200")}

"""Coverage-guided fuzz target (atheris) of the speaker's whole input path.

A sans-IO Speaker with four passive peers on a fake clock (tests/unit/speaker/raw_peers.py):
`tor` (eBGP, no extended messages), `mesh` (eBGP, same update group as tor), `ibgp` (iBGP, no
extended messages) and `ext` (eBGP with extended messages, RFC 8654). All four are brought to
Established with valid OPENs; then the fuzzer's bytes pick one of them as the sender and a
sequence of operations on it:

- raw bytes fed to its connection as they are (partial messages, bad markers, anything);
- one framed message of any type with a fuzzer-chosen body;
- one UPDATE encoded from fuzzer-chosen attributes (AS path segments, up to 1,200 communities,
  large communities, MED, LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST, unknown attributes, next
  hop), prefixes and withdrawals of either family: sizes around the 4,096-octet limit included;
- time passing (the other peers send KEEPALIVEs, so only the sender can time out), a receiver's
  socket backing up and draining, a receiver's ROUTE-REFRESH, a receiver's connection dropping
  and coming back (its table sent again), the sender reconnecting.

After each operation the invariants hold (`check`), or the input is a finding:
- nothing escapes the Speaker, and nothing is caught by its fault boundary either (an ERROR log
  record from bgpd is a finding: the boundary keeps sessions apart, it does not make a bug OK);
- every session but the sender's is still Established and has received no NOTIFICATION;
- every byte the speaker sends to any peer is well-formed BGP: it frames, decodes with
  bgpd.wire with no RFC 7606 problem, and fits that peer's negotiated maximum size;
- what the speaker counts as sent to each receiver is what that receiver holds.
The expected errors are the NOTIFICATIONs the sender earns and the warnings bgpd logs about it.

`run_one(data)` is the per-input function (tests/unit/speaker/test_fuzz_speaker.py runs it over
`SEEDS` with no atheris, so the target cannot rot).

Run: make fuzz-speaker FUZZ_SECONDS=300
     .venv/bin/python bench/fuzz_speaker.py -max_total_time=300 [corpus_dir]
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":  # instrument bgpd for coverage feedback as it is imported below
    import atheris

    _HOOK = atheris.instrument_imports(include=["bgpd"])
    _HOOK.__enter__()

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family
from bgpd.session import SessionState
from bgpd.wire.attributes import AsPathSegment, PathAttributes, RawAttribute
from bgpd.wire.codec import encode_keepalive, encode_route_refresh, encode_update
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, Origin, SegmentType
from bgpd.wire.framing import frame
from bgpd.wire.messages import NlriBatch, RouteRefreshMessage, UpdateMessage
from tests.unit.speaker.raw_peers import LOCAL_ASN, RawNet

if __name__ == "__main__":
    _HOOK.__exit__(None, None, None)

SENDERS = ("tor", "mesh", "ibgp", "ext")
MAX_OPS = 48


class FindingError(AssertionError):
    """An invariant broke: the input is a bug report."""


class Source:
    """The fuzzer's bytes as choices (what atheris' FuzzedDataProvider does, without it)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def int(self, octets: int = 1) -> int:
        chunk = self.data[self.pos : self.pos + octets]
        self.pos += len(chunk)
        return int.from_bytes(chunk.ljust(octets, b"\0"), "big")

    def below(self, bound: int) -> int:
        return self.int(1 if bound <= 256 else 2) % bound

    def flag(self) -> bool:
        return bool(self.int(1) & 1)

    def bytes(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


class ErrorTrap(logging.Handler):
    """ERROR records from bgpd: the speaker's fault boundary caught something."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_TRAP = ErrorTrap()
_BGPD_LOG = logging.getLogger("bgpd")


def fresh_net() -> RawNet:
    net = RawNet()
    for name in SENDERS:
        net.connect(name)
    return net


# ------------------------------------------------------------------------------ inputs


def prefix(src: Source, family: Family) -> bytes:
    bits = 32 if family == IPV4_UNICAST else 128
    length = src.below(bits + 1)
    body = bytearray(src.bytes((length + 7) // 8).ljust((length + 7) // 8, b"\0"))
    if length % 8 and not src.flag():  # usually a clean prefix; sometimes host bits set
        body[-1] &= (0xFF << (8 - length % 8)) & 0xFF
    return bytes((length,)) + bytes(body)


def as_path(src: Source) -> tuple[AsPathSegment, ...]:
    if src.below(32) == 0:  # near the 65,535-octet limit (an extended-message sender)
        asn = 65001 + src.below(3)
        return tuple(
            AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(asn,) * 255)
            for _ in range(src.below(65))
        )
    segments = []
    for _ in range(src.below(4)):
        kind = (SegmentType.AS_SEQUENCE, SegmentType.AS_SET, 3, 4)[src.below(4)]
        count = src.below(300) if src.below(8) == 0 else src.below(6)
        choices = (65001, 65002, 65003, LOCAL_ASN, 23456, 0, 4200000000)
        asns = tuple(
            choices[src.below(len(choices))] if src.flag() else src.int(4) for _ in range(count)
        )
        segments.append(AsPathSegment(type=kind, asns=asns))  # type: ignore[arg-type]
    return tuple(segments)


def attributes(src: Source, family: Family, next_hop: bytes) -> PathAttributes:
    big = src.below(4) == 0
    n_comm = src.below(1201) if big else src.below(8)
    base = src.int(4)
    unknown = tuple(
        RawAttribute(flags=src.int(1) & 0xF0, type_code=src.int(1), value=src.bytes(src.below(40)))
        for _ in range(src.below(3) if src.below(4) == 0 else 0)
    )
    return PathAttributes(
        origin=Origin(src.below(3)),
        as_path=as_path(src),
        next_hop=next_hop if family == IPV4_UNICAST else None,
        med=src.int(4) if src.flag() else None,
        local_pref=src.int(4) if src.flag() else None,
        atomic_aggregate=src.below(8) == 0,
        communities=tuple((base + i * 7919) & 0xFFFFFFFF for i in range(n_comm)),
        originator_id=src.int(4) or 1 if src.below(8) == 0 else None,
        cluster_list=tuple(src.int(4) for _ in range(src.below(4) if src.flag() else 0)),
        large_communities=tuple(
            (src.int(4), src.int(4), i) for i in range(src.below(400) if big else src.below(3))
        ),
        unknown=unknown,
    )


def update(net: RawNet, sender: str, src: Source) -> bytes | None:
    peer = net.peers[sender]
    family = IPV4_UNICAST if src.below(3) else IPV6_UNICAST
    choice = src.below(4)
    if family == IPV4_UNICAST:
        own = bytes(int(x) for x in peer.spec.address.split("."))
        hop = (own, src.bytes(4).ljust(4, b"\0"), bytes(4), bytes((10, 0, 0, 1)))[choice]
    else:
        hop = (bytes(15) + b"\x01", src.bytes(16).ljust(16, b"\0"), bytes(16), b"\xfe\x80" * 8)[
            choice
        ]
    announced = tuple(prefix(src, family) for _ in range(src.below(40)))
    withdrawn = tuple(prefix(src, family) for _ in range(src.below(8)))
    attrs = attributes(src, family, hop) if announced else None
    ann = NlriBatch(family=family, next_hop=hop, prefixes=announced)
    wd = NlriBatch(family=family, next_hop=b"", prefixes=withdrawn)
    message = UpdateMessage(
        attributes=attrs,
        announced=(ann,) if announced else (),
        withdrawn=(wd,) if withdrawn else (),
    )
    try:
        return encode_update(message, peer.ctx())
    except (ValueError, OverflowError, TypeError, WireError):
        return None  # the harness cannot encode it (too big for the sender, say): skip


def keepalives(net: RawNet, sender: str) -> None:
    """Every other peer shows it is alive (a real one would), so only the sender can time out."""
    for name, peer in net.peers.items():
        if name != sender and not peer.closed:
            net.send(name, encode_keepalive())


def operate(net: RawNet, sender: str, src: Source) -> None:
    op = src.below(17)
    peer = net.peers[sender]
    receivers = [n for n in SENDERS if n != sender]
    if op < 4:
        data = update(net, sender, src)
        if data is not None:
            net.send(sender, data)
    elif op < 7:
        net.send(sender, src.bytes(src.below(4096) if src.flag() else src.below(64)))
    elif op < 9:
        kind = src.below(6)
        size = src.below(MAX_EXTENDED_MESSAGE_LEN) if src.below(8) == 0 else src.below(80)
        body = src.bytes(size)
        net.send(sender, frame(kind, body))
    elif op == 9:
        keepalives(net, sender)
        net.advance(src.below(61))
    elif op == 10:
        name = receivers[src.below(len(receivers))]
        session = net.speaker.peer_session(name)
        conn = None if session is None else session.established_conn_id
        if conn is not None:
            net.speaker.set_writable(name, conn, src.flag(), net.now)
            net.flush()
    elif op == 11:
        name = receivers[src.below(len(receivers))]
        family = (IPV4_UNICAST, IPV6_UNICAST)[src.below(2)]
        net.send(name, encode_route_refresh(RouteRefreshMessage(family=family)))
    elif op == 12 and (peer.closed or net.state(sender) is not SessionState.ESTABLISHED):
        session = net.speaker.peer_session(sender)
        assert session is not None
        keepalives(net, sender)
        net.advance(session.error_wait + 1)
        if net.state(sender) is not SessionState.ESTABLISHED:
            net.connect(sender)
    elif op == 13:
        net.send(sender, encode_keepalive())
    elif op == 14:
        # A receiver's connection drops and it comes straight back: it gets the whole table.
        name = receivers[src.below(len(receivers))]
        net.speaker.connection_lost(name, net.peers[name].conn_id, net.now)
        net.flush()
        net.connect(name)
    else:
        # Several UPDATEs in one read, as a table load arrives.
        parts = [update(net, sender, src) for _ in range(src.below(6))]
        net.send(sender, b"".join(p for p in parts if p is not None))


# ------------------------------------------------------------------------------ invariants


def check(net: RawNet, sender: str) -> None:
    if _TRAP.records:
        record = _TRAP.records[0]
        raise FindingError(f"bgpd logged an error: {record.getMessage()}") from (
            record.exc_info[1] if record.exc_info else None
        )
    for name, peer in net.peers.items():
        if name == sender:
            continue
        if net.state(name) is not SessionState.ESTABLISHED or peer.closed:
            raise FindingError(f"{name} is {net.state(name)} after input to {sender}")
        if peer.notifications:
            raise FindingError(f"{name} got {peer.notifications} after input to {sender}")
        view = net.speaker.peer_view(name, net.now)
        assert view is not None
        held = len(peer.announced(IPV4_UNICAST)) + len(peer.announced(IPV6_UNICAST))
        sent = view.prefixes_sent
        if sent != held:
            raise FindingError(f"{name}: speaker counts {sent} sent, the peer holds {held}")


def run_one(data: bytes) -> None:
    """One fuzz input: a fresh speaker, the operations `data` chooses, the invariants after
    each. Raises `FindingError` (or whatever escaped the speaker) when an input breaks one."""
    _TRAP.records.clear()
    _BGPD_LOG.addHandler(_TRAP)
    try:
        src = Source(data)
        net = fresh_net()
        sender = SENDERS[src.below(len(SENDERS))]
        check(net, sender)
        for _ in range(MAX_OPS):
            if not src.left:
                break
            try:
                operate(net, sender, src)
            except AssertionError as exc:  # the raw peers' decoding checks
                raise FindingError(f"malformed output: {exc}") from exc
            check(net, sender)
    finally:
        _BGPD_LOG.removeHandler(_TRAP)


def _seed(*parts: bytes) -> bytes:
    return b"".join(parts)


# Small inputs that reach each operation (the unit test runs them; the fuzzer starts from them
# when given an empty corpus directory).
SEEDS: tuple[bytes, ...] = (
    b"",
    _seed(b"\x00", b"\x00\x01\x05" + b"\x20" * 40),  # tor: a few UPDATEs
    _seed(b"\x00", b"\x00\x00\x00\x01\x00\x00\x00\x18\x0a\x09\x09"),  # tor: one UPDATE
    _seed(b"\x03", b"\x02" + b"\x10" * 30),  # ext: an UPDATE
    _seed(b"\x01", b"\x04\x01\xff\xff\xff" * 3),  # raw bytes
    _seed(b"\x02", b"\x07\x02\x05" + b"\x00" * 5),  # a framed message
    _seed(b"\x00", b"\x09\x3c\x0a\x01\x00\x0a\x02\x01\x0b\x00\x00\x0c\x0c\x0d"),
    _seed(b"\x03", b"\x00\x00\x00\x00\x00\x05" + b"\x00" * 200),  # big attribute sets
)


def main() -> None:
    """libFuzzer's command line; without a corpus directory a temporary one holds `SEEDS`, and
    inputs may grow to 8 KiB soon (an UPDATE near the 4,096-octet limit needs room)."""
    # Warnings and below are expected (the sender's NOTIFICATIONs): not printed. Errors are
    # findings (`check`), whatever the level of the other handlers.
    _BGPD_LOG.setLevel(logging.WARNING)
    _BGPD_LOG.propagate = False
    argv = list(sys.argv)
    for default in ("-max_len=8192", "-len_control=10"):
        if not any(arg.startswith(default.split("=")[0] + "=") for arg in argv[1:]):
            argv.append(default)
    if not [arg for arg in argv[1:] if not arg.startswith("-")]:
        corpus = Path(tempfile.mkdtemp(prefix="fuzz_speaker_"))
        for i, seed in enumerate(SEEDS):
            (corpus / f"seed{i}").write_bytes(seed)
        argv.append(str(corpus))
        print(f"corpus: {corpus}", file=sys.stderr)
    atheris.Setup(argv, run_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

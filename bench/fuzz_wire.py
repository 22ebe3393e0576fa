"""Mutation fuzzer for the wire codec: decoding must raise nothing but WireError.

A plain-Python loop (no dependency; `atheris` is not needed): it starts from the golden vectors
of tests/unit/wire/vectors.py plus freshly encoded UPDATEs of every shape, mutates them (octet
overwrites with boundary values, bit flips, insertions, deletions, truncations, length-field
rewrites, splicing two inputs), and pushes each input through the framing and every decoder with
every kind of session (iBGP, eBGP, 2-octet AS, ADD-PATH, IPv4-only). A decoded UPDATE must also
satisfy tests/unit/wire/invariants.py. Inputs whose outcome (error code, RFC 7606 actions,
shape of the result) was not seen before join the corpus, a cheap stand-in for coverage.

Any other exception, or a broken invariant, is printed with the input hex and makes the exit
status 1.

Run: .venv/bin/python bench/fuzz_wire.py --seconds 300 [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bgpd.errors import WireError
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, pack_prefix
from bgpd.wire.attributes import AsPathSegment, PathAttributes, RawAttribute
from bgpd.wire.capabilities import decode_capabilities
from bgpd.wire.codec import (
    EncodeContext,
    UpdateDecoder,
    decode_message,
    encode_path_attributes,
    pack_announcements,
    pack_withdrawals,
)
from bgpd.wire.constants import MARKER, SegmentType
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import UpdateMessage
from tests.unit.wire import helpers
from tests.unit.wire.invariants import check_update
from tests.unit.wire.vectors import VECTORS

SESSIONS = {
    "ibgp": helpers.IBGP,
    "ebgp": helpers.EBGP,
    "old_ebgp": helpers.OLD_EBGP,
    "add_path": helpers.ADD_PATH,
    "v4_only": helpers.V4_ONLY,
}
TYPE_OF_KIND = {"update": 2, "open": 1, "notification": 3}
BOUNDARY = (0, 1, 2, 3, 4, 0x0F, 0x10, 0x1F, 0x20, 0x21, 0x40, 0x7F, 0x80, 0x81, 0xC0, 0xFE, 0xFF)


def seed_corpus() -> list[tuple[int, bytes]]:
    """(message type, body) pairs: the golden vectors plus encoder output of every shape."""
    corpus = [(TYPE_OF_KIND[v.kind], v.data) for v in VECTORS if v.kind in TYPE_OF_KIND]
    attrs = PathAttributes(
        as_path=(
            AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(65001, 4200000001)),
            AsPathSegment(type=SegmentType.AS_SET, asns=(7, 8)),
        ),
        med=5,
        local_pref=100,
        atomic_aggregate=True,
        aggregator=(4200000001, b"\x0a\x00\x00\x09"),
        communities=(1, 2),
        originator_id=7,
        cluster_list=(9, 10),
        large_communities=((1, 2, 3),),
        unknown=(RawAttribute(flags=0xC0, type_code=99, value=b"xyz"),),
    )
    v4 = [pack_prefix(p) for p in ("10.0.0.0/24", "10.1.0.0/16", "0.0.0.0/0", "192.0.2.1/32")]
    v6 = [pack_prefix(p) for p in ("2001:db8::/32", "::/0", "2001:db8::1/128")]
    for negotiated in (helpers.IBGP, helpers.OLD_EBGP, helpers.ADD_PATH):
        ctx = EncodeContext.from_negotiated(negotiated)
        attr_bytes = encode_path_attributes(attrs, ctx)
        ids = list(range(1, 5))
        for data in (
            pack_announcements(ctx, IPV4_UNICAST, attr_bytes, b"\x0a\x00\x00\x01", v4, ids)
            + pack_announcements(ctx, IPV6_UNICAST, attr_bytes, bytes(32), v6, ids[:3])
            + pack_withdrawals(ctx, IPV4_UNICAST, v4, ids)
            + pack_withdrawals(ctx, IPV6_UNICAST, v6, ids[:3])
        ):
            corpus.append((2, data[19:]))
    corpus += [(4, b""), (5, bytes.fromhex("00010001")), (5, bytes.fromhex("00020201"))]
    return corpus


def mutate(data: bytes, rng: random.Random, corpus: list[tuple[int, bytes]]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(8)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.choice(BOUNDARY)
        elif op == 1 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 2:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 4:
            del buf[pos:]
        elif op == 5 and len(buf) >= 2:  # rewrite a 2-octet field as a nearby or extreme length
            pos = min(pos, len(buf) - 2)
            value = int.from_bytes(buf[pos : pos + 2], "big")
            value = rng.choice((0, 0xFFFF, len(buf), value + 1, max(value - 1, 0)))
            buf[pos : pos + 2] = (value & 0xFFFF).to_bytes(2, "big")
        elif op == 6:  # splice with another corpus entry
            other = rng.choice(corpus)[1]
            cut = rng.randint(0, len(other))
            buf[pos:] = other[cut:]
        elif op == 7:  # duplicate a slice (repeated attributes, segments, prefixes)
            end = min(len(buf), pos + rng.randint(1, 24))
            buf[pos:pos] = buf[pos:end]
    return bytes(buf)


def outcome(fn: Callable[[], object]) -> tuple[object, ...]:
    """What happened, coarsely: new outcomes grow the corpus."""
    try:
        result = fn()
    except WireError as exc:
        return ("error", exc.code, exc.subcode)
    if isinstance(result, UpdateMessage):
        check_update(result)
        return (
            "update",
            tuple(sorted({(p.attr_type, p.action.value) for p in result.problems})),
            result.attributes is not None,
            len(result.announced),
            len(result.withdrawn),
            result.end_of_rib is not None,
            result.disabled_families != (),
        )
    return ("ok", type(result).__name__)


def run_one(msg_type: int, body: bytes) -> set[tuple[object, ...]]:
    seen: set[tuple[object, ...]] = set()
    if msg_type == 2:
        for name, negotiated in SESSIONS.items():
            decoder = UpdateDecoder(negotiated)
            seen.add((name, *outcome(lambda d=decoder: d.decode(body))))
    else:
        seen.add((msg_type, *outcome(lambda: decode_message(msg_type, body, None))))
        seen.add(("caps", *outcome(lambda: decode_capabilities(body))))
    # The same body framed, through the reader, split at a random point.
    framed = MARKER + (19 + len(body)).to_bytes(2, "big") + bytes((msg_type,)) + body
    reader = MessageReader(65535)
    cut = len(body) // 2

    def frame_it() -> object:
        return reader.feed(framed[:cut]) + reader.feed(framed[cut:])

    seen.add(("framing", *outcome(frame_it)))
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--max-findings", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = seed_corpus()
    seen: set[tuple[object, ...]] = set()
    for msg_type, body in corpus:
        seen |= run_one(msg_type, body)
    findings = 0
    iterations = 0
    start = time.monotonic()
    deadline = start + args.seconds
    next_report = start + 10
    print(f"seed {args.seed}, {len(corpus)} corpus entries, {args.seconds:.0f} s", flush=True)
    while time.monotonic() < deadline and findings < args.max_findings:
        msg_type, base = rng.choice(corpus)
        if rng.random() < 0.02:
            msg_type = rng.randint(0, 6)
        data = mutate(base, rng, corpus)
        iterations += 1
        try:
            new = run_one(msg_type, data) - seen
        except Exception:  # anything but WireError is a finding
            findings += 1
            print(f"FINDING type={msg_type} body={data.hex()}", flush=True)
            traceback.print_exc()
            continue
        if new:
            seen |= new
            corpus.append((msg_type, data))
        now = time.monotonic()
        if now >= next_report:
            print(
                f"{iterations} iterations, {iterations / (now - start):,.0f}/s, "
                f"corpus {len(corpus)}, outcomes {len(seen)}, findings {findings}",
                flush=True,
            )
            next_report = now + 10
    elapsed = time.monotonic() - start
    print(
        f"done: {iterations} iterations in {elapsed:.0f} s ({iterations / elapsed:,.0f}/s), "
        f"corpus {len(corpus)}, outcomes {len(seen)}, findings {findings}"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

"""Codec benchmark: framing + UPDATE decoding (and packing) throughput, against ExaBGP.

Builds a realistic stream (by default 100k prefixes, 70% IPv4 / 30% IPv6, ~1k distinct
attribute sets with AS paths of 1-6 four-octet ASes, 0-4 communities, some large communities and
MEDs), in two shapes: "packed" (as many prefixes per UPDATE as fit in 4096 octets, grouped by
attribute set, as a real speaker sends a full table) and "single" (one prefix per UPDATE).
Times, on one core, our `MessageReader` + `UpdateDecoder` over the whole stream, ExaBGP 5's
`Update.unpack_message` over the same UPDATE bodies (framing done by slicing, which flatters
ExaBGP), and our `pack_announcements`.

Rates are per CPU second of this single-threaded process (time.process_time, best of
--repeat runs for ours, one run for ExaBGP which is slow): that is "one core", and other
processes on the machine disturb it less than wall-clock time.

Run: .venv/bin/python bench/codec_bench.py [--prefixes N] [--sets N] [--repeat N] [--no-exabgp]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, Nlri
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.codec import UpdateDecoder, encode_path_attributes, pack_announcements
from bgpd.wire.constants import Origin, SegmentType
from bgpd.wire.framing import MessageReader
from bgpd.wire.negotiated import EncodeContext, Negotiated

CHUNK = 65536  # bytes handed to the reader per call, like a socket read


def make_attribute_sets(count: int, rng: random.Random) -> list[PathAttributes]:
    sets = []
    for i in range(count):
        path = tuple(
            rng.choice((64512, 65000, 4200000000)) + rng.randrange(1000)
            for _ in range(rng.randint(1, 6))
        )
        sets.append(
            PathAttributes(
                origin=rng.choice((Origin.IGP, Origin.IGP, Origin.INCOMPLETE)),
                as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=path),),
                med=rng.randrange(1000) if i % 3 else None,
                local_pref=100 + i % 5 * 10,
                communities=tuple(sorted(rng.randrange(1 << 32) for _ in range(rng.randint(0, 4)))),
                large_communities=((65000, i, 1),) if i % 4 == 0 else (),
            )
        )
    return sets


def make_prefixes(n: int, family: Family, rng: random.Random) -> list[Nlri]:
    seen: set[Nlri] = set()
    out = []
    while len(out) < n:
        if family == IPV4_UNICAST:
            length = rng.choice((24, 24, 24, 22, 20, 16, 32, 26))
            addr = rng.getrandbits(32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
            packed = bytes((length,)) + addr.to_bytes(4, "big")[: (length + 7) // 8]
        else:
            length = rng.choice((48, 48, 64, 56, 32, 128, 122))
            addr = (0x2001_0DB8 << 96 | rng.getrandbits(96)) & (((1 << 128) - 1) << (128 - length))
            packed = bytes((length,)) + addr.to_bytes(16, "big")[: (length + 7) // 8]
        if packed not in seen:
            seen.add(packed)
            out.append(packed)
    return out


def build_stream(
    n_prefixes: int, n_sets: int, per_update: bool, seed: int = 1
) -> tuple[bytes, int, int]:
    """(stream, number of UPDATEs, number of prefixes)."""
    rng = random.Random(seed)
    neg = Negotiated.default(65000, 65000)
    ctx = EncodeContext.from_negotiated(neg)
    sets = make_attribute_sets(n_sets, rng)
    n4 = n_prefixes * 7 // 10
    messages: list[bytes] = []
    for family, count, next_hop in (
        (IPV4_UNICAST, n4, bytes((10, 0, 0, 1))),
        (IPV6_UNICAST, n_prefixes - n4, bytes.fromhex("20010db8000000000000000000000001")),
    ):
        prefixes = make_prefixes(count, family, rng)
        groups: dict[int, list[Nlri]] = {}
        for p in prefixes:
            groups.setdefault(rng.randrange(n_sets), []).append(p)
        encoded = {
            i: encode_path_attributes(
                sets[i].replace(next_hop=next_hop if family == IPV4_UNICAST else None), ctx
            )
            for i in groups
        }
        for i, group in groups.items():
            if per_update:
                for p in group:
                    messages += pack_announcements(ctx, family, encoded[i], next_hop, [p])
            else:
                messages += pack_announcements(ctx, family, encoded[i], next_hop, group)
    if per_update:
        rng.shuffle(messages)  # interleave attribute sets, as a churning peer would
    return b"".join(messages), len(messages), n_prefixes


def negotiated_both() -> Negotiated:
    base = Negotiated.default(65000, 65000)
    return Negotiated(
        local_asn=base.local_asn,
        peer_asn=base.peer_asn,
        peer_router_id=base.peer_router_id,
        hold_time=base.hold_time,
        as4=True,
        families=frozenset({IPV4_UNICAST, IPV6_UNICAST}),
    )


def run_ours(stream: bytes) -> int:
    decoder = UpdateDecoder(negotiated_both())
    reader = MessageReader()
    decode = decoder.decode
    count = 0
    for off in range(0, len(stream), CHUNK):
        for _msg_type, body in reader.feed(stream[off : off + CHUNK]):
            update = decode(body)
            for batch in update.announced:
                count += len(batch.prefixes)
    return count


def exabgp_decoder() -> Callable[[bytes], int]:
    """A function decoding one UPDATE body with ExaBGP 5, returning its prefix count."""
    from exabgp.bgp.message import Update
    from exabgp.bgp.message.direction import Direction
    from exabgp.configuration.check import _negotiated
    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log

    log.silence()
    conf = """
neighbor 127.0.0.1 {
    router-id 10.0.0.2; local-address 127.0.0.1; local-as 65000; peer-as 65000;
    family { ipv4 unicast; ipv6 unicast; }
}
"""
    configuration = Configuration([conf], text=True)
    if not configuration.reload():
        raise RuntimeError("ExaBGP configuration did not load")
    negotiated = _negotiated(next(iter(configuration.neighbors.values())))
    unpack = Update.unpack_message
    direction = Direction.IN

    def decode(body: bytes) -> int:
        return len(unpack(body, direction, negotiated).nlris)

    return decode


def run_exabgp(stream: bytes, limit: int) -> tuple[int, int]:
    """Decodes up to `limit` UPDATEs; returns (updates, prefixes)."""
    decode = exabgp_decoder()
    pos = 0
    updates = prefixes = 0
    end = len(stream)
    while pos < end and updates < limit:
        length = int.from_bytes(stream[pos + 16 : pos + 18], "big")
        prefixes += decode(stream[pos + 19 : pos + length])
        updates += 1
        pos += length
    return updates, prefixes


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        gc.collect()
        # CPU time of this (single-threaded) process: "one core", and robust against other
        # processes sharing the machine, which wall-clock time is not.
        t0 = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t0)
    return best, result


def bench_encode(n_prefixes: int, n_sets: int, repeat: int) -> tuple[float, int, int]:
    rng = random.Random(2)
    ctx = EncodeContext.from_negotiated(Negotiated.default(65000, 65000))
    sets = make_attribute_sets(n_sets, rng)
    prefixes = make_prefixes(n_prefixes, IPV4_UNICAST, rng)
    groups: dict[int, list[Nlri]] = {}
    for p in prefixes:
        groups.setdefault(rng.randrange(n_sets), []).append(p)
    nh = bytes((10, 0, 0, 1))

    def run() -> int:
        n = 0
        for i, group in groups.items():
            attr_bytes = encode_path_attributes(sets[i].replace(next_hop=nh), ctx)
            n += len(pack_announcements(ctx, IPV4_UNICAST, attr_bytes, nh, group))
        return n

    seconds, messages = timed(run, repeat)
    assert isinstance(messages, int)
    return seconds, messages, n_prefixes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--sets", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of ours; the best counts")
    parser.add_argument(
        "--exabgp-updates", type=int, default=20_000, help="at most this many UPDATEs for ExaBGP"
    )
    parser.add_argument("--no-exabgp", action="store_true")
    args = parser.parse_args()

    rows = []
    for mode, per_update in (("packed", False), ("single", True)):
        stream, n_updates, n_prefixes = build_stream(args.prefixes, args.sets, per_update)
        seconds, decoded = timed(lambda s=stream: run_ours(s), args.repeat)
        assert decoded == n_prefixes, (decoded, n_prefixes)
        exa: tuple[float, float, int] | None = None
        if not args.no_exabgp:
            t0 = time.process_time()
            exa_updates, exa_prefixes = run_exabgp(stream, args.exabgp_updates)
            exa_seconds = time.process_time() - t0
            if exa_updates == n_updates:  # the whole stream: both must agree on the count
                assert exa_prefixes == n_prefixes, (exa_prefixes, n_prefixes)
            exa = (exa_prefixes / exa_seconds, exa_updates / exa_seconds, exa_updates)
        rows.append((mode, n_updates, n_prefixes, n_prefixes / seconds, n_updates / seconds, exa))

    print(
        f"stream: {args.prefixes} prefixes, {args.sets} attribute sets, 70% IPv4 / 30% IPv6; "
        "framing + full UPDATE decode; rates per CPU second of one core"
    )
    print(
        f"{'mode':<8}{'UPDATEs':>9}{'prefixes':>10}{'ours pfx/s':>13}{'ours upd/s':>13}"
        f"{'ExaBGP pfx/s':>14}{'ExaBGP upd/s':>14}{'ExaBGP n':>10}{'ratio':>8}"
    )
    for mode, n_updates, n_prefixes, opfx, oupd, exa in rows:
        line = f"{mode:<8}{n_updates:>9}{n_prefixes:>10}{opfx:>13,.0f}{oupd:>13,.0f}"
        if exa is not None:
            epfx, eupd, count = exa
            line += f"{epfx:>14,.0f}{eupd:>14,.0f}{count:>10}{oupd / eupd:>7.1f}x"
        print(line)
    seconds, messages, n = bench_encode(args.prefixes, args.sets, args.repeat)
    print(
        "encode (encode_path_attributes + pack_announcements, IPv4): "
        f"{n / seconds:,.0f} prefixes/s, {messages / seconds:,.0f} UPDATEs/s ({messages} UPDATEs)"
    )


if __name__ == "__main__":
    main()

"""Ingest and forward in one process: the DUT speaker's own cost, without sockets or peers' noise.

The same table as `bench/forward_bench.py` (`make_table`), encoded as the UPDATEs a BIRD sender
sends (about 4 prefixes per UPDATE, attribute sets interleaved), is fed to a sans-IO `Speaker`
(the DUT, AS 65002) on its session from the sender, in reads of ``--chunk`` bytes, each read
its own batch or, with ``--hold-reads N``, N reads to a batch (the daemon holds the export
over the reads of a backlogged input, bgpd/runtime/export_hold.py); after each read the DUT's
outputs are taken as the daemon's loop would take them (UPDATEs toward the collector are
counted and dropped). Reported: the DUT's CPU time for the whole feed, UPDATEs and bytes it
produced, the resident memory the first run holds afterwards (VmRSS after minus before, once
collected and trimmed as the daemon trims), and the live Python memory it holds (tracemalloc,
by line, with ``--memory``).

The sessions are set up by three speakers joined in memory (tests/unit/speaker/harness.py);
only the DUT's work on the feed is timed, with the daemon's garbage collector settings.
Deterministic: the same input bytes every run, so two builds compare on CPU time (each run
is a fresh speaker; run the script several times, a fresh process is what the daemon meets)
and ``--profile FILE`` writes a cProfile of the feed.

    .venv/bin/python bench/forward_inproc.py [--prefixes N] [--packing bird|dense]
        [--chunk BYTES] [--hold-reads N] [--profile F] [--feed CAPTURE] [--memory]

``--packing dense`` puts each attribute set's prefixes in one UPDATE (35 per set by default, as
`forward_bench.py --packing dense` makes BIRD send them); ``--feed`` replays a stream that
`forward_bench.py --capture DIR` kept.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import multiprocessing
import pstats
import random
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.forward_bench import MED_VALUES, PACKINGS, AttrSet, make_table
from bgpd.net import IPV4_UNICAST, pack_prefix
from bgpd.runtime.memory import MemoryTrimmer, _libc_trim
from bgpd.speaker import Send
from bgpd.wire.attributes import AsPathSegment, PathAttributes
from bgpd.wire.codec import EncodeContext, encode_path_attributes, pack_announcements
from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, Origin, SegmentType
from bgpd.wire.framing import MessageReader, frame
from tests.unit.speaker.harness import Net

SENDER, DUT, COLLECTOR = "10.99.1.1", "10.99.1.2", "10.99.2.3"


def _node_config(asn: int, router_id: str, peers: list[tuple[str, str, int]]) -> str:
    text = f'[bgp]\nasn = {asn}\nrouter_id = "{router_id}"\nlisten = ["{router_id}"]\n'
    text += '[control]\nsocket = "/tmp/unused-{router_id}.ctl"\n[kernel]\nenabled = false\n'
    for name, address, peer_asn in peers:
        text += f'[[peer]]\nname = "{name}"\naddress = "{address}"\nasn = {peer_asn}\n'
        text += f'local_address = "{router_id}"\n'
    return text


def sender_attributes(attrs: AttrSet) -> PathAttributes:
    """What the BIRD sender puts on the wire for one set (its AS prepended, its next hop)."""
    communities = tuple((a << 16) | b for a, b in attrs.communities)
    return PathAttributes(
        origin=Origin.INCOMPLETE if attrs.incomplete else Origin.IGP,
        as_path=(AsPathSegment(type=SegmentType.AS_SEQUENCE, asns=(65001, *attrs.path)),),
        next_hop=bytes((10, 99, 1, 1)),
        med=None if attrs.med_index is None else MED_VALUES[attrs.med_index],
        communities=communities,
        large_communities=attrs.large,
    )


def feed(n: int, per_set: int, seed: int, packing: str = "bird") -> bytes:
    """The sender's UPDATEs: each set's prefixes in runs of 1-7 (``packing="bird"``) or all in
    one run (``"dense"``, as far as a message holds them), runs of all sets shuffled."""
    table = make_table(n, per_set, seed)
    by_set: dict[AttrSet, list[bytes]] = defaultdict(list)
    for prefix, attrs in table:
        by_set[attrs].append(pack_prefix(prefix))
    ctx = EncodeContext(as4=True, add_path_send=frozenset(), max_message_len=4096, local_asn=65001)
    rng = random.Random(seed)
    messages: list[bytes] = []
    for attrs, prefixes in by_set.items():
        encoded = encode_path_attributes(sender_attributes(attrs), ctx)
        i = 0
        while i < len(prefixes):
            run = rng.randrange(1, 8) if packing == "bird" else len(prefixes)
            messages += pack_announcements(
                ctx, IPV4_UNICAST, encoded, bytes((10, 99, 1, 1)), prefixes[i : i + run]
            )
            i += run
    rng.shuffle(messages)
    return b"".join(messages)


def replay(path: Path) -> bytes:
    """The UPDATEs of a captured byte stream (OPEN, KEEPALIVE and the rest left out)."""
    frames = MessageReader(MAX_EXTENDED_MESSAGE_LEN).feed(path.read_bytes())
    return b"".join(frame(msg_type, body) for msg_type, body in frames if msg_type == 2)


def setup() -> tuple[Net, int]:
    """Three speakers with sessions up; returns the net and the DUT's conn id toward the sender."""
    net = Net()
    net.add("sender", SENDER, _node_config(65001, SENDER, [("dut", DUT, 65002)]))
    net.add(
        "dut",
        DUT,
        _node_config(65002, DUT, [("sender", SENDER, 65001), ("collector", COLLECTOR, 65003)]),
    )
    net.add("collector", COLLECTOR, _node_config(65003, COLLECTOR, [("dut", DUT, 65002)]))
    net.start()
    net.advance(10)
    conn = next(c for c, (node, peer, _) in net.ends.items() if (node, peer) == ("dut", "sender"))
    return net, conn


def run(
    data: bytes, chunk: int, profile: cProfile.Profile | None, hold_reads: int = 1
) -> tuple[float, int, int, Net]:
    net, conn = setup()
    dut = net.nodes["dut"].speaker
    updates = sent = 0
    MemoryTrimmer.freeze_startup_objects()  # the daemon's collector settings
    start = time.process_time()
    if profile is not None:
        profile.enable()
    reads = range(0, len(data), chunk)
    for n, i in enumerate(reads):
        # As the daemon holds a batch over the reads of a backlogged input (export_hold).
        if n % hold_reads == 0:
            dut.begin_batch()
        dut.receive_data("sender", conn, data[i : i + chunk], net.now)
        if n % hold_reads == hold_reads - 1 or n == len(reads) - 1:
            dut.end_batch(net.now)
        for out in dut.take_outputs():
            if isinstance(out, Send) and out.peer == "collector":
                sent += sum(len(piece) for piece in out.chunks)
                updates += 1
    if profile is not None:
        profile.disable()
    return time.process_time() - start, updates, sent, net


def rss_bytes() -> int:
    """This process's resident set (VmRSS), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--packing", choices=PACKINGS, default="bird")
    parser.add_argument(
        "--per-set", type=int, help="prefixes per attribute set (default: by --packing)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=65536, help="bytes per read")
    parser.add_argument(
        "--hold-reads",
        type=int,
        default=1,
        help="reads per batch (the daemon holds the export over a backlogged input's reads)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--feed", type=Path, help="replay these bytes (a capture of the sender's messages)"
    )
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--memory", action="store_true", help="tracemalloc by line")
    args = parser.parse_args()
    per_set = args.per_set or PACKINGS[args.packing]
    # Made in a child process: building the table leaves this one's heap as the daemon's
    # never is (freed arenas that the feed's objects would reuse, hiding them from RSS).
    with multiprocessing.get_context("fork").Pool(1) as pool:
        if args.feed:
            data = pool.apply(replay, (args.feed,))
        else:
            data = pool.apply(feed, (args.prefixes, per_set, args.seed, args.packing))
    print(f"feed: {len(data):,} bytes for {args.prefixes:,} prefixes")
    times = []
    trim = _libc_trim()
    for i in range(args.repeat):
        gc.collect()
        if trim is not None:
            trim()  # what building the feed left behind
        rss_before = rss_bytes()
        seconds, updates, sent, _net = run(data, args.chunk, None, args.hold_reads)
        times.append(seconds)
        print(
            f"cpu {seconds:.3f} s  ({seconds / args.prefixes * 1e6:.1f} us/route); "
            f"out: {updates:,} sends, {sent:,} bytes"
        )
        if i == 0:  # the first run meets a fresh heap, as the daemon does
            gc.collect()
            if trim is not None:
                trim()  # as the daemon does once its input is quiet
            held = rss_bytes() - rss_before
            print(f"RSS held after the first run: {held:,} B: {held / args.prefixes:.0f} B/route")
        del _net
    if times:
        print(f"min cpu {min(times):.3f} s")
    if args.profile is not None:
        prof = cProfile.Profile()
        run(data, args.chunk, prof, args.hold_reads)
        prof.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(35)
    if args.memory:
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        _seconds, _u, _s, net = run(data, args.chunk, None, args.hold_reads)
        gc.collect()
        after = tracemalloc.take_snapshot()
        diff = after.compare_to(before, "lineno")
        grown = sum(d.size_diff for d in diff)
        print(f"live Python memory grew by {grown:,} B: {grown / args.prefixes:.0f} B/route")
        for d in diff[:40]:
            print(f"{d.size_diff:>12,} B {d.count_diff:>8,} blocks  {d.traceback[0]}")
        del net
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

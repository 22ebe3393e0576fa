"""RIB memory and speed: bytes per route for 100k prefixes from one source, and ns per prefix.

Scenarios, each measured in a fresh child process so RSS growth is not blurred by what an
earlier scenario left in the allocator:
- "locrib": the Loc-RIB alone; the prefixes (packed bytes) exist before the baseline, so
  this is the Loc-RIB's own cost: its table, the source index and the shared candidates.
- "pipeline": what a speaker holds when it learns the table from one peer and forwards it to
  another: UPDATE bodies decoded by `UpdateDecoder` (the prefixes are the decoder's objects,
  created after the baseline), the peer's `AdjRibIn`, the `LocRib` and an Adj-RIB-Out table
  of the shape `AdjRibOut` keeps (Nlri -> PathInfo, filled from the change groups).
  The encoded UPDATE bodies are built before the baseline (they are the network's bytes).

Memory is reported twice: tracemalloc (Python allocations still alive after the ingest, in a
run of its own since tracing slows everything down) and RSS growth (VmRSS after minus before,
what an operator sees). Times are CPU time (time.process_time) of the untraced run, per prefix:
ingest (decode + Adj-RIB-In + Loc-RIB + taking the changes + Adj-RIB-Out), then withdrawing
everything again through the same path. The target is at most 400 bytes per route.

Run: .venv/bin/python bench/rib_memory.py [--prefixes N] [--sets N] [--per-update N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import rss_kib, save  # noqa: E402
from bgpd.net import IPV4_UNICAST, Nlri  # noqa: E402
from bgpd.rib import AdjRibIn, CandidateCache, LocRib, PathInfo, Source, SourceKind  # noqa: E402
from bgpd.wire.attributes import AsPathSegment, PathAttributes  # noqa: E402
from bgpd.wire.codec import UpdateDecoder, encode_path_attributes, pack_announcements  # noqa: E402
from bgpd.wire.constants import Origin, SegmentType  # noqa: E402
from bgpd.wire.messages import NlriBatch, UpdateMessage  # noqa: E402
from bgpd.wire.negotiated import EncodeContext, Negotiated  # noqa: E402

TARGET_BYTES_PER_ROUTE = 400
HEADER = 19


def make_prefixes(n: int, seed: int = 1) -> list[Nlri]:
    """Distinct IPv4 prefixes, mostly /24 like a real table, some /16-/32."""
    rng = random.Random(seed)
    seen: set[Nlri] = set()
    out: list[Nlri] = []
    while len(out) < n:
        length = rng.choice((24, 24, 24, 24, 22, 20, 16, 32))
        addr = rng.getrandbits(32) & ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
        packed = bytes((length,)) + addr.to_bytes(4, "big")[: (length + 7) // 8]
        if packed not in seen:
            seen.add(packed)
            out.append(packed)
    return out


def make_attribute_sets(count: int) -> list[PathAttributes]:
    rng = random.Random(2)
    return [
        PathAttributes(
            origin=Origin.IGP,
            as_path=(
                AsPathSegment(
                    type=SegmentType.AS_SEQUENCE,
                    asns=(65001, *(rng.randrange(1, 64000) for _ in range(rng.randint(0, 4)))),
                ),
            ),
            next_hop=bytes((10, 0, 0, 1)),
            med=rng.randrange(100) if i % 2 else None,
            communities=tuple(sorted(rng.randrange(1 << 32) for _ in range(i % 3))),
        )
        for i in range(count)
    ]


def build_updates(prefixes: list[Nlri], n_sets: int, per_update: int) -> list[bytes]:
    """UPDATE bodies (no header), `per_update` prefixes each at most, attribute sets rotating."""
    ctx = EncodeContext.from_negotiated(Negotiated.default(65000, 65001))
    sets = [encode_path_attributes(a, ctx) for a in make_attribute_sets(n_sets)]
    bodies: list[bytes] = []
    next_hop = bytes((10, 0, 0, 1))
    for i, start in enumerate(range(0, len(prefixes), per_update)):
        chunk = prefixes[start : start + per_update]
        for msg in pack_announcements(ctx, IPV4_UNICAST, sets[i % n_sets], next_hop, chunk):
            bodies.append(msg[HEADER:])
    return bodies


def _source() -> Source:
    return Source(
        name="peer1",
        kind=SourceKind.EBGP,
        peer_asn=65001,
        router_id=0x0A000001,
        address=bytes((10, 0, 0, 1)),
    )


def _settle() -> None:
    gc.collect()


def run_locrib(n: int, traced: bool) -> dict[str, Any]:
    prefixes = make_prefixes(n)
    attrs = make_attribute_sets(1)[0]
    source = _source()
    _settle()
    rss0 = rss_kib(os.getpid())
    if traced:
        tracemalloc.start()
    t0 = time.process_time()
    rib = LocRib()
    candidates = CandidateCache(source)
    batch = 800  # about what one 4096-octet UPDATE carries
    for start in range(0, n, batch):
        info = PathInfo(attributes=attrs, next_hop=bytes((10, 0, 0, 1)))
        rib.announce_many(IPV4_UNICAST, prefixes[start : start + batch], candidates.candidate(info))
    t_announce = time.process_time() - t0
    t1 = time.process_time()
    groups = rib.take_change_groups()
    t_take = time.process_time() - t1
    changed = sum(len(g.nlris) for g in groups)
    del groups
    _settle()
    result: dict[str, Any] = {"prefixes": n, "changed": changed, "held": rib.count(IPV4_UNICAST)}
    if traced:
        current, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["tracemalloc_bytes"] = current
    else:
        result["rss_bytes"] = (rss_kib(os.getpid()) - rss0) * 1024
        result["ns_per_prefix"] = {
            "announce": t_announce / n * 1e9,
            "take_change_groups": t_take / n * 1e9,
        }
        t2 = time.process_time()
        for start in range(0, n, batch):
            rib.withdraw_many(IPV4_UNICAST, prefixes[start : start + batch], source.name)
        t_withdraw = time.process_time() - t2
        t3 = time.process_time()
        gone = rib.take_changes()
        result["ns_per_prefix"]["withdraw"] = t_withdraw / n * 1e9
        result["ns_per_prefix"]["take_changes"] = (time.process_time() - t3) / n * 1e9
        assert len(gone) == n and rib.count(IPV4_UNICAST) == (0, 0)
    return result


def _ingest(
    update: UpdateMessage,
    adj_in: AdjRibIn,
    rib: LocRib,
    candidates: CandidateCache,
    adj_out: dict[Nlri, PathInfo],
) -> None:
    """What the speaker does per UPDATE, minus policy and packing."""
    adj_in.apply(update)
    name = candidates.source.name
    for batch in update.withdrawn:
        rib.withdraw_many(batch.family, batch.prefixes, name, batch.path_ids)
    if update.attributes is not None:
        for batch in update.announced:
            info = adj_in.path_info(update.attributes, batch.next_hop)
            rib.announce_many(batch.family, batch.prefixes, candidates.candidate(info))
    for group in rib.take_change_groups():
        if group.best is None:
            for nlri in group.nlris:
                adj_out.pop(nlri, None)
        else:
            info = group.best.info
            for nlri in group.nlris:
                adj_out[nlri] = info


def run_pipeline(n: int, n_sets: int, per_update: int, traced: bool) -> dict[str, Any]:
    bodies = build_updates(make_prefixes(n), n_sets, per_update)
    negotiated = Negotiated.default(65000, 65001)
    source = _source()
    _settle()
    rss0 = rss_kib(os.getpid())
    if traced:
        tracemalloc.start()
    t0 = time.process_time()
    decoder = UpdateDecoder(negotiated)
    adj_in = AdjRibIn()
    rib = LocRib()
    candidates = CandidateCache(source)
    adj_out: dict[Nlri, PathInfo] = {}
    decode = decoder.decode
    for body in bodies:
        update = decode(body)
        assert isinstance(update, UpdateMessage)
        _ingest(update, adj_in, rib, candidates, adj_out)
    t_ingest = time.process_time() - t0
    del update
    _settle()
    result: dict[str, Any] = {
        "prefixes": n,
        "updates": len(bodies),
        "attribute_sets": n_sets,
        "adj_in": len(adj_in),
        "loc_rib": rib.count(IPV4_UNICAST),
        "adj_out": len(adj_out),
    }
    assert len(adj_in) == len(adj_out) == n
    if traced:
        current, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["tracemalloc_bytes"] = current
        return result
    result["rss_bytes"] = (rss_kib(os.getpid()) - rss0) * 1024
    # Withdraw everything through the same path: UPDATEs carrying withdrawn routes only.
    nlris = list(adj_out)
    withdrawals = [
        UpdateMessage(
            attributes=None,
            announced=(),
            withdrawn=(_batch(nlris[start : start + 1000]),),
        )
        for start in range(0, n, 1000)
    ]
    t1 = time.process_time()
    for update in withdrawals:
        _ingest(update, adj_in, rib, candidates, adj_out)
    t_withdraw = time.process_time() - t1
    assert len(adj_out) == 0 and rib.count(IPV4_UNICAST) == (0, 0)
    result["ns_per_prefix"] = {
        "ingest (decode+adj_in+loc_rib+changes+adj_out)": t_ingest / n * 1e9,
        "withdraw (adj_in+loc_rib+changes+adj_out)": t_withdraw / n * 1e9,
    }
    return result


def _batch(prefixes: list[Nlri]) -> NlriBatch:
    return NlriBatch(family=IPV4_UNICAST, next_hop=b"", prefixes=tuple(prefixes))


def child(args: argparse.Namespace) -> None:
    traced = args.mode == "traced"
    if args.scenario == "locrib":
        result = run_locrib(args.prefixes, traced)
    else:
        result = run_pipeline(args.prefixes, args.sets, args.per_update, traced)
    print(json.dumps(result))


def measure(scenario: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        scenario,
        "--mode",
        mode,
        "--prefixes",
        str(args.prefixes),
        "--sets",
        str(args.sets),
        "--per-update",
        str(args.per_update),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--sets", type=int, default=100, help="distinct attribute sets")
    parser.add_argument(
        "--per-update", type=int, default=1000, help="prefixes per UPDATE (at most; 1 = churn)"
    )
    parser.add_argument("--child", choices=("locrib", "pipeline"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("plain", "traced"), default="plain")
    args = parser.parse_args()
    if args.child:
        args.scenario = args.child
        child(args)
        return
    report: dict[str, Any] = {"target_bytes_per_route": TARGET_BYTES_PER_ROUTE}
    for scenario in ("locrib", "pipeline"):
        plain = measure(scenario, "plain", args)
        traced = measure(scenario, "traced", args)
        n = plain["prefixes"]
        plain["tracemalloc_bytes"] = traced["tracemalloc_bytes"]
        plain["bytes_per_route"] = {
            "tracemalloc": round(traced["tracemalloc_bytes"] / n, 1),
            "rss": round(plain["rss_bytes"] / n, 1),
        }
        plain["ns_per_prefix"] = {k: round(v) for k, v in plain["ns_per_prefix"].items()}
        report[scenario] = plain
        bpr = plain["bytes_per_route"]
        print(
            f"{scenario:9s} {n} prefixes: {bpr['tracemalloc']} B/route (tracemalloc), "
            f"{bpr['rss']} B/route (RSS)"
        )
        for stage, ns in plain["ns_per_prefix"].items():
            print(f"          {stage}: {ns} ns/prefix")
    ok = report["pipeline"]["bytes_per_route"]["rss"] <= TARGET_BYTES_PER_ROUTE
    print(f"pipeline RSS target ({TARGET_BYTES_PER_ROUTE} B/route): {'met' if ok else 'MISSED'}")
    path = save(f"rib_memory_{args.per_update}", report)
    print(f"saved {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()

"""Memory after a mass withdrawal: RSS when a 100,000-route peer goes down, with and without
the `malloc_trim` the daemon's `MemoryTrimmer` now plans for it (bgpd/runtime/memory.py).

The table of `bench/forward_inproc.py` is fed to the DUT speaker and forwarded to a collector
(the same in-memory sessions), memory is trimmed as after the input burst, then the sender's
session is lost: every route leaves the Loc-RIB and is withdrawn toward the collector, with no
input byte. RSS is read from /proc/self/statm at each step.

    .venv/bin/python bench/withdrawal_memory.py [--prefixes N]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.forward_inproc import feed, run
from bgpd.net import IPV4_UNICAST
from bgpd.runtime.memory import _libc_trim


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    args = parser.parse_args()
    trim = _libc_trim()
    assert trim is not None, "glibc's malloc_trim is needed"
    data = feed(args.prefixes, 10, 1)
    logging.disable(logging.WARNING)  # the sessions' own lines are not the point here
    _seconds, _updates, _sent, net = run(data, 65536, None)
    del data
    gc.collect()
    trim()  # what the trimmer did already once the input burst was over
    loaded = rss_mib()
    dut = net.nodes["dut"].speaker
    conn = next(c for c, (node, peer, _) in net.ends.items() if (node, peer) == ("dut", "sender"))
    dut.connection_lost("sender", conn, net.now)
    # The sender negotiated graceful restart: its routes stay (stale) until its restart time
    # passes without it coming back; then they are swept and withdrawn toward the collector.
    dut.handle_timer(net.now + 3600)
    dut.take_outputs()  # the withdrawals toward the collector, as the daemon sends them
    assert dut.rib.count(IPV4_UNICAST) == (0, 0)
    gc.collect()
    down = rss_mib()
    trim()  # what the trimmer now plans after the drop (before: nothing, no input came)
    trimmed = rss_mib()
    print(f"{args.prefixes:,} routes loaded, trimmed after the burst: RSS {loaded:.1f} MiB")
    print(f"peer down, routes withdrawn, no trim (before):  RSS {down:.1f} MiB")
    print(f"peer down, then malloc_trim (this change):     RSS {trimmed:.1f} MiB")
    print(f"returned to the system: {down - trimmed:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# Installs what the benchmarks need, idempotently: nothing beyond the test peers today.
# FRR, a reference reflector for bench/reflect_bench.py, is a test peer too and comes from
# scripts/install-debian-deps.sh (installed with its daemons NOT started; the benchmark runs
# FRR's bgpd by hand without zebra or watchfrr, inside its own network namespace).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-debian-deps.sh"
echo "bench deps ok: $(/usr/lib/frr/bgpd --version 2>&1 | head -n1)"

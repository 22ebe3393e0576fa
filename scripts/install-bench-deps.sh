#!/usr/bin/env bash
# Installs the extra Debian packages the benchmarks need (not the tests), idempotently.
# FRR is only a reference reflector for bench/reflect_bench.py: it is installed with its
# daemons NOT started (policy-rc.d 101), and the benchmark runs FRR's bgpd by hand without
# zebra or watchfrr, inside its own network namespace.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/install-debian-deps.sh"
packages=(frr)

need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d 101: packages must not start their daemons on this machine.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "bench deps ok: $(/usr/lib/frr/bgpd --version 2>&1 | head -n1)"

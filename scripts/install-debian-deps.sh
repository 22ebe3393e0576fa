#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, idempotently.
# BIRD 1.6 (package `bird`) conflicts with BIRD 2 (`bird2`): bird2 is installed, and the 1.6
# package is unpacked with `dpkg -x` into .deps/bird1 (its binaries are used from there).
# FRR and OpenBGPD are test peers too: the tests run their bgpd by hand inside network
# namespaces, so the packages' own services must never start (policy-rc.d below).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
deps="$here/.deps"

# `--demo` (make demo): only BIRD 2's birdcl, so the demo's BIRD-socket step shows the real
# client's output; as root with apt, else a note (the demo then speaks the protocol by hand).
if [ "${1:-}" = "--demo" ]; then
  if PATH="$PATH:/usr/sbin:/sbin" command -v birdcl >/dev/null 2>&1; then
    exit 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends bird2 >/dev/null
    echo "demo: installed bird2 for birdcl"
  else
    echo "demo: no birdcl (as root: apt-get install bird2); the BIRD socket is read by a few-line client"
  fi
  exit 0
fi
packages=(bird2 gobgpd etcd-server prometheus iproute2 procps)
packages+=(openssl)  # the etcd test fixture makes its TLS CA and certificates with the CLI
packages+=(frr openbgpd)  # FRR 8.4 and OpenBGPD 7.7 test peers (tests/integration/peers)
packages+=(runit)  # calico-node's runit services (test_calico_node_runit.py; umoci below layers them)
packages+=(python3-venv pipx systemd python3-seccomp)  # the installed wheel (docs/install.md) and the systemd units' checks (test_wheel.py, test_systemd_units.py)
packages+=(mmdebstrap umoci runc)  # `make image` (scripts/build_image.py) and test_image.py
packages+=(iputils-ping)  # workloads pinging each other across nodes (test_llgr.py)
packages+=(prometheus-bird-exporter)  # bird_exporter reading our BIRD socket (test_bird_exporter.py)
# the shipped manual pages and bash completion (test_manuals.py, test_wheel.py)
packages+=(man-db groff-base bash bash-completion)

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

if [ ! -x "$deps/bird1/usr/sbin/bird" ]; then
  mkdir -p "$deps/bird1" "$deps/debs"
  [ -n "$(ls "$deps"/debs/bird_1.6*.deb 2>/dev/null)" ] || {
    apt-get update -qq
    (cd "$deps/debs" && apt-get download -qq bird >/dev/null)
  }
  dpkg -x "$(ls "$deps"/debs/bird_1.6*.deb | head -n1)" "$deps/bird1"
fi
echo "debian deps ok: bird2 $(bird --version 2>&1 | head -n1), bird1 $("$deps/bird1/usr/sbin/bird" --version 2>&1 | head -n1)," \
  "frr $(/usr/lib/frr/bgpd --version 2>&1 | head -n1), openbgpd $(/usr/sbin/bgpd -V 2>&1 | head -n1)"

#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from the Kubernetes Go module (tools/kube/go.mod) for the
# integration tests' real API server (tests/integration/kube_apiserver.py), idempotently.
#
# Debian has no API server package, so the binaries are built with Go through the Go module
# proxy. They go to a versioned cache OUTSIDE the checkout,
#   ${BGPD_TEST_CACHE:-/var/cache/bgpd-test}/kube-<version>/{kube-apiserver,kubectl}
# so a fresh clone on a machine that built once reuses them; the Go module and build caches stay
# at Go's defaults and persist across clones too. A stamp (the hash of go.mod, go.sum, tools.go
# and the build flags below) makes a changed pin rebuild. Prints one line when cached.
# The test fixture finds the binaries by the same rule (kube_binaries() in
# tests/integration/kube_apiserver.py). Go >= go.mod's `go` line must be installed (PATH or
# /usr/local/go/bin); a first build with empty Go caches downloads ~200 modules through the
# Go module proxy and takes ~10 CPU-minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/tools/kube"
version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$mod/go.mod")
[ -n "$version" ] || { echo "build-kube-binaries: no k8s.io/kubernetes in $mod/go.mod" >&2; exit 1; }
cache="${BGPD_TEST_CACHE:-/var/cache/bgpd-test}"
dest="$cache/kube-$version"

# Static binaries as Kubernetes releases them (CGO_ENABLED=0), stripped, with the version
# strings `make release` would stamp (else they report v0.0.0-master and kubectl warns on skew).
IFS=. read -r major minor _ <<<"${version#v}"
pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
for p in "${pkgs[@]}"; do
  ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
stamp=$(cat "$mod/go.mod" "$mod/go.sum" "$mod/tools.go" <(echo "CGO_ENABLED=0 $ldflags") | sha256sum | cut -c1-16)

cached() {
  [ -x "$dest/kube-apiserver" ] && [ -x "$dest/kubectl" ] && [ "$(cat "$dest/.stamp" 2>/dev/null)" = "$stamp" ]
}
if cached; then
  echo "kube binaries cached: $dest (kube-apiserver and kubectl $version)"
  exit 0
fi

go=$(command -v go || true)
[ -n "$go" ] || go=/usr/local/go/bin/go
[ -x "$go" ] || {
  echo "build-kube-binaries: Go is needed to build kube-apiserver $version (go.mod says $(awk '$1 == "go" { print $2 }' "$mod/go.mod")); install it from go.dev/dl" >&2
  exit 1
}

mkdir -p "$cache"
exec 9>"$cache/.kube-build.lock"
flock 9  # another clone may be building the same version: wait for it, then reuse its result
if cached; then
  echo "kube binaries cached: $dest (built meanwhile by another run)"
  exit 0
fi

tmp=$(mktemp -d "$cache/.kube-build.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "building kube-apiserver and kubectl $version with $("$go" version | cut -d' ' -f3) (first time only: ~10 CPU-minutes with empty Go caches)"
start=$SECONDS
(
  cd "$mod"
  # -mod=readonly: the committed go.mod/go.sum are the pin; a build never rewrites them.
  CGO_ENABLED=0 GOFLAGS=-mod=readonly "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
)
echo "$stamp" >"$tmp/.stamp"
"$tmp/kube-apiserver" --version | grep -qx "Kubernetes $version" || {
  echo "build-kube-binaries: built kube-apiserver reports '$("$tmp/kube-apiserver" --version)'" >&2
  exit 1
}
rm -rf "$dest.old"
[ ! -e "$dest" ] || mv "$dest" "$dest.old"
mv "$tmp" "$dest"
rm -rf "$dest.old"
echo "kube binaries built in $((SECONDS - start)) s: $dest"

#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd for the local test API server from the
# Go module in test/envtest (k8s.io/kubernetes + go.etcd.io/etcd/server/v3 via the
# Go module proxy), once per version pair, into a cache outside the work tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/envtest/<k8s>-<etcd>/bin
# Idempotent: when the three binaries are there it only prints the directory.
# The bin directory is always the LAST line on stdout; everything else goes to stderr.
#   --print-dir   print the bin directory without building (exit 1 if not built yet)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mod_dir="$repo_root/test/envtest"

if ! command -v go >/dev/null 2>&1; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "envtest/build: go not found (install Go >= 1.26)" >&2; exit 1; }

# Versions come from go.mod (no network needed for this).
mod_version() {
  awk -v m="$1" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m && $2 ~ /^v/ { print $2; exit }' "$mod_dir/go.mod"
}
k8s_version="$(mod_version k8s.io/kubernetes)"
etcd_version="$(mod_version go.etcd.io/etcd/server/v3)"
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "envtest/build: cannot read versions from $mod_dir/go.mod" >&2; exit 1; }

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/envtest"
version_dir="$cache_root/${k8s_version}-${etcd_version}"
bin_dir="$version_dir/bin"
binaries=(kube-apiserver kubectl etcd)

built() {
  local b
  for b in "${binaries[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done
}

if [ "${1:-}" = "--print-dir" ]; then
  built || { echo "envtest/build: not built yet: $bin_dir (run scripts/envtest/build.sh)" >&2; exit 1; }
  echo "$bin_dir"; exit 0
fi

if built; then echo "$bin_dir"; exit 0; fi

mkdir -p "$version_dir"
# One builder at a time per version (parallel test runs / fresh clones on the same machine).
exec 9>"$version_dir/.lock"
flock 9
if built; then echo "$bin_dir"; exit 0; fi

echo "envtest/build: building kube-apiserver, kubectl ($k8s_version) and etcd ($etcd_version) into $bin_dir" >&2
echo "envtest/build: (first time on this machine takes several minutes; later runs reuse the cache)" >&2

jobs="${ENVTEST_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
[ "$jobs" -gt 4 ] && jobs=4

minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

tmp_bin="$version_dir/bin.tmp.$$"
rm -rf "$tmp_bin"; mkdir -p "$tmp_bin"
trap 'rm -rf "$tmp_bin"' EXIT
(
  cd "$mod_dir"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" -ldflags="$ldflags" -o "$tmp_bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kubectl \
    ./cmd/etcd
)
rm -rf "$bin_dir"
mv "$tmp_bin" "$bin_dir"
trap - EXIT
echo "envtest/build: done" >&2
echo "$bin_dir"

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
CACHED_BUILD_ARGS="${1:-}"
# shellcheck source=../lib/cached-build.sh
source "$repo_root/scripts/lib/cached-build.sh"

# Versions come from go.mod (no network needed for this).
k8s_version="$(mod_version "$mod_dir/go.mod" k8s.io/kubernetes)"
etcd_version="$(mod_version "$mod_dir/go.mod" go.etcd.io/etcd/server/v3)"
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "envtest/build: cannot read versions from $mod_dir/go.mod" >&2; exit 1; }

cached_build_init envtest "${k8s_version}-${etcd_version}" kube-apiserver kubectl etcd
jobs="${ENVTEST_BUILD_JOBS:-$jobs}"
echo "envtest/build: building kube-apiserver, kubectl ($k8s_version) and etcd ($etcd_version) into $bin_dir" >&2
echo "envtest/build: (first time on this machine takes several minutes; later runs reuse the cache)" >&2

ldflags="$(k8s_ldflags "$k8s_version")"

(
  cd "$mod_dir"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" -ldflags="$ldflags" -o "$tmp_bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kubectl \
    ./cmd/etcd
)
cached_build_finish

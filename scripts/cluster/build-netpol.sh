#!/usr/bin/env bash
# Builds the test cluster's NetworkPolicy engine: kube-router's network policy
# controller (iptables + ipset; scripts/cluster/up.sh runs it with only
# --run-firewall), from the Go module in test/cluster/kube-router (its own module:
# kube-router pins an older client-go than the cluster's k8s.io/kubernetes), once per
# version, into a cache outside the work tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/cluster-netpol/<kube-router version>/bin
# Idempotent: when the binary is there it only prints the directory.
# The bin directory is always the LAST line on stdout; everything else goes to stderr.
#   --print-dir   print the bin directory without building (exit 1 if not built yet)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mod_dir="$repo_root/test/cluster/kube-router"
CACHED_BUILD_ARGS="${1:-}"
# shellcheck source=../lib/cached-build.sh
source "$repo_root/scripts/lib/cached-build.sh"

kr_module=github.com/cloudnativelabs/kube-router/v2
kr_version="$(mod_version "$mod_dir/go.mod" "$kr_module")"
[ -n "$kr_version" ] || { echo "cluster/build-netpol: cannot read the $kr_module version from $mod_dir/go.mod" >&2; exit 1; }

cached_build_init cluster-netpol "$kr_version" kube-router
jobs="${CLUSTER_BUILD_JOBS:-$jobs}"
echo "cluster/build-netpol: building kube-router $kr_version into $bin_dir (about 4.5 minutes the first time on 2 cores)" >&2
(
  cd "$mod_dir"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" \
    -ldflags="-s -w -X $kr_module/pkg/version.Version=$kr_version" -o "$tmp_bin/" "$kr_module/cmd/kube-router"
)
cached_build_finish

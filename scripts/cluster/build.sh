#!/usr/bin/env bash
# Builds the node side of the single-node test cluster (scripts/cluster/up.sh):
# kubelet, kube-controller-manager, kube-scheduler and kube-proxy from the Go module
# in test/cluster (k8s.io/kubernetes via the Go module proxy, the same go.mod as
# test/envtest plus the go.sum lines the kubelet and kube-proxy need), and the pause
# binary (pause.c from the same k8s.io/kubernetes module, gcc -static), once per
# version, into a cache outside the work tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/cluster/<k8s>/bin
# (etcd, kube-apiserver and kubectl come from scripts/envtest/build.sh; kube-router,
# the NetworkPolicy engine, from scripts/cluster/build-netpol.sh, run first.)
# Idempotent: when the binaries are there it only prints the directory.
# The bin directory is always the LAST line on stdout; everything else goes to stderr.
#   --print-dir   print the bin directory without building (exit 1 if not built yet)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mod_dir="$repo_root/test/cluster"
CACHED_BUILD_ARGS="${1:-}"
# shellcheck source=../lib/cached-build.sh
source "$repo_root/scripts/lib/cached-build.sh"

# The NetworkPolicy engine (kube-router), a module and a cache of its own.
bash "$repo_root/scripts/cluster/build-netpol.sh" "$CACHED_BUILD_ARGS" >&2

k8s_version="$(mod_version "$mod_dir/go.mod" k8s.io/kubernetes)"
[ -n "$k8s_version" ] || { echo "cluster/build: cannot read the k8s.io/kubernetes version from $mod_dir/go.mod" >&2; exit 1; }

cached_build_init cluster "$k8s_version" kubelet kube-controller-manager kube-scheduler kube-proxy pause
jobs="${CLUSTER_BUILD_JOBS:-$jobs}"
command -v gcc >/dev/null 2>&1 || { echo "cluster/build: gcc not found (apt-get install gcc libc6-dev)" >&2; exit 1; }
echo "cluster/build: building kubelet, kube-controller-manager, kube-scheduler, kube-proxy and pause ($k8s_version) into $bin_dir" >&2
echo "cluster/build: (first time on this machine takes several minutes; later runs reuse the cache)" >&2

ldflags="$(k8s_ldflags "$k8s_version")"

(
  cd "$mod_dir"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" -ldflags="$ldflags" -o "$tmp_bin/" \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy
  # The pod sandbox's pause process, from the source Kubernetes ships (build/pause/linux).
  k8s_dir="$(GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
  [ -f "$k8s_dir/build/pause/linux/pause.c" ] || { echo "cluster/build: no build/pause/linux/pause.c in $k8s_dir" >&2; exit 1; }
  gcc -Os -Wall -Werror -static -DVERSION="\"$k8s_version\"" -o "$tmp_bin/pause" "$k8s_dir/build/pause/linux/pause.c"
  strip "$tmp_bin/pause"
)
cached_build_finish

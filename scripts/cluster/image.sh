#!/usr/bin/env bash
# `npm run cluster:image`: imports the operator's image (scripts/image/build.sh:
# built once per set of inputs, cached) into the cluster's containerd under the
# name the chart and deploy/base use, ghcr.io/truetask/truetask-adsync:<appVersion>,
# so `helm install` / `kubectl apply -k` need no registry (pull policy Never or
# IfNotPresent). Skips the import when the cluster already has that image.
#   image.sh [--tag NEW_TAG]...   also tag it ghcr.io/truetask/truetask-adsync:NEW_TAG
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=../node-env.sh
source "$repo_root/scripts/node-env.sh"
log() { echo "cluster/image: $*" >&2; }

extra_tags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) extra_tags+=("$2"); shift 2 ;;
    *) log "unknown argument $1 (usage: image.sh [--tag NEW_TAG]...)"; exit 2 ;;
  esac
done
[ -S "$R/containerd/containerd.sock" ] || { log "the cluster is not up (npm run cluster:up)"; exit 1; }

repo=ghcr.io/truetask/truetask-adsync
app_version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo_root/charts/truetask-adsync/Chart.yaml")"
[ -n "$app_version" ] || { log "cannot read appVersion from charts/truetask-adsync/Chart.yaml"; exit 1; }
ref="$repo:$app_version"
id="$(bash "$repo_root/scripts/image/build.sh" | tail -1)"
[[ "$id" =~ ^[0-9a-f]{64}$ ]] || { log "scripts/image/build.sh gave no image ID"; exit 1; }

if [ "$(cat "$R/image.id" 2>/dev/null)" != "$id" ]; then
  t0=$SECONDS
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/cluster"
  mkdir -p "$cache"
  tar="$cache/image-${id:0:16}.tar"
  if [ ! -s "$tar" ]; then
    rm -f "$cache"/image-*.tar
    bash "$repo_root/scripts/image/podman.sh" tag "$id" "$ref"
    bash "$repo_root/scripts/image/podman.sh" save --format docker-archive -o "$tar.tmp" "$ref" >&2
    mv "$tar.tmp" "$tar"
  fi
  CTR images import "$tar" >/dev/null
  echo "$id" > "$R/image.id"
  log "imported $ref (${id:0:12}) in $((SECONDS - t0)) s"
fi
for t in "${extra_tags[@]}"; do
  CTR images tag --force "$ref" "$repo:$t" >/dev/null
  log "tagged $repo:$t"
done
echo "$ref"

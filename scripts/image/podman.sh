#!/usr/bin/env bash
# podman with the project's own configuration and storage, so building and running
# the image never touches the machine's global container setup:
#   config   scripts/image/{containers,registries,storage}.conf
#   images   ${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/image/storage
#   state    ${XDG_RUNTIME_DIR:-/run}/truetask-adsync-podman (running containers)
# Usage: bash scripts/image/podman.sh images   (any podman command)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/truetask-adsync/image"
run_dir="${XDG_RUNTIME_DIR:-/run}/truetask-adsync-podman"
mkdir -p "$cache/storage" "$run_dir/tmp"
export CONTAINERS_CONF="$here/containers.conf"
export CONTAINERS_REGISTRIES_CONF="$here/registries.conf"
export CONTAINERS_STORAGE_CONF="$here/storage.conf"
exec podman --root "$cache/storage" --runroot "$run_dir/storage" --tmpdir "$run_dir/tmp" "$@"

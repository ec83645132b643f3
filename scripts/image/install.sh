#!/usr/bin/env bash
# Installs what building and running the operator's image needs (scripts/image/build.sh,
# test/kube/image.test.ts), on Debian: idempotent, a quick no-op when present.
# Run as root (or it re-runs itself with sudo).
#
#   podman       builds the Dockerfile (buildah inside) and runs the image
#   runc         the OCI runtime (crun refuses hybrid cgroup v1/v2 hosts)
#   mmdebstrap   makes the Debian base (scripts/image/base.sh): no registry serves
#                node:24-bookworm-slim on CI machines
# --no-install-recommends: no buildah/slirp4netns/fuse-overlayfs (root, host network,
# native overlayfs). podman's settings live in scripts/image/*.conf, not in /etc.
set -euo pipefail

PKGS=(podman runc mmdebstrap)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "$0" "$@"; fi
  echo "image/install: run as root" >&2; exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then missing+=("$p"); fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "image/install: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

for c in podman runc mmdebstrap; do
  command -v "$c" >/dev/null 2>&1 || { echo "image/install: $c still missing" >&2; exit 1; }
done
echo "image/install: $(podman --version), $(runc --version | head -n1), mmdebstrap $(mmdebstrap --version | awk '{print $2}')" >&2

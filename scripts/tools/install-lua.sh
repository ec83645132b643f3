#!/usr/bin/env bash
# Installs a Lua 5.1 interpreter (Debian package lua5.1), which the tests use to
# run the Argo CD health check (docs/argocd-health.lua; Argo CD runs it in
# gopher-lua, a Lua 5.1) over real AdSync objects. Idempotent: a quick no-op
# when lua5.1 is there. Run as root (or it re-runs itself with sudo).
set -euo pipefail

if command -v lua5.1 >/dev/null 2>&1; then
  echo "install-lua.sh: $(lua5.1 -v 2>&1)" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "$0" "$@"; fi
  echo "install-lua.sh: run as root" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends lua5.1 >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends lua5.1 >/dev/null
fi
command -v lua5.1 >/dev/null 2>&1 || { echo "install-lua.sh: lua5.1 still missing" >&2; exit 1; }
echo "install-lua.sh: $(lua5.1 -v 2>&1)" >&2

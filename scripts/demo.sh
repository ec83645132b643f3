#!/usr/bin/env bash
# The README's "run it" command: installs what the demo needs (first time only),
# then runs it. Pass --keep to leave everything running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

# Arguments are checked before anything is installed (scripts/demo.ts checks them again, with the same text).
usage() {
  cat <<'EOF'
usage: bash scripts/demo.sh [--keep]

The demo: a real single-node cluster, a seeded Samba AD, the Truetask simulator and the
operator installed with its Helm chart, running as pods; an AdSync in Preview mode, then
Sync. Installs and builds what it needs the first time.

  --keep       leave everything running until Ctrl-C
  -h, --help   print this help
EOF
}
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --keep) ;;
    *) echo "demo: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
bash scripts/samba/install.sh
source scripts/node-env.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/envtest/build.sh >/dev/null
bash scripts/tools/build.sh >/dev/null
# The cluster (scripts/cluster/up.sh): containerd, runc, the CNI plugins, conntrack, socat.
if ! command -v containerd >/dev/null || [ ! -x /usr/lib/cni/bridge ] || ! command -v socat >/dev/null || ! command -v conntrack >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containerd containernetworking-plugins conntrack socat iptables curl >&2
fi
bash scripts/cluster/build.sh >/dev/null
command -v podman >/dev/null || bash scripts/image/install.sh
bash scripts/image/build.sh >/dev/null
exec node scripts/demo.ts "$@"

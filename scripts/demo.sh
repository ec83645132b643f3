#!/usr/bin/env bash
# The README's "run it" command: installs what the demo needs (first time only),
# then runs it. Pass --keep to leave everything running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/samba/install.sh
source scripts/node-env.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/envtest/build.sh >/dev/null
exec node scripts/demo.ts "$@"

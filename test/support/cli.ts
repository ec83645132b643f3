// Runs the `adsync` CLI as a user would: a child process with a -f file.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  /** stderr without the InsecurePlaintext warnings (in `warnings`). */
  stderr: string;
  /** The `adsync: warning: InsecurePlaintext: ...` lines: most tests opt into clear text to the http:// simulator. */
  warnings: string[];
  /** stderr as the CLI wrote it. */
  rawStderr: string;
}

const PLAINTEXT_WARNING = /^adsync: warning: InsecurePlaintext: .*\n/gm;

export function adsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: '/nonexistent/kubeconfig', ...env }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        const warnings = stderr.match(PLAINTEXT_WARNING)?.map((l) => l.trimEnd()) ?? [];
        resolve({ code, stdout, stderr: stderr.replace(PLAINTEXT_WARNING, ''), warnings, rawStderr: stderr });
      },
    );
  });
}

let dir: string | undefined;
let n = 0;

/** Writes `text` to a fresh file in a temp dir and returns its path. */
export async function tempFile(text: string, name = 'adsync.yaml'): Promise<string> {
  dir ??= await mkdtemp(join(tmpdir(), 'adsync-cli-'));
  const path = join(dir, `${n++}-${name}`);
  await writeFile(path, text);
  return path;
}

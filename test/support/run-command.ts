// Runs a command for tests and tooling: output collected, bounded in time,
// never rejecting on a non-zero exit (the result carries the code).
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Bound on the run. Default 120 s. */
  timeoutMs?: number;
  /** Also show stderr as it comes (progress of a long build). */
  inheritStderr?: boolean;
}

/** Runs a command; never rejects on a non-zero exit (the result carries the code). */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd ?? repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (stdout += c));
    child.stderr.on('data', (c: string) => {
      stderr += c;
      if (opts.inheritStderr) process.stderr.write(c);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      ok({ stdout, stderr, code: code ?? (signal ? 128 : -1) });
    });
    child.stdin.on('error', () => {
      // the command may exit without reading stdin
    });
    child.stdin.end(opts.input ?? '');
  });
}

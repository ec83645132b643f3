// The operator's container image for tests: built from the project's Dockerfile by
// scripts/image/build.sh (once per set of inputs, cached in
// ~/.cache/truetask-adsync/image), run with scripts/image/podman.sh (podman with the
// project's own configuration and storage).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../tools/bin.ts';
import { runCommand, type RunOptions, type RunResult } from './run-command.ts';

const buildScript = join(repoRoot, 'scripts', 'image', 'build.sh');
const podmanScript = join(repoRoot, 'scripts', 'image', 'podman.sh');

let imagePromise: Promise<string> | undefined;

/** Builds the image if this tree's inputs changed (or reuses it) and returns its ID. */
export function ensureImage(): Promise<string> {
  imagePromise ??= runCommand('bash', [buildScript], { timeoutMs: 45 * 60_000, inheritStderr: true })
    .then((r) => {
      const id = r.stdout.trim().split('\n').pop()?.trim() ?? '';
      if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(id)) throw new Error(`${buildScript} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
      return id;
    })
    .catch((err: unknown) => {
      imagePromise = undefined;
      throw err;
    });
  return imagePromise;
}

/** Runs podman (project configuration); never rejects on a non-zero exit. */
export function podman(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand('bash', [podmanScript, ...args], { timeoutMs: 120_000, ...opts });
}

export interface RunningContainer {
  readonly child: ChildProcess;
  /** stdout + stderr so far (the container's log). */
  log(): string;
  /** Resolves with the container's exit code (podman run's exit code). */
  readonly exited: Promise<number>;
}

/** Starts `podman run ...` attached (no -d): its exit code is the container's. */
export function startContainer(runArgs: readonly string[]): RunningContainer {
  const child = spawn('bash', [podmanScript, ...runArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (c: string) => (out += c));
  child.stderr.on('data', (c: string) => (out += c));
  const exited = new Promise<number>((ok) => {
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}\n`;
      ok(-1);
    });
    child.once('close', (code, signal) => ok(code ?? (signal ? 128 : -1)));
  });
  return { child, log: () => out, exited };
}

/** A free TCP port on the host (for a container on the host network). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '0.0.0.0', () => {
      const addr = srv.address();
      srv.close(() => (addr !== null && typeof addr === 'object' ? ok(addr.port) : fail(new Error('no port'))));
    });
  });
}

/** The simulator run on its own (npm run truetask-sim): flags, files, no token printed, graceful stop. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_TOKEN, RW_TOKEN, client, input, recordingSleep } from './helpers.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'adsync-sim-main-'));
  writeFileSync(
    join(dir, 'tokens.yaml'),
    `- { name: operator, token: ${RW_TOKEN}, scope: read_write }\n- { name: reader, token: ${READ_TOKEN}, scope: read }\n`,
  );
  writeFileSync(join(dir, 'users.json'), JSON.stringify({ users: [{ email: 'owner@corp.example.com', name: 'Owner', role: 'owner' }] }));
  writeFileSync(join(dir, 'single-token'), `${RW_TOKEN}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['src/truetask-sim/main.ts', '--port', '0', ...args], {
    cwd: join(import.meta.dirname, '../..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const exitedEarly = once(child, 'exit').then(([code]) => {
    throw new Error(`truetask-sim exited (${String(code)}) before printing its URL: ${stderr}`);
  });
  const [first] = (await Promise.race([once(lines, 'line'), exitedEarly])) as [string];
  exitedEarly.catch(() => undefined);
  stdout += `${first}\n`;
  lines.on('line', (l) => (stdout += `${l}\n`));
  return {
    url: first.trim(),
    async stop(signal: NodeJS.Signals) {
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      return { code, stdout, stderr };
    },
  };
}

describe('truetask-sim main', () => {
  it('serves with a token file, seed users and fault flags; prints the URL only; stops on SIGTERM', async () => {
    const sim = await run(['--token-file', join(dir, 'tokens.yaml'), '--seed-users', join(dir, 'users.json'), '--rate-limit-every', '2', '--retry-after', '1']);
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const rec = recordingSleep();
    const c = client(sim, { sleep: rec.sleep });
    try {
      expect(await c.checkAccess()).toEqual({ totalUsers: 1 });
      await c.createUser(input('main@corp.example.com'));
      expect((await c.listUsers()).map((u) => u.email)).toEqual(['owner@corp.example.com', 'main@corp.example.com']);
      expect(rec.delays).toContain(1000);
      const reader = client(sim, { token: READ_TOKEN });
      await expect(reader.createUser(input('nope@corp.example.com'))).rejects.toMatchObject({ reason: 'Forbidden' });
      await reader.close();
    } finally {
      await c.close();
    }
    const { code, stdout, stderr } = await sim.stop('SIGTERM');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(sim.url);
    expect(stderr).toContain('"tokenName":"operator"');
    for (const secret of [RW_TOKEN, READ_TOKEN]) expect(stdout + stderr).not.toContain(secret);
  });

  it('takes the token from TRUETASK_SIM_TOKEN and stops on SIGINT', async () => {
    const sim = await run([], { TRUETASK_SIM_TOKEN: RW_TOKEN });
    const c = client(sim);
    try {
      expect(await c.checkAccess()).toEqual({ totalUsers: 0 });
    } finally {
      await c.close();
    }
    const { code, stdout, stderr } = await sim.stop('SIGINT');
    expect(code).toBe(0);
    expect(stdout + stderr).not.toContain(RW_TOKEN);
  });

  it('accepts a plain single-token file', async () => {
    const sim = await run(['--token-file', join(dir, 'single-token'), '--quiet']);
    const c = client(sim);
    try {
      expect(await c.checkAccess()).toEqual({ totalUsers: 0 });
    } finally {
      await c.close();
    }
    expect((await sim.stop('SIGTERM')).code).toBe(0);
  });
});

/**
 * The token and passwords never reach an error (message, stack, JSON, cause chain)
 * or a log line, on every path: success, 4xx, 409, retries, drops, transport errors.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { PASSWORD, RW_TOKEN, captureLogger, client, errorTexts, input, recordingSleep, startSim } from './helpers.ts';

let sim: TruetaskSimulator;
beforeAll(async () => {
  sim = await startSim({ seed: 11 });
});
afterAll(() => sim.close());

function expectClean(text: string, ...secrets: string[]) {
  for (const secret of [RW_TOKEN, PASSWORD, ...secrets]) expect(text).not.toContain(secret);
}

describe('no secrets in errors or logs', () => {
  it('holds across every outcome of the client', async () => {
    const { logger, lines } = captureLogger();
    const rec = recordingSleep();
    const errors: unknown[] = [];
    const catchAll = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        errors.push(err);
      }
    };
    const c = client(sim, { logger, sleep: rec.sleep, retry: { maxAttempts: 3 } });
    const wrongToken = `${RW_TOKEN}-revoked`;
    const unauthorized = client(sim, { logger, token: wrongToken });
    try {
      const user = await c.createUser(input('sec1@corp.example.com'));
      await c.setRole(user.id, 'admin');
      await catchAll(c.createUser(input('SEC1@corp.example.com'))); // 409
      await catchAll(c.createUser(input('sec2@corp.example.com', 'user', `${PASSWORD}-mismatch`.slice(0, 11)))); // 400
      await catchAll(c.createUser({ ...input('sec3@corp.example.com'), role: 'owner' as 'admin' })); // 400
      await catchAll(unauthorized.createUser(input('sec4@corp.example.com'))); // 401
      await catchAll(c.setRole('zzzzzzzzzzzzzzz', 'admin')); // 404
      sim.setFaults({ dropRate: 1 });
      await catchAll(c.createUser(input('sec5@corp.example.com'))); // dropped, exhausted
      sim.setFaults({ errorRate: 1 });
      await catchAll(c.createUser(input('sec6@corp.example.com'))); // 5xx, exhausted
      sim.setFaults({ rateLimit: { every: 1, retryAfterSeconds: 1 } });
      await catchAll(c.createUser(input('sec7@corp.example.com'))); // 429, exhausted
      sim.setFaults({});
    } finally {
      await c.close();
      await unauthorized.close();
    }
    expect(errors.length).toBe(8);
    for (const err of errors) expectClean(await errorTexts(err), wrongToken);
    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(10);
    expect(log).toContain('"level":"debug"');
    expect(log).toContain('/v1/users');
    expectClean(log, wrongToken);
  });

  it('holds when a hostile server echoes the token and the password back', async () => {
    const echo = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const secretish = `${req.headers.authorization ?? ''} ${body}`;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'validation', message: `bad: ${secretish}`, fields: { password: `got ${body}` } }));
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const { logger, lines } = captureLogger();
    const c = client({ url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}` }, { logger });
    try {
      let caught: unknown;
      try {
        await c.createUser(input('echo@corp.example.com'));
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ reason: 'TruetaskRejected' });
      const text = await errorTexts(caught);
      expect(text).toContain('[REDACTED]');
      expectClean(text);
      expectClean(lines.join(''));
    } finally {
      await c.close();
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
  });
});

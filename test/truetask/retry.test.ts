/** Retries against the simulator's faults: rate limits, 5xx, dropped connections. */
import { afterEach, describe, expect, it } from 'vitest';
import type { TruetaskClient } from '../../src/truetask/client.ts';
import { isUserExistsError } from '../../src/truetask/errors.ts';
import type { TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { client, input, recordingSleep, startSim, rejection } from './helpers.ts';

let sim: TruetaskSimulator | undefined;
let c: TruetaskClient | undefined;
afterEach(async () => {
  await c?.close();
  await sim?.close();
  c = undefined;
  sim = undefined;
});

describe('retries', () => {
  it('rate limited every 2nd request with Retry-After 1: succeeds, waiting exactly the asked 1000 ms', async () => {
    sim = await startSim({ faults: { rateLimit: { every: 2, retryAfterSeconds: 1 } } });
    const rec = recordingSleep();
    const codes: string[] = [];
    c = client(sim, { sleep: rec.sleep, onRequest: (_m, code) => codes.push(code) });
    await c.checkAccess();
    const user = await c.createUser(input('rl1@corp.example.com'));
    await c.setRole(user.id, 'admin');
    expect(await c.findUserByEmail('rl1@corp.example.com')).toMatchObject({ role: 'admin' });
    expect(sim.faultCounts().rateLimited).toBeGreaterThanOrEqual(2);
    expect(rec.delays.length).toBe(sim.faultCounts().rateLimited);
    expect(rec.delays.every((d) => d === 1000)).toBe(true);
    expect(codes.filter((x) => x === '429').length).toBe(rec.delays.length);
    expect(sim.audit().map((e) => e.method)).toEqual(['POST', 'PATCH']);
  });

  it('caps a huge Retry-After at maxRetryAfterMs', async () => {
    sim = await startSim({ faults: { rateLimit: { every: 2, retryAfterSeconds: 3600 } } });
    const rec = recordingSleep();
    c = client(sim, { sleep: rec.sleep, retry: { maxRetryAfterMs: 5000 } });
    await c.checkAccess();
    await c.checkAccess();
    expect(rec.delays).toEqual([5000]);
  });

  it('half of the answers 502/503/504 (seeded): every call succeeds within its attempts', async () => {
    sim = await startSim({ seed: 7, faults: { errorRate: 0.5 } });
    const rec = recordingSleep();
    c = client(sim, { sleep: rec.sleep, retry: { maxAttempts: 10 } });
    for (let i = 0; i < 8; i++) await c.createUser(input(`flaky${i}@corp.example.com`));
    expect((await c.listUsers()).length).toBe(9);
    expect(sim.faultCounts().errors).toBeGreaterThan(0);
    expect(rec.delays.length).toBe(sim.faultCounts().errors);
    expect(rec.delays.every((d) => d >= 0 && d <= 10_000)).toBe(true);
    expect(sim.audit().filter((e) => e.method === 'POST').length).toBe(8);
  });

  it('dropped connections on POST (also after the write): each user exists exactly once', async () => {
    sim = await startSim({ seed: 3, faults: { dropRate: 0.5 } });
    c = client(sim, { retry: { maxAttempts: 12 } });
    const emails = Array.from({ length: 12 }, (_, i) => `drop${i}@corp.example.com`);
    let conflicts = 0;
    for (const email of emails) {
      try {
        await c.createUser(input(email));
      } catch (err) {
        // Our own earlier attempt was applied before the connection dropped.
        expect(isUserExistsError(err)).toBe(true);
        conflicts++;
        expect(await c.findUserByEmail(email)).toMatchObject({ email });
      }
    }
    expect(sim.faultCounts().drops).toBeGreaterThan(0);
    expect(sim.faultCounts().dropsAfterWrite).toBeGreaterThan(0);
    expect(conflicts).toBe(sim.faultCounts().dropsAfterWrite);
    const creates = sim.audit().filter((e) => e.method === 'POST');
    expect(creates.map((e) => e.email).sort()).toEqual([...emails].sort());
    expect(sim.users().length).toBe(emails.length + 1);
  });

  it('rate limited on every request: RateLimited (backoff) after maxAttempts, with retryAfterSeconds', async () => {
    sim = await startSim({ faults: { rateLimit: { every: 1, retryAfterSeconds: 2 } } });
    const rec = recordingSleep();
    c = client(sim, { sleep: rec.sleep, retry: { maxAttempts: 3 } });
    const err = await rejection(c.listUsers());
    expect(err).toMatchObject({ reason: 'RateLimited', next: 'backoff', retryAfterSeconds: 2 });
    expect(rec.delays).toEqual([2000, 2000]);
    expect(sim.requests('GET')).toBe(3);
  });

  it('5xx on every request: TruetaskUnavailable (backoff) after maxAttempts, backing off', async () => {
    sim = await startSim({ faults: { errorRate: 1 } });
    const rec = recordingSleep();
    c = client(sim, { sleep: rec.sleep, random: () => 0.999, retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 300 } });
    const err = await rejection(c.createUser(input('never@corp.example.com')));
    expect(err).toMatchObject({ reason: 'TruetaskUnavailable', next: 'backoff' });
    expect(rec.delays).toEqual([99, 199, 299]);
    expect(sim.requests('POST')).toBe(4);
    expect(sim.audit()).toEqual([]);
  });

  it('connections dropped every time: TruetaskUnreachable (retry) after maxAttempts', async () => {
    sim = await startSim({ faults: { dropRate: 1 } });
    c = client(sim, { retry: { maxAttempts: 3 } });
    const err = await rejection(c.checkAccess());
    expect(err).toMatchObject({ reason: 'TruetaskUnreachable', next: 'retry' });
    expect(err.message).toMatch(/dropped.*after 3 attempts/);
    expect(sim.requests('GET')).toBe(3);
  });

  it('does not retry a 4xx', async () => {
    sim = await startSim();
    const rec = recordingSleep();
    c = client(sim, { sleep: rec.sleep });
    await rejection(c.createUser(input('x@corp.example.com', 'user', 'short')));
    expect(sim.requests('POST')).toBe(1);
    expect(rec.delays).toEqual([]);
  });
});

// The runtime's small pieces on a fake clock: the one back-off, the one sleep,
// merge patches, event predicates and the Secret version poller.
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelayMs } from '../../../src/runtime/backoff.ts';
import { applyMergePatch, createMergePatch } from '../../../src/runtime/merge-patch.ts';
import { annotationChanged, anyOf, generationChanged } from '../../../src/runtime/predicates.ts';
import { sleep } from '../../../src/runtime/sleep.ts';
import { VersionPoller } from '../../../src/runtime/version-poller.ts';

const logger = pino({ level: 'silent' });

describe('backoffDelayMs', () => {
  it('stays within [c/2, c] for c = min(max, base * 2^(attempt-1))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 600_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, base, max, r) => {
        const c = Math.min(max, base * 2 ** (attempt - 1));
        const d = backoffDelayMs(attempt, { baseDelayMs: base, maxDelayMs: max }, () => r);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(Math.floor(c / 2));
        expect(d).toBeLessThanOrEqual(c);
      }),
    );
  });

  it('never shrinks from one attempt to the next below the cap, whatever the jitter', () => {
    const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };
    for (let a = 1; a < 6; a++) expect(backoffDelayMs(a + 1, policy, () => 0)).toBeGreaterThanOrEqual(backoffDelayMs(a, policy, () => 0.9999));
    expect(backoffDelayMs(40, policy, () => 0.9999)).toBeLessThanOrEqual(60_000);
  });
});

describe('sleep', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('waits, ends early when aborted, and leaves no abort listener behind', async () => {
    const ac = new AbortController();
    const added = vi.spyOn(ac.signal, 'addEventListener');
    const removed = vi.spyOn(ac.signal, 'removeEventListener');
    let done = false;
    const p = sleep(1000, ac.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    // many sleeps on one signal: each removes its listener
    for (let i = 0; i < 20; i++) {
      const s = sleep(10, ac.signal);
      await vi.advanceTimersByTimeAsync(10);
      await s;
    }
    expect(removed.mock.calls.length).toBe(added.mock.calls.length);
    const early = sleep(60_000, ac.signal);
    ac.abort();
    await early;
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('merge patches', () => {
  it('sets what changed, nulls what went away, recurses into objects and replaces arrays', () => {
    const from = { a: 1, b: { c: 1, d: 2 }, e: [1, 2], gone: 'x' };
    const to = { a: 1, b: { c: 1, d: 3 }, e: [1], added: true };
    expect(createMergePatch(from, to)).toEqual({ b: { d: 3 }, e: [1], gone: null, added: true });
    expect(createMergePatch(from, from)).toBeUndefined();
  });

  it('applying the patch always gives the target', () => {
    const json = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.oneof(fc.integer(), fc.string(), fc.array(fc.integer()), fc.dictionary(fc.constantFrom('x', 'y'), fc.integer())));
    fc.assert(
      fc.property(json, json, (from, to) => {
        expect(applyMergePatch(from, createMergePatch(from, to) ?? {})).toEqual(to);
      }),
    );
  });
});

describe('event predicates', () => {
  const o = (generation: number, syncNow?: string, status?: unknown) => ({ metadata: { generation, ...(syncNow ? { annotations: { 'truetask.io/sync-now': syncNow } } : {}) }, status });
  const run = anyOf(generationChanged, annotationChanged('truetask.io/sync-now'));

  it('a status-only update (the controller\'s own write) passes none; a spec change or a new sync-now value does', () => {
    expect(run(o(1, 'a', { x: 1 }), o(1, 'a', { x: 2 }))).toBe(false);
    expect(run(o(1), o(2))).toBe(true);
    expect(run(o(1, 'a'), o(1, 'b'))).toBe(true);
    expect(run(o(1), o(1, 'a'))).toBe(true);
  });
});

describe('VersionPoller', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reports a changed, created or deleted object once, from a baseline or the first poll', async () => {
    const versions = new Map<string, string | null>([
      ['ns/pw', '10'],
      ['ns/ca', '20'],
    ]);
    const reads: string[] = [];
    const changes: string[] = [];
    const p = new VersionPoller({
      intervalMs: 30_000,
      logger,
      readVersion: async ({ namespace, name }) => {
        reads.push(name);
        if (name === 'broken') throw new Error('HTTP 500');
        return versions.get(`${namespace}/${name}`) ?? null;
      },
      onChange: (key, ref) => changes.push(`${key}: ${ref.name}`),
    });
    p.track('ns/a', [{ namespace: 'ns', name: 'pw' }, { namespace: 'ns', name: 'broken' }, { namespace: 'ns', name: 'ca' }], new Map([['ns/pw', '10']]));
    p.track('ns/b', [{ namespace: 'ns', name: 'missing' }], new Map([['ns/missing', null]]));
    p.start();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(reads).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(changes).toEqual([]); // ca took its first poll as baseline; a failed read changes nothing
    versions.set('ns/ca', '21');
    versions.set('ns/missing', '5');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(changes).toEqual(['ns/a: ca', 'ns/b: missing']);
    expect(p.keys()).toEqual([]);
    reads.length = 0;
    await vi.advanceTimersByTimeAsync(300_000);
    expect(reads).toEqual([]); // untracked once reported
    await p.stop();
  });
});

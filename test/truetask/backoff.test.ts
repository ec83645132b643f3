/** The retry schedule, as properties. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, parseRetryAfterMs, resolveRetryPolicy } from '../../src/truetask/backoff.ts';

describe('backoff schedule', () => {
  it('is non-negative, an integer, and never above min(maxDelayMs, base * 2^(attempt-1))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, base, max, r) => {
          const policy = resolveRetryPolicy({ baseDelayMs: base, maxDelayMs: max });
          const d = backoffDelayMs(attempt, policy, () => r);
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(policy.maxDelayMs);
          expect(d).toBeLessThanOrEqual(policy.baseDelayMs * 2 ** (attempt - 1));
        },
      ),
    );
  });

  it('survives a broken random source', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(Number.NaN), fc.double()), fc.integer({ min: 1, max: 60 }), (r, attempt) => {
        const d = backoffDelayMs(attempt, { baseDelayMs: 250, maxDelayMs: 10_000 }, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(10_000);
      }),
    );
  });

  it('grows with the attempt until the cap (at r → 1)', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(a, policy, () => 0.9999999))).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('resolves nonsense policies to sane ones', () => {
    fc.assert(
      fc.property(fc.double(), fc.double(), fc.double(), (a, b, m) => {
        const p = resolveRetryPolicy({ maxAttempts: a, baseDelayMs: b, maxDelayMs: m });
        expect(p.maxAttempts).toBeGreaterThanOrEqual(1);
        expect(Number.isInteger(p.maxAttempts)).toBe(true);
        expect(p.baseDelayMs).toBeGreaterThanOrEqual(0);
        expect(p.maxDelayMs).toBeGreaterThanOrEqual(p.baseDelayMs);
      }),
    );
  });
});

describe('Retry-After', () => {
  it('honours seconds and HTTP dates, capped and never negative', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 600_000 }), (seconds, cap) => {
        const ms = parseRetryAfterMs(String(seconds), cap);
        expect(ms).toBe(Math.min(cap, seconds * 1000));
      }),
    );
    const now = Date.parse('2026-11-25T10:00:00Z');
    expect(parseRetryAfterMs('Wed, 25 Nov 2026 10:00:30 GMT', 60_000, now)).toBe(30_000);
    expect(parseRetryAfterMs('Wed, 25 Nov 2026 09:00:00 GMT', 60_000, now)).toBe(0);
    expect(parseRetryAfterMs(undefined, 60_000)).toBeUndefined();
    expect(parseRetryAfterMs('soon', 60_000)).toBeUndefined();
    expect(parseRetryAfterMs('-5', 60_000)).toBeUndefined();
  });
});

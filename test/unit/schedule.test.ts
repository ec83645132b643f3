// "Is a run due, and when is the next one?": the controller's one retry decision,
// on a fake clock.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, failuresSince, nextAfterSuccess, planAfterFailure, RETRY_MAX_MS, SAFETY_NET_MS, type ObjectState, type RetryState } from '../../src/controller/schedule.ts';

const T0 = Date.parse('2026-11-25T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const fresh: RetryState = { failures: 0, secretChanged: false };

function obj(over: Partial<Omit<ObjectState, 'status'>> = {}, status: Partial<ObjectState['status']> = {}): ObjectState {
  return { generation: 2, syncNow: undefined, suspend: false, ...over, status: { observedGeneration: 2, ran: true, stalled: false, ...status } };
}

describe('decide', () => {
  it('runs a new object, a new generation and a new sync-now value at once', () => {
    expect(decide(obj({}, { ran: false }), undefined, T0)).toEqual({ action: 'run', trigger: 'new' });
    expect(decide(obj({ generation: 3 }), fresh, T0)).toEqual({ action: 'run', trigger: 'spec' });
    expect(decide(obj({ syncNow: 'a' }), fresh, T0)).toEqual({ action: 'run', trigger: 'sync-now', syncNow: 'a' });
    // a spec change that comes with a new sync-now value handles both
    expect(decide(obj({ generation: 3, syncNow: 'b' }), fresh, T0)).toEqual({ action: 'run', trigger: 'spec', syncNow: 'b' });
  });

  it('does not run again for a sync-now value already handled, or an empty one', () => {
    expect(decide(obj({ syncNow: 'a' }, { lastHandledSyncNow: 'a' }), fresh, T0)).toEqual({ action: 'wait' });
    expect(decide(obj({ syncNow: '' }), fresh, T0)).toEqual({ action: 'wait' });
  });

  it('waits for nextSyncAt and runs once it is due', () => {
    const next = T0 + 3600_000;
    expect(decide(obj({}, { nextSyncAt: iso(next) }), fresh, T0)).toEqual({ action: 'wait', until: next });
    expect(decide(obj({}, { nextSyncAt: iso(next) }), fresh, next - 1)).toEqual({ action: 'wait', until: next });
    expect(decide(obj({}, { nextSyncAt: iso(next) }), fresh, next)).toEqual({ action: 'run', trigger: 'schedule' });
    expect(decide(obj({}, { nextSyncAt: iso(next) }), { failures: 2, secretChanged: false }, next)).toEqual({ action: 'run', trigger: 'retry' });
  });

  it('manual: nothing runs on its own (no nextSyncAt), only a spec change or sync-now', () => {
    expect(decide(obj(), fresh, T0)).toEqual({ action: 'wait' });
    expect(decide(obj({}, { stalled: true }), { failures: 3, secretChanged: false }, T0 + 365 * 86400_000)).toEqual({ action: 'wait' });
  });

  it('suspended: nothing runs, not even a pending sync-now or spec change', () => {
    expect(decide(obj({ suspend: true, syncNow: 'x', generation: 9 }, { ran: false }), fresh, T0)).toEqual({ action: 'suspended' });
  });

  it('stalled: runs again only for a changed Secret, a spec change, sync-now, or the safety net', () => {
    const safety = T0 + SAFETY_NET_MS;
    const stalled = obj({}, { stalled: true, nextSyncAt: iso(safety) });
    expect(decide(stalled, fresh, T0 + 1000)).toEqual({ action: 'wait', until: safety });
    // after a restart there is no in-memory state: still waiting
    expect(decide(stalled, undefined, T0 + 1000)).toEqual({ action: 'wait', until: safety });
    expect(decide(stalled, { failures: 0, secretChanged: true }, T0 + 1000)).toEqual({ action: 'run', trigger: 'secret' });
    expect(decide({ ...stalled, generation: 3 }, fresh, T0 + 1000)).toEqual({ action: 'run', trigger: 'spec' });
    expect(decide({ ...stalled, syncNow: 'now' }, fresh, T0 + 1000)).toEqual({ action: 'run', trigger: 'sync-now', syncNow: 'now' });
    expect(decide(stalled, fresh, safety)).toEqual({ action: 'run', trigger: 'safety-net' });
  });

  it('a status write that changes nothing the decision reads never makes a run due', () => {
    // The controller's own writes move lastTransitionTime, messages, counts: none of them is an input.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.boolean(), fc.integer({ min: 0, max: 50 }), (wait, stalled, failures) => {
        const o = obj({}, { stalled, nextSyncAt: iso(T0 + wait) });
        const d = decide(o, { failures, secretChanged: false }, T0);
        expect(d).toEqual({ action: 'wait', until: T0 + wait });
      }),
    );
  });
});

describe('planAfterFailure', () => {
  const never = () => 0;
  const always = () => 0.999999;

  it('a failure a person must fix stalls: no retry but the 15-minute safety net, none when manual', () => {
    expect(planAfterFailure({ next: 'fix-config' }, 4, 3600, T0, never)).toEqual({ kind: 'stalled', at: T0 + SAFETY_NET_MS, failures: 0 });
    expect(planAfterFailure({ next: 'fix-config' }, 0, 60, T0, always).at).toBeLessThanOrEqual(T0 + SAFETY_NET_MS * 1.1);
    expect(planAfterFailure({ next: 'fix-config' }, 0, 'manual', T0, never)).toEqual({ kind: 'stalled', at: undefined, failures: 0 });
  });

  it('transient failures back off from a few seconds, doubling, with jitter, up to 10 minutes', () => {
    let failures = 0;
    const delays: Array<[number, number]> = [];
    for (let i = 0; i < 10; i++) {
      const lo = planAfterFailure({ next: 'retry' }, failures, 6 * 3600, T0, never);
      const hi = planAfterFailure({ next: 'retry' }, failures, 6 * 3600, T0, always);
      expect(lo.kind).toBe('retrying');
      failures = lo.failures;
      delays.push([lo.at! - T0, hi.at! - T0]);
    }
    expect(delays.slice(0, 4)).toEqual([
      [2500, 4999],
      [5000, 9999],
      [10_000, 19_999],
      [20_000, 39_999],
    ]);
    expect(delays.at(-1)).toEqual([RETRY_MAX_MS / 2, RETRY_MAX_MS - 1]);
  });

  it('the cap is the interval when that is shorter', () => {
    expect(planAfterFailure({ next: 'retry' }, 20, 120, T0, always).at! - T0).toBeLessThanOrEqual(120_000);
  });

  it('"backoff" (the far side is overloaded) starts one step further; Retry-After is a floor', () => {
    expect(planAfterFailure({ next: 'backoff' }, 0, 3600, T0, never).at! - T0).toBe(5000);
    expect(planAfterFailure({ next: 'backoff', retryAfterSeconds: 42 }, 0, 3600, T0, never).at! - T0).toBe(42_000);
    expect(planAfterFailure({ next: 'retry', retryAfterSeconds: 1 }, 5, 3600, T0, never).at! - T0).toBe(80_000);
  });

  it('manual: a transient failure is not retried either; it stalls until someone acts', () => {
    expect(planAfterFailure({ next: 'retry' }, 0, 'manual', T0, never)).toEqual({ kind: 'stalled', at: undefined, failures: 1 });
  });

  it('bounds what failures can cost, whatever the random source', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.constantFrom<'retry' | 'backoff'>('retry', 'backoff'), fc.integer({ min: 60, max: 86400 }), fc.double({ min: 0, max: 1, noNaN: true }), (prev, next, interval, r) => {
        const p = planAfterFailure({ next }, prev, interval, T0, () => r);
        expect(p.at! - T0).toBeGreaterThanOrEqual(Math.min(2500, interval * 500));
        expect(p.at! - T0).toBeLessThanOrEqual(Math.min(RETRY_MAX_MS, interval * 1000));
      }),
    );
  });

  it('a wrong password costs at most one bind per Secret version plus one per 15 minutes', () => {
    // Drive decide() and planAfterFailure() through 24 hours with the controller's own status writes
    // (re-decisions every second): count the runs that would bind with the same password.
    let now = T0;
    let status: ObjectState['status'] = { observedGeneration: 2, ran: true, stalled: false };
    let retry: RetryState = { failures: 0, secretChanged: false };
    let runs = 0;
    const end = T0 + 24 * 3600_000;
    status = { ...status, nextSyncAt: iso(now) }; // due now
    while (now < end) {
      const d = decide(obj({}, status), retry, now);
      if (d.action === 'run') {
        runs++;
        const p = planAfterFailure({ next: 'fix-config' }, retry.failures, 3600, now, Math.random);
        retry = { failures: p.failures, secretChanged: false };
        status = { ...status, stalled: true, nextSyncAt: iso(p.at!) };
      }
      now += 1000;
    }
    expect(runs).toBeLessThanOrEqual(24 * 4 + 1);
    expect(runs).toBeGreaterThanOrEqual(24 * 4 * 0.9 - 1);
  });
});

describe('failuresSince (after a restart, the back-off resumes instead of starting over)', () => {
  it('estimates the failures in a row from how long the trouble lasted', () => {
    expect(failuresSince(T0, T0)).toBe(1);
    expect(failuresSince(T0, T0 + 15_000)).toBe(2);
    expect(failuresSince(T0, T0 + 75_000)).toBe(4);
    expect(failuresSince(T0 + 5000, T0)).toBe(1); // a clock skewed backwards
  });

  it('makes the next delay about as long as the trouble so far', () => {
    for (const minutes of [1, 2, 5, 8]) {
      const elapsed = minutes * 60_000;
      const failures = failuresSince(T0, T0 + elapsed);
      const next = planAfterFailure({ next: 'retry' }, failures, 86400, T0, () => 1).at! - T0;
      expect(next).toBeGreaterThanOrEqual(elapsed / 2);
      expect(next).toBeLessThanOrEqual(Math.max(2 * elapsed, 10_000));
    }
  });
});

describe('nextAfterSuccess', () => {
  it('is one interval ahead plus up to 10% jitter, and nothing when manual', () => {
    expect(nextAfterSuccess(3600, T0, () => 0)).toBe(T0 + 3600_000);
    expect(nextAfterSuccess(3600, T0, () => 1)).toBe(T0 + 3960_000);
    expect(nextAfterSuccess('manual', T0, () => 0.5)).toBeUndefined();
  });
});

// Leader election on a fake clock against an in-memory Lease API with the API
// server's optimistic concurrency (resourceVersion, 409) and 404s: acquire,
// renew, lose, another holder, and fencing (holdsLease) after a freeze.
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLeaderElector, microTime, type LeaderElector, type LeaseApi } from '../../../src/runtime/leader.ts';

const logger = pino({ level: 'silent' });
const NS = 'ops';
const NAME = 'leader';
// leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s (the defaults).
const flush = () => vi.advanceTimersByTimeAsync(0);

/** One Lease, as the API server keeps it. `fault` makes every call fail (503) or hang. */
function fakeLeaseApi() {
  const state: { lease: V1Lease | undefined; rv: number; fault: 'none' | 'fail' | 'hang'; writes: number } = { lease: undefined, rv: 0, fault: 'none', writes: 0 };
  const fail = () => {
    if (state.fault === 'fail') throw new ApiException(503, 'unavailable', '{}', {});
  };
  const hang = <T>(f: () => T): Promise<T> => (state.fault === 'hang' ? new Promise<T>(() => {}) : Promise.resolve().then(f));
  // As read from the API server: MicroTime fields come back as strings.
  const copy = (l: V1Lease): V1Lease => JSON.parse(JSON.stringify(l)) as V1Lease;
  const store = (body: V1Lease): V1Lease => {
    state.rv++;
    state.writes++;
    state.lease = copy({ ...body, metadata: { ...body.metadata, name: NAME, namespace: NS, resourceVersion: String(state.rv) } });
    return copy(state.lease);
  };
  const api: LeaseApi = {
    readNamespacedLease: () =>
      hang(() => {
        fail();
        if (!state.lease) throw new ApiException(404, 'not found', '{}', {});
        return copy(state.lease);
      }),
    createNamespacedLease: ({ body }) =>
      hang(() => {
        fail();
        if (state.lease) throw new ApiException(409, 'exists', '{}', {});
        return store(body);
      }),
    replaceNamespacedLease: ({ body }) =>
      hang(() => {
        fail();
        if (!state.lease) throw new ApiException(404, 'not found', '{}', {});
        if (body.metadata?.resourceVersion !== state.lease.metadata?.resourceVersion) throw new ApiException(409, 'conflict', '{}', {});
        return store(body);
      }),
  };
  /** Another replica writes the Lease (holding it, renewed now). */
  const takenBy = (holder: string) => {
    store({ ...state.lease, spec: { ...state.lease?.spec, holderIdentity: holder, renewTime: microTime(new Date()), leaseDurationSeconds: 15 } });
  };
  return { api, state, takenBy };
}

function elector(api: LeaseApi, identity = 'me') {
  const events: string[] = [];
  const signals: AbortSignal[] = [];
  const e: LeaderElector = createLeaderElector({
    coordination: api,
    namespace: NS,
    name: NAME,
    identity,
    logger,
    monotonic: () => Date.now(),
    random: () => 0,
    onStartedLeading: (signal) => {
      events.push('started');
      signals.push(signal);
    },
    onStoppedLeading: () => {
      events.push('stopped');
    },
  });
  const run = new AbortController();
  const done = e.run(run.signal);
  return { e, events, signals, stop: async () => (run.abort(), await done) };
}

describe('leader election (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-25T10:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('acquires a missing Lease, renews it every retry period, and holds it', async () => {
    const { api, state } = fakeLeaseApi();
    const c = elector(api);
    await flush();
    expect(c.events).toEqual(['started']);
    expect(c.e.isLeader()).toBe(true);
    expect(c.e.holdsLease()).toBe(true);
    expect(state.lease?.spec?.holderIdentity).toBe('me');
    const firstRenew = Date.parse(String(state.lease?.spec?.renewTime));
    await vi.advanceTimersByTimeAsync(60_000);
    // 60 s / 2 s: one renewal per retry period.
    expect(state.writes).toBe(31);
    expect(Date.parse(String(state.lease?.spec?.renewTime))).toBe(firstRenew + 60_000);
    expect(c.e.holdsLease()).toBe(true);
    expect(c.events).toEqual(['started']);
    await c.stop();
    expect(c.events).toEqual(['started', 'stopped']);
    expect(c.signals[0]?.aborted).toBe(true);
  });

  it('stops leading when it cannot renew for renewDeadline, and its fence closes before that', async () => {
    const { api, state } = fakeLeaseApi();
    const c = elector(api);
    await flush();
    state.fault = 'fail';
    // Last renewal sent at t=0: writes allowed until t=10 s (renewDeadline), not after.
    await vi.advanceTimersByTimeAsync(9_000);
    expect(c.e.holdsLease()).toBe(true);
    expect(c.events).toEqual(['started']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(c.e.holdsLease()).toBe(false);
    expect(c.e.isLeader()).toBe(false);
    expect(c.events).toEqual(['started', 'stopped']);
    expect(c.signals[0]?.aborted).toBe(true);
    await c.stop();
  });

  it('a hung renewal ends leadership after renewDeadline too', async () => {
    const { api, state } = fakeLeaseApi();
    const c = elector(api);
    await flush();
    state.fault = 'hang';
    await vi.advanceTimersByTimeAsync(12_000);
    expect(c.e.isLeader()).toBe(false);
    expect(c.events).toEqual(['started', 'stopped']);
    await c.stop();
  });

  it('fencing: after a freeze longer than renewDeadline (no timer ran), holdsLease() ends the term at once', async () => {
    const { api } = fakeLeaseApi();
    const c = elector(api);
    await flush();
    expect(c.e.holdsLease()).toBe(true);
    // SIGSTOP: the clocks move on, nothing runs. On SIGCONT, I/O callbacks may run before the renew timer.
    vi.setSystemTime(Date.now() + 20_000);
    expect(c.signals[0]?.aborted).toBe(false);
    expect(c.e.holdsLease()).toBe(false);
    // The term ended synchronously: the signal aborted and onStoppedLeading ran before holdsLease returned.
    expect(c.signals[0]?.aborted).toBe(true);
    expect(c.events).toEqual(['started', 'stopped']);
    expect(c.e.holdsLease()).toBe(false);
    await c.stop();
  });

  it('another holder: waits while it renews, takes over once its Lease expired', async () => {
    const { api, state, takenBy } = fakeLeaseApi();
    takenBy('other');
    const c = elector(api);
    await vi.advanceTimersByTimeAsync(10_000);
    takenBy('other'); // a renewal: the candidate sees the record change
    await vi.advanceTimersByTimeAsync(14_000);
    expect(c.events).toEqual([]);
    expect(c.e.holdsLease()).toBe(false);
    expect(state.lease?.spec?.holderIdentity).toBe('other');
    // The other stopped renewing at t=10 s: expired at t=25 s on both clocks.
    await vi.advanceTimersByTimeAsync(4_000);
    expect(c.events).toEqual(['started']);
    expect(state.lease?.spec?.holderIdentity).toBe('me');
    expect(state.lease?.spec?.leaseTransitions).toBe(1);
    await c.stop();
  });

  it('loses the Lease when another replica holds it at renewal, and campaigns again', async () => {
    const { api, takenBy } = fakeLeaseApi();
    const c = elector(api);
    await flush();
    takenBy('other');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(c.events).toEqual(['started', 'stopped']);
    expect(c.e.isLeader()).toBe(false);
    expect(c.e.holdsLease()).toBe(false);
    await c.stop();
  });

  it('release() frees the Lease for the next replica', async () => {
    const { api, state } = fakeLeaseApi();
    const c = elector(api);
    await flush();
    await c.e.release();
    expect(state.lease?.spec?.holderIdentity).toBeUndefined();
    expect(c.events).toEqual(['started', 'stopped']);
    const next = elector(api, 'next');
    await flush();
    expect(next.events).toEqual(['started']);
    await next.stop();
  });
});

// The AdSync reconciler's decisions on a fake clock, with fakes at its ports (the
// watch cache, the status writer, the Secrets, the events, the engine, the
// Truetask client, the Secret poller): when a run happens, what the status and
// events say, what is retried when, and what a cancelled run leaves behind.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AdSyncStatus } from '../../src/api/status.ts';
import { Reconciler, type ReconcileMetrics, type StatusWriter } from '../../src/controller/reconciler.ts';
import { AdSyncError, directoryError } from '../../src/errors.ts';
import type { EngineDeps, RunReport } from '../../src/reconcile/engine.ts';
import type { EngineConfig } from '../../src/config/engine-config.ts';
import type { RawObject } from '../../src/runtime/informer.ts';

const KEY = 'ns/corp';
const T0 = Date.parse('2026-11-25T10:00:00Z');
const logger = pino({ level: 'silent' });

function raw(spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}, generation = 1): RawObject {
  return {
    apiVersion: 'truetask.io/v1alpha1',
    kind: 'AdSync',
    metadata: { name: 'corp', namespace: 'ns', uid: 'u1', generation, resourceVersion: '1', annotations },
    spec: {
      ldap: { url: 'ldaps://dc1:636', baseDN: 'DC=corp', bindDN: 'svc@corp', bindPasswordSecretRef: { name: 'ad-bind' } },
      truetask: { url: 'https://tt.example', tokenSecretRef: { name: 'tt' } },
      ...spec,
    },
  };
}

function report(kind: 'preview' | 'sync', users = 3): RunReport {
  return {
    kind,
    full: true,
    entriesRead: users,
    startedAt: new Date(T0),
    completedAt: new Date(T0),
    directory: { users, excluded: 0, skipped: 0, organizationalUnits: [], adminGroups: [] },
    plan: { rows: [], changes: [], summary: { directoryUsers: users, excluded: 0, skipped: 0, toCreate: 0, toPromote: 0, unchanged: users } },
    failedOver: [],
    ...(kind === 'sync' ? { apply: { created: 0, promoted: 0, alreadyDone: 0, failed: 0, failures: [], failedEmails: [], result: 'Succeeded' as const } } : {}),
  };
}

function harness(opts: { fence?: () => void } = {}) {
  let now = T0;
  const objects = new Map<string, RawObject>([[KEY, raw({ interval: 'manual' })]]);
  const writes: AdSyncStatus[] = [];
  let failNextWrite = false;
  const status: StatusWriter = {
    write: async (_ref, _previous, next) => {
      if (failNextWrite) {
        failNextWrite = false;
        throw new Error('HTTP 500');
      }
      writes.push(structuredClone(next));
      const o = objects.get(KEY);
      if (o) o.status = structuredClone(next);
    },
  };
  const events: Array<{ type: string; reason: string; message: string }> = [];
  const secretReads: string[] = [];
  const tracked = new Map<string, ReadonlyMap<string, string | null>>();
  const engineCalls: Array<{ kind: string; cfg: EngineConfig; deps: EngineDeps }> = [];
  let outcome: (deps: EngineDeps) => Promise<RunReport> = async () => report('preview');
  const hooks: Array<{ beforeRequest: () => void; signal: AbortSignal }> = [];
  const metrics = new Proxy({}, { get: () => () => undefined }) as ReconcileMetrics;
  const r = new Reconciler({
    status,
    secrets: (onRead) => ({
      get: async (namespace, name): Promise<Record<string, string>> => {
        secretReads.push(name);
        onRead(namespace, name, `rv-${name}`);
        return name === 'ad-bind' ? { password: 'bind-password' } : { token: 'tt-token' };
      },
      describe: () => 'fake',
    }),
    events: { record: async (_ref, type, reason, message) => void events.push({ type, reason, message }), forget: () => undefined },
    metrics,
    logger,
    truetaskClient: (_cfg, hook) => (hooks.push(hook), { listUsers: async () => [], checkAccess: async () => ({ totalUsers: 0 }), findUserByEmail: async () => undefined, createUser: async () => { throw new Error('unused'); }, setRole: async () => { throw new Error('unused'); }, close: async () => undefined }),
    isConflict: () => false,
    lookup: (key) => objects.get(key),
    stalled: { track: (key, _s, baseline) => void tracked.set(key, baseline), untrack: (key) => void tracked.delete(key), isTracked: (key) => tracked.has(key) },
    writeConcurrency: 2,
    ...(opts.fence ? { fence: opts.fence } : {}),
    policy: { retryBaseMs: 1000, retryMaxMs: 60_000, safetyNetMs: 15 * 60_000 },
    now: () => new Date(now),
    random: () => 0.5,
    engine: async (cfg, kind, deps) => {
      engineCalls.push({ kind, cfg, deps });
      return outcome(deps);
    },
  });
  return {
    r,
    objects,
    writes,
    events,
    secretReads,
    tracked,
    engineCalls,
    hooks,
    last: () => writes.at(-1)!,
    ready: () => writes.at(-1)?.conditions?.find((c) => c.type === 'Ready'),
    cond: (type: string) => writes.at(-1)?.conditions?.find((c) => c.type === type),
    advance: (ms: number) => (now += ms),
    setOutcome: (f: (deps: EngineDeps) => Promise<RunReport>) => (outcome = f),
    failNextWrite: () => (failNextWrite = true),
    setObject: (o: RawObject) => objects.set(KEY, { ...o, status: objects.get(KEY)?.status }),
  };
}

describe('the AdSync reconciler (fakes, fake clock)', () => {
  let h: ReturnType<typeof harness>;
  beforeEach(() => {
    h = harness();
  });

  it('a new AdSync runs a preview at once, reports it, and with interval manual waits for nothing else', async () => {
    expect(await h.r.reconcile(KEY)).toEqual({});
    expect(h.engineCalls.map((c) => c.kind)).toEqual(['preview']);
    // In progress first (kstatus InProgress), then the outcome.
    expect(h.writes[0]?.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing' });
    expect(h.ready()).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(h.cond('Reconciling')).toBeUndefined();
    expect(h.events.map((e) => `${e.type} ${e.reason}`)).toEqual(['Normal PreviewReady']);
    // The Secrets were read through the injected source, and went into the run's config.
    expect(h.secretReads.sort()).toEqual(['ad-bind', 'tt']);
    expect(h.engineCalls[0]?.cfg.ldap.bindPassword).toBe('bind-password');
    h.advance(24 * 3600_000);
    expect(await h.r.reconcile(KEY)).toEqual({});
    expect(h.engineCalls).toHaveLength(1);
  });

  it('an interval schedules the next run one interval (plus jitter) later, and not before', async () => {
    h.setObject(raw({ interval: '1h' }));
    const first = await h.r.reconcile(KEY);
    expect(first.requeueAfterMs).toBeGreaterThanOrEqual(3600_000);
    expect(first.requeueAfterMs).toBeLessThanOrEqual(3600_000 * 1.2);
    expect(Date.parse(h.last().nextSyncAt!)).toBe(T0 + first.requeueAfterMs!);
    h.advance(first.requeueAfterMs! - 1000);
    expect(await h.r.reconcile(KEY)).toEqual({ requeueAfterMs: 1000 });
    expect(h.engineCalls).toHaveLength(1);
    h.advance(1000);
    await h.r.reconcile(KEY);
    expect(h.engineCalls).toHaveLength(2);
  });

  it('a failure a person must fix stalls: Secrets tracked at the versions read, no run again until one changes', async () => {
    h.setObject(raw({ interval: '1h' }));
    h.setOutcome(async () => {
      throw directoryError('InvalidCredentials', 'fix-config', 'Bind refused (AD code 52e)');
    });
    const result = await h.r.reconcile(KEY);
    expect(h.cond('Stalled')).toMatchObject({ status: 'True', reason: 'InvalidCredentials' });
    expect(h.ready()).toMatchObject({ status: 'False', reason: 'InvalidCredentials' });
    expect(h.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'DirectoryError' });
    expect(h.tracked.get(KEY)).toEqual(new Map([['ns/ad-bind', 'rv-ad-bind'], ['ns/tt', 'rv-tt']]));
    // The safety net: 15 min (plus jitter), not the interval's back-off.
    expect(result.requeueAfterMs).toBeGreaterThanOrEqual(15 * 60_000);
    h.advance(60_000);
    await h.r.reconcile(KEY);
    expect(h.engineCalls).toHaveLength(1);
    h.r.secretChanged(KEY);
    h.setOutcome(async () => report('preview'));
    await h.r.reconcile(KEY);
    expect(h.engineCalls).toHaveLength(2);
    expect(h.cond('Stalled')).toBeUndefined();
    expect(h.tracked.has(KEY)).toBe(false);
  });

  it('a transient failure retries with growing back-off, and a success resets it', async () => {
    h.setObject(raw({ interval: '1h' }));
    h.setOutcome(async () => {
      throw directoryError('Timeout', 'retry', 'the DC did not answer');
    });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await h.r.reconcile(KEY);
      delays.push(r.requeueAfterMs!);
      expect(h.cond('Reconciling')).toMatchObject({ status: 'True', reason: 'ProgressingWithRetry' });
      h.advance(r.requeueAfterMs!);
    }
    // 1 s doubling (upper half with random 0.5): 750, 1500, 3000, 6000 ms.
    expect(delays).toEqual([750, 1500, 3000, 6000]);
    expect(h.engineCalls).toHaveLength(4);
    h.setOutcome(async () => report('preview'));
    const ok = await h.r.reconcile(KEY);
    expect(ok.requeueAfterMs).toBeGreaterThanOrEqual(3600_000);
    expect(h.cond('Reconciling')).toBeUndefined();
  });

  it('cancelled (leadership lost): throws, writes no outcome and records no event', async () => {
    const cancel = new AbortController();
    h.setOutcome(async (deps) => {
      cancel.abort(new Error('leadership lost'));
      deps.signal?.throwIfAborted();
      return report('preview');
    });
    await expect(h.r.reconcile(KEY, cancel.signal)).rejects.toThrow('leadership lost');
    expect(h.engineCalls[0]?.deps.signal).toBe(cancel.signal);
    // Only "in progress"; the next leader reports the run.
    expect(h.writes).toHaveLength(1);
    expect(h.events).toEqual([]);
  });

  it('the fence (an unexpired Lease) is checked before each Truetask request and each write', async () => {
    let holds = true;
    const f = harness({
      fence: () => {
        if (!holds) throw new Error('this replica does not hold the leader Lease any more');
      },
    });
    f.setOutcome(async () => {
      // The Truetask client checks it right before each request.
      f.hooks[0]?.beforeRequest();
      holds = false;
      expect(() => f.hooks[0]?.beforeRequest()).toThrow('leader Lease');
      return report('preview');
    });
    await expect(f.r.reconcile(KEY)).rejects.toThrow('leader Lease');
    // "In progress" went out while the Lease was held; nothing after.
    expect(f.writes).toHaveLength(1);
    expect(f.events).toEqual([]);
    // Without the Lease nothing starts at all.
    const g = harness({
      fence: () => {
        throw new Error('no Lease');
      },
    });
    await expect(g.r.reconcile(KEY)).rejects.toThrow('no Lease');
    expect(g.writes).toEqual([]);
    expect(g.engineCalls).toEqual([]);
  });

  it('nothing runs when "in progress" cannot be written; the next reconcile writes it first, then runs', async () => {
    h.failNextWrite();
    await expect(h.r.reconcile(KEY)).rejects.toThrow('HTTP 500');
    expect(h.engineCalls).toEqual([]);
    expect(h.writes).toEqual([]);
    await h.r.reconcile(KEY);
    expect(h.writes[0]?.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ reason: 'Progressing' });
    expect(h.engineCalls).toHaveLength(1);
    expect(h.ready()).toMatchObject({ status: 'True' });
  });

  it('Sync Now of any length runs once; the status records it (a long value by its hash)', async () => {
    await h.r.reconcile(KEY);
    const long = 'x'.repeat(10_000);
    h.setObject(raw({}, { 'truetask.io/sync-now': long }));
    await h.r.reconcile(KEY);
    expect(h.engineCalls).toHaveLength(2);
    expect(h.last().lastHandledSyncNow).toMatch(/^sha256:[0-9a-f]{64}$/);
    await h.r.reconcile(KEY);
    expect(h.engineCalls).toHaveLength(2);
    h.setObject(raw({}, { 'truetask.io/sync-now': 'after-long' }));
    await h.r.reconcile(KEY);
    expect(h.engineCalls).toHaveLength(3);
    expect(h.last().lastHandledSyncNow).toBe('after-long');
  });

  it('suspended: nothing runs, not even Sync Now, and no next run is shown', async () => {
    h.setObject(raw({ suspend: true, interval: '1h' }, { 'truetask.io/sync-now': 'now' }));
    expect(await h.r.reconcile(KEY)).toEqual({});
    expect(h.engineCalls).toEqual([]);
    expect(h.last().nextSyncAt).toBeUndefined();
  });

  it('a partly failed sync is retried with back-off and says PartiallyFailed', async () => {
    h.setObject(raw({ mode: 'Sync', interval: '1h' }));
    h.setOutcome(async () => {
      const r = report('sync');
      return { ...r, plan: { ...r.plan, changes: [{ kind: 'create', email: 'a@corp', name: 'A', role: 'user', dns: ['CN=A,DC=corp'] }, { kind: 'create', email: 'b@corp', name: 'B', role: 'user', dns: ['CN=B,DC=corp'] }] }, apply: { created: 1, promoted: 0, alreadyDone: 0, failed: 1, failures: [{ email: 'b@corp', action: 'create', reason: 'TruetaskRejected', message: 'name too long' }], failedEmails: ['b@corp'], result: 'PartiallyFailed' } };
    });
    const r = await h.r.reconcile(KEY);
    expect(r.requeueAfterMs).toBe(750);
    expect(h.last().lastSync).toMatchObject({ result: 'PartiallyFailed', created: 1, failed: 1 });
    expect(h.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'SyncPartiallyFailed' });
    expect(h.cond('Reconciling')).toMatchObject({ reason: 'ProgressingWithRetry' });
  });

  it('an unexpected error is reported as an internal error and retried, never thrown to the queue', async () => {
    h.setObject(raw({ interval: '1h' }));
    h.setOutcome(async () => {
      throw new TypeError('x is undefined');
    });
    const r = await h.r.reconcile(KEY);
    expect(r.requeueAfterMs).toBe(750);
    expect(h.ready()?.message).toContain('internal error: x is undefined');
    expect(h.events.at(-1)?.reason).toBe('SyncFailed');
  });

  it('a Secret the API server could not return is retried, not reported as not found', async () => {
    const r2 = harness();
    r2.setObject(raw({ interval: '1h' }));
    r2.setOutcome(async () => {
      throw new AdSyncError('config', 'SecretUnavailable', 'retry', 'Could not read Secret ns/ad-bind from the cluster: HTTP 503');
    });
    const res = await r2.r.reconcile(KEY);
    expect(res.requeueAfterMs).toBe(750);
    expect(r2.ready()).toMatchObject({ reason: 'SecretUnavailable' });
    expect(r2.cond('Stalled')).toBeUndefined();
  });
});

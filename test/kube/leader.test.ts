// Lease-based leader election against a real kube-apiserver.
import { ApiException, CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { createLeaderElector, microTime, type LeaderElector, type LeaseApi } from '../../src/runtime/leader.ts';
import { silentLogger } from '../../src/log.ts';
import { useTestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';

const ns = useTestNamespace('leader');

// Short timings; every wait below is a bounded poll on a condition.
const LEASE_S = 3;
const RENEW_S = 2;
const RETRY_S = 0.5;
const WAIT = { timeoutMs: 20_000 };
const MICRO_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

type Fault = 'none' | 'fail' | 'hang';

interface Candidate {
  id: string;
  elector: LeaderElector;
  /** Terms started / stopped (callbacks), and the signals handed to onStartedLeading. */
  started: number;
  stopped: number;
  signals: AbortSignal[];
  /** API calls made by the elector (reads, writes). */
  calls: { read: number; create: number; replace: number };
  /** Fault injected into the elector's API calls. */
  fault: Fault;
  runController: AbortController;
  done: Promise<void>;
}

const candidates: Candidate[] = [];
let leaseCounter = 0;
const nextLeaseName = () => `adsync-leader-${++leaseCounter}`;

afterEach(async () => {
  for (const c of candidates.splice(0)) {
    c.fault = 'none';
    c.runController.abort();
    await c.done;
  }
});

function leases(): CoordinationV1Api {
  return ns.kc.makeApiClient(CoordinationV1Api);
}

function readLease(name: string): Promise<V1Lease> {
  return leases().readNamespacedLease({ name, namespace: ns.name });
}

function candidate(id: string, lease: string): Candidate {
  const real = leases();
  const c = {
    id,
    started: 0,
    stopped: 0,
    signals: [] as AbortSignal[],
    calls: { read: 0, create: 0, replace: 0 },
    fault: 'none' as Fault,
    runController: new AbortController(),
  } as Candidate;
  const guard = <T>(kind: keyof Candidate['calls'], call: () => Promise<T>): Promise<T> => {
    c.calls[kind]++;
    if (c.fault === 'fail') return Promise.reject(new ApiException(503, 'injected fault', '{"message":"injected"}', {}));
    if (c.fault === 'hang') return new Promise<T>(() => {});
    return call();
  };
  const api: LeaseApi = {
    readNamespacedLease: (p) => guard('read', () => real.readNamespacedLease(p)),
    createNamespacedLease: (p) => guard('create', () => real.createNamespacedLease(p)),
    replaceNamespacedLease: (p) => guard('replace', () => real.replaceNamespacedLease(p)),
  };
  c.elector = createLeaderElector({
    coordination: api,
    namespace: ns.name,
    name: lease,
    identity: id,
    leaseDurationSeconds: LEASE_S,
    renewDeadlineSeconds: RENEW_S,
    retryPeriodSeconds: RETRY_S,
    logger: silentLogger(),
    onStartedLeading: (signal) => {
      c.started++;
      c.signals.push(signal);
    },
    onStoppedLeading: () => {
      c.stopped++;
    },
  });
  c.done = c.elector.run(c.runController.signal);
  candidates.push(c);
  return c;
}

/** Waits until exactly one of `cs` leads, checking on every poll that never two lead at once. */
async function oneLeader(cs: Candidate[]): Promise<{ leader: Candidate; followers: Candidate[] }> {
  const leader = await waitFor(
    'one leader',
    () => {
      const leading = cs.filter((c) => c.elector.isLeader());
      if (leading.length > 1) throw new Error(`several leaders: ${leading.map((c) => c.id).join(', ')}`);
      return leading[0];
    },
    WAIT,
  );
  return { leader, followers: cs.filter((c) => c !== leader) };
}

/** Waits until the Lease's renewTime is past `ms` (the leader keeps renewing). */
async function renewedPast(lease: string, ms: number, holder: string): Promise<V1Lease> {
  return waitFor(
    `Lease ${lease} renewed by ${holder} past ${new Date(ms).toISOString()}`,
    async () => {
      const l = await readLease(lease);
      return l.spec?.holderIdentity === holder && Date.parse(String(l.spec.renewTime)) > ms ? l : undefined;
    },
    WAIT,
  );
}

describe('leader election on a Lease', () => {
  it('creates the Lease and lets exactly one of two candidates lead, which keeps renewing it', async () => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    const b = candidate('replica-b', lease);
    const { leader, followers } = await oneLeader([a, b]);
    const follower = followers[0] as Candidate;

    const first = await readLease(lease);
    expect(first.spec?.holderIdentity).toBe(leader.id);
    expect(first.spec?.leaseDurationSeconds).toBe(LEASE_S);
    expect(first.spec?.leaseTransitions).toBe(0);
    // MicroTime fields as the API server stores them: RFC 3339 with microseconds
    expect(String(first.spec?.renewTime)).toMatch(MICRO_RE);
    expect(String(first.spec?.acquireTime)).toMatch(MICRO_RE);

    // Over more than a lease duration the leader renews and the follower never leads.
    const firstRenew = Date.parse(String(first.spec?.renewTime));
    const later = await renewedPast(lease, firstRenew + 2 * LEASE_S * 1000, leader.id);
    await waitFor('the follower to retry a few times', () => follower.calls.read >= 5, WAIT);
    expect(later.spec?.acquireTime).toBe(first.spec?.acquireTime);
    expect(later.spec?.leaseTransitions).toBe(0);
    expect(leader.elector.isLeader()).toBe(true);
    expect(follower.elector.isLeader()).toBe(false);
    expect(leader.started).toBe(1);
    expect(leader.stopped).toBe(0);
    expect(follower.started).toBe(0);
    expect(leader.signals[0]?.aborted).toBe(false);
  });

  it('hands over at once on release(): the other candidate takes the freed Lease on its first look', async () => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    await oneLeader([a]);

    await a.elector.release();
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped).toBe(1);
    expect(a.signals[0]?.aborted).toBe(true);
    await a.done; // run() has ended
    const released = await readLease(lease);
    expect(released.spec?.holderIdentity).toBeUndefined();
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    expect(String(released.spec?.renewTime)).toMatch(MICRO_RE);

    const b = candidate('replica-b', lease);
    await oneLeader([a, b]);
    expect(b.elector.isLeader()).toBe(true);
    expect(b.calls.read).toBe(1); // no waiting for an expiry
    const taken = await readLease(lease);
    expect(taken.spec?.holderIdentity).toBe('replica-b');
    expect(taken.spec?.leaseDurationSeconds).toBe(LEASE_S);
    expect(taken.spec?.leaseTransitions).toBe(1);

    await a.elector.release(); // not the holder: leaves the Lease alone
    expect((await readLease(lease)).spec?.holderIdentity).toBe('replica-b');
  });

  it('releases while a follower is campaigning: the follower leads', async () => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    const b = candidate('replica-b', lease);
    const { leader, followers } = await oneLeader([a, b]);
    const follower = followers[0] as Candidate;

    await leader.elector.release();
    await waitFor(`${follower.id} to lead`, () => follower.elector.isLeader(), WAIT);
    expect(leader.elector.isLeader()).toBe(false);
    expect(leader.stopped).toBe(1);
    const l = await readLease(lease);
    expect(l.spec?.holderIdentity).toBe(follower.id);
    expect(l.spec?.leaseTransitions).toBe(1);
  });

  it('takes over after the lease expires when the leader stops without releasing', async () => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    const b = candidate('replica-b', lease);
    const { leader, followers } = await oneLeader([a, b]);
    const follower = followers[0] as Candidate;

    leader.runController.abort(); // like a crash: nobody clears the Lease
    await leader.done;
    expect(leader.elector.isLeader()).toBe(false);
    expect(leader.stopped).toBe(1);
    expect(leader.signals[0]?.aborted).toBe(true);
    const abandoned = await readLease(lease);
    expect(abandoned.spec?.holderIdentity).toBe(leader.id);

    await waitFor(`${follower.id} to lead`, () => follower.elector.isLeader(), WAIT);
    const taken = await readLease(lease);
    expect(taken.spec?.holderIdentity).toBe(follower.id);
    expect(taken.spec?.leaseTransitions).toBe(1);
    // it waited for the expiry: the take-over is at least a lease duration after the last renewal
    expect(Date.parse(String(taken.spec?.acquireTime))).toBeGreaterThanOrEqual(
      Date.parse(String(abandoned.spec?.renewTime)) + LEASE_S * 1000,
    );
  });

  it('stops leading when a third party deletes the Lease and re-creates it as its holder', async () => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    await oneLeader([a]);
    const signal = a.signals[0] as AbortSignal;

    const api = leases();
    // The intruder keeps forcing its way in until it holds the Lease (a renewal of
    // replica-a may slip in between the delete and the create).
    await waitFor(
      'the intruder to hold the Lease',
      async () => {
        try {
          await api.deleteNamespacedLease({ name: lease, namespace: ns.name });
        } catch (err) {
          if (!(err instanceof ApiException && err.code === 404)) throw err;
        }
        const t = microTime(new Date());
        const created = await api.createNamespacedLease({
          namespace: ns.name,
          body: { metadata: { name: lease }, spec: { holderIdentity: 'intruder', leaseDurationSeconds: 3600, acquireTime: t, renewTime: t } },
        });
        return created.spec?.holderIdentity === 'intruder';
      },
      WAIT,
    );

    await waitFor('replica-a to stop leading', () => !a.elector.isLeader(), WAIT);
    expect(a.stopped).toBe(1);
    expect(signal.aborted).toBe(true);

    // It stays a candidate that keeps looking but does not take a valid Lease.
    const reads = a.calls.read;
    await waitFor('replica-a to look at the Lease again', () => a.calls.read >= reads + 3, WAIT);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.started).toBe(1);
    expect((await readLease(lease)).spec?.holderIdentity).toBe('intruder');
  });

  it.each<Fault>(['fail', 'hang'])('stops leading when renewals %s for longer than the renew deadline', async (fault) => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    await oneLeader([a]);
    const signal = a.signals[0] as AbortSignal;
    const before = await readLease(lease);

    a.fault = fault;
    await waitFor('replica-a to stop leading', () => !a.elector.isLeader(), WAIT);
    expect(a.stopped).toBe(1);
    expect(signal.aborted).toBe(true);
    // Nobody else took the Lease: it gave up on its own (renew deadline), and
    // it did so before its Lease expired for others.
    const after = await readLease(lease);
    expect(after.spec?.holderIdentity).toBe('replica-a');
    expect(after.metadata?.resourceVersion).not.toBe(undefined);
    expect(Date.parse(String(after.spec?.renewTime))).toBeGreaterThanOrEqual(Date.parse(String(before.spec?.renewTime)));

    // When the API works again it leads again (same identity: its own Lease).
    a.fault = 'none';
    await waitFor('replica-a to lead again', () => a.elector.isLeader(), WAIT);
    expect(a.started).toBe(2);
    expect(a.signals[1]?.aborted).toBe(false);
  });

  it('shuts down promptly even while an API call hangs', async () => {
    const lease = nextLeaseName();
    const a = candidate('replica-a', lease);
    await oneLeader([a]);
    a.fault = 'hang';
    const calls = a.calls.replace + a.calls.read;
    await waitFor('a renewal to hang', () => a.calls.replace + a.calls.read > calls, WAIT);
    a.runController.abort();
    await a.done;
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped).toBe(1);
  });

  it('refuses inconsistent timings', () => {
    const base = {
      coordination: leases(),
      namespace: 'x',
      name: 'y',
      identity: 'z',
      logger: silentLogger(),
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
    };
    expect(() => createLeaderElector({ ...base, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow(/renewDeadlineSeconds/);
    expect(() => createLeaderElector({ ...base, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow(/retryPeriodSeconds/);
    expect(() => createLeaderElector({ ...base, leaseDurationSeconds: 2.5, renewDeadlineSeconds: 2, retryPeriodSeconds: 1 })).toThrow(/whole/);
    expect(() => createLeaderElector({ ...base, identity: '' })).toThrow(/identity/);
    expect(() => createLeaderElector(base)).not.toThrow();
  });
});

// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// leaderelection package:
//  - a candidate reads the Lease every retryPeriod; it creates it when absent and
//    takes it over (optimistic concurrency on resourceVersion; 409 = someone else
//    won) when it is free (no holder, e.g. released) or expired;
//  - the leader renews it every retryPeriod; when it cannot renew for
//    renewDeadline, or sees another holder, it stops leading (the signal given to
//    onStartedLeading is aborted, then onStoppedLeading runs) and becomes a
//    candidate again;
//  - release() (shutdown) stops the loop and frees the Lease so another replica
//    takes over at once instead of after leaseDuration.
//
// Fencing: holdsLease() says whether this replica may still write. It is true
// while the last successful write of the Lease (acquire or renewal) was *sent*
// less than renewDeadline ago on the monotonic clock, which keeps running while
// the process is stopped (SIGSTOP, a long GC pause, a frozen VM). Another
// replica takes over only after leaseDuration without a renewal, measured from
// when it saw one, so a replica that passes the check has leaseDuration -
// renewDeadline for its request to land. When the check fails, leadership ends
// at once (the term's signal aborts) even if the renew loop has not run yet:
// after a freeze, I/O callbacks can run before timers.
//
// Expiry: a Lease held by another is expired when renewTime + leaseDuration <= now
// AND, if this candidate has seen the record change (a renewal) since it started
// watching, at least leaseDuration has passed since that change on the local
// clock. The second half (client-go's rule) keeps a candidate whose clock runs
// ahead of the leader's from stealing a Lease that is still being renewed.
//
// MicroTime: the API server parses renewTime/acquireTime as RFC 3339 with exactly
// six fractional digits. client-node 2.0.1 sends a V1MicroTime through
// Date#toJSON -> V1MicroTime#toISOString ("2026-11-25T10:00:00.123000Z"); a plain
// Date would go out with three digits and be refused, so every time written here
// is a V1MicroTime. On reads client-node leaves these fields as the raw strings.
import { V1MicroTime, type CoordinationV1Api, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { apiErrorText as errorText, apiStatusCode as statusCode } from './api-status.ts';
import { sleep as defaultSleep } from './sleep.ts';

export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaderElectorOptions {
  coordination: LeaseApi;
  namespace: string;
  /** Name of the Lease. */
  name: string;
  /** Unique per replica (e.g. the pod name); written as holderIdentity. */
  identity: string;
  /** How long a Lease stays valid after a renewal (whole seconds). Default 15. */
  leaseDurationSeconds?: number;
  /** The leader gives up when it could not renew for this long. Default 10; must be < leaseDurationSeconds. */
  renewDeadlineSeconds?: number;
  /** Interval of acquire attempts and of renewals. Default 2; must be < renewDeadlineSeconds. */
  retryPeriodSeconds?: number;
  logger: Logger;
  /** Called when this replica becomes the leader; `signal` aborts when it stops leading. Not awaited. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once per term when this replica stops leading (after the signal above aborted). */
  onStoppedLeading: () => void;
  /** Clock (tests). Default: () => new Date(). */
  now?: () => Date;
  /** Waits ms, resolving early (never rejecting) when signal aborts (tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** In [0,1): jitter of acquire retries (tests). Default Math.random. */
  random?: () => number;
  /** Monotonic clock in ms, for fencing (tests). Default performance.now(). */
  monotonic?: () => number;
}

export interface LeaderElector {
  /**
   * Campaigns and leads until `signal` aborts (then stops leading, without
   * releasing the Lease: call release() for a fast hand-over). Never rejects.
   */
  run(signal: AbortSignal): Promise<void>;
  isLeader(): boolean;
  /**
   * Fencing, checked right before each write: true while this replica leads and
   * its last Lease write was sent less than renewDeadline ago (monotonic clock).
   * When false and a term was running, the term ends now (its signal aborts,
   * onStoppedLeading runs) before this returns.
   */
  holdsLease(): boolean;
  /**
   * Stops run() (and leading), then, if this replica holds the Lease, frees it
   * (holderIdentity cleared, leaseDurationSeconds 1) so another replica can take
   * over at once. Never rejects; failures are logged.
   */
  release(): Promise<void>;
}

/** client-go's JitterFactor for acquire retries; renewDeadline must exceed retryPeriod by it. */
const JITTER = 1.2;

/** A V1MicroTime (serialised with six fractional digits) for a Date. */
export function microTime(at: Date): V1MicroTime {
  return new V1MicroTime(at.getTime());
}

/** Milliseconds of a MicroTime field as read (string) or built (Date). */
function toMillis(v: unknown): number | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v === 'string' && v !== '') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

const TIMED_OUT: unique symbol = Symbol('timed out');

/** `p`, or TIMED_OUT when `ms` pass or `signal` aborts first (p keeps running; its result is dropped). */
async function bounded<T>(
  p: Promise<T>,
  ms: number,
  signal: AbortSignal,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
): Promise<T | typeof TIMED_OUT> {
  const timer = new AbortController();
  try {
    return await Promise.race([p, sleep(Math.max(0, ms), AbortSignal.any([signal, timer.signal])).then((): typeof TIMED_OUT => TIMED_OUT)]);
  } finally {
    timer.abort();
  }
}

type RenewOutcome =
  | { kind: 'renewed'; lease: V1Lease }
  | { kind: 'lost'; holder: string }
  | { kind: 'failed'; error: string }
  | { kind: 'timeout' };

export function createLeaderElector(opts: LeaderElectorOptions): LeaderElector {
  const { coordination: api, namespace, name, identity } = opts;
  const leaseDurationSeconds = opts.leaseDurationSeconds ?? 15;
  const renewDeadlineSeconds = opts.renewDeadlineSeconds ?? 10;
  const retryPeriodSeconds = opts.retryPeriodSeconds ?? 2;
  if (!namespace || !name) throw new Error('leader election: namespace and name of the Lease are required');
  if (!identity) throw new Error('leader election: identity must not be empty');
  if (!Number.isInteger(leaseDurationSeconds) || leaseDurationSeconds < 1) {
    throw new Error(`leader election: leaseDurationSeconds must be a whole number >= 1 (got ${leaseDurationSeconds})`);
  }
  if (!(renewDeadlineSeconds < leaseDurationSeconds)) {
    throw new Error('leader election: renewDeadlineSeconds must be less than leaseDurationSeconds');
  }
  if (!(retryPeriodSeconds > 0) || !(renewDeadlineSeconds > retryPeriodSeconds * JITTER)) {
    throw new Error(`leader election: renewDeadlineSeconds must be greater than retryPeriodSeconds * ${JITTER}`);
  }

  const renewDeadlineMs = renewDeadlineSeconds * 1000;
  const retryMs = retryPeriodSeconds * 1000;
  const now = opts.now ?? (() => new Date());
  const nowMs = () => now().getTime();
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const monotonic = opts.monotonic ?? (() => performance.now());
  const log = opts.logger.child({ lease: `${namespace}/${name}`, identity });

  /** The Lease as last read or written (its resourceVersion is the base of the next write). */
  let lease: V1Lease | undefined;
  /** The record (holder, renewTime, duration) last seen and when it last changed on our clock. */
  let observed: { key: string; changedAt: number | undefined } | undefined;
  let term: AbortController | undefined;
  let running: { stop: AbortController; done: Promise<void> } | undefined;
  let lastWarning = '';
  /** Monotonic time until which the last Lease write lets this replica write (fencing). */
  let validUntil = Number.NEGATIVE_INFINITY;

  const warn = (msg: string, detail: string) => {
    // Don't repeat the same warning every retry period.
    const key = `${msg}: ${detail}`;
    if (key === lastWarning) log.debug({ detail }, msg);
    else log.warn({ detail }, msg);
    lastWarning = key;
  };

  const observe = (l: V1Lease) => {
    const spec = l.spec ?? {};
    const key = JSON.stringify([spec.holderIdentity ?? '', String(spec.renewTime ?? ''), spec.leaseDurationSeconds ?? null]);
    if (observed === undefined) observed = { key, changedAt: undefined };
    else if (observed.key !== key) observed = { key, changedAt: nowMs() };
  };

  const expired = (spec: V1LeaseSpec): boolean => {
    if (!spec.holderIdentity) return true;
    const renewed = toMillis(spec.renewTime) ?? toMillis(spec.acquireTime);
    if (renewed === undefined) return true;
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const t = nowMs();
    if (renewed + duration > t) return false;
    const changedAt = observed?.changedAt;
    return changedAt === undefined || changedAt + duration <= t;
  };

  const ourSpec = (prev: V1LeaseSpec | undefined, at: Date): V1LeaseSpec => {
    const takeover = prev?.holderIdentity !== identity;
    return {
      ...prev,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: microTime(at),
      acquireTime: takeover || prev?.acquireTime === undefined ? microTime(at) : prev.acquireTime,
      leaseTransitions: prev === undefined ? 0 : (prev.leaseTransitions ?? 0) + (takeover ? 1 : 0),
    };
  };

  const written = (l: V1Lease) => {
    lease = l;
    observe(l);
    lastWarning = '';
  };

  /** One acquire attempt: true when this replica now holds the Lease. Never throws. */
  const tryAcquire = async (): Promise<boolean> => {
    let current: V1Lease;
    try {
      current = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusCode(err) !== 404) {
        warn('cannot read the leader election Lease', errorText(err));
        return false;
      }
      try {
        const created = await api.createNamespacedLease({
          namespace,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: ourSpec(undefined, now()) },
        });
        written(created);
        return true;
      } catch (createErr) {
        if (statusCode(createErr) === 409) log.debug('another replica created the Lease first');
        else warn('cannot create the leader election Lease', errorText(createErr));
        return false;
      }
    }
    lease = current;
    observe(current);
    const spec = current.spec ?? {};
    if (spec.holderIdentity && spec.holderIdentity !== identity && !expired(spec)) {
      log.debug({ holder: spec.holderIdentity }, 'Lease held by another replica');
      return false;
    }
    try {
      const updated = await api.replaceNamespacedLease({ name, namespace, body: { ...current, spec: ourSpec(spec, now()) } });
      if (spec.holderIdentity && spec.holderIdentity !== identity) log.info({ previousHolder: spec.holderIdentity }, 'took over an expired Lease');
      written(updated);
      return true;
    } catch (err) {
      if (statusCode(err) === 409) log.debug('another replica updated the Lease first');
      else warn('cannot update the leader election Lease', errorText(err));
      return false;
    }
  };

  /** One renewal: from the cached copy, falling back to a fresh read on 409/404. */
  const renewOnce = async (): Promise<RenewOutcome> => {
    const cached = lease;
    if (cached?.spec?.holderIdentity === identity && cached.metadata?.resourceVersion) {
      try {
        const updated = await api.replaceNamespacedLease({ name, namespace, body: { ...cached, spec: ourSpec(cached.spec, now()) } });
        return { kind: 'renewed', lease: updated };
      } catch (err) {
        const code = statusCode(err);
        if (code !== 409 && code !== 404) return { kind: 'failed', error: errorText(err) };
      }
    }
    let current: V1Lease;
    try {
      current = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      // Deleted under us: we are not the holder of record any more.
      if (statusCode(err) === 404) return { kind: 'lost', holder: '' };
      return { kind: 'failed', error: errorText(err) };
    }
    const holder = current.spec?.holderIdentity ?? '';
    if (holder !== identity) {
      lease = current;
      observe(current);
      return { kind: 'lost', holder };
    }
    try {
      const updated = await api.replaceNamespacedLease({ name, namespace, body: { ...current, spec: ourSpec(current.spec, now()) } });
      return { kind: 'renewed', lease: updated };
    } catch (err) {
      return { kind: 'failed', error: errorText(err) };
    }
  };

  const startLeading = () => {
    const controller = new AbortController();
    term = controller;
    log.info('became the leader');
    void (async () => {
      try {
        await opts.onStartedLeading(controller.signal);
      } catch (err) {
        log.error({ err }, 'onStartedLeading failed');
      }
    })();
  };

  const stopLeading = (reason: string) => {
    const current = term;
    if (!current) return;
    term = undefined;
    log.info({ reason }, 'stopped leading');
    current.abort(new Error(`leadership lost: ${reason}`));
    try {
      opts.onStoppedLeading();
    } catch (err) {
      log.error({ err }, 'onStoppedLeading failed');
    }
  };

  /** Renews until leadership ends; returns why. */
  const lead = async (signal: AbortSignal): Promise<string> => {
    let lastRenew = nowMs();
    for (;;) {
      await sleep(retryMs, signal);
      if (signal.aborted) return 'shutting down';
      // Ended by holdsLease() (the Lease expired on the monotonic clock before it was renewed).
      if (!term) return 'the Lease was not renewed in time';
      const sentAt = monotonic();
      const result = await bounded(renewOnce(), lastRenew + renewDeadlineMs - nowMs(), signal, sleep);
      if (signal.aborted) return 'shutting down';
      const outcome: RenewOutcome = result === TIMED_OUT ? { kind: 'timeout' } : result;
      switch (outcome.kind) {
        case 'renewed':
          written(outcome.lease);
          lastRenew = nowMs();
          validUntil = sentAt + renewDeadlineMs;
          continue;
        case 'lost':
          return outcome.holder ? `the Lease is now held by ${outcome.holder}` : 'the Lease was deleted';
        case 'failed':
          warn('cannot renew the leader election Lease', outcome.error);
          break;
        case 'timeout':
          break;
      }
      if (nowMs() - lastRenew >= renewDeadlineMs) return `could not renew the Lease for ${renewDeadlineSeconds}s`;
    }
  };

  const loop = async (signal: AbortSignal): Promise<void> => {
    try {
      while (!signal.aborted) {
        // A hung request must neither block shutdown nor the next attempt.
        const sentAt = monotonic();
        const acquired = await bounded(tryAcquire(), renewDeadlineMs, signal, sleep);
        if (acquired === true) {
          if (signal.aborted) break;
          validUntil = sentAt + renewDeadlineMs;
          if (monotonic() >= validUntil) continue;
          startLeading();
          const reason = await lead(signal);
          stopLeading(reason);
          continue;
        }
        await sleep(retryMs * (1 + (JITTER - 1) * random()), signal);
      }
    } catch (err) {
      // Unexpected (a bug): never leave a replica leading without renewing.
      log.error({ err }, 'leader election loop failed');
    } finally {
      stopLeading('shutting down');
    }
  };

  /** Clears holderIdentity (if we hold the Lease) so another replica takes over at once. */
  const freeLease = async (): Promise<void> => {
    let current = lease;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (current?.spec?.holderIdentity !== identity) return;
      const at = now();
      const body: V1Lease = {
        ...current,
        spec: { ...current.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime(at), acquireTime: microTime(at) },
      };
      try {
        lease = await api.replaceNamespacedLease({ name, namespace, body });
        log.info('released the Lease');
        return;
      } catch (err) {
        const code = statusCode(err);
        if (code === 404) return;
        if (code !== 409) {
          log.warn({ detail: errorText(err) }, 'cannot release the leader election Lease');
          return;
        }
      }
      try {
        current = await api.readNamespacedLease({ name, namespace });
        lease = current;
      } catch (err) {
        if (statusCode(err) !== 404) log.warn({ detail: errorText(err) }, 'cannot release the leader election Lease');
        return;
      }
    }
  };

  return {
    run(signal) {
      if (running) return Promise.reject(new Error('leader election: run() is already running'));
      const stop = new AbortController();
      const done = loop(AbortSignal.any([signal, stop.signal])).finally(() => {
        if (running?.stop === stop) running = undefined;
      });
      running = { stop, done };
      return done;
    },

    isLeader() {
      return term !== undefined;
    },

    holdsLease() {
      if (term === undefined) return false;
      if (monotonic() < validUntil) return true;
      stopLeading(`the Lease was not renewed within ${renewDeadlineSeconds}s (monotonic clock)`);
      return false;
    },

    async release() {
      const r = running;
      if (r) {
        r.stop.abort();
        await r.done;
      }
      stopLeading('released');
      const result = await bounded(freeLease(), renewDeadlineMs, new AbortController().signal, sleep);
      if (result === TIMED_OUT) log.warn(`could not release the Lease within ${renewDeadlineSeconds}s`);
    },
  };
}

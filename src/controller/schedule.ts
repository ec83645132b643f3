/**
 * When does an AdSync run? The one place that decides, as pure functions of the
 * object, its status, the in-memory retry state and the clock (unit-tested with
 * a fake clock in test/unit/schedule.test.ts).
 *
 * - A run is due at once for a new object, a new generation (spec change), a new
 *   truetask.io/sync-now or truetask.io/approve value, or (while stalled) a changed
 *   referenced Secret.
 * - Otherwise at status.nextSyncAt: the schedule survives restarts and leader
 *   changes because it lives in the status; the controller's own status writes
 *   never make a run due.
 * - After a failure, what failed decides (AdSyncError.next):
 *     fix-config     stalled: a person must act. Not retried with the same input;
 *                    one safety-net attempt every 15 minutes (none when manual).
 *     retry/backoff  transient: exponential back-off with jitter from 5 s,
 *                    doubling ("backoff" starts one step further), capped at
 *                    10 minutes or the interval if shorter; a Retry-After is a
 *                    floor. Manual AdSyncs are not retried: they are stalled.
 */
import { backoffDelayMs } from '../runtime/backoff.ts';
import type { NextStep } from '../errors.ts';

/** The stalled safety net: at most one attempt per this period with unchanged input. */
export const SAFETY_NET_MS = 15 * 60_000;
/** Transient back-off: first ceiling and cap. */
export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 10 * 60_000;
/** Scheduled runs and the safety net get up to this share of jitter (only ever later). */
export const SCHEDULE_JITTER = 0.1;

export interface SchedulePolicy {
  safetyNetMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export const defaultSchedulePolicy: SchedulePolicy = { safetyNetMs: SAFETY_NET_MS, retryBaseMs: RETRY_BASE_MS, retryMaxMs: RETRY_MAX_MS };

/** What the decision reads from the object and its status. */
export interface ObjectState {
  generation: number | undefined;
  /** The truetask.io/sync-now annotation. */
  syncNow: string | undefined;
  /** The truetask.io/approve annotation (src/controller/approval.ts). */
  approve?: string | undefined;
  suspend: boolean;
  status: {
    observedGeneration?: number | undefined;
    lastHandledSyncNow?: string | undefined;
    lastHandledApproval?: string | undefined;
    nextSyncAt?: string | undefined;
    /** A run has completed before (a Ready condition exists). */
    ran: boolean;
    /** The Stalled condition is True. */
    stalled: boolean;
  };
}

/** What the controller remembers of a key between runs (in memory only). */
export interface RetryState {
  /** Transient failures in a row. */
  failures: number;
  /** Stalled: a referenced Secret changed since the failing run. */
  secretChanged: boolean;
}

export type Trigger = 'new' | 'spec' | 'sync-now' | 'approve' | 'secret' | 'safety-net' | 'retry' | 'schedule';

export type Decision =
  | { action: 'suspended' }
  | { action: 'run'; trigger: Trigger; syncNow?: string | undefined }
  | { action: 'wait'; until?: number | undefined };

function syncNowPending(o: ObjectState): string | undefined {
  return o.syncNow !== undefined && o.syncNow !== '' && o.syncNow !== o.status.lastHandledSyncNow ? o.syncNow : undefined;
}

/** Is a run due now, and if not, when? */
export function decide(o: ObjectState, retry: RetryState | undefined, now: number): Decision {
  if (o.suspend) return { action: 'suspended' };
  const syncNow = syncNowPending(o);
  const withSyncNow = (trigger: Trigger): Decision => ({ action: 'run', trigger, ...(syncNow !== undefined ? { syncNow } : {}) });
  if (!o.status.ran) return withSyncNow('new');
  if (o.generation !== undefined && o.generation !== o.status.observedGeneration) return withSyncNow('spec');
  if (syncNow !== undefined) return withSyncNow('sync-now');
  // A new approval runs at once (whether it matches the pending plan is the run's to say).
  if (o.approve !== undefined && o.approve !== '' && o.approve !== o.status.lastHandledApproval) return withSyncNow('approve');
  if (o.status.stalled && retry?.secretChanged) return withSyncNow('secret');
  const next = o.status.nextSyncAt === undefined ? undefined : Date.parse(o.status.nextSyncAt);
  if (next === undefined || Number.isNaN(next)) return { action: 'wait' };
  if (next <= now) return withSyncNow(o.status.stalled ? 'safety-net' : (retry?.failures ?? 0) > 0 ? 'retry' : 'schedule');
  return { action: 'wait', until: next };
}

/**
 * Transient failures in a row, estimated after a restart or a leader change
 * (the count lives in memory) from how long the trouble has lasted: with
 * doubling delays, k failures take about base * 2^k. The back-off then resumes
 * at about the length of the outage so far instead of starting over.
 */
export function failuresSince(troubleStartedAt: number, now: number, policy: SchedulePolicy = defaultSchedulePolicy): number {
  const elapsed = Math.max(0, now - troubleStartedAt);
  return Math.max(1, Math.floor(Math.log2(1 + elapsed / policy.retryBaseMs)));
}

/** When the next scheduled run is after a successful one (undefined: manual). */
export function nextAfterSuccess(interval: number | 'manual', now: number, random: () => number): number | undefined {
  if (interval === 'manual') return undefined;
  return now + Math.round(interval * 1000 * (1 + SCHEDULE_JITTER * random()));
}

export interface FailurePlan {
  /** stalled: a person must act (kstatus Failed); retrying: a transient failure waits for its retry (kstatus InProgress). */
  kind: 'stalled' | 'retrying';
  /** The next attempt (status.nextSyncAt); undefined: none on its own. */
  at: number | undefined;
  /** Transient failures in a row, this one included (0 when stalled). */
  failures: number;
}

/** What happens after a failed (or partly failed) run. */
export function planAfterFailure(
  err: { next: NextStep; retryAfterSeconds?: number | undefined },
  previousFailures: number,
  interval: number | 'manual',
  now: number,
  random: () => number,
  policy: SchedulePolicy = defaultSchedulePolicy,
): FailurePlan {
  if (err.next === 'fix-config') {
    const at = interval === 'manual' ? undefined : now + Math.round(policy.safetyNetMs * (1 + SCHEDULE_JITTER * random()));
    return { kind: 'stalled', at, failures: 0 };
  }
  const failures = previousFailures + 1;
  if (interval === 'manual') return { kind: 'stalled', at: undefined, failures };
  const cap = Math.min(policy.retryMaxMs, interval * 1000);
  const attempt = err.next === 'backoff' ? failures + 1 : failures;
  const delay = backoffDelayMs(attempt, { baseDelayMs: Math.min(policy.retryBaseMs, cap), maxDelayMs: cap }, random);
  const floor = (err.retryAfterSeconds ?? 0) * 1000;
  return { kind: 'retrying', at: now + Math.max(delay, floor), failures };
}

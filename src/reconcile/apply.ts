/**
 * Applies a plan to Truetask: creates and promotes, with bounded concurrency. A
 * failure on one user does not stop the others and is reported per user. A create
 * answered 409 means the user exists (created meanwhile, or by our own retried
 * request): it is looked up and checked, never created twice. A promotion re-reads
 * the user first, so a role raised meanwhile (say to owner) is never lowered.
 */
import { randomBytes } from 'node:crypto';
import { AdSyncError, isAdSyncError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Plan, PlannedChange, Role } from './plan.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';

export interface WrittenUser {
  id: string;
  email: string;
  role: Role;
}

/** What applying needs from Truetask (src/truetask/client.ts provides it). */
export interface UserWriter {
  findUserByEmail(email: string): Promise<WrittenUser | undefined>;
  createUser(input: { email: string; name: string; role: 'admin' | 'user'; verified: true; password: string }): Promise<WrittenUser>;
  setRole(id: string, role: 'admin'): Promise<WrittenUser>;
}

export interface UserFailure {
  email: string;
  action: 'create' | 'promote';
  reason: string;
  message: string;
}

export interface ApplyResult {
  created: number;
  promoted: number;
  /** Planned changes found already done when applied (409, or role already raised). */
  alreadyDone: number;
  failed: number;
  /** The first failures, with reasons (bounded). */
  failures: UserFailure[];
  /** Emails of every planned change that failed: what is still to do. */
  failedEmails: string[];
  /** Set when a failure means no further write can succeed (bad token, lost permission). */
  abortedBy?: AdSyncError;
}

export interface ApplyOptions {
  concurrency: number;
  logger: Logger;
  /** Detects a create answered 409. */
  isConflict: (err: unknown) => boolean;
  /** CSPRNG password; at least 24 characters, never logged, stored or shown. */
  generatePassword?: () => string;
  /** Called once per created or promoted user (metrics). */
  onWrite?: (kind: 'create' | 'promote') => void;
  onFailure?: (failure: UserFailure) => void;
  /** Cancels the apply: no change starts once it aborts, and applyPlan throws its reason. */
  signal?: AbortSignal;
}

export function generatePassword(): string {
  // 32 characters of base64url from 24 CSPRNG bytes.
  return randomBytes(24).toString('base64url');
}

const MAX_REPORTED_FAILURES = 50;

export async function applyPlan(plan: Plan, writer: UserWriter, options: ApplyOptions): Promise<ApplyResult> {
  const result: ApplyResult = { created: 0, promoted: 0, alreadyDone: 0, failed: 0, failures: [], failedEmails: [] };
  const log = options.logger;
  const newPassword = options.generatePassword ?? generatePassword;

  const fail = (change: PlannedChange, err: unknown) => {
    const e = isAdSyncError(err) ? err : undefined;
    const failure: UserFailure = {
      email: change.email,
      action: change.kind,
      reason: e?.reason ?? 'TruetaskError',
      message: e?.message ?? (err instanceof Error ? err.message : String(err)),
    };
    result.failed++;
    result.failedEmails.push(change.email);
    if (result.failures.length < MAX_REPORTED_FAILURES) result.failures.push(failure);
    options.onFailure?.(failure);
    log.warn({ audit: true, action: change.kind, email: change.email, reason: failure.reason, error: failure.message }, 'user not written');
    // A token that stopped working fails every write: stop instead of hammering Truetask.
    if (e && (e.reason === 'Unauthorized' || e.reason === 'Forbidden') && !result.abortedBy) result.abortedBy = e;
  };

  const promote = async (change: PlannedChange, userId: string, dns: string[]) => {
    const current = await writer.findUserByEmail(change.email);
    if (!current) throw new AdSyncError('truetask', 'TruetaskRejected', 'retry', `user ${change.email} disappeared before promotion`);
    if (current.role !== 'user') {
      result.alreadyDone++;
      log.info({ email: change.email, role: current.role }, 'promotion not needed: role already raised');
      return;
    }
    await writer.setRole(current.id || userId, 'admin');
    result.promoted++;
    options.onWrite?.('promote');
    log.info({ audit: true, action: 'promote', email: change.email, from: 'user', to: 'admin', dn: dns[0] }, 'user promoted to admin');
  };

  const signal = options.signal;
  await mapWithConcurrency(plan.changes, options.concurrency, async (change) => {
    // Cancelled (leadership lost): nothing more is written; what failed meanwhile is not a Truetask failure.
    if (signal?.aborted) return;
    if (result.abortedBy) {
      fail(change, result.abortedBy);
      return;
    }
    try {
      if (change.kind === 'promote') {
        await promote(change, change.userId, change.dns);
        return;
      }
      try {
        const password = newPassword();
        const created = await writer.createUser({ email: change.email, name: change.name, role: change.role, verified: true, password });
        result.created++;
        options.onWrite?.('create');
        log.info({ audit: true, action: 'create', email: created.email, name: change.name, role: created.role, dn: change.dns[0] }, 'user created');
      } catch (err) {
        if (!options.isConflict(err)) throw err;
        // Exists (created meanwhile, or our own request whose answer was lost): check it.
        const existing = await writer.findUserByEmail(change.email);
        if (!existing) throw err;
        if (change.role === 'admin' && existing.role === 'user') {
          await promote(change, existing.id, change.dns);
        } else {
          result.alreadyDone++;
          log.info({ email: change.email, role: existing.role }, 'user already exists; nothing to do');
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      fail(change, err);
    }
  });
  signal?.throwIfAborted();
  return result;
}

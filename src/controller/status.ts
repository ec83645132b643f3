/**
 * Pure status computation: from the previous status and a run's outcome to the
 * next status. Conditions keep their lastTransitionTime unless their status
 * changes; every list is bounded so the object stays small.
 */
import type { AdSync } from '../api/adsync.ts';
import { MAX_MESSAGE, MAX_PREVIEW_USERS, MAX_STATUS_OUS, type AdSyncStatus, type Condition, type PlannedUser } from '../api/status.ts';
import { MAX_DN_BYTES, MAX_EMAIL_BYTES, MAX_NAME_BYTES } from './status-size.ts';
import type { AdSyncError } from '../errors.ts';
import type { RunReport } from '../reconcile/engine.ts';
import type { PlannedChange } from '../reconcile/plan.ts';
import type { ServerIdentity } from '../ldap/server-identity.ts';
import { clipBytes } from '../runtime/clip.ts';
import { removeConditions as removeGenericConditions, rfc3339, setConditions as setGenericConditions, type ConditionUpdate as GenericConditionUpdate } from '../runtime/conditions.ts';
import { boundStatus } from './status-size.ts';
import { leaversAfterFailure, leaversAfterRun } from './leavers-status.ts';
import { syncNowToken } from './sync-now.ts';
import { lastRunAfter, serverStatus } from './server-status.ts';

export type ConditionType = 'Ready' | 'DirectoryConnected' | 'TruetaskConnected' | 'Synced' | 'Reconciling' | 'Stalled' | 'InsecureTransport';

export type ConditionUpdate = GenericConditionUpdate<ConditionType>;

/** Clipped to `max` bytes of UTF-8 (what the API server stores), with "…". */
export function clip(text: string, max = MAX_MESSAGE): string {
  return clipBytes(text, max);
}

const ORDER: readonly ConditionType[] = ['Ready', 'DirectoryConnected', 'TruetaskConnected', 'Synced', 'Reconciling', 'Stalled', 'InsecureTransport'];

/** Sets conditions (src/runtime/conditions.ts) in the AdSync's order, messages clipped to MAX_MESSAGE bytes. */
export function setConditions(previous: readonly Condition[] | undefined, updates: readonly ConditionUpdate[], generation: number | undefined, now: Date): Condition[] {
  return setGenericConditions(previous, updates, generation, now, { order: ORDER, maxMessageBytes: MAX_MESSAGE });
}

/** Removes conditions of the given types. */
export function removeConditions(previous: readonly Condition[] | undefined, types: readonly ConditionType[]): Condition[] {
  return removeGenericConditions(previous, types);
}

/**
 * kstatus health, as Flux's own resources report it:
 *  - ok: neither Reconciling nor Stalled (kstatus reads Ready: Current when True);
 *  - progressing: a run is in progress (Reconciling True, Progressing; kstatus InProgress);
 *  - retrying: a transient failure waits for its retry (Reconciling True, ProgressingWithRetry; InProgress);
 *  - stalled: a person must act (Stalled True with the AD reason and hint; kstatus Failed).
 */
export type Health =
  | { kind: 'ok' }
  | { kind: 'progressing'; message: string }
  | { kind: 'retrying'; message: string }
  | { kind: 'stalled'; reason: string; message: string };

export function setHealth(previous: readonly Condition[] | undefined, health: Health, generation: number | undefined, now: Date): Condition[] {
  switch (health.kind) {
    case 'ok':
      return removeConditions(previous, ['Reconciling', 'Stalled']);
    case 'progressing':
      return setConditions(removeConditions(previous, ['Stalled']), [{ type: 'Reconciling', status: 'True', reason: 'Progressing', message: health.message }], generation, now);
    case 'retrying':
      return setConditions(removeConditions(previous, ['Stalled']), [{ type: 'Reconciling', status: 'True', reason: 'ProgressingWithRetry', message: health.message }], generation, now);
    case 'stalled':
      return setConditions(removeConditions(previous, ['Reconciling']), [{ type: 'Stalled', status: 'True', reason: health.reason, message: health.message }], generation, now);
  }
}

export { rfc3339 };

export interface RunContext {
  adsync: AdSync;
  now: Date;
  /** The sync-now value this run handled, if any. */
  syncNow?: string | undefined;
  nextSyncAt?: Date | undefined;
  /** The status to start from (default: the object's); the controller passes the one it last wrote. */
  previous?: AdSyncStatus | undefined;
  /** Reconciling/Stalled after this run (default: ok). */
  health?: Health | undefined;
  /** The run was (or was to be) a full run (default true): only a failed full run marks status.leavers stale. */
  full?: boolean | undefined;
  /** Why the run was a full one (status.lastRun.reason), when a changed-only run was not asked for. */
  fullReason?: string | undefined;
  /**
   * The DC that answered a run that then failed (status.server). Safe for
   * changed-only runs: after a failed run the next one is a full one (run-scope.ts).
   */
  server?: ServerIdentity | undefined;
}

function base(ctx: RunContext): AdSyncStatus {
  const prev = ctx.previous ?? ctx.adsync.status ?? {};
  const status: AdSyncStatus = { ...prev, observedGeneration: ctx.adsync.metadata.generation ?? prev.observedGeneration };
  if (ctx.syncNow !== undefined) status.lastHandledSyncNow = syncNowToken(ctx.syncNow);
  if (ctx.nextSyncAt) status.nextSyncAt = rfc3339(ctx.nextSyncAt);
  else delete status.nextSyncAt;
  return status;
}

function previewMode(ctx: RunContext): boolean {
  return ctx.adsync.spec.mode === 'Preview';
}

const previewSynced: ConditionUpdate = {
  type: 'Synced',
  status: 'False',
  reason: 'PreviewMode',
  message: 'mode is Preview: nothing is written to Truetask; set spec.mode: Sync to create and promote users',
};

/** The seed's "No users found" troubleshooting, for a full run that matched no user. */
export const NO_USERS_HINT =
  'No users found: check that spec.ldap.baseDN covers the container where users reside (often CN=Users,DC=...); if users lack the mail attribute, set spec.emailAttribute: userPrincipalName; verify spec.excludedOUs are not filtering out the users you expect';

/** The warning for a full run that found no user to sync (undefined when it found some, or read only changes). */
export function noUsersWarning(report: Pick<RunReport, 'full' | 'directory'>): string | undefined {
  const d = report.directory;
  if (!report.full || d.users > 0) return undefined;
  return `${NO_USERS_HINT} (the filter matched ${d.users + d.excluded + d.skipped} entries: ${d.excluded} in excluded OUs, ${d.skipped} without a usable email)`;
}

export function summaryMessage(report: RunReport): string {
  const s = report.plan.summary;
  const plan = `${s.toCreate} to create, ${s.toPromote} to promote, ${s.unchanged} unchanged, ${s.skipped} skipped, ${s.excluded} excluded`;
  const a = report.apply;
  if (!a) return `Preview: ${plan}`;
  return `Sync ${a.result}: ${a.created} created, ${a.promoted} promoted, ${s.unchanged + a.alreadyDone} unchanged, ${s.skipped} skipped, ${a.failed} failed`;
}

/** The first MAX_PREVIEW_USERS changes as status rows (status.preview, status.pendingApproval). */
export function plannedUsers(changes: readonly PlannedChange[]): { users: PlannedUser[]; truncated: boolean } {
  return {
    users: changes.slice(0, MAX_PREVIEW_USERS).map((c) => ({
      email: clip(c.email, MAX_EMAIL_BYTES),
      name: clip(c.name, MAX_NAME_BYTES),
      role: c.kind === 'create' ? c.role : 'admin',
      action: c.kind === 'create' ? 'Create' : 'Promote',
    })),
    truncated: changes.length > MAX_PREVIEW_USERS,
  };
}

/** Status after a run that read AD and Truetask (and, in Sync mode, applied). */
export function statusAfterRun(ctx: RunContext, report: RunReport): AdSyncStatus {
  const status = base(ctx);
  const gen = ctx.adsync.metadata.generation;
  const d = report.directory;
  const ous = d.organizationalUnits;
  // A changed-only run read only what changed: the directory's counts stay those of the last full run.
  if (report.full || !status.directory) status.directory = {
    users: d.users,
    excluded: d.excluded,
    skipped: d.skipped,
    organizationalUnits: ous.slice(0, MAX_STATUS_OUS).map((o) => ({ dn: clip(o.dn, MAX_DN_BYTES), users: o.users, excluded: o.excluded })),
    ...(ous.length > MAX_STATUS_OUS ? { organizationalUnitsTruncated: true } : {}),
    adminGroups: d.adminGroups.slice(0, 50).map((g) => ({ ref: clip(g.ref, MAX_DN_BYTES), ...(g.dn ? { dn: clip(g.dn, MAX_DN_BYTES) } : {}), found: g.found, members: g.members })),
  };
  // Preview mode: the plan. Sync mode: what the plan still leaves to do after this run (the failures).
  const a = report.apply;
  const s = report.plan.summary;
  const failed = new Set(a?.failedEmails ?? []);
  const changes = a ? report.plan.changes.filter((c) => failed.has(c.email)) : report.plan.changes;
  const toCreate = changes.filter((c) => c.kind === 'create').length;
  const toPromote = changes.length - toCreate;
  status.preview = {
    generatedAt: rfc3339(report.completedAt),
    toCreate,
    toPromote,
    unchanged: a ? s.unchanged + a.created + a.promoted + a.alreadyDone : s.unchanged,
    skipped: s.skipped,
    ...plannedUsers(changes),
  };
  const leavers = leaversAfterRun(status.leavers, report.leavers, rfc3339(report.completedAt));
  if (leavers) status.leavers = leavers;
  if (report.server) status.server = serverStatus(report.server);
  status.lastRun = lastRunAfter(status.lastRun, report, report.fullReason ?? ctx.fullReason);
  const noUsers = noUsersWarning(report);
  const message = noUsers ? `${summaryMessage(report)}. ${noUsers}` : summaryMessage(report);
  const updates: ConditionUpdate[] = [
    {
      type: 'DirectoryConnected',
      status: 'True',
      reason: 'Connected',
      message: report.full ? `read ${d.users + d.excluded + d.skipped} entries` : `read ${report.entriesRead ?? 0} changed entries (changed-only run)`,
    },
    { type: 'TruetaskConnected', status: 'True', reason: 'Connected', message: 'listed Truetask users' },
  ];
  if (!a) {
    updates.push({ type: 'Ready', status: 'True', reason: 'Succeeded', message }, previewSynced);
  } else {
    status.lastSync = {
      startedAt: rfc3339(report.startedAt),
      completedAt: rfc3339(report.completedAt),
      result: a.result,
      created: a.created,
      promoted: a.promoted,
      unchanged: s.unchanged + a.alreadyDone,
      skipped: s.skipped,
      failed: a.failed,
      message: clip(
        a.failures.length > 0
          ? `${message}; first failures: ${a.failures
              .slice(0, 5)
              .map((f) => `${f.email} (${f.reason}: ${f.message})`)
              .join('; ')}`
          : message,
      ),
    };
    if (a.abortedBy) {
      updates.push(
        { type: 'TruetaskConnected', status: 'False', reason: a.abortedBy.reason, message: a.abortedBy.detail },
        { type: 'Ready', status: 'False', reason: a.abortedBy.reason, message: a.abortedBy.detail },
        { type: 'Synced', status: 'False', reason: a.result, message },
      );
    } else if (a.result === 'Succeeded') {
      updates.push({ type: 'Ready', status: 'True', reason: 'Succeeded', message }, { type: 'Synced', status: 'True', reason: 'Succeeded', message });
    } else {
      updates.push({ type: 'Ready', status: 'False', reason: a.result, message }, { type: 'Synced', status: 'False', reason: a.result, message });
    }
  }
  status.conditions = setHealth(setConditions(status.conditions, updates, gen, ctx.now), ctx.health ?? { kind: 'ok' }, gen, ctx.now);
  return boundStatus(status);
}

/** Status after a run that failed before planning (config, AD or Truetask unreachable). */
export function statusAfterError(ctx: RunContext, err: AdSyncError, startedAt: Date): AdSyncStatus {
  const status = base(ctx);
  const gen = ctx.adsync.metadata.generation;
  const detail = err.detail;
  const updates: ConditionUpdate[] = [{ type: 'Ready', status: 'False', reason: err.reason, message: detail }];
  const leavers = leaversAfterFailure(status.leavers, ctx.full);
  if (leavers) status.leavers = leavers;
  if (ctx.server) status.server = serverStatus(ctx.server);
  if (err.source === 'directory') updates.push({ type: 'DirectoryConnected', status: 'False', reason: err.reason, message: detail });
  if (err.source === 'truetask') {
    updates.push({ type: 'DirectoryConnected', status: 'True', reason: 'Connected', message: 'read the directory' });
    updates.push({ type: 'TruetaskConnected', status: 'False', reason: err.reason, message: detail });
  }
  if (previewMode(ctx)) updates.push(previewSynced);
  else {
    updates.push({ type: 'Synced', status: 'False', reason: err.reason, message: detail });
    status.lastSync = {
      startedAt: rfc3339(startedAt),
      completedAt: rfc3339(ctx.now),
      result: 'Failed',
      created: 0,
      promoted: 0,
      unchanged: 0,
      skipped: 0,
      failed: 0,
      message: clip(`${err.reason}: ${detail}`),
    };
  }
  status.conditions = setHealth(setConditions(status.conditions, updates, gen, ctx.now), ctx.health ?? { kind: 'stalled', reason: err.reason, message: detail }, gen, ctx.now);
  return boundStatus(status);
}

/** Status of a suspended object: conditions kept but Reconciling (nothing runs), no next run. */
export function statusWhenSuspended(ctx: RunContext): AdSyncStatus {
  const status = base({ ...ctx, nextSyncAt: undefined });
  if (status.conditions) status.conditions = removeConditions(status.conditions, ['Reconciling']);
  return status;
}

/**
 * Status while a run is in progress: Reconciling True (kstatus InProgress),
 * Stalled removed. observedGeneration stays until the run ends (as Flux does).
 */
export function statusRunStarted(previous: AdSyncStatus, generation: number | undefined, message: string, now: Date): AdSyncStatus {
  return { ...previous, conditions: setHealth(previous.conditions, { kind: 'progressing', message }, generation, now) };
}

/** Status of an object whose stored spec is invalid (refused at admission today, but stored before). */
export function statusInvalidSpec(previous: AdSyncStatus, generation: number | undefined, message: string, now: Date): AdSyncStatus {
  const conditions = setConditions(previous.conditions, [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message }], generation, now);
  const leavers = leaversAfterFailure(previous.leavers);
  const status: AdSyncStatus = {
    ...previous,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setHealth(conditions, { kind: 'stalled', reason: 'InvalidSpec', message }, generation, now),
    ...(leavers ? { leavers } : {}),
  };
  delete status.nextSyncAt;
  return status;
}

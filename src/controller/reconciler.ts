/**
 * Reconciles one AdSync: asks the schedule (schedule.ts, pure) whether a run is
 * due, runs the engine, and reports through status, conditions, events, metrics
 * and the audit log. Secrets are read with `get` at each run; their
 * resourceVersions (never their data) are remembered while the AdSync is
 * stalled, so that only a changed Secret runs the failing bind again.
 *
 * The status this controller last wrote is kept per key and is what decisions
 * start from: the watch cache may lag behind a status write, and a decision
 * from a stale status could run a failing bind twice.
 */
import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { adSyncSchema, SYNC_NOW_ANNOTATION, type AdSync } from '../api/adsync.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import { parseFullSyncInterval, parseInterval } from '../api/interval.ts';
import type { AdSyncStatus } from '../api/status.ts';
import { resolveEngineConfig } from '../config/engine-config.ts';
import type { TruetaskConfig } from '../config/engine-config.ts';
import { AdSyncError, isAdSyncError } from '../errors.ts';
import type { SecretSource } from '../config/secrets.ts';
import { secretAccessCheck, type SecretAccessCheck } from '../kube/secret-access.ts';
import { kubeSecretSource } from '../kube/secret-source.ts';
import { RunDeadline, runTimeoutMs } from '../reconcile/deadline.ts';
import { checkEndpoints, openEndpointPolicy, type EndpointPolicy } from './endpoint-policy.ts';
import { warnPlaintext, withTransportCondition } from './transport-warnings.ts';
import type { ServerIdentity } from '../ldap/server-identity.ts';
import type { Logger } from '../log.ts';
import { runEngine, type RunKind, type RunReport, type TruetaskPort } from '../reconcile/engine.ts';
import type { EventRecorder, ObjectRef } from '../runtime/events.ts';
import type { RawObject } from '../runtime/informer.ts';
import { patchStatus } from '../runtime/merge-patch.ts';
import type { HandlerResult } from '../runtime/queue.ts';
import type { ObjectName } from '../runtime/version-poller.ts';
import { approvalAnnotation, approvalEvents, approvalGate, approvalRequest, heldEverything, pendingCounts, statusWithApproval, type ApprovalRequest } from './approval.ts';
import type { AdSyncEventReason } from './events.ts';
import { leaverCounts } from './leavers-status.ts';
import { runScope, type RunScope } from './run-scope.ts';
import { syncNowToken } from './sync-now.ts';
import { failedOverMessage } from './server-status.ts';
import { decide, defaultSchedulePolicy, failuresSince, nextAfterSuccess, planAfterFailure, type ObjectState, type RetryState, type SchedulePolicy, type Trigger } from './schedule.ts';
import { noUsersWarning, rfc3339, statusAfterError, statusAfterRun, statusInvalidSpec, statusRunStarted, statusWhenSuspended, type Health } from './status.ts';

const RESOURCE = { group: API_GROUP, version: API_VERSION, plural: PLURAL };

/** The metrics the reconciler records (src/metrics/metrics.ts). */
export interface ReconcileMetrics {
  recordRun(obj: ObjectRef, kind: RunKind, result: 'success' | 'failure', durationSeconds: number, at: Date): void;
  recordRead(obj: ObjectRef, scope: 'full' | 'changed', entriesRead: number): void;
  setReady(obj: ObjectRef, ready: boolean): void;
  setInterval(obj: ObjectRef, seconds: number): void;
  setDirectory(obj: ObjectRef, users: number, planned: Record<'create' | 'promote' | 'unchanged' | 'skip' | 'exclude', number>): void;
  userCreated(obj: ObjectRef): void;
  userPromoted(obj: ObjectRef): void;
  userFailed(obj: ObjectRef): void;
  ldapError(obj: ObjectRef, reason: string): void;
  truetaskRequest(obj: ObjectRef, method: string, code: string): void;
  setLeavers(obj: ObjectRef, counts: { Disabled: number; NotInDirectory: number }): void;
  setPendingApproval(obj: ObjectRef, counts: { create: number; promote: number }): void;
  setInsecureTransport(obj: ObjectRef, plaintext: readonly ('ldap' | 'truetask')[]): void;
  forget(obj: ObjectRef): void;
}

export interface TruetaskClientFactory {
  (
    cfg: TruetaskConfig,
    hooks: {
      onRequest: (method: string, code: string) => void;
      logger: Logger;
      /** The run's cancellation: requests in flight are aborted when it aborts. */
      signal: AbortSignal;
      /** Fencing, checked right before each request is sent; throws when this replica may not write. */
      beforeRequest: () => void;
    },
  ): TruetaskPort & { close(): Promise<void> };
}

/** Tells the Secret poller what to watch for a stalled AdSync. */
export interface StalledWatch {
  track(key: string, secrets: readonly ObjectName[], baseline: ReadonlyMap<string, string | null>): void;
  untrack(key: string): void;
  isTracked(key: string): boolean;
}

/** Writes the change from `previous` to `next` to the status subresource (a merge patch). */
export interface StatusWriter {
  write(ref: { namespace: string; name: string }, previous: AdSyncStatus, next: AdSyncStatus): Promise<void>;
}

/**
 * The Secrets of a run, read fresh; `onRead` learns each one's resourceVersion (null: not found), never its data;
 * `access`, when given, refuses a Secret that does not allow the AdSync (src/kube/secret-access.ts).
 */
export type SecretSourceFactory = (onRead: (namespace: string, name: string, resourceVersion: string | null) => void, access?: SecretAccessCheck) => SecretSource;

/** A status writer on the API server's status subresource. */
export function apiStatusWriter(custom: CustomObjectsApi): StatusWriter {
  return {
    async write(ref, previous, next) {
      await patchStatus(custom, RESOURCE, ref.namespace, ref.name, previous as Record<string, unknown>, next as Record<string, unknown>);
    },
  };
}

/** The cluster's Secrets, read with `get`. */
export function clusterSecrets(core: CoreV1Api): SecretSourceFactory {
  return (onRead, access) => kubeSecretSource(core, 'the cluster', onRead, access);
}

export interface ReconcilerDeps {
  status: StatusWriter;
  secrets: SecretSourceFactory;
  events: EventRecorder<AdSyncEventReason>;
  metrics: ReconcileMetrics;
  logger: Logger;
  truetaskClient: TruetaskClientFactory;
  isConflict: (err: unknown) => boolean;
  /** Latest object from the watch cache. */
  lookup: (key: string) => RawObject | undefined;
  stalled: StalledWatch;
  writeConcurrency: number;
  /** Use a Secret only when its truetask.io/adsync-access annotation lists the AdSync (src/kube/secret-access.ts). */
  requireSecretAccess?: boolean;
  /** Where AdSyncs may send credentials (src/controller/endpoint-policy.ts); default: anywhere. */
  endpoints?: EndpointPolicy;
  /** Longest run whatever spec.timeout says (a tenant cannot hold a worker longer). */
  maxRunTimeoutMs?: number;
  /**
   * Fencing: throws when this replica may not write any more (it does not hold an
   * unexpired Lease). Checked right before each Truetask request and each status
   * or event write. Default: always allowed (a single replica).
   */
  fence?: () => void;
  policy?: SchedulePolicy;
  now?: () => Date;
  random?: () => number;
  /** The run itself (unit tests replace it). Default runEngine. */
  engine?: typeof runEngine;
  /** The spec and Secrets to a run's config (unit tests replace it). Default resolveEngineConfig. */
  resolveConfig?: typeof resolveEngineConfig;
}

const NEVER = new AbortController().signal;

/** One run of one AdSync: what every step of it needs. */
interface Run {
  key: string;
  adsync: AdSync;
  ref: ObjectRef;
  state: KeyState;
  /** The status when the run started ("in progress"): what its outcome is written over. */
  previous: AdSyncStatus;
  interval: number | 'manual';
  kind: RunKind;
  trigger: Trigger;
  syncNow: string | undefined;
  scope: RunScope;
  startedAt: Date;
  signal: AbortSignal;
  log: Logger;
  /** resourceVersions of the Secrets the run read (null: not found). */
  secretVersions: Map<string, string | null>;
  /** The DC that answered, once known. */
  server?: ServerIdentity;
  /** The create safeguard and approval (approval.ts): from the annotation and the status the run starts from. */
  approval: ApprovalRequest;
}

interface KeyState {
  retry: RetryState;
  /** The status this controller last wrote (or meant to write) for the object. */
  written?: AdSyncStatus;
  /** `written` did not reach the API server yet (the write failed); it is written before anything else. */
  unsaved?: boolean;
}

/** The Secrets an AdSync references (all in its own namespace). */
export function referencedSecrets(adsync: AdSync): ObjectName[] {
  const namespace = adsync.metadata.namespace ?? 'default';
  const s = adsync.spec;
  const names = [s.ldap.bindPasswordSecretRef.name, s.ldap.tls?.caSecretRef?.name, s.truetask.tokenSecretRef.name, s.truetask.tls?.caSecretRef?.name];
  return [...new Set(names.filter((n): n is string => n !== undefined))].map((name) => ({ namespace, name }));
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /** Objects seen, so deleting one can drop its metrics. */
  readonly #known = new Map<string, ObjectRef>();
  readonly #state = new Map<string, KeyState>();
  /** The cancellation of each reconcile in flight. */
  readonly #signals = new Map<string, AbortSignal>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  #now(): Date {
    return (this.#d.now ?? (() => new Date()))();
  }

  #random(): number {
    return (this.#d.random ?? Math.random)();
  }

  #policy(): SchedulePolicy {
    return this.#d.policy ?? defaultSchedulePolicy;
  }

  #key(key: string): KeyState {
    let s = this.#state.get(key);
    if (!s) {
      s = { retry: { failures: 0, secretChanged: false } };
      this.#state.set(key, s);
    }
    return s;
  }

  /** Called when an object disappears from the watch. */
  deleted(key: string): void {
    this.#state.delete(key);
    this.#d.stalled.untrack(key);
    const ref = this.#known.get(key);
    if (!ref) return;
    this.#known.delete(key);
    this.#d.metrics.forget(ref);
    this.#d.events.forget(ref);
  }

  /** A Secret a stalled AdSync references changed: its next reconcile runs. */
  secretChanged(key: string): void {
    this.#key(key).retry.secretChanged = true;
  }

  /** Drops every object's series and state (this replica stopped leading: another one reports now). */
  forgetAll(): void {
    for (const key of new Set([...this.#known.keys(), ...this.#state.keys()])) this.deleted(key);
  }

  /**
   * `signal` cancels the reconcile (leadership lost): LDAP and Truetask requests
   * in flight are aborted, nothing more is written (no status, no event: the
   * next leader reports), and the reason is thrown.
   */
  async reconcile(key: string, signal: AbortSignal = NEVER): Promise<HandlerResult> {
    this.#signals.set(key, signal);
    try {
      return await this.#reconcile(key, signal);
    } finally {
      this.#signals.delete(key);
    }
  }

  /** Throws when a write must not happen: the reconcile was cancelled, or this replica lost the Lease. */
  #guard(key: string): void {
    this.#signals.get(key)?.throwIfAborted();
    this.#d.fence?.();
  }

  async #event(key: string, ref: ObjectRef, type: 'Normal' | 'Warning', reason: AdSyncEventReason, message: string): Promise<void> {
    this.#guard(key);
    await this.#d.events.record(ref, type, reason, message);
  }

  async #reconcile(key: string, signal: AbortSignal): Promise<HandlerResult> {
    const raw = this.#d.lookup(key);
    if (!raw) {
      this.deleted(key);
      return {};
    }
    const meta = raw.metadata ?? {};
    const ref: ObjectRef = { namespace: String(meta.namespace ?? ''), name: String(meta.name ?? ''), uid: meta.uid as string | undefined };
    this.#known.set(key, ref);
    if (meta.deletionTimestamp) return {};
    const state = this.#key(key);
    const parsed = adSyncSchema.safeParse(raw);
    if (!parsed.success) return this.#invalid(key, raw, ref, state, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const adsync = parsed.data;
    if (state.unsaved && state.written) {
      this.#guard(key);
      await this.#d.status.write(ref, adsync.status ?? {}, state.written);
      state.unsaved = false;
    }
    const status = state.written ?? adsync.status ?? {};
    // The leavers gauge follows status.leavers, also after a restart or a leader change (before the next full run).
    if (status.leavers) this.#d.metrics.setLeavers(ref, leaverCounts(status.leavers));
    this.#d.metrics.setPendingApproval(ref, pendingCounts(status));
    const interval = parseInterval(adsync.spec.interval) ?? 'manual';
    // Suspended: no run is scheduled, so like "manual" (the stale-sync alert ignores it).
    this.#d.metrics.setInterval(ref, interval === 'manual' || adsync.spec.suspend ? 0 : interval);

    const observed = objectState(adsync, status);
    // After a restart or a leader change the back-off resumes where it was (the count lives in memory).
    const retrying = status.conditions?.find((c) => c.type === 'Reconciling' && c.status === 'True' && c.reason === 'ProgressingWithRetry');
    if (retrying && state.retry.failures === 0) state.retry.failures = failuresSince(Date.parse(retrying.lastTransitionTime), this.#now().getTime(), this.#policy());
    // After a restart or a leader change a stalled AdSync's Secrets are polled again (first poll: baseline).
    if (observed.status.stalled && !state.retry.secretChanged && !this.#d.stalled.isTracked(key)) this.#d.stalled.track(key, referencedSecrets(adsync), new Map());

    const now = this.#now();
    const decision = decide(observed, state.retry, now.getTime());
    switch (decision.action) {
      case 'suspended':
        await this.#write(key, ref, status, statusWhenSuspended({ adsync, now, previous: status }), adsync);
        return {};
      case 'wait':
        return decision.until === undefined ? {} : { requeueAfterMs: decision.until - now.getTime() };
      case 'run':
        return this.#run(key, adsync, ref, state, status, interval, decision.trigger, decision.syncNow, signal);
    }
  }

  async #invalid(key: string, raw: RawObject, ref: ObjectRef, state: KeyState, message: string): Promise<HandlerResult> {
    // What admission cannot check (a filter that does not parse, ...), or an object stored before a rule existed:
    // a condition and an event, once per generation, before any LDAP search; a spec change runs again.
    const generation = raw.metadata?.generation;
    const previous = state.written ?? ((raw.status ?? {}) as AdSyncStatus);
    const reported = previous.observedGeneration === generation && previous.conditions?.some((c) => c.type === 'Stalled' && c.reason === 'InvalidSpec');
    this.#d.metrics.setReady(ref, false);
    if (reported) return {};
    await this.#event(key, ref, 'Warning', 'InvalidSpec', message);
    const next = statusInvalidSpec(previous, generation, message, this.#now());
    state.written = next;
    this.#guard(key);
    await this.#d.status.write(ref, previous, next);
    return {};
  }

  /** Starts a run (status "in progress"), runs the engine, and reports its outcome. */
  async #run(key: string, adsync: AdSync, ref: ObjectRef, state: KeyState, status: AdSyncStatus, interval: number | 'manual', trigger: Trigger, syncNow: string | undefined, signal: AbortSignal): Promise<HandlerResult> {
    const kind: RunKind = adsync.spec.mode === 'Sync' ? 'sync' : 'preview';
    const startedAt = this.#now();
    // In progress (kstatus InProgress). Nothing runs when this cannot be written: the outcome could not be reported either.
    const previous = statusRunStarted(status, adsync.metadata.generation, `${kind === 'sync' ? 'sync' : 'preview'} in progress (${trigger})`, startedAt);
    await this.#write(key, ref, status, previous, adsync);
    this.#d.stalled.untrack(key);
    state.retry.secretChanged = false;
    const scope = runScope({
      mode: adsync.spec.mode,
      trigger,
      fullSyncIntervalSeconds: parseFullSyncInterval(adsync.spec.fullSyncInterval) ?? 0,
      generation: adsync.metadata.generation,
      status,
      now: startedAt.getTime(),
    });
    const run: Run = {
      key,
      adsync,
      ref,
      state,
      previous,
      interval,
      kind,
      trigger,
      syncNow,
      scope,
      startedAt,
      signal,
      log: this.#d.logger.child({ adsync: `${ref.namespace}/${ref.name}`, kind }),
      secretVersions: new Map(),
      approval: approvalRequest(adsync, previous),
    };
    run.log.info({ trigger, scope: scope.kind, ...(scope.kind === 'full' ? { why: scope.reason } : { sinceUSN: scope.since.highestCommittedUSN }) }, 'run started');

    let client: (TruetaskPort & { close(): Promise<void> }) | undefined;
    // spec.timeout bounds the whole run: RunTimedOut (back-off) once it passes.
    const deadline = new RunDeadline(Math.min(runTimeoutMs(adsync.spec), this.#d.maxRunTimeoutMs ?? Number.POSITIVE_INFINITY));
    // Leadership lost or the deadline passed: either ends the run's requests.
    const runSignal = AbortSignal.any([signal, deadline.signal]);
    try {
      this.#guard(key);
      await warnPlaintext(this.#d.events, this.#d.metrics, ref, adsync.spec);
      // Before any Secret is read or any connection opened: the operator's allow-lists, then each Secret's own.
      checkEndpoints(adsync.spec, this.#d.endpoints ?? openEndpointPolicy);
      const access = this.#d.requireSecretAccess ? secretAccessCheck(ref) : undefined;
      const source = this.#d.secrets((namespace, name, rv) => run.secretVersions.set(`${namespace}/${name}`, rv), access);
      const cfg = await (this.#d.resolveConfig ?? resolveEngineConfig)(adsync, source);
      for (const target of cfg.insecure) {
        await this.#event(key, ref, 'Warning', 'InsecureTLS', `TLS verification is disabled for ${target === 'ldap' ? 'the domain controller' : 'Truetask'} (insecureSkipVerify): the connection can be intercepted`);
      }
      client = this.#d.truetaskClient(cfg.truetask, {
        logger: run.log,
        onRequest: (m, c) => this.#d.metrics.truetaskRequest(ref, m, c),
        signal: runSignal,
        beforeRequest: () => this.#guard(key),
      });
      const report = await deadline.race((this.#d.engine ?? runEngine)(cfg, kind, deadline.deps({
        logger: run.log,
        truetask: client,
        isConflict: this.#d.isConflict,
        concurrency: this.#d.writeConcurrency,
        signal,
        ...(scope.kind === 'changed' ? { changedSince: scope.since } : {}),
        ...(kind === 'sync' ? { gate: approvalGate(adsync, previous, run.approval) } : {}),
        observer: {
          directoryError: (reason) => this.#d.metrics.ldapError(ref, reason),
          serverIdentified: (s) => (run.server = s),
          userWritten: (k) => (k === 'create' ? this.#d.metrics.userCreated(ref) : this.#d.metrics.userPromoted(ref)),
          userFailed: () => this.#d.metrics.userFailed(ref),
        },
      })));
      await client.close();
      client = undefined;
      return await this.#succeeded(run, report);
    } catch (err) {
      if (signal.aborted) {
        // Cancelled (this replica stopped leading): the next leader runs it again and reports.
        run.log.warn({ reason: signal.reason instanceof Error ? signal.reason.message : String(signal.reason) }, 'run cancelled; nothing more is written');
        signal.throwIfAborted();
      }
      const e = isAdSyncError(err) ? err : new AdSyncError('config', 'InvalidSpec', 'retry', `internal error: ${err instanceof Error ? err.message : String(err)}`);
      if (!isAdSyncError(err)) run.log.error({ err }, 'run failed unexpectedly');
      return await this.#failed(run, e);
    } finally {
      deadline.dispose();
      await client?.close();
    }
  }

  /** Health and next attempt after a failure; remembers what the next decision needs. */
  #afterFailure(run: Run, err: AdSyncError, reason: string = err.reason): { health: Health; next: Date | undefined } {
    const { key, state } = run;
    const now = this.#now();
    const plan = planAfterFailure(err, state.retry.failures, run.interval, now.getTime(), () => this.#random(), this.#policy());
    state.retry.failures = plan.failures;
    const next = plan.at === undefined ? undefined : new Date(plan.at);
    if (plan.kind === 'retrying') {
      this.#d.stalled.untrack(key);
      return { health: { kind: 'retrying', message: `${reason}: attempt ${plan.failures} failed; retrying at ${rfc3339(next ?? now)}` }, next };
    }
    this.#d.stalled.track(key, referencedSecrets(run.adsync), run.secretVersions);
    const when =
      next === undefined
        ? 'interval is manual: runs again when a referenced Secret or the spec changes, or on Sync Now'
        : `not retried until a referenced Secret or the spec changes, or Sync Now; safety-net attempt at ${rfc3339(next)}`;
    return { health: { kind: 'stalled', reason, message: `${err.detail} (${when})` }, next };
  }

  async #succeeded(run: Run, report: RunReport): Promise<HandlerResult> {
    const { key, adsync, ref, state } = run;
    const now = this.#now();
    const a = report.apply;
    const failedRun = a !== undefined && (a.result === 'Failed' || a.abortedBy !== undefined);
    let health: Health = { kind: 'ok' };
    let next: Date | undefined;
    if (a?.abortedBy) {
      ({ health, next } = this.#afterFailure(run, a.abortedBy));
    } else if (a !== undefined && a.result !== 'Succeeded') {
      // Users that failed to be written: transient, retried with back-off.
      ({ health, next } = this.#afterFailure(run, new AdSyncError('truetask', 'TruetaskError', 'retry', `${a.failed} of ${report.plan.changes.length} planned changes failed; see status.lastSync.message`), a.result));
    } else {
      state.retry.failures = 0;
      this.#d.stalled.untrack(key);
      const at = nextAfterSuccess(run.interval, now.getTime(), () => this.#random());
      next = at === undefined ? undefined : new Date(at);
    }
    const scope = run.scope;
    const status = statusWithApproval(adsync, statusAfterRun({ adsync, now, syncNow: run.syncNow, nextSyncAt: next, previous: run.previous, health, ...(scope.kind === 'full' ? { fullReason: scope.reason } : {}) }, report), run.approval, report, now);

    const m = this.#d.metrics;
    m.recordRun(ref, report.kind, failedRun ? 'failure' : 'success', (report.completedAt.getTime() - report.startedAt.getTime()) / 1000, report.completedAt);
    if (!failedRun) m.recordRead(ref, report.full ? 'full' : 'changed', report.entriesRead ?? 0);
    const counts = { create: 0, promote: 0, unchanged: 0, skip: 0, exclude: 0 };
    for (const r of report.plan.rows) counts[r.action]++;
    // A changed-only run read only what changed: directory users, skipped and excluded stay the last full run's.
    const dir = status.directory;
    if (!report.full && dir) Object.assign(counts, { skip: dir.skipped, exclude: dir.excluded });
    // Planned users as status.preview shows them (Sync mode: what is left to do).
    m.setDirectory(ref, report.full ? report.directory.users : (dir?.users ?? report.directory.users), {
      ...counts,
      create: status.preview?.toCreate ?? 0,
      promote: status.preview?.toPromote ?? 0,
      unchanged: status.preview?.unchanged ?? 0,
    });
    m.setReady(ref, status.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
    if (status.leavers) m.setLeavers(ref, leaverCounts(status.leavers));
    m.setPendingApproval(ref, pendingCounts(status));

    const failedOver = failedOverMessage(report);
    if (failedOver) await this.#event(key, ref, 'Warning', 'FailedOver', failedOver);
    const noUsers = noUsersWarning(report);
    if (noUsers) await this.#event(key, ref, 'Warning', 'NoUsersFound', noUsers);
    for (const g of report.directory.adminGroups) {
      if (!g.found) await this.#event(key, ref, 'Warning', 'AdminGroupNotFound', `Admin group "${g.ref}" was not found in AD: check spec.adminPromotion.groups (a DN, or a sAMAccountName or cn)`);
    }
    const message = status.lastSync && a ? status.lastSync.message : (status.conditions?.find((c) => c.type === 'Ready')?.message ?? '');
    const reason: AdSyncEventReason = !a ? 'PreviewReady' : a.result === 'Succeeded' ? 'SyncSucceeded' : a.result === 'PartiallyFailed' ? 'SyncPartiallyFailed' : 'SyncFailed';
    // A plan the safeguard held entirely wrote nothing: its event is ApprovalRequired (below), not a run result.
    if (!heldEverything(report)) await this.#event(key, ref, reason === 'PreviewReady' || reason === 'SyncSucceeded' ? 'Normal' : 'Warning', reason, message);
    for (const e of approvalEvents(run.approval, report, status)) await this.#event(key, ref, e.type, e.reason, e.message);
    // Status last: once it shows the run, its events and metrics are there too.
    await this.#write(key, ref, run.previous, status, run.adsync);
    return next ? { requeueAfterMs: Math.max(0, next.getTime() - now.getTime()) } : {};
  }

  async #failed(run: Run, err: AdSyncError): Promise<HandlerResult> {
    const { key, adsync, ref } = run;
    const now = this.#now();
    const { health, next } = this.#afterFailure(run, err);
    const status = statusWithApproval(adsync, statusAfterError({ adsync, now, syncNow: run.syncNow, nextSyncAt: next, previous: run.previous, health, full: run.scope.kind !== 'changed', server: run.server }, err, run.startedAt), run.approval, undefined, now);
    this.#d.metrics.recordRun(ref, run.kind, 'failure', (now.getTime() - run.startedAt.getTime()) / 1000, now);
    this.#d.metrics.setReady(ref, false);
    const reason: AdSyncEventReason = err.source === 'directory' ? 'DirectoryError' : err.source === 'truetask' ? 'TruetaskError' : 'SyncFailed';
    await this.#event(key, ref, 'Warning', reason, `${err.reason}: ${err.detail}`);
    for (const e of approvalEvents(run.approval, undefined, status)) await this.#event(key, ref, e.type, e.reason, e.message);
    await this.#write(key, ref, run.previous, status, run.adsync);
    this.#d.logger.warn({ adsync: `${ref.namespace}/${ref.name}`, reason: err.reason, next: err.next, health: health.kind, nextAttemptAt: next?.toISOString() }, err.message);
    return next ? { requeueAfterMs: Math.max(0, next.getTime() - now.getTime()) } : {};
  }

  /**
   * Writes the change from `previous` to `next` to the status. `next` is what
   * decisions start from from now on, even when the write fails (it is retried
   * first at the next reconcile): a run's outcome (e.g. stalled) must hold
   * whether or not the API server took it.
   */
  async #write(key: string, ref: ObjectRef, previous: AdSyncStatus, wanted: AdSyncStatus, adsync: AdSync): Promise<void> {
    this.#guard(key);
    // While a transport is in clear text (insecurePlaintext), a condition says so (transport-warnings.ts).
    const next = withTransportCondition(wanted, adsync.spec, adsync.metadata.generation, this.#now());
    const state = this.#key(key);
    state.written = next;
    state.unsaved = true;
    await this.#d.status.write(ref, previous, next);
    state.unsaved = false;
  }
}

/** What the schedule reads from an AdSync and the status decisions start from. */
export function objectState(adsync: AdSync, status: AdSyncStatus): ObjectState {
  return {
    generation: adsync.metadata.generation,
    // As status.lastHandledSyncNow records it: a value too long for the status is compared by its hash.
    syncNow: syncNowOf(adsync.metadata.annotations?.[SYNC_NOW_ANNOTATION]),
    approve: approvalAnnotation(adsync),
    suspend: adsync.spec.suspend,
    status: {
      observedGeneration: status.observedGeneration,
      lastHandledSyncNow: status.lastHandledSyncNow,
      lastHandledApproval: status.lastHandledApproval,
      nextSyncAt: status.nextSyncAt,
      ran: status.conditions?.some((c) => c.type === 'Ready') ?? false,
      stalled: status.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True') ?? false,
    },
  };
}

function syncNowOf(value: string | undefined): string | undefined {
  return value === undefined ? undefined : syncNowToken(value);
}

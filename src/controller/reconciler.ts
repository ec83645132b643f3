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
import { secretAccessCheck } from '../kube/secret-access.ts';
import { kubeSecretSource } from '../kube/secret-source.ts';
import { checkEndpoints, openEndpointPolicy, type EndpointPolicy } from './endpoint-policy.ts';
import type { Logger } from '../log.ts';
import { RunDeadline, runTimeoutMs } from '../reconcile/deadline.ts';
import { runEngine, type RunKind, type RunReport, type TruetaskPort } from '../reconcile/engine.ts';
import type { EventRecorder, ObjectRef } from '../runtime/events.ts';
import type { RawObject } from '../runtime/informer.ts';
import { patchStatus } from '../runtime/merge-patch.ts';
import type { HandlerResult } from '../runtime/queue.ts';
import type { ObjectName } from '../runtime/version-poller.ts';
import type { AdSyncEventReason } from './events.ts';
import { leaverCounts } from './leavers-status.ts';
import { runScope, type RunScope } from './run-scope.ts';
import { failedOverMessage } from './server-status.ts';
import { decide, defaultSchedulePolicy, failuresSince, nextAfterSuccess, planAfterFailure, type ObjectState, type RetryState, type SchedulePolicy, type Trigger } from './schedule.ts';
import { warnPlaintext, withTransportCondition } from './transport-warnings.ts';
import { rfc3339, statusAfterError, statusAfterRun, statusInvalidSpec, statusRunStarted, statusWhenSuspended, type Health } from './status.ts';

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
  setInsecureTransport(obj: ObjectRef, plaintext: readonly ('ldap' | 'truetask')[]): void;
  forget(obj: ObjectRef): void;
}

export interface TruetaskClientFactory {
  (cfg: TruetaskConfig, hooks: { onRequest: (method: string, code: string) => void; logger: Logger; signal?: AbortSignal }): TruetaskPort & { close(): Promise<void> };
}

/** Tells the Secret poller what to watch for a stalled AdSync. */
export interface StalledWatch {
  track(key: string, secrets: readonly ObjectName[], baseline: ReadonlyMap<string, string | null>): void;
  untrack(key: string): void;
  isTracked(key: string): boolean;
}

export interface ReconcilerDeps {
  custom: CustomObjectsApi;
  core: CoreV1Api;
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
  policy?: SchedulePolicy;
  now?: () => Date;
  random?: () => number;
}

const RESOURCE = { group: API_GROUP, version: API_VERSION, plural: PLURAL };

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

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  #now(): Date {
    return (this.#d.now ?? (() => new Date()))();
  }

  #random(): number {
    return (this.#d.random ?? Math.random)();
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

  async reconcile(key: string): Promise<HandlerResult> {
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
      await patchStatus(this.#d.custom, RESOURCE, ref.namespace, ref.name, (adsync.status ?? {}) as Record<string, unknown>, state.written as Record<string, unknown>);
      state.unsaved = false;
    }
    const status = state.written ?? adsync.status ?? {};
    // The leavers gauge follows status.leavers, also after a restart or a leader change (before the next full run).
    if (status.leavers) this.#d.metrics.setLeavers(ref, leaverCounts(status.leavers));
    const interval = parseInterval(adsync.spec.interval) ?? 'manual';
    // Suspended: no run is scheduled, so like "manual" (the stale-sync alert ignores it).
    this.#d.metrics.setInterval(ref, interval === 'manual' || adsync.spec.suspend ? 0 : interval);

    const observed = objectState(adsync, status);
    // After a restart or a leader change the back-off resumes where it was (the count lives in memory).
    const retrying = status.conditions?.find((c) => c.type === 'Reconciling' && c.status === 'True' && c.reason === 'ProgressingWithRetry');
    if (retrying && state.retry.failures === 0) state.retry.failures = failuresSince(Date.parse(retrying.lastTransitionTime), this.#now().getTime(), this.#d.policy ?? defaultSchedulePolicy);
    // After a restart or a leader change a stalled AdSync's Secrets are polled again (first poll: baseline).
    if (observed.status.stalled && !state.retry.secretChanged && !this.#d.stalled.isTracked(key)) this.#d.stalled.track(key, referencedSecrets(adsync), new Map());

    const now = this.#now();
    const decision = decide(observed, state.retry, now.getTime());
    switch (decision.action) {
      case 'suspended':
        await this.#write(key, adsync, status, statusWhenSuspended({ adsync, now, previous: status }));
        return {};
      case 'wait':
        return decision.until === undefined ? {} : { requeueAfterMs: decision.until - now.getTime() };
      case 'run':
        return this.#run(key, adsync, ref, state, status, interval, decision.trigger, decision.syncNow);
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
    await this.#d.events.record(ref, 'Warning', 'InvalidSpec', message);
    const next = statusInvalidSpec(previous, generation, message, this.#now());
    state.written = next;
    await patchStatus(this.#d.custom, RESOURCE, ref.namespace, ref.name, previous as Record<string, unknown>, next as Record<string, unknown>);
    return {};
  }

  async #run(key: string, adsync: AdSync, ref: ObjectRef, state: KeyState, previous: AdSyncStatus, interval: number | 'manual', trigger: Trigger, syncNow: string | undefined): Promise<HandlerResult> {
    const kind: RunKind = adsync.spec.mode === 'Sync' ? 'sync' : 'preview';
    const log = this.#d.logger.child({ adsync: `${ref.namespace}/${ref.name}`, kind });
    const startedAt = this.#now();
    // In progress (kstatus InProgress). Nothing runs when this cannot be written: the outcome could not be reported either.
    const running = statusRunStarted(previous, adsync.metadata.generation, `${kind === 'sync' ? 'sync' : 'preview'} in progress (${trigger})`, startedAt);
    await this.#write(key, adsync, previous, running);
    this.#d.stalled.untrack(key);
    state.retry.secretChanged = false;
    const scope = runScope({
      mode: adsync.spec.mode,
      trigger,
      fullSyncIntervalSeconds: parseFullSyncInterval(adsync.spec.fullSyncInterval) ?? 0,
      generation: adsync.metadata.generation,
      status: previous,
      now: startedAt.getTime(),
    });
    log.info({ trigger, scope: scope.kind, ...(scope.kind === 'full' ? { why: scope.reason } : { sinceUSN: scope.since.highestCommittedUSN }) }, 'run started');

    const secretVersions = new Map<string, string | null>();
    let client: (TruetaskPort & { close(): Promise<void> }) | undefined;
    // spec.timeout bounds the whole run: RunTimedOut (back-off) once it passes.
    const deadline = new RunDeadline(Math.min(runTimeoutMs(adsync.spec), this.#d.maxRunTimeoutMs ?? Number.POSITIVE_INFINITY));
    try {
      await warnPlaintext(this.#d.events, this.#d.metrics, ref, adsync.spec);
      // Before any Secret is read or any connection opened: the operator's allow-lists, then each Secret's own.
      checkEndpoints(adsync.spec, this.#d.endpoints ?? openEndpointPolicy);
      const access = this.#d.requireSecretAccess ? secretAccessCheck(ref) : undefined;
      const source = kubeSecretSource(this.#d.core, 'the cluster', (namespace, name, rv) => secretVersions.set(`${namespace}/${name}`, rv), access);
      const cfg = await resolveEngineConfig(adsync, source);
      for (const target of cfg.insecure) {
        await this.#d.events.record(ref, 'Warning', 'InsecureTLS', `TLS verification is disabled for ${target === 'ldap' ? 'the domain controller' : 'Truetask'} (insecureSkipVerify): the connection can be intercepted`);
      }
      client = this.#d.truetaskClient(cfg.truetask, { logger: log, onRequest: (m, c) => this.#d.metrics.truetaskRequest(ref, m, c), signal: deadline.signal });
      const report = await deadline.race(runEngine(cfg, kind, deadline.deps({
        logger: log,
        truetask: client,
        isConflict: this.#d.isConflict,
        concurrency: this.#d.writeConcurrency,
        ...(scope.kind === 'changed' ? { changedSince: scope.since } : {}),
        observer: {
          directoryError: (reason) => this.#d.metrics.ldapError(ref, reason),
          userWritten: (k) => (k === 'create' ? this.#d.metrics.userCreated(ref) : this.#d.metrics.userPromoted(ref)),
          userFailed: () => this.#d.metrics.userFailed(ref),
        },
      })));
      await client.close();
      client = undefined;
      return await this.#succeeded(key, adsync, ref, state, running, interval, syncNow, report, secretVersions, scope);
    } catch (err) {
      const e = isAdSyncError(err) ? err : new AdSyncError('config', 'InvalidSpec', 'retry', `internal error: ${err instanceof Error ? err.message : String(err)}`);
      if (!isAdSyncError(err)) log.error({ err }, 'run failed unexpectedly');
      return await this.#failed(key, adsync, ref, state, running, interval, kind, syncNow, e, startedAt, secretVersions, scope);
    } finally {
      deadline.dispose();
      await client?.close();
    }
  }

  /** Health and next attempt after a failure; remembers what the next decision needs. */
  #afterFailure(key: string, adsync: AdSync, state: KeyState, interval: number | 'manual', err: AdSyncError, secretVersions: ReadonlyMap<string, string | null>, reason: string = err.reason): { health: Health; next: Date | undefined } {
    const now = this.#now();
    const plan = planAfterFailure(err, state.retry.failures, interval, now.getTime(), () => this.#random(), this.#d.policy ?? defaultSchedulePolicy);
    state.retry.failures = plan.failures;
    const next = plan.at === undefined ? undefined : new Date(plan.at);
    if (plan.kind === 'retrying') {
      this.#d.stalled.untrack(key);
      return { health: { kind: 'retrying', message: `${reason}: attempt ${plan.failures} failed; retrying at ${rfc3339(next ?? now)}` }, next };
    }
    this.#d.stalled.track(key, referencedSecrets(adsync), secretVersions);
    const when =
      next === undefined
        ? 'interval is manual: runs again when a referenced Secret or the spec changes, or on Sync Now'
        : `not retried until a referenced Secret or the spec changes, or Sync Now; safety-net attempt at ${rfc3339(next)}`;
    return { health: { kind: 'stalled', reason, message: `${err.detail} (${when})` }, next };
  }

  async #succeeded(key: string, adsync: AdSync, ref: ObjectRef, state: KeyState, previous: AdSyncStatus, interval: number | 'manual', syncNow: string | undefined, report: RunReport, secretVersions: ReadonlyMap<string, string | null>, scope: RunScope): Promise<HandlerResult> {
    const now = this.#now();
    const a = report.apply;
    const failedRun = a !== undefined && (a.result === 'Failed' || a.abortedBy !== undefined);
    let health: Health = { kind: 'ok' };
    let next: Date | undefined;
    if (a?.abortedBy) {
      ({ health, next } = this.#afterFailure(key, adsync, state, interval, a.abortedBy, secretVersions));
    } else if (a !== undefined && a.result !== 'Succeeded') {
      // Users that failed to be written: transient, retried with back-off.
      ({ health, next } = this.#afterFailure(key, adsync, state, interval, new AdSyncError('truetask', 'TruetaskError', 'retry', `${a.failed} of ${report.plan.changes.length} planned changes failed; see status.lastSync.message`), secretVersions, a.result));
    } else {
      state.retry.failures = 0;
      this.#d.stalled.untrack(key);
      const at = nextAfterSuccess(interval, now.getTime(), () => this.#random());
      next = at === undefined ? undefined : new Date(at);
    }
    const status = statusAfterRun({ adsync, now, syncNow, nextSyncAt: next, previous, health, ...(scope.kind === 'full' ? { fullReason: scope.reason } : {}) }, report);

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

    const failedOver = failedOverMessage(report);
    if (failedOver) await this.#d.events.record(ref, 'Warning', 'FailedOver', failedOver);
    for (const g of report.directory.adminGroups) {
      if (!g.found) await this.#d.events.record(ref, 'Warning', 'AdminGroupNotFound', `Admin group "${g.ref}" was not found in AD: check spec.adminPromotion.groups (a DN, or a sAMAccountName or cn)`);
    }
    const message = status.lastSync && a ? status.lastSync.message : (status.conditions?.find((c) => c.type === 'Ready')?.message ?? '');
    const reason: AdSyncEventReason = !a ? 'PreviewReady' : a.result === 'Succeeded' ? 'SyncSucceeded' : a.result === 'PartiallyFailed' ? 'SyncPartiallyFailed' : 'SyncFailed';
    await this.#d.events.record(ref, reason === 'PreviewReady' || reason === 'SyncSucceeded' ? 'Normal' : 'Warning', reason, message);
    // Status last: once it shows the run, its events and metrics are there too.
    await this.#write(key, adsync, previous, status);
    return next ? { requeueAfterMs: Math.max(0, next.getTime() - now.getTime()) } : {};
  }

  async #failed(key: string, adsync: AdSync, ref: ObjectRef, state: KeyState, previous: AdSyncStatus, interval: number | 'manual', kind: RunKind, syncNow: string | undefined, err: AdSyncError, startedAt: Date, secretVersions: ReadonlyMap<string, string | null>, scope?: RunScope): Promise<HandlerResult> {
    const now = this.#now();
    const { health, next } = this.#afterFailure(key, adsync, state, interval, err, secretVersions);
    const status = statusAfterError({ adsync, now, syncNow, nextSyncAt: next, previous, health, full: scope?.kind !== 'changed' }, err, startedAt);
    this.#d.metrics.recordRun(ref, kind, 'failure', (now.getTime() - startedAt.getTime()) / 1000, now);
    this.#d.metrics.setReady(ref, false);
    const reason: AdSyncEventReason = err.source === 'directory' ? 'DirectoryError' : err.source === 'truetask' ? 'TruetaskError' : 'SyncFailed';
    await this.#d.events.record(ref, 'Warning', reason, `${err.reason}: ${err.detail}`);
    await this.#write(key, adsync, previous, status);
    this.#d.logger.warn({ adsync: `${ref.namespace}/${ref.name}`, reason: err.reason, next: err.next, health: health.kind, nextAttemptAt: next?.toISOString() }, err.message);
    return next ? { requeueAfterMs: Math.max(0, next.getTime() - now.getTime()) } : {};
  }

  /**
   * Writes the change from `previous` to `next` as a merge patch of the status
   * subresource. `next` is what decisions start from from now on, even when the
   * write fails (it is retried first at the next reconcile): a run's outcome
   * (e.g. stalled) must hold whether or not the API server took it.
   */
  async #write(key: string, adsync: AdSync, previous: AdSyncStatus, wanted: AdSyncStatus): Promise<void> {
    const next = withTransportCondition(wanted, adsync.spec, adsync.metadata.generation, this.#now());
    const state = this.#key(key);
    state.written = next;
    state.unsaved = true;
    await patchStatus(this.#d.custom, RESOURCE, adsync.metadata.namespace ?? 'default', adsync.metadata.name, previous as Record<string, unknown>, next as Record<string, unknown>);
    state.unsaved = false;
  }
}

/** What the schedule reads from an AdSync and the status decisions start from. */
export function objectState(adsync: AdSync, status: AdSyncStatus): ObjectState {
  return {
    generation: adsync.metadata.generation,
    syncNow: adsync.metadata.annotations?.[SYNC_NOW_ANNOTATION],
    suspend: adsync.spec.suspend,
    status: {
      observedGeneration: status.observedGeneration,
      lastHandledSyncNow: status.lastHandledSyncNow,
      nextSyncAt: status.nextSyncAt,
      ran: status.conditions?.some((c) => c.type === 'Ready') ?? false,
      stalled: status.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True') ?? false,
    },
  };
}

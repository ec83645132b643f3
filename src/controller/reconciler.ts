/**
 * Reconciles one AdSync: decides whether a run is due (spec change, a new
 * truetask.io/sync-now value, the interval, or a retry after a failure), runs
 * the engine, and reports through status, conditions, events, metrics and the
 * audit log. Secrets are read with `get` at each run.
 */
import { ApiException, type CoreV1Api, type CustomObjectsApi } from '@kubernetes/client-node';
import { adSyncSchema, SYNC_NOW_ANNOTATION, type AdSync } from '../api/adsync.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import { parseInterval } from '../api/interval.ts';
import type { AdSyncStatus } from '../api/status.ts';
import { resolveEngineConfig } from '../config/engine-config.ts';
import { AdSyncError, isAdSyncError } from '../errors.ts';
import { kubeSecretSource } from '../kube/secret-source.ts';
import type { Logger } from '../log.ts';
import { runEngine, type RunKind, type RunReport, type TruetaskPort } from '../reconcile/engine.ts';
import type { TruetaskConfig } from '../config/engine-config.ts';
import type { EventReason, EventRecorder, ObjectRef } from './events.ts';
import type { HandlerResult } from './queue.ts';
import { statusAfterError, statusAfterRun, statusForInvalidSpec, statusWhenSuspended } from './status.ts';
import type { RawObject } from './watcher.ts';
import { canonicalJson } from '../util/canonical-json.ts';

/** The metrics the reconciler records (src/metrics/metrics.ts). */
export interface ReconcileMetrics {
  recordRun(obj: ObjectRef, kind: RunKind, result: 'success' | 'failure', durationSeconds: number, at: Date): void;
  setReady(obj: ObjectRef, ready: boolean): void;
  setInterval(obj: ObjectRef, seconds: number): void;
  setDirectory(obj: ObjectRef, users: number, planned: Record<'create' | 'promote' | 'unchanged' | 'skip' | 'exclude', number>): void;
  userCreated(obj: ObjectRef): void;
  userPromoted(obj: ObjectRef): void;
  userFailed(obj: ObjectRef): void;
  ldapError(obj: ObjectRef, reason: string): void;
  truetaskRequest(obj: ObjectRef, method: string, code: string): void;
  forget(obj: ObjectRef): void;
}

export interface TruetaskClientFactory {
  (cfg: TruetaskConfig, hooks: { onRequest: (method: string, code: string) => void; logger: Logger }): TruetaskPort & { close(): Promise<void> };
}

export interface ReconcilerDeps {
  custom: CustomObjectsApi;
  core: CoreV1Api;
  events: EventRecorder;
  metrics: ReconcileMetrics;
  logger: Logger;
  truetaskClient: TruetaskClientFactory;
  isConflict: (err: unknown) => boolean;
  /** Latest object from the watch cache. */
  lookup: (key: string) => RawObject | undefined;
  /** Back-off (ms) for a key that has failed `failures` times in a row. */
  backoffMs: (key: string) => number;
  writeConcurrency: number;
  now?: () => Date;
  random?: () => number;
}

const STATUS_CONFLICT_RETRIES = 5;

/** What a status write needs of an object (an AdSync, or a raw object whose spec did not validate). */
type StatusTarget = Pick<AdSync, 'metadata'> & { status?: AdSyncStatus | undefined };

export class Reconciler {
  readonly #d: ReconcilerDeps;
  /** Objects seen, so deleting one can drop its metrics. */
  readonly #known = new Map<string, ObjectRef>();

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
  }

  #now(): Date {
    return (this.#d.now ?? (() => new Date()))();
  }

  /** Called when an object disappears from the watch. */
  deleted(key: string): void {
    const ref = this.#known.get(key);
    if (!ref) return;
    this.#known.delete(key);
    this.#d.metrics.forget(ref);
    this.#d.events.forget(ref);
  }

  /** Drops every object's series (this replica stopped leading: another one reports now). */
  forgetAll(): void {
    for (const key of [...this.#known.keys()]) this.deleted(key);
  }

  async reconcile(key: string): Promise<HandlerResult> {
    const raw = this.#d.lookup(key);
    if (!raw) {
      this.deleted(key);
      return {};
    }
    const parsed = adSyncSchema.safeParse(raw);
    const meta = raw.metadata ?? {};
    const ref: ObjectRef = { namespace: String(meta.namespace ?? ''), name: String(meta.name ?? ''), uid: meta.uid as string | undefined };
    this.#known.set(key, ref);
    if (meta.deletionTimestamp) return {};
    if (!parsed.success) {
      // What admission cannot check (a filter that does not parse, ...), or an object stored before a rule
      // existed: reported as a condition and an event, before any LDAP search, and not retried (a spec change is).
      const message = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      this.#d.metrics.setReady(ref, false);
      const status = statusForInvalidSpec(raw, message, this.#now());
      if (status) {
        await this.#d.events.record(ref, 'Warning', 'InvalidSpec', message);
        await this.#writeStatus(raw as unknown as StatusTarget, status);
      }
      return {};
    }
    const adsync = parsed.data;
    const now = this.#now();
    const status = adsync.status ?? {};
    const interval = parseInterval(adsync.spec.interval) ?? 'manual';
    // Suspended: no run is scheduled, so like "manual" (the stale-sync alert ignores it).
    this.#d.metrics.setInterval(ref, interval === 'manual' || adsync.spec.suspend ? 0 : interval);

    if (adsync.spec.suspend) {
      await this.#writeStatus(adsync, statusWhenSuspended({ adsync, now }));
      return {};
    }

    const syncNow = adsync.metadata.annotations?.[SYNC_NOW_ANNOTATION];
    const syncNowPending = syncNow !== undefined && syncNow !== '' && syncNow !== status.lastHandledSyncNow;
    const specChanged = adsync.metadata.generation !== undefined && adsync.metadata.generation !== status.observedGeneration;
    const nextDue = status.nextSyncAt ? new Date(status.nextSyncAt) : undefined;
    const neverRan = !status.conditions?.some((c) => c.type === 'Ready');
    const scheduledDue = nextDue !== undefined && nextDue.getTime() <= now.getTime();
    if (!(specChanged || syncNowPending || neverRan || scheduledDue)) {
      return nextDue ? { requeueAfterMs: nextDue.getTime() - now.getTime() } : {};
    }
    return this.#run(adsync, ref, interval, syncNowPending ? syncNow : undefined);
  }

  async #run(adsync: AdSync, ref: ObjectRef, interval: number | 'manual', syncNow: string | undefined): Promise<HandlerResult> {
    const kind: RunKind = adsync.spec.mode === 'Sync' ? 'sync' : 'preview';
    const log = this.#d.logger.child({ adsync: `${ref.namespace}/${ref.name}`, kind });
    const startedAt = this.#now();
    log.info({ trigger: syncNow !== undefined ? 'sync-now' : 'schedule/spec' }, 'run started');
    let client: (TruetaskPort & { close(): Promise<void> }) | undefined;
    try {
      const cfg = await resolveEngineConfig(adsync, kubeSecretSource(this.#d.core));
      for (const target of cfg.insecure) {
        await this.#d.events.record(ref, 'Warning', 'InsecureTLS', `TLS verification is disabled for ${target === 'ldap' ? 'the domain controller' : 'Truetask'} (insecureSkipVerify): the connection can be intercepted`);
      }
      client = this.#d.truetaskClient(cfg.truetask, { logger: log, onRequest: (m, c) => this.#d.metrics.truetaskRequest(ref, m, c) });
      const report = await runEngine(cfg, kind, {
        logger: log,
        truetask: client,
        isConflict: this.#d.isConflict,
        concurrency: this.#d.writeConcurrency,
        observer: {
          directoryError: (reason) => this.#d.metrics.ldapError(ref, reason),
          userWritten: (k) => (k === 'create' ? this.#d.metrics.userCreated(ref) : this.#d.metrics.userPromoted(ref)),
          userFailed: () => this.#d.metrics.userFailed(ref),
        },
      });
      return await this.#succeeded(adsync, ref, interval, syncNow, report);
    } catch (err) {
      const e = isAdSyncError(err) ? err : new AdSyncError('config', 'InvalidSpec', 'retry', `internal error: ${err instanceof Error ? err.message : String(err)}`);
      if (!isAdSyncError(err)) log.error({ err }, 'run failed unexpectedly');
      return await this.#failed(adsync, ref, kind, syncNow, e, startedAt);
    } finally {
      await client?.close();
    }
  }

  #nextRun(interval: number | 'manual'): Date | undefined {
    if (interval === 'manual') return undefined;
    const jitter = 1 + 0.1 * (this.#d.random ?? Math.random)();
    return new Date(this.#now().getTime() + Math.round(interval * 1000 * jitter));
  }

  async #succeeded(adsync: AdSync, ref: ObjectRef, interval: number | 'manual', syncNow: string | undefined, report: RunReport): Promise<HandlerResult> {
    const now = this.#now();
    const a = report.apply;
    const failedRun = a !== undefined && (a.result === 'Failed' || a.abortedBy !== undefined);
    // Users that failed are retried with back-off, sooner than the next interval.
    const retry = a !== undefined && a.result !== 'Succeeded';
    const retryMs = retry ? this.#d.backoffMs(`${ref.namespace}/${ref.name}`) : 0;
    const next = retry ? new Date(now.getTime() + retryMs) : this.#nextRun(interval);
    const status = statusAfterRun({ adsync, now, syncNow, nextSyncAt: next }, report);

    const m = this.#d.metrics;
    m.recordRun(ref, report.kind, failedRun ? 'failure' : 'success', (report.completedAt.getTime() - report.startedAt.getTime()) / 1000, report.completedAt);
    const counts = { create: 0, promote: 0, unchanged: 0, skip: 0, exclude: 0 };
    for (const r of report.plan.rows) counts[r.action]++;
    // Planned users as status.preview shows them (Sync mode: what is left to do).
    m.setDirectory(ref, report.directory.users, {
      ...counts,
      create: status.preview?.toCreate ?? 0,
      promote: status.preview?.toPromote ?? 0,
      unchanged: status.preview?.unchanged ?? 0,
    });
    m.setReady(ref, status.conditions?.find((c) => c.type === 'Ready')?.status === 'True');

    for (const g of report.directory.adminGroups) {
      if (!g.found) await this.#d.events.record(ref, 'Warning', 'AdminGroupNotFound', `Admin group "${g.ref}" was not found in AD: check spec.adminPromotion.groups (a DN, or a sAMAccountName or cn)`);
    }
    const message = status.lastSync && a ? status.lastSync.message : (status.conditions?.find((c) => c.type === 'Ready')?.message ?? '');
    const reason: EventReason = !a ? 'PreviewReady' : a.result === 'Succeeded' ? 'SyncSucceeded' : a.result === 'PartiallyFailed' ? 'SyncPartiallyFailed' : 'SyncFailed';
    await this.#d.events.record(ref, reason === 'PreviewReady' || reason === 'SyncSucceeded' ? 'Normal' : 'Warning', reason, message);
    // Status last: once it shows the run, its events and metrics are there too.
    await this.#writeStatus(adsync, status);
    if (retry) return { failed: true, requeueAfterMs: retryMs };
    return next ? { requeueAfterMs: next.getTime() - now.getTime() } : {};
  }

  async #failed(adsync: AdSync, ref: ObjectRef, kind: RunKind, syncNow: string | undefined, err: AdSyncError, startedAt: Date): Promise<HandlerResult> {
    const now = this.#now();
    const retryMs = this.#d.backoffMs(`${ref.namespace}/${ref.name}`);
    const status = statusAfterError({ adsync, now, syncNow, nextSyncAt: new Date(now.getTime() + retryMs) }, err, startedAt);
    this.#d.metrics.recordRun(ref, kind, 'failure', (now.getTime() - startedAt.getTime()) / 1000, now);
    this.#d.metrics.setReady(ref, false);
    const reason: EventReason = err.source === 'directory' ? 'DirectoryError' : err.source === 'truetask' ? 'TruetaskError' : 'SyncFailed';
    await this.#d.events.record(ref, 'Warning', reason, `${err.reason}: ${err.detail}`);
    await this.#writeStatus(adsync, status);
    this.#d.logger.warn({ adsync: `${ref.namespace}/${ref.name}`, reason: err.reason, next: err.next, retryInMs: retryMs }, err.message);
    return { failed: true, requeueAfterMs: retryMs };
  }

  /** Writes status through the status subresource, only when it changed; conflicts are retried on a fresh copy. */
  async #writeStatus(adsync: StatusTarget, status: AdSyncStatus): Promise<void> {
    if (canonicalJson(adsync.status ?? {}) === canonicalJson(status)) return;
    const namespace = adsync.metadata.namespace ?? 'default';
    const name = adsync.metadata.name;
    let current: Record<string, unknown> = { ...(adsync as unknown as Record<string, unknown>) };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#d.custom.replaceNamespacedCustomObjectStatus({
          group: API_GROUP,
          version: API_VERSION,
          plural: PLURAL,
          namespace,
          name,
          body: { ...current, status },
        });
        return;
      } catch (err) {
        const code = err instanceof ApiException ? err.code : undefined;
        if (code === 404) return; // deleted meanwhile
        if (code !== 409 || attempt >= STATUS_CONFLICT_RETRIES) throw err;
        current = (await this.#d.custom.getNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, plural: PLURAL, namespace, name })) as Record<string, unknown>;
        const fresh = (current.status ?? {}) as AdSyncStatus;
        // Only this controller writes status; keep the handled sync-now value monotonic.
        if (fresh.lastHandledSyncNow && !status.lastHandledSyncNow) status.lastHandledSyncNow = fresh.lastHandledSyncNow;
      }
    }
  }
}


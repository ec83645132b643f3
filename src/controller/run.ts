/**
 * `adsync controller`: wires the runtime (informer, predicates, work queue,
 * Secret poller, leader election, probes and metrics) to the AdSync reconciler.
 * Only the leader runs syncs; every replica serves probes and metrics. SIGTERM
 * stops taking work and cancels the runs in flight, as controller-runtime cancels
 * its context (a run of a large directory outlasts any grace period; a run is
 * idempotent, and the next leader runs it again at once and reports it), then
 * releases the Lease so that the standby takes over without waiting for it to expire.
 *
 * Fencing: a replica that stops leading (it could not renew the Lease, another
 * holds it, or its Lease expired on the monotonic clock, e.g. after a SIGSTOP)
 * cancels its runs at once: LDAP connections and Truetask requests in flight are
 * aborted, and before each Truetask request and each status or event write it
 * checks that it still holds an unexpired Lease (leader.ts holdsLease). Then
 * onLostLeadership runs (`adsync controller` exits non-zero so that the
 * Deployment restarts it clean, as controller-runtime does).
 *
 * What enqueues a reconcile (Flux's predicates): a new object (also after a
 * relist, a restart or a leader change: the status says whether anything is
 * due), a new generation, a new truetask.io/sync-now or truetask.io/approve value, a deletion, a
 * changed Secret of a stalled AdSync, and the schedule the reconciler returns.
 * Status-only updates, the controller's own status writes included, do not.
 */
import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { APPROVE_ANNOTATION, SYNC_NOW_ANNOTATION } from '../api/adsync.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import type { Logger } from '../log.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { apiStatusCode } from '../runtime/api-status.ts';
import { startHttpServer } from '../runtime/http-server.ts';
import { Controller } from '../runtime/controller.ts';
import { createLeaderElector } from '../runtime/leader.ts';
import { annotationChanged, anyOf, deletionStarted, generationChanged } from '../runtime/predicates.ts';
import { VersionPoller } from '../runtime/version-poller.ts';
import { createTruetaskClient, isUserExistsError } from '../truetask/index.ts';
import { adSyncEventRecorder } from './events.ts';
import type { EndpointPolicy } from './endpoint-policy.ts';
import { apiStatusWriter, clusterSecrets, Reconciler } from './reconciler.ts';
import { defaultSchedulePolicy, type SchedulePolicy } from './schedule.ts';

/** How often the Secrets of stalled AdSyncs are read (one `get` each). */
export const SECRET_POLL_MS = 30_000;

/** How long a replica that lost leadership waits for its cancelled runs to end before onLostLeadership. */
export const LOST_LEADERSHIP_GRACE_MS = 10_000;

/** The User-Agent of every Truetask request of a controller. */
export function userAgent(version: string | undefined, identity: string): string {
  return `truetask-adsync/${version ?? 'unknown'} (${identity})`;
}

const runPredicate = anyOf(generationChanged, annotationChanged(SYNC_NOW_ANNOTATION), annotationChanged(APPROVE_ANNOTATION), deletionStarted);

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  namespaces?: string[] | undefined;
  metricsHost: string;
  metricsPort: number;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  identity?: string | undefined;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  /** AdSyncs reconciled in parallel. */
  concurrency: number;
  /** Truetask writes in flight per sync. */
  writeConcurrency: number;
  registry?: Registry;
  /** Collect Node.js process metrics (default true). */
  processMetrics?: boolean;
  watchIdleTimeoutMs?: number;
  /** Server-side expiry of each watch (tests; default 240-360 s): the watch then resumes from its resourceVersion. */
  watchTimeoutSeconds?: number;
  /** Retry policy (tests shorten it; the defaults are the product's). */
  schedule?: Partial<SchedulePolicy>;
  /** How often the Secrets of stalled AdSyncs are polled. Default 30 s. */
  secretPollMs?: number;
  /** The package version, for the User-Agent `truetask-adsync/<version> (<identity>)` of Truetask requests. */
  version?: string | undefined;
  /**
   * Called once this replica lost leadership and its runs were cancelled (or did
   * not end within LOST_LEADERSHIP_GRACE_MS). `adsync controller` exits non-zero
   * there; without it, the replica stays a candidate (tests).
   */
  onLostLeadership?: (() => void) | undefined;
  /** Use a Secret only when its truetask.io/adsync-access annotation lists the AdSync. Default false. */
  requireSecretAccess?: boolean;
  /** Allow-lists of LDAP hosts and Truetask URLs AdSyncs may use. Default: any. */
  endpoints?: EndpointPolicy;
  /** Longest run, whatever an AdSync's spec.timeout says. Default: none (spec.timeout, at most 24h). */
  maxRunTimeoutMs?: number;
}

export interface RunningController {
  url: string;
  isLeader(): boolean;
  stop(): Promise<void>;
  done: Promise<void>;
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const log = opts.logger;
  const kc = opts.kubeConfig;
  const identity = opts.identity ?? `${hostname()}_${process.pid}`;
  const metrics = createMetrics(opts.registry, { defaultMetrics: opts.processMetrics ?? true });
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  /** The work of a leader: the controller, the Secret poller and the reconciler (none on a follower). */
  let work: { controller: Controller; poller: VersionPoller; reconciler: Reconciler; cancel: AbortController } | undefined;
  let leading = false;
  let stopping = false;

  const agent = userAgent(opts.version, identity);
  // Fencing: a write starts only while this replica holds an unexpired Lease.
  const fence = (): void => {
    if (elector && !elector.holdsLease()) throw new Error('this replica does not hold the leader Lease any more');
  };

  const startWork = (term: AbortSignal) => {
    // The work ends with the leader's term, or when the process stops (SIGTERM).
    const cancel = new AbortController();
    const signal = AbortSignal.any([term, cancel.signal]);
    const poller: VersionPoller = new VersionPoller({
      intervalMs: opts.secretPollMs ?? SECRET_POLL_MS,
      logger: log,
      readVersion: async ({ namespace, name }) => {
        try {
          return (await core.readNamespacedSecret({ namespace, name })).metadata?.resourceVersion ?? '';
        } catch (err) {
          if (apiStatusCode(err) === 404) return null;
          throw err;
        }
      },
      onChange: (key, secret) => {
        log.info({ adsync: key, secret: `${secret.namespace}/${secret.name}` }, 'a Secret of a stalled AdSync changed: running it again');
        reconciler.secretChanged(key);
        controller.enqueue(key);
      },
    });
    const reconciler: Reconciler = new Reconciler({
      status: apiStatusWriter(custom),
      secrets: clusterSecrets(core),
      events: adSyncEventRecorder(core, log, identity),
      metrics,
      logger: log,
      truetaskClient: (cfg, hooks) =>
        createTruetaskClient({
          url: cfg.url,
          token: cfg.token,
          ca: cfg.ca,
          insecureSkipVerify: cfg.insecureSkipVerify,
          timeoutSeconds: cfg.timeoutSeconds,
          logger: hooks.logger,
          onRequest: hooks.onRequest,
          userAgent: agent,
          signal: hooks.signal,
          beforeRequest: hooks.beforeRequest,
        }),
      isConflict: isUserExistsError,
      lookup: (key) => controller.get(key),
      stalled: poller,
      writeConcurrency: opts.writeConcurrency,
      ...(opts.requireSecretAccess ? { requireSecretAccess: true } : {}),
      ...(opts.endpoints ? { endpoints: opts.endpoints } : {}),
      ...(opts.maxRunTimeoutMs ? { maxRunTimeoutMs: opts.maxRunTimeoutMs } : {}),
      fence,
      policy: { ...defaultSchedulePolicy, ...opts.schedule },
    });
    const controller = new Controller({
      kubeConfig: kc,
      resource: { group: API_GROUP, version: API_VERSION, plural: PLURAL },
      namespaces: opts.namespaces,
      logger: log,
      concurrency: opts.concurrency,
      predicate: runPredicate,
      reconcile: (key, sig) => reconciler.reconcile(key, sig),
      onDelete: (key) => reconciler.deleted(key),
      signal,
      idleTimeoutMs: opts.watchIdleTimeoutMs,
      watchTimeoutSeconds: opts.watchTimeoutSeconds,
    });
    work = { controller, poller, reconciler, cancel };
    controller.start();
    poller.start();
    log.info(
      { namespaces: opts.namespaces?.length ? opts.namespaces : 'all', identity, requireSecretAccess: opts.requireSecretAccess ?? false, allowedLdapHosts: opts.endpoints?.ldapHosts ?? [], allowedTruetaskUrls: opts.endpoints?.truetaskUrls ?? [] },
      'controller started leading: watching AdSyncs',
    );
  };

  const stopWork = async () => {
    const w = work;
    work = undefined;
    if (!w) return;
    await w.controller.stop();
    await w.poller.stop();
    // A follower exports no per-AdSync series: the leader's are the truth.
    w.reconciler.forgetAll();
  };

  const elector = opts.leaderElect
    ? createLeaderElector({
        coordination: kc.makeApiClient(CoordinationV1Api),
        namespace: opts.leaseNamespace,
        name: opts.leaseName,
        identity,
        logger: log,
        ...(opts.leaseDurationSeconds ? { leaseDurationSeconds: opts.leaseDurationSeconds } : {}),
        ...(opts.renewDeadlineSeconds ? { renewDeadlineSeconds: opts.renewDeadlineSeconds } : {}),
        ...(opts.retryPeriodSeconds ? { retryPeriodSeconds: opts.retryPeriodSeconds } : {}),
        onStartedLeading: (signal) => {
          leading = true;
          startWork(signal);
        },
        onStoppedLeading: () => {
          leading = false;
          // The term's signal has aborted: runs in flight are being cancelled.
          const stopped = stopWork();
          if (stopping) return;
          log.warn('lost leadership: cancelled the runs in flight');
          const onLost = opts.onLostLeadership;
          if (!onLost) return;
          let timer: NodeJS.Timeout | undefined;
          const grace = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, LOST_LEADERSHIP_GRACE_MS);
          });
          void Promise.race([stopped, grace]).finally(() => {
            clearTimeout(timer);
            onLost();
          });
        },
      })
    : undefined;

  const http = await startHttpServer({
    host: opts.metricsHost,
    port: opts.metricsPort,
    registry: metrics.registry,
    logger: log,
    isHealthy: () => true,
    // Ready: a follower is ready to take over; a leader once its cache is filled.
    isReady: () => !stopping && (!leading || (work?.controller.hasSynced ?? false)),
  });

  const abort = new AbortController();
  let done: Promise<void>;
  if (elector) {
    done = elector.run(abort.signal);
  } else {
    leading = true;
    // A single replica: only stop() (SIGTERM) cancels its runs.
    startWork(new AbortController().signal);
    done = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve()));
  }

  return {
    url: http.url,
    isLeader: () => leading,
    done,
    async stop() {
      if (stopping) return;
      stopping = true;
      log.info('stopping: cancelling runs in flight');
      work?.cancel.abort(new Error('the operator is stopping'));
      await stopWork();
      abort.abort();
      if (elector) await elector.release();
      await done.catch(() => undefined);
      await http.close();
      log.info('stopped');
    },
  };
}

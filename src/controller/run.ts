/**
 * `adsync controller`: wires the runtime (informer, predicates, work queue,
 * Secret poller, leader election, probes and metrics) to the AdSync reconciler.
 * Only the leader runs syncs; every replica serves probes and metrics. SIGTERM
 * stops taking work, lets runs in flight finish (so no status is half-written),
 * and releases the Lease.
 *
 * What enqueues a reconcile (Flux's predicates): a new object (also after a
 * relist, a restart or a leader change: the status says whether anything is
 * due), a new generation, a new truetask.io/sync-now value, a deletion, a
 * changed Secret of a stalled AdSync, and the schedule the reconciler returns.
 * Status-only updates, the controller's own status writes included, do not.
 */
import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { SYNC_NOW_ANNOTATION } from '../api/adsync.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import type { Logger } from '../log.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { apiStatusCode } from '../runtime/api-status.ts';
import { startHttpServer } from '../runtime/http-server.ts';
import { Informer } from '../runtime/informer.ts';
import { createLeaderElector } from '../runtime/leader.ts';
import { annotationChanged, anyOf, deletionStarted, generationChanged } from '../runtime/predicates.ts';
import { WorkQueue } from '../runtime/queue.ts';
import { VersionPoller } from '../runtime/version-poller.ts';
import { createTruetaskClient, isUserExistsError } from '../truetask/index.ts';
import { adSyncEventRecorder } from './events.ts';
import type { EndpointPolicy } from './endpoint-policy.ts';
import { Reconciler } from './reconciler.ts';
import { defaultSchedulePolicy, type SchedulePolicy } from './schedule.ts';

/** How often the Secrets of stalled AdSyncs are read (one `get` each). */
export const SECRET_POLL_MS = 30_000;

const runPredicate = anyOf(generationChanged, annotationChanged(SYNC_NOW_ANNOTATION), deletionStarted);

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
  /** Retry policy (tests shorten it; the defaults are the product's). */
  schedule?: Partial<SchedulePolicy>;
  /** How often the Secrets of stalled AdSyncs are polled. Default 30 s. */
  secretPollMs?: number;
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

  let queue: WorkQueue | undefined;
  let informer: Informer | undefined;
  let poller: VersionPoller | undefined;
  let reconciler: Reconciler | undefined;
  let leading = false;
  let stopping = false;

  const startWork = () => {
    const q = new WorkQueue({ concurrency: opts.concurrency, logger: log, handler: (key) => reconciler!.reconcile(key) });
    const inf = new Informer({
      kubeConfig: kc,
      resource: { group: API_GROUP, version: API_VERSION, plural: PLURAL },
      namespaces: opts.namespaces,
      logger: log,
      ...(opts.watchIdleTimeoutMs ? { idleTimeoutMs: opts.watchIdleTimeoutMs } : {}),
      onAdd: (key) => q.add(key),
      onUpdate: (key, oldObj, newObj) => {
        if (runPredicate(oldObj, newObj)) q.add(key);
      },
      onDelete: (key) => {
        q.forget(key);
        reconciler?.deleted(key);
      },
    });
    const p = new VersionPoller({
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
        reconciler?.secretChanged(key);
        q.add(key);
      },
    });
    reconciler = new Reconciler({
      custom,
      core,
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
          signal: hooks.signal,
        }),
      isConflict: isUserExistsError,
      lookup: (key) => inf.get(key),
      stalled: p,
      writeConcurrency: opts.writeConcurrency,
      ...(opts.requireSecretAccess ? { requireSecretAccess: true } : {}),
      ...(opts.endpoints ? { endpoints: opts.endpoints } : {}),
      ...(opts.maxRunTimeoutMs ? { maxRunTimeoutMs: opts.maxRunTimeoutMs } : {}),
      policy: { ...defaultSchedulePolicy, ...opts.schedule },
    });
    queue = q;
    informer = inf;
    poller = p;
    inf.start();
    p.start();
    log.info(
      { namespaces: opts.namespaces?.length ? opts.namespaces : 'all', identity, requireSecretAccess: opts.requireSecretAccess ?? false, allowedLdapHosts: opts.endpoints?.ldapHosts ?? [], allowedTruetaskUrls: opts.endpoints?.truetaskUrls ?? [] },
      'controller started leading: watching AdSyncs',
    );
  };

  const stopWork = async () => {
    const q = queue;
    const w = informer;
    const p = poller;
    const r = reconciler;
    queue = undefined;
    informer = undefined;
    poller = undefined;
    await w?.stop();
    await p?.stop();
    await q?.stop();
    // A follower exports no per-AdSync series: the leader's are the truth.
    r?.forgetAll();
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
        onStartedLeading: () => {
          leading = true;
          startWork();
        },
        onStoppedLeading: () => {
          leading = false;
          void stopWork();
          if (!stopping) log.warn('lost leadership: stopped running syncs');
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
    isReady: () => !stopping && (!leading || (informer?.hasSynced ?? false)),
  });

  const abort = new AbortController();
  let done: Promise<void>;
  if (elector) {
    done = elector.run(abort.signal);
  } else {
    leading = true;
    startWork();
    done = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve()));
  }

  return {
    url: http.url,
    isLeader: () => leading,
    done,
    async stop() {
      if (stopping) return;
      stopping = true;
      log.info('stopping: finishing runs in flight');
      await stopWork();
      abort.abort();
      if (elector) await elector.release();
      await done.catch(() => undefined);
      await http.close();
      log.info('stopped');
    },
  };
}

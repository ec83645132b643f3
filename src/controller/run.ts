/**
 * `adsync controller`: wires watcher, work queue, reconciler, leader election,
 * metrics and probes. Only the leader runs syncs; every replica serves probes
 * and metrics. SIGTERM stops taking work, lets runs in flight finish (so no
 * status is half-written), and releases the Lease.
 */
import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { createTruetaskClient, isUserExistsError } from '../truetask/index.ts';
import { createEventRecorder } from './events.ts';
import { startHttpServer } from './http-server.ts';
import { createLeaderElector } from './leader.ts';
import { WorkQueue } from './queue.ts';
import { Reconciler } from './reconciler.ts';
import { AdSyncWatcher } from './watcher.ts';

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
  /** First retry delay after a failed run (doubles up to maxRetryMs). */
  retryBaseMs?: number;
  maxRetryMs?: number;
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
  let watcher: AdSyncWatcher | undefined;
  let reconciler: Reconciler | undefined;
  let leading = false;
  let stopping = false;

  const startWork = () => {
    watcher = new AdSyncWatcher({
      kubeConfig: kc,
      namespaces: opts.namespaces,
      logger: log,
      ...(opts.watchIdleTimeoutMs ? { idleTimeoutMs: opts.watchIdleTimeoutMs } : {}),
      onUpsert: (key) => queue?.add(key),
      onDelete: (key) => {
        queue?.forget(key);
        reconciler?.deleted(key);
      },
    });
    const w = watcher;
    queue = new WorkQueue({
      concurrency: opts.concurrency,
      logger: log,
      handler: (key) => reconciler!.reconcile(key),
      ...(opts.retryBaseMs ? { baseBackoffMs: opts.retryBaseMs } : {}),
      ...(opts.maxRetryMs ? { maxBackoffMs: opts.maxRetryMs } : {}),
    });
    const q = queue;
    reconciler = new Reconciler({
      custom,
      core,
      events: createEventRecorder(core, log, 'truetask-adsync', identity),
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
        }),
      isConflict: isUserExistsError,
      lookup: (key) => w.get(key),
      backoffMs: (key) => q.backoffMs(q.failures(key) + 1),
      writeConcurrency: opts.writeConcurrency,
    });
    watcher.start();
    log.info({ namespaces: opts.namespaces?.length ? opts.namespaces : 'all', identity }, 'controller started leading: watching AdSyncs');
  };

  const stopWork = async () => {
    const q = queue;
    const w = watcher;
    const r = reconciler;
    queue = undefined;
    watcher = undefined;
    await w?.stop();
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
    isReady: () => !stopping && (!leading || (watcher?.hasSynced ?? false)),
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

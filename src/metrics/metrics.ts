// Prometheus metrics of the operator (spec: "Metrics"). Every series carries the
// AdSync's `namespace` and `name`. Everything lives in the registry passed in
// (a fresh one by default), never in prom-client's global registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ObjectRef {
  namespace: string;
  name: string;
}

export type RunKind = 'preview' | 'sync';
export type RunResult = 'success' | 'failure';
export type PlannedAction = 'create' | 'promote' | 'unchanged' | 'skip' | 'exclude';

export const RUN_KINDS: readonly RunKind[] = ['preview', 'sync'];
export const RUN_RESULTS: readonly RunResult[] = ['success', 'failure'];
export const PLANNED_ACTIONS: readonly PlannedAction[] = ['create', 'promote', 'unchanged', 'skip', 'exclude'];
export type LeaverReason = 'Disabled' | 'NotInDirectory';
export const LEAVER_REASONS: readonly LeaverReason[] = ['Disabled', 'NotInDirectory'];
/** Full runs read the whole directory; changed-only runs what changed since the last run (uSNChanged). */
export type ReadScope = 'full' | 'changed';
export const READ_SCOPES: readonly ReadScope[] = ['full', 'changed'];

/** Runs take from a fraction of a second (small preview) to tens of minutes (large first sync). */
export const RUN_DURATION_BUCKETS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800];

export const METRIC_NAMES = {
  runsTotal: 'truetask_adsync_runs_total',
  runDuration: 'truetask_adsync_run_duration_seconds',
  lastSuccess: 'truetask_adsync_last_success_timestamp_seconds',
  ready: 'truetask_adsync_ready',
  interval: 'truetask_adsync_interval_seconds',
  directoryUsers: 'truetask_adsync_directory_users',
  plannedUsers: 'truetask_adsync_planned_users',
  usersCreated: 'truetask_adsync_users_created_total',
  usersPromoted: 'truetask_adsync_users_promoted_total',
  userFailures: 'truetask_adsync_user_failures_total',
  ldapErrors: 'truetask_adsync_ldap_errors_total',
  truetaskRequests: 'truetask_adsync_truetask_requests_total',
  leavers: 'truetask_adsync_leavers',
  entriesRead: 'truetask_adsync_entries_read',
  directoryReads: 'truetask_adsync_directory_reads_total',
  pendingApproval: 'truetask_adsync_pending_approval',
  insecureTransport: 'truetask_adsync_insecure_transport',
} as const;

/** Transports that can be opted into clear text (spec.ldap/truetask.insecurePlaintext). */
export type TransportKind = 'ldap' | 'truetask';
export const TRANSPORT_KINDS: readonly TransportKind[] = ['ldap', 'truetask'];

export interface CreateMetricsOptions {
  /** Also register Node.js process metrics (prom-client's default metrics). Default true. */
  defaultMetrics?: boolean;
}

export interface AdsyncMetrics {
  readonly registry: Registry;
  /** Initialises the object's counters to 0 (done implicitly by every other method too). */
  track(obj: ObjectRef): void;
  /** One finished run: runs_total, run_duration_seconds and, on success, last_success_timestamp_seconds. */
  recordRun(obj: ObjectRef, kind: RunKind, result: RunResult, durationSeconds: number, at?: Date): void;
  setReady(obj: ObjectRef, ready: boolean): void;
  /** Seconds between runs; null or 0 when the interval is "manual". */
  setInterval(obj: ObjectRef, seconds: number | null): void;
  /** Directory users and the planned users per action (actions not given are 0). */
  setDirectory(obj: ObjectRef, users: number, planned: Partial<Record<PlannedAction, number>>): void;
  userCreated(obj: ObjectRef, count?: number): void;
  userPromoted(obj: ObjectRef, count?: number): void;
  userFailed(obj: ObjectRef, count?: number): void;
  /** `reason` should be a bounded set (e.g. the condition reason: Timeout, InvalidCredentials, ...). */
  ldapError(obj: ObjectRef, reason: string): void;
  /** `code` is the HTTP status, or a short word for requests without one (e.g. "error"). */
  truetaskRequest(obj: ObjectRef, method: string, code: number | string): void;
  /** Leavers per reason, as status.leavers counts them (the last full run's report, also while it is stale). */
  setLeavers(obj: ObjectRef, counts: Record<LeaverReason, number>): void;
  /** A successful run's read: full or changed-only, and the directory entries it read. */
  recordRead(obj: ObjectRef, scope: ReadScope, entriesRead: number): void;
  /** Changes of a plan held by spec.safeguard (status.pendingApproval), per action; 0 when nothing waits. */
  setPendingApproval(obj: ObjectRef, counts: { create: number; promote: number }): void;
  /** 1 for each transport the AdSync uses in clear text (its insecurePlaintext opt-in), 0 for the others. */
  setInsecureTransport(obj: ObjectRef, plaintext: readonly TransportKind[]): void;
  /** Removes every series of the object from every metric (the AdSync was deleted). */
  forget(obj: ObjectRef): void;
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;
type Labels = Record<string, string>;

const OBJ = ['namespace', 'name'] as const;

export function createMetrics(registry: Registry = new Registry(), options: CreateMetricsOptions = {}): AdsyncMetrics {
  const registers = [registry];

  const runsTotal = new Counter({
    name: METRIC_NAMES.runsTotal,
    help: 'Finished runs (previews and syncs) by result.',
    labelNames: [...OBJ, 'kind', 'result'],
    registers,
  });
  const runDuration = new Histogram({
    name: METRIC_NAMES.runDuration,
    help: 'Duration of runs (previews and syncs) in seconds.',
    labelNames: [...OBJ, 'kind'],
    buckets: [...RUN_DURATION_BUCKETS],
    registers,
  });
  const lastSuccess = new Gauge({
    name: METRIC_NAMES.lastSuccess,
    help: 'Unix time of the last successful run, by kind.',
    labelNames: [...OBJ, 'kind'],
    registers,
  });
  const ready = new Gauge({
    name: METRIC_NAMES.ready,
    help: '1 when the AdSync is Ready, else 0.',
    labelNames: [...OBJ],
    registers,
  });
  const interval = new Gauge({
    name: METRIC_NAMES.interval,
    help: 'Seconds between scheduled runs; 0 when the interval is manual.',
    labelNames: [...OBJ],
    registers,
  });
  const directoryUsers = new Gauge({
    name: METRIC_NAMES.directoryUsers,
    help: 'Directory entries the filter matched, after exclusion, with a usable email (last run).',
    labelNames: [...OBJ],
    registers,
  });
  const plannedUsers = new Gauge({
    name: METRIC_NAMES.plannedUsers,
    help: 'Planned users per action in the last run (create, promote, unchanged, skip, exclude).',
    labelNames: [...OBJ, 'action'],
    registers,
  });
  const usersCreated = new Counter({
    name: METRIC_NAMES.usersCreated,
    help: 'Truetask users created.',
    labelNames: [...OBJ],
    registers,
  });
  const usersPromoted = new Counter({
    name: METRIC_NAMES.usersPromoted,
    help: 'Truetask users promoted to admin.',
    labelNames: [...OBJ],
    registers,
  });
  const userFailures = new Counter({
    name: METRIC_NAMES.userFailures,
    help: 'Users whose create or promote failed.',
    labelNames: [...OBJ],
    registers,
  });
  const ldapErrors = new Counter({
    name: METRIC_NAMES.ldapErrors,
    help: 'LDAP (Active Directory) errors by reason.',
    labelNames: [...OBJ, 'reason'],
    registers,
  });
  const truetaskRequests = new Counter({
    name: METRIC_NAMES.truetaskRequests,
    help: 'Requests to the Truetask API by method and HTTP status code.',
    labelNames: [...OBJ, 'method', 'code'],
    registers,
  });

  const leavers = new Gauge({
    name: METRIC_NAMES.leavers,
    help: 'Truetask users still active but disabled in AD (Disabled) or absent from it (NotInDirectory), from the last full run (status.leavers).',
    labelNames: [...OBJ, 'reason'],
    registers,
  });

  const entriesRead = new Gauge({
    name: METRIC_NAMES.entriesRead,
    help: 'Directory entries the last successful run of each scope read: full (every entry the filter matched) or changed (entries changed since the run before, uSNChanged, and members of changed admin groups).',
    labelNames: [...OBJ, 'scope'],
    registers,
  });
  const directoryReads = new Counter({
    name: METRIC_NAMES.directoryReads,
    help: 'Successful runs by how they read the directory: scope full or changed (changed-only, uSNChanged).',
    labelNames: [...OBJ, 'scope'],
    registers,
  });

  const pendingApproval = new Gauge({
    name: METRIC_NAMES.pendingApproval,
    help: 'Changes (action create or promote) of a Sync plan held by spec.safeguard while the AdSync waits for a person to approve it (Ready reason ApprovalRequired; status.pendingApproval); 0 otherwise.',
    labelNames: [...OBJ, 'action'],
    registers,
  });

  const insecureTransport = new Gauge({
    name: METRIC_NAMES.insecureTransport,
    help: 'Whether the AdSync sends credentials in clear text to the domain controller (kind="ldap": ldap:// without startTLS) or to Truetask (kind="truetask": http://), opted into with insecurePlaintext: 1 yes, 0 no.',
    labelNames: [...OBJ, 'kind'],
    registers,
  });

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  // Label sets written per object, so forget() can remove exactly those.
  const seen = new Map<string, Map<AnyMetric, Map<string, Labels>>>();
  const objKey = (obj: ObjectRef): string => JSON.stringify([obj.namespace, obj.name]);

  const note = (obj: ObjectRef, metric: AnyMetric, labels: Labels): void => {
    let perObj = seen.get(objKey(obj));
    if (!perObj) {
      perObj = new Map();
      seen.set(objKey(obj), perObj);
    }
    let perMetric = perObj.get(metric);
    if (!perMetric) {
      perMetric = new Map();
      perObj.set(metric, perMetric);
    }
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    perMetric.set(key, labels);
  };

  const base = (obj: ObjectRef): Labels => ({ namespace: obj.namespace, name: obj.name });

  const track = (obj: ObjectRef): void => {
    if (seen.has(objKey(obj))) return;
    seen.set(objKey(obj), new Map());
    for (const kind of RUN_KINDS) {
      for (const result of RUN_RESULTS) {
        const labels = { ...base(obj), kind, result };
        runsTotal.inc(labels, 0);
        note(obj, runsTotal, labels);
      }
    }
    for (const counter of [usersCreated, usersPromoted, userFailures]) {
      counter.inc(base(obj), 0);
      note(obj, counter, base(obj));
    }
    for (const scope of READ_SCOPES) {
      directoryReads.inc({ ...base(obj), scope }, 0);
      note(obj, directoryReads, { ...base(obj), scope });
    }
  };

  const incCounter = (obj: ObjectRef, counter: Counter<string>, labels: Labels, by = 1): void => {
    track(obj);
    if (Number.isFinite(by) && by > 0) counter.inc(labels, by);
    else counter.inc(labels, 0);
    note(obj, counter, labels);
  };

  const setGauge = (obj: ObjectRef, gauge: Gauge<string>, labels: Labels, value: number): void => {
    track(obj);
    gauge.set(labels, value);
    note(obj, gauge, labels);
  };

  return {
    registry,
    track,

    recordRun(obj, kind, result, durationSeconds, at = new Date()) {
      incCounter(obj, runsTotal, { ...base(obj), kind, result });
      if (Number.isFinite(durationSeconds)) {
        const labels = { ...base(obj), kind };
        runDuration.observe(labels, Math.max(0, durationSeconds));
        note(obj, runDuration, labels);
      }
      if (result === 'success') setGauge(obj, lastSuccess, { ...base(obj), kind }, at.getTime() / 1000);
    },

    setReady(obj, isReady) {
      setGauge(obj, ready, base(obj), isReady ? 1 : 0);
    },

    setInterval(obj, seconds) {
      setGauge(obj, interval, base(obj), seconds !== null && Number.isFinite(seconds) && seconds > 0 ? seconds : 0);
    },

    setDirectory(obj, users, planned) {
      setGauge(obj, directoryUsers, base(obj), users);
      for (const action of PLANNED_ACTIONS) setGauge(obj, plannedUsers, { ...base(obj), action }, planned[action] ?? 0);
    },

    userCreated(obj, count = 1) {
      incCounter(obj, usersCreated, base(obj), count);
    },
    userPromoted(obj, count = 1) {
      incCounter(obj, usersPromoted, base(obj), count);
    },
    userFailed(obj, count = 1) {
      incCounter(obj, userFailures, base(obj), count);
    },

    ldapError(obj, reason) {
      incCounter(obj, ldapErrors, { ...base(obj), reason });
    },

    truetaskRequest(obj, method, code) {
      incCounter(obj, truetaskRequests, { ...base(obj), method: method.toUpperCase(), code: String(code) });
    },

    setLeavers(obj, counts) {
      for (const reason of LEAVER_REASONS) setGauge(obj, leavers, { ...base(obj), reason }, counts[reason]);
    },

    setPendingApproval(obj, counts) {
      setGauge(obj, pendingApproval, { ...base(obj), action: 'create' }, counts.create);
      setGauge(obj, pendingApproval, { ...base(obj), action: 'promote' }, counts.promote);
    },

    recordRead(obj, scope, entries) {
      incCounter(obj, directoryReads, { ...base(obj), scope });
      setGauge(obj, entriesRead, { ...base(obj), scope }, entries);
    },

    setInsecureTransport(obj, plaintext) {
      for (const kind of TRANSPORT_KINDS) setGauge(obj, insecureTransport, { ...base(obj), kind }, plaintext.includes(kind) ? 1 : 0);
    },

    forget(obj) {
      const perObj = seen.get(objKey(obj));
      if (!perObj) return;
      seen.delete(objKey(obj));
      for (const [metric, labelSets] of perObj) {
        for (const labels of labelSets.values()) metric.remove(labels);
      }
    },
  };
}

import { Registry, register as globalRegister } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES, createMetrics, type AdsyncMetrics } from '../../src/metrics/metrics.ts';

const corp = { namespace: 'truetask', name: 'corp' };
const lab = { namespace: 'lab', name: 'corp' };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (enough for our label values: no escaped quotes). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1] as string] = pair[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(metrics: AdsyncMetrics): Promise<Sample[]> {
  return parse(await metrics.registry.metrics());
}

function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of exactly one matching series. */
function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  const hits = find(samples, name, labels);
  if (hits.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${hits.length}`);
  return (hits[0] as Sample).value;
}

const ofObject = (samples: Sample[], obj: { namespace: string; name: string }): Sample[] =>
  samples.filter((s) => s.labels.namespace === obj.namespace && s.labels.name === obj.name);

describe('createMetrics', () => {
  it('uses its own registry and never the global one', async () => {
    const before = await globalRegister.metrics();
    const m = createMetrics();
    m.recordRun(corp, 'sync', 'success', 1.5, new Date('2026-11-25T10:00:00Z'));
    m.setReady(corp, true);

    expect(m.registry).not.toBe(globalRegister);
    expect(await m.registry.metrics()).toContain('truetask_adsync_runs_total');
    for (const name of Object.values(METRIC_NAMES)) expect(globalRegister.getSingleMetric(name)).toBeUndefined();
    const after = await globalRegister.metrics();
    expect(after).not.toContain('truetask_adsync_');
    expect(after).toBe(before);
  });

  it('registers into a registry passed in, with Node.js process metrics unless disabled', async () => {
    const registry = new Registry();
    const m = createMetrics(registry);
    expect(m.registry).toBe(registry);
    const text = await registry.metrics();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');

    const bare = createMetrics(new Registry(), { defaultMetrics: false });
    const bareText = await bare.registry.metrics();
    expect(bareText).not.toContain('process_cpu_user_seconds_total');
    expect(bareText).toContain('# TYPE truetask_adsync_runs_total counter');
  });

  it('declares every series of the spec with its type', async () => {
    const text = await createMetrics(new Registry(), { defaultMetrics: false }).registry.metrics();
    const types: Record<string, string> = {
      truetask_adsync_runs_total: 'counter',
      truetask_adsync_run_duration_seconds: 'histogram',
      truetask_adsync_last_success_timestamp_seconds: 'gauge',
      truetask_adsync_ready: 'gauge',
      truetask_adsync_interval_seconds: 'gauge',
      truetask_adsync_directory_users: 'gauge',
      truetask_adsync_planned_users: 'gauge',
      truetask_adsync_users_created_total: 'counter',
      truetask_adsync_users_promoted_total: 'counter',
      truetask_adsync_user_failures_total: 'counter',
      truetask_adsync_ldap_errors_total: 'counter',
      truetask_adsync_truetask_requests_total: 'counter',
      truetask_adsync_leavers: 'gauge',
      truetask_adsync_entries_read: 'gauge',
      truetask_adsync_directory_reads_total: 'counter',
      truetask_adsync_pending_approval: 'gauge',
      truetask_adsync_insecure_transport: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) expect(text).toContain(`# TYPE ${name} ${type}\n`);
    expect(Object.values(METRIC_NAMES).sort()).toEqual(Object.keys(types).sort());
  });

  it('initialises the counters of a new object to 0', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.setReady(corp, false);
    const s = await scrape(m);
    for (const kind of ['preview', 'sync']) {
      for (const result of ['success', 'failure']) {
        expect(value(s, 'truetask_adsync_runs_total', { ...corp, kind, result })).toBe(0);
      }
    }
    expect(value(s, 'truetask_adsync_users_created_total', corp)).toBe(0);
    expect(value(s, 'truetask_adsync_users_promoted_total', corp)).toBe(0);
    expect(value(s, 'truetask_adsync_user_failures_total', corp)).toBe(0);
    expect(value(s, 'truetask_adsync_ready', corp)).toBe(0);

    // track() alone does the same, and does not reset counts later
    m.track(lab);
    m.userCreated(lab);
    m.track(lab);
    const s2 = await scrape(m);
    expect(value(s2, 'truetask_adsync_runs_total', { ...lab, kind: 'sync', result: 'failure' })).toBe(0);
    expect(value(s2, 'truetask_adsync_users_created_total', lab)).toBe(1);
  });

  it('records runs: counter, histogram and last success time per kind', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.recordRun(corp, 'sync', 'success', 42, new Date('2026-11-25T10:00:00Z'));
    m.recordRun(corp, 'sync', 'failure', 0.05, new Date('2026-11-25T11:00:00Z'));
    m.recordRun(corp, 'sync', 'success', 700, new Date('2026-11-25T12:00:00Z'));
    m.recordRun(corp, 'preview', 'failure', 3, new Date('2026-11-25T12:30:00Z'));
    const s = await scrape(m);

    expect(value(s, 'truetask_adsync_runs_total', { ...corp, kind: 'sync', result: 'success' })).toBe(2);
    expect(value(s, 'truetask_adsync_runs_total', { ...corp, kind: 'sync', result: 'failure' })).toBe(1);
    expect(value(s, 'truetask_adsync_runs_total', { ...corp, kind: 'preview', result: 'failure' })).toBe(1);
    expect(value(s, 'truetask_adsync_runs_total', { ...corp, kind: 'preview', result: 'success' })).toBe(0);

    expect(value(s, 'truetask_adsync_run_duration_seconds_count', { ...corp, kind: 'sync' })).toBe(3);
    expect(value(s, 'truetask_adsync_run_duration_seconds_sum', { ...corp, kind: 'sync' })).toBeCloseTo(742.05);
    expect(value(s, 'truetask_adsync_run_duration_seconds_bucket', { ...corp, kind: 'sync', le: '0.1' })).toBe(1);
    expect(value(s, 'truetask_adsync_run_duration_seconds_bucket', { ...corp, kind: 'sync', le: '60' })).toBe(2);
    expect(value(s, 'truetask_adsync_run_duration_seconds_bucket', { ...corp, kind: 'sync', le: '1800' })).toBe(3);
    expect(value(s, 'truetask_adsync_run_duration_seconds_bucket', { ...corp, kind: 'sync', le: '+Inf' })).toBe(3);
    expect(value(s, 'truetask_adsync_run_duration_seconds_count', { ...corp, kind: 'preview' })).toBe(1);

    expect(value(s, 'truetask_adsync_last_success_timestamp_seconds', { ...corp, kind: 'sync' })).toBe(
      Date.parse('2026-11-25T12:00:00Z') / 1000,
    );
    // a failed run does not set a success time
    expect(find(s, 'truetask_adsync_last_success_timestamp_seconds', { ...corp, kind: 'preview' })).toEqual([]);
  });

  it('sets the gauges: ready, interval (0 when manual), directory and planned users', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.setReady(corp, true);
    m.setInterval(corp, 6 * 3600);
    m.setDirectory(corp, 1180, { create: 12, promote: 1, unchanged: 1167, skip: 3, exclude: 42 });
    m.setReady(lab, false);
    m.setInterval(lab, null);
    m.setDirectory(lab, 5, { create: 5 });
    const s = await scrape(m);

    expect(value(s, 'truetask_adsync_ready', corp)).toBe(1);
    expect(value(s, 'truetask_adsync_interval_seconds', corp)).toBe(21600);
    expect(value(s, 'truetask_adsync_directory_users', corp)).toBe(1180);
    const planned = Object.fromEntries(
      find(s, 'truetask_adsync_planned_users', corp).map((x) => [x.labels.action, x.value]),
    );
    expect(planned).toEqual({ create: 12, promote: 1, unchanged: 1167, skip: 3, exclude: 42 });

    expect(value(s, 'truetask_adsync_ready', lab)).toBe(0);
    expect(value(s, 'truetask_adsync_interval_seconds', lab)).toBe(0);
    expect(value(s, 'truetask_adsync_planned_users', { ...lab, action: 'create' })).toBe(5);
    expect(value(s, 'truetask_adsync_planned_users', { ...lab, action: 'promote' })).toBe(0);

    m.setInterval(corp, 0);
    m.setReady(corp, false);
    const s2 = await scrape(m);
    expect(value(s2, 'truetask_adsync_interval_seconds', corp)).toBe(0);
    expect(value(s2, 'truetask_adsync_ready', corp)).toBe(0);
  });

  it('exports the leavers per reason', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.setLeavers(corp, { Disabled: 2, NotInDirectory: 5 });
    m.setLeavers(lab, { Disabled: 0, NotInDirectory: 1 });
    const s = await scrape(m);
    expect(value(s, 'truetask_adsync_leavers', { ...corp, reason: 'Disabled' })).toBe(2);
    expect(value(s, 'truetask_adsync_leavers', { ...corp, reason: 'NotInDirectory' })).toBe(5);
    expect(value(s, 'truetask_adsync_leavers', { ...lab, reason: 'Disabled' })).toBe(0);
    expect(await m.registry.metrics()).toContain('truetask_adsync_leavers{namespace="truetask",name="corp",reason="Disabled"} 2\n');
    m.setLeavers(corp, { Disabled: 0, NotInDirectory: 4 });
    expect(value(await scrape(m), 'truetask_adsync_leavers', { ...corp, reason: 'Disabled' })).toBe(0);
  });

  it('says how each successful run read the directory: scope full or changed, and the entries read', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.track(corp);
    let s = await scrape(m);
    expect(value(s, 'truetask_adsync_directory_reads_total', { ...corp, scope: 'changed' })).toBe(0);
    m.recordRead(corp, 'full', 1180);
    m.recordRead(corp, 'changed', 3);
    m.recordRead(corp, 'changed', 0);
    s = await scrape(m);
    expect(value(s, 'truetask_adsync_directory_reads_total', { ...corp, scope: 'full' })).toBe(1);
    expect(value(s, 'truetask_adsync_directory_reads_total', { ...corp, scope: 'changed' })).toBe(2);
    expect(value(s, 'truetask_adsync_entries_read', { ...corp, scope: 'full' })).toBe(1180);
    expect(value(s, 'truetask_adsync_entries_read', { ...corp, scope: 'changed' })).toBe(0);
  });

  it('counts users, LDAP errors and Truetask requests with their labels', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    m.userCreated(corp);
    m.userCreated(corp);
    m.userCreated(corp, 3);
    m.userPromoted(corp);
    m.userFailed(corp);
    m.ldapError(corp, 'Timeout');
    m.ldapError(corp, 'Timeout');
    m.ldapError(corp, 'InvalidCredentials');
    m.truetaskRequest(corp, 'post', 201);
    m.truetaskRequest(corp, 'GET', 200);
    m.truetaskRequest(corp, 'GET', 200);
    m.truetaskRequest(corp, 'GET', 'error');
    const s = await scrape(m);

    expect(value(s, 'truetask_adsync_users_created_total', corp)).toBe(5);
    expect(value(s, 'truetask_adsync_users_promoted_total', corp)).toBe(1);
    expect(value(s, 'truetask_adsync_user_failures_total', corp)).toBe(1);
    expect(value(s, 'truetask_adsync_ldap_errors_total', { ...corp, reason: 'Timeout' })).toBe(2);
    expect(value(s, 'truetask_adsync_ldap_errors_total', { ...corp, reason: 'InvalidCredentials' })).toBe(1);
    expect(value(s, 'truetask_adsync_truetask_requests_total', { ...corp, method: 'POST', code: '201' })).toBe(1);
    expect(value(s, 'truetask_adsync_truetask_requests_total', { ...corp, method: 'GET', code: '200' })).toBe(2);
    expect(value(s, 'truetask_adsync_truetask_requests_total', { ...corp, method: 'GET', code: 'error' })).toBe(1);
    // label order and exact text of one line
    expect(await m.registry.metrics()).toContain(
      'truetask_adsync_truetask_requests_total{namespace="truetask",name="corp",method="GET",code="200"} 2\n',
    );
  });

  it('forget removes every series of one object and keeps the others', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    const fill = (obj: { namespace: string; name: string }) => {
      m.recordRun(obj, 'sync', 'success', 2, new Date('2026-11-25T10:00:00Z'));
      m.recordRun(obj, 'preview', 'failure', 1);
      m.setReady(obj, true);
      m.setInterval(obj, 3600);
      m.setDirectory(obj, 10, { create: 1, promote: 2, unchanged: 3, skip: 4, exclude: 5 });
      m.userCreated(obj);
      m.userPromoted(obj);
      m.userFailed(obj);
      m.ldapError(obj, 'Timeout');
      m.truetaskRequest(obj, 'GET', 200);
      m.setLeavers(obj, { Disabled: 1, NotInDirectory: 2 });
      m.recordRead(obj, 'changed', 3);
    };
    fill(corp);
    fill(lab); // same name, other namespace

    const before = await scrape(m);
    const corpNames = new Set(ofObject(before, corp).map((s) => s.name));
    expect(corpNames.size).toBe(17); // 15 metrics, the histogram as _bucket/_sum/_count
    const labCount = ofObject(before, lab).length;
    expect(labCount).toBe(ofObject(before, corp).length);

    m.forget(corp);
    const after = await scrape(m);
    expect(ofObject(after, corp)).toEqual([]);
    expect(ofObject(after, lab)).toHaveLength(labCount);
    expect(value(after, 'truetask_adsync_users_created_total', lab)).toBe(1);
    expect(value(after, 'truetask_adsync_run_duration_seconds_count', { ...lab, kind: 'sync' })).toBe(1);

    m.forget(corp); // idempotent
    m.forget({ namespace: 'nowhere', name: 'x' });

    // a re-created object starts again from zero
    m.userFailed(corp);
    const again = await scrape(m);
    expect(value(again, 'truetask_adsync_user_failures_total', corp)).toBe(1);
    expect(value(again, 'truetask_adsync_runs_total', { ...corp, kind: 'sync', result: 'success' })).toBe(0);
    expect(find(again, 'truetask_adsync_ready', corp)).toEqual([]);
  });
});

describe('pending approval gauge', () => {
  it('exports the held plan\'s creates and promotions, and 0 once nothing waits', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    const obj = { namespace: 'truetask', name: 'corp' };
    m.setPendingApproval(obj, { create: 250, promote: 2 });
    let text = await m.registry.metrics();
    expect(text).toContain('truetask_adsync_pending_approval{namespace="truetask",name="corp",action="create"} 250');
    expect(text).toContain('truetask_adsync_pending_approval{namespace="truetask",name="corp",action="promote"} 2');
    m.setPendingApproval(obj, { create: 0, promote: 0 });
    text = await m.registry.metrics();
    expect(text).toContain('truetask_adsync_pending_approval{namespace="truetask",name="corp",action="create"} 0');
    m.forget(obj);
    expect(await m.registry.metrics()).not.toContain('name="corp"');
  });
});

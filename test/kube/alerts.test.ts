// The alerting rules the chart ships (charts/truetask-adsync/files/alerts.yaml):
// `promtool check rules`, `promtool test rules` on test/tools/alerts_test.yaml, and
// the conventions every alert follows (severity, summary, description, a runbook
// section that exists, metric names the operator really exports).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { METRIC_NAMES } from '../../src/metrics/metrics.ts';
import { repoRoot, runTool, toolsBinDir } from '../tools/bin.ts';

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: AlertRule[] }>;
}
interface PromtoolTests {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts: unknown[] }> }>;
}

const ALERTS = join(repoRoot, 'charts', 'truetask-adsync', 'files', 'alerts.yaml');
const TESTS = join(repoRoot, 'test', 'tools', 'alerts_test.yaml');
/** The leavers alert's tests: a week of data, evaluated every 5 minutes. */
const LEAVERS_TESTS = join(repoRoot, 'test', 'tools', 'alerts_leavers_test.yaml');

describe('the shipped alerting rules', () => {
  let rules: AlertRule[];
  let alertsText: string;
  let testsText: string;
  let leaversTestsText: string;
  let work: string;

  beforeAll(async () => {
    await toolsBinDir();
    alertsText = await readFile(ALERTS, 'utf8');
    testsText = await readFile(TESTS, 'utf8');
    leaversTestsText = await readFile(LEAVERS_TESTS, 'utf8');
    rules = (parse(alertsText) as RuleFile).groups.flatMap((g) => g.rules);
    work = await mkdtemp(join(tmpdir(), 'alerts-test-'));
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pass `promtool check rules`', async () => {
    const r = await runTool('promtool', ['check', 'rules', ALERTS]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('pass their unit tests (`promtool test rules test/tools/alerts_test.yaml test/tools/alerts_leavers_test.yaml`)', async () => {
    const r = await runTool('promtool', ['test', 'rules', TESTS, LEAVERS_TESTS]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout.match(/SUCCESS/g)).toHaveLength(2);
    expect(r.stdout + r.stderr).not.toMatch(/FAILED/);
  });

  it('the unit tests test the shipped file, and every alert both firing and not firing', () => {
    const files = [parse(testsText) as PromtoolTests, parse(leaversTestsText) as PromtoolTests];
    for (const t of files) expect(t.rule_files).toEqual(['../../charts/truetask-adsync/files/alerts.yaml']);
    const cases = files.flatMap((t) => t.tests.flatMap((x) => x.alert_rule_test ?? []));
    for (const rule of rules) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${rule.alert} is never expected to fire`).toBe(true);
      expect(mine.some((c) => c.exp_alerts.length === 0), `${rule.alert} is never expected to stay quiet`).toBe(true);
    }
  });

  it('a broken rule makes the unit tests fail (the manual-interval guard of TruetaskAdsyncStale removed)', async () => {
    const guard = /\n\s*and on \(namespace, name\)\n\s*\(max by \(namespace, name\) \(truetask_adsync_interval_seconds\) > 0\)/;
    expect(alertsText).toMatch(guard);
    const brokenDir = join(work, 'charts', 'truetask-adsync', 'files');
    await mkdir(brokenDir, { recursive: true });
    await writeFile(join(brokenDir, 'alerts.yaml'), alertsText.replace(guard, ''));
    const testsDir = join(work, 'test', 'tools');
    await mkdir(testsDir, { recursive: true });
    await writeFile(join(testsDir, 'alerts_test.yaml'), testsText);
    const r = await runTool('promtool', ['test', 'rules', join(testsDir, 'alerts_test.yaml')]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/FAILED[\s\S]*alertname: TruetaskAdsyncStale/);
    expect(r.stdout + r.stderr).toMatch(/name="manual"/);
  });

  it('every alert has a severity, a summary, a description and a runbook section that exists', async () => {
    const runbooks = await readFile(join(repoRoot, 'docs', 'runbooks.md'), 'utf8');
    const anchors = new Set([...runbooks.matchAll(/^#{1,6} (.+)$/gm)].map((m) => (m[1] ?? '').trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    expect(rules.map((r) => r.alert)).toEqual([
      'TruetaskAdsyncFailing',
      'TruetaskAdsyncStale',
      'TruetaskAdsyncUserFailures',
      'TruetaskAdsyncDirectoryUnreachable',
      'TruetaskAdsyncApprovalPending',
      'TruetaskAdsyncDisabledUsersActive',
      'TruetaskAdsyncOperatorDown',
    ]);
    for (const rule of rules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(warning|critical)$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      const url = rule.annotations?.runbook_url ?? '';
      expect(url, rule.alert).toMatch(/\/docs\/runbooks\.md#[a-z0-9-]+$/);
      const anchor = url.slice(url.indexOf('#') + 1);
      expect(anchor).toBe(rule.alert.toLowerCase());
      expect(anchors.has(anchor), `docs/runbooks.md has no section for ${rule.alert}`).toBe(true);
      // Alerts about one AdSync name it.
      if (/by \(namespace, name\)/.test(rule.expr)) {
        for (const text of [rule.annotations?.summary ?? '', rule.annotations?.description ?? '']) {
          expect(text, rule.alert).toContain('{{ $labels.namespace }}/{{ $labels.name }}');
        }
      }
    }
  });

  it('a broken leavers rule makes its unit tests fail (without max_over_time a leader change resets its 7 days)', async () => {
    const bridged = 'max_over_time(truetask_adsync_leavers{reason="Disabled"}[15m])';
    expect(alertsText).toContain(bridged);
    const dir = join(work, 'leavers');
    await mkdir(join(dir, 'charts', 'truetask-adsync', 'files'), { recursive: true });
    await writeFile(join(dir, 'charts', 'truetask-adsync', 'files', 'alerts.yaml'), alertsText.replace(bridged, 'truetask_adsync_leavers{reason="Disabled"}'));
    await mkdir(join(dir, 'test', 'tools'), { recursive: true });
    await writeFile(join(dir, 'test', 'tools', 'alerts_leavers_test.yaml'), leaversTestsText);
    const r = await runTool('promtool', ['test', 'rules', join(dir, 'test', 'tools', 'alerts_leavers_test.yaml')]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/FAILED[\s\S]*alertname: TruetaskAdsyncDisabledUsersActive, time: 7d1h/);
  });

  it('use only metric names the operator exports', () => {
    const exported = new Set<string>(Object.values(METRIC_NAMES));
    const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\btruetask_adsync_[a-z_]+/g)].map((m) => m[0])));
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(exported.has(name), `${name} is not in src/metrics/metrics.ts`).toBe(true);
    for (const name of [METRIC_NAMES.ready, METRIC_NAMES.lastSuccess, METRIC_NAMES.interval, METRIC_NAMES.userFailures, METRIC_NAMES.ldapErrors, METRIC_NAMES.leavers]) {
      expect(used.has(name), `${name} is used by no alert`).toBe(true);
    }
  });
});

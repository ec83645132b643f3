/** What the CLI prints: the spec's JSON shapes, and readable tables for people. */
import type { AdSyncError } from '../errors.ts';
import type { GroupInfo } from '../ldap/reader.ts';
import type { ConnectionCheck, RunReport } from '../reconcile/engine.ts';
import type { OuSummary } from '../reconcile/ou-summary.ts';
import { planDigest } from '../reconcile/digest.ts';
import { renderTable } from './table.ts';

export type OutputFormat = 'table' | 'json';

/** `preview -o json`: exactly the spec's shape, a row for every entry the filter matched (the plan's rows, not copied). */
export function previewJson(report: RunReport): { summary: RunReport['plan']['summary']; users: RunReport['plan']['rows'] } {
  return {
    summary: { ...report.plan.summary },
    users: report.plan.rows,
  };
}

export function syncJson(report: RunReport) {
  const a = report.apply;
  return {
    ...previewJson(report),
    result: a
      ? {
          result: a.result,
          created: a.created,
          promoted: a.promoted,
          unchanged: report.plan.summary.unchanged + a.alreadyDone,
          skipped: report.plan.summary.skipped,
          failed: a.failed,
          failures: a.failures,
        }
      : null,
    ...(report.gate?.held ? { held: { digest: report.gate.held.digest, changes: report.gate.held.changes.length, message: report.gate.held.verdict.message } } : {}),
  };
}

function summaryLines(report: RunReport): string[] {
  const s = report.plan.summary;
  const lines = [
    `Directory: ${s.directoryUsers} users in scope, ${s.excluded} in excluded OUs, ${s.skipped} skipped`,
    `Plan:      ${s.toCreate} to create, ${s.toPromote} to promote, ${s.unchanged} unchanged`,
  ];
  // The digest the operator's status.pendingApproval shows for this very plan (what truetask.io/approve approves).
  if (report.plan.changes.length > 0) lines.push(`Digest:    ${planDigest(report.plan.changes)}`);
  for (const g of report.directory.adminGroups) {
    lines.push(g.found ? `Admin group ${g.ref}: ${g.dn} (${g.members} members in scope)` : `Admin group ${g.ref}: NOT FOUND in AD`);
  }
  return lines;
}

export function previewTable(report: RunReport, opts: { all: boolean }): string {
  const out = summaryLines(report);
  const changes = report.plan.rows.filter((r) => r.action === 'create' || r.action === 'promote');
  if (changes.length > 0) {
    out.push('', renderTable(['ACTION', 'EMAIL', 'NAME', 'ROLE'], changes.map((r) => [r.action, r.email ?? '', r.name, r.role ?? ''])));
  } else {
    out.push('', 'Nothing to create or promote.');
  }
  const skipped = report.plan.rows.filter((r) => r.action === 'skip');
  if (skipped.length > 0) {
    out.push('', 'Skipped entries:', renderTable(['DN', 'REASON'], skipped.map((r) => [r.dn, r.reason])));
  }
  if (opts.all) {
    const rest = report.plan.rows.filter((r) => r.action === 'unchanged' || r.action === 'exclude');
    if (rest.length > 0) out.push('', renderTable(['ACTION', 'EMAIL', 'DN', 'REASON'], rest.map((r) => [r.action, r.email ?? '', r.dn, r.reason])));
  }
  return out.join('\n');
}

export function syncTable(report: RunReport): string {
  const a = report.apply;
  const held = report.gate?.held;
  const heldLine = held
    ? `Held: ${held.verdict.message}; ${held.changes.length} changes (digest ${held.digest}) were not written. Review them with adsync preview, then run again with --approve ${held.digest}`
    : undefined;
  if (!a) return [previewTable(report, { all: false }), ...(heldLine ? ['', heldLine] : [])].join('\n');
  const out = summaryLines(report);
  out.push('', `Sync ${a.result}: ${a.created} created, ${a.promoted} promoted, ${report.plan.summary.unchanged + a.alreadyDone} unchanged, ${a.failed} failed`);
  if (a.failures.length > 0) out.push('', renderTable(['ACTION', 'EMAIL', 'REASON', 'MESSAGE'], a.failures.map((f) => [f.action, f.email, f.reason, f.message])));
  if (heldLine) out.push('', heldLine);
  return out.join('\n');
}

function errJson(e: AdSyncError) {
  return { reason: e.reason, message: e.detail };
}

function directoryCheckJson(d: ConnectionCheck['directory']) {
  return d.ok ? { ok: true, url: d.url } : { ok: false, url: d.url, ...errJson(d.error) };
}

export function connectionJson(check: ConnectionCheck) {
  return {
    directory: directoryCheckJson(check.directory),
    failover: check.failover.map(directoryCheckJson),
    truetask: check.truetask.ok
      ? { ok: true, url: check.truetask.url, totalUsers: check.truetask.totalUsers }
      : { ok: false, ...errJson(check.truetask.error) },
  };
}

/** One row per DC (spec.ldap.url, then each failover DC), then Truetask. */
export function connectionTable(check: ConnectionCheck): string {
  const t = check.truetask;
  const dcs = [check.directory, ...check.failover];
  const dcRow = (d: ConnectionCheck['directory'], i: number): string[] => [
    dcs.length === 1 ? 'Active Directory' : i === 0 ? 'Active Directory (url)' : `Active Directory (failover ${i})`,
    d.ok ? 'OK' : `FAILED (${d.error.reason})`,
    d.ok ? `bound to ${d.url}; base DN found` : `${d.url}: ${d.error.detail}`,
  ];
  return renderTable(
    ['SERVICE', 'STATUS', 'DETAIL'],
    [
      ...dcs.map(dcRow),
      ['Truetask', t.ok ? 'OK' : `FAILED (${t.error.reason})`, t.ok ? `${t.url}: token accepted, ${t.totalUsers} users` : t.error.detail],
    ],
  );
}

export function ousTable(ous: readonly OuSummary[]): string {
  if (ous.length === 0) return 'No OUs or containers with users found below the base DN.';
  return renderTable(['USERS', 'EXCLUDED', 'KIND', 'DN'], ous.map((o) => [String(o.users), o.excluded ? 'yes' : '', o.kind === 'organizationalUnit' ? 'OU' : 'container', o.dn]));
}

export function groupsTable(groups: ReadonlyArray<GroupInfo & { adminGroup: boolean }>): string {
  if (groups.length === 0) return 'No groups found below the base DN.';
  return renderTable(
    ['NAME', 'SAMACCOUNTNAME', 'TYPE', 'ADMIN', 'DN'],
    groups.map((g) => [g.name, g.sAMAccountName ?? '', `${g.security ? 'security' : 'distribution'}/${g.scope}`, g.adminGroup ? 'yes' : '', g.dn]),
  );
}

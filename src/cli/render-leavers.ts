/** What `adsync report leavers` prints: every leaver, as JSON or a table for people. */
import type { LeaversReport } from '../reconcile/leavers.ts';
import { renderTable } from './table.ts';

/** `report leavers -o json`: status.leavers' names, with every leaver and the domains the directory owns. */
export function leaversJson(report: LeaversReport, generatedAt: Date) {
  return {
    generatedAt: generatedAt.toISOString(),
    disabled: report.disabled,
    notInDirectory: report.notInDirectory,
    ownedDomains: report.ownedDomains,
    users: report.users.map((u) => ({ email: u.email, name: u.name, role: u.role, reason: u.reason })),
  };
}

export function leaversTable(report: LeaversReport): string {
  const domains = report.ownedDomains.length > 0 ? report.ownedDomains.join(', ') : 'none (no directory user has a usable email)';
  const out = [
    `Leavers:   ${report.disabled} disabled in AD, ${report.notInDirectory} not in the directory (Truetask users with role user or admin; nothing is changed)`,
    `Domains:   ${domains}`,
  ];
  if (report.users.length === 0) out.push('', 'No leavers: no Truetask user or admin in these domains is disabled in AD or missing from it.');
  else out.push('', renderTable(['REASON', 'EMAIL', 'NAME', 'ROLE'], report.users.map((u) => [u.reason, u.email, u.name, u.role])));
  return out.join('\n');
}

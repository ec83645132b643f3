/**
 * The planner: a pure function from what AD and Truetask hold to the changes a
 * sync makes (rules 1-5 and 8-11 of the spec). It never plans a downgrade, never
 * touches an owner, and planning again after applying a plan yields no change.
 */
import { dnKey, isWithinKey, type Dn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/reader.ts';
import { emailProblem, normalizeEmail } from '../rules/email.ts';

export type Role = 'owner' | 'admin' | 'user';

export interface ExistingUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface PlanInput {
  entries: readonly DirectoryEntry[];
  /** DN keys of entries that are admin-group members (ignored unless promotion is on). */
  adminMembers: ReadonlySet<string>;
  excludedOUs: readonly Dn[];
  existing: readonly ExistingUser[];
  promotion: boolean;
  emailAttribute: string;
}

export type RowAction = 'create' | 'promote' | 'unchanged' | 'skip' | 'exclude';

/** One row per directory entry the filter matched; fields in the order `preview -o json` prints them. */
export interface PlanRow {
  email: string | null;
  name: string;
  dn: string;
  role: 'admin' | 'user' | 'owner' | null;
  action: RowAction;
  reason: string;
}

export type PlannedChange =
  | { kind: 'create'; email: string; name: string; role: 'admin' | 'user'; dns: string[] }
  | { kind: 'promote'; email: string; name: string; userId: string; dns: string[] };

export interface PlanSummary {
  directoryUsers: number;
  excluded: number;
  skipped: number;
  toCreate: number;
  toPromote: number;
  unchanged: number;
}

export interface Plan {
  rows: PlanRow[];
  /** Sorted by email. */
  changes: PlannedChange[];
  summary: PlanSummary;
}

const rank: Record<Role, number> = { user: 0, admin: 1, owner: 2 };

/** Reasons shared by many rows, made once (a plan may have 100,000 rows). */
const REASON = {
  excluded: 'in an excluded OU',
  create: 'new user',
  createAdmin: 'new user; member of an admin group',
  promote: { user: 'exists as user; member of an admin group', admin: 'exists as admin; member of an admin group', owner: 'exists as owner; member of an admin group' },
  unchanged: { user: 'exists as user', admin: 'exists as admin', owner: 'exists as owner' },
  neverDowngraded: { user: 'exists as user', admin: 'exists as admin; roles are never downgraded', owner: 'exists as owner; roles are never downgraded' },
} as const;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One pass over the entries in the order of their rows (email, then DN): entries
 * that share an address are adjacent, rows and changes come out sorted, and nothing
 * but the rows and changes is kept per entry.
 */
export function plan(input: PlanInput): Plan {
  const { entries } = input;
  const sortEmail = entries.map((e) => normalizeEmail(e.email ?? ''));
  const order = entries.map((_, i) => i);
  order.sort((a, b) => cmp(sortEmail[a] as string, sortEmail[b] as string) || cmp((entries[a] as DirectoryEntry).dn, (entries[b] as DirectoryEntry).dn));

  const existingByEmail = new Map<string, ExistingUser>();
  for (const u of input.existing) existingByEmail.set(normalizeEmail(u.email), u);

  const rows: PlanRow[] = [];
  const changes: PlannedChange[] = [];
  const summary: PlanSummary = { directoryUsers: 0, excluded: 0, skipped: 0, toCreate: 0, toPromote: 0, unchanged: 0 };

  for (let start = 0; start < order.length; ) {
    // a run of entries with the same (normalized) email, in DN order
    const runEmail = sortEmail[order[start] as number] as string;
    let end = start + 1;
    while (end < order.length && sortEmail[order[end] as number] === runEmail) end++;
    const run = order.slice(start, end).map((i) => entries[i] as DirectoryEntry);
    start = end;

    const runRows: Array<PlanRow | undefined> = new Array<PlanRow | undefined>(run.length);
    const valid: Array<{ entry: DirectoryEntry; key: string }> = [];
    run.forEach((entry, r) => {
      const raw = entry.email;
      const key = entry.key ?? dnKey(entry.dn);
      if (input.excludedOUs.some((ou) => isWithinKey(key, ou.key))) {
        summary.excluded++;
        runRows[r] = { email: raw?.trim() ?? null, name: entry.name ?? entry.dn, dn: entry.dn, role: null, action: 'exclude', reason: REASON.excluded };
        return;
      }
      const problem = raw === undefined ? undefined : emailProblem(raw);
      if (raw === undefined || problem !== undefined) {
        summary.skipped++;
        runRows[r] = {
          email: raw?.trim() ?? null,
          name: entry.name ?? entry.dn,
          dn: entry.dn,
          role: null,
          action: 'skip',
          reason: raw === undefined ? `no ${input.emailAttribute}` : `invalid ${input.emailAttribute} "${raw.trim()}": ${problem}`,
        };
        return;
      }
      valid.push({ entry, key });
    });

    if (valid.length > 0) {
      // Rules 1-4 and 10: one Truetask user for the address, admin if any entry is.
      summary.directoryUsers += valid.length;
      const byKey = [...valid].sort((a, b) => cmp(a.key, b.key));
      const first = (byKey[0] as { entry: DirectoryEntry }).entry;
      const firstEmail = (first.email as string).trim();
      const wantAdmin = input.promotion && valid.some((v) => input.adminMembers.has(v.key));
      const desired: 'admin' | 'user' = wantAdmin ? 'admin' : 'user';
      const dns = byKey.map((v) => v.entry.dn);
      const current = existingByEmail.get(runEmail);
      let action: RowAction;
      let role: PlanRow['role'];
      let reason: string;
      if (!current) {
        action = 'create';
        role = desired;
        reason = wantAdmin ? REASON.createAdmin : REASON.create;
        changes.push({ kind: 'create', email: firstEmail, name: first.name ?? firstEmail, role: desired, dns });
        summary.toCreate++;
      } else if (rank[desired] > rank[current.role]) {
        action = 'promote';
        role = 'admin';
        reason = REASON.promote[current.role];
        changes.push({ kind: 'promote', email: current.email, name: current.name, userId: current.id, dns });
        summary.toPromote++;
      } else {
        action = 'unchanged';
        role = current.role;
        reason = rank[current.role] > rank[desired] ? REASON.neverDowngraded[current.role] : REASON.unchanged[current.role];
        summary.unchanged++;
      }
      run.forEach((entry, r) => {
        if (runRows[r]) return;
        const email = (entry.email as string).trim();
        const dup = entry === first ? '' : `; same email as ${first.dn}, one Truetask user`;
        runRows[r] = { email, name: entry.name ?? email, dn: entry.dn, role, action, reason: reason + dup };
      });
    }
    for (const row of runRows) rows.push(row as PlanRow);
  }
  return { rows, changes, summary };
}


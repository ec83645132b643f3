/**
 * The leavers report: a pure function from what a full run read to the
 * Truetask users who are still active but disabled in AD or gone from it.
 * It only reports; nothing is ever written because of it (rule 5).
 *
 * A leaver is a Truetask user
 *  - with role `user` or `admin` (owners are never listed),
 *  - whose email is in a domain the directory owns (see `ownedDomains`),
 *  - that no entry the user filter matched has as its email (any case;
 *    entries in excluded OUs and skipped entries count as matched),
 *  - and that is not a disabled account in an excluded OU (outside the report).
 * Its reason is `Disabled` when the disabled-accounts search found an account
 * with that email, else `NotInDirectory`.
 */
import type { DisabledAccounts } from '../ldap/disabled-accounts.ts';
import { emailProblem, normalizeEmail } from '../rules/email.ts';
import type { ExistingUser } from './plan.ts';

export type LeaverReason = 'Disabled' | 'NotInDirectory';

export interface Leaver {
  /** As stored in Truetask. */
  email: string;
  name: string;
  role: 'admin' | 'user';
  reason: LeaverReason;
}

/** One entry the user filter matched: its email as read (null when it has none), and whether it is in an excluded OU. */
export interface MatchedEntry {
  email: string | null;
  excluded: boolean;
}

export interface LeaversInput {
  /** Every entry the user filter matched, excluded and skipped ones included. */
  matched: Iterable<MatchedEntry>;
  disabled: Pick<DisabledAccounts, 'emails' | 'excludedEmails'>;
  /** Truetask's users (the listing the run already made). */
  existing: readonly ExistingUser[];
}

export interface LeaversReport {
  disabled: number;
  notInDirectory: number;
  /** Every leaver, sorted by email (case-insensitively). */
  users: Leaver[];
  /** The domains the directory owns, sorted. */
  ownedDomains: string[];
}

function domainOf(normalizedEmail: string): string {
  return normalizedEmail.slice(normalizedEmail.lastIndexOf('@') + 1);
}

/**
 * The domains the directory owns: the domain part of the email attribute
 * (spec.emailAttribute: UPN suffixes for userPrincipalName, mail domains for
 * mail) of every directory user with a usable address, matched entries
 * (excluded ones too) and disabled accounts alike, lower-cased. That is the
 * attribute Truetask users get their email from, so a Truetask user in one of
 * these domains is one the directory would provide. Exact domains only: a
 * subdomain is owned only when some user has it.
 */
export function ownedDomains(matched: Iterable<MatchedEntry>, disabled: Pick<DisabledAccounts, 'emails' | 'excludedEmails'>): Set<string> {
  const domains = new Set<string>();
  const add = (email: string) => {
    if (emailProblem(email) === undefined) domains.add(domainOf(normalizeEmail(email)));
  };
  for (const m of matched) if (m.email !== null) add(m.email);
  for (const e of disabled.emails) add(e);
  for (const e of disabled.excludedEmails) add(e);
  return domains;
}

export function findLeavers(input: LeaversInput): LeaversReport {
  const matched = [...input.matched];
  const domains = ownedDomains(matched, input.disabled);
  const inDirectory = new Set<string>();
  for (const m of matched) if (m.email !== null) inDirectory.add(normalizeEmail(m.email));

  const users: Array<Leaver & { key: string }> = [];
  for (const u of input.existing) {
    if (u.role === 'owner') continue;
    const key = normalizeEmail(u.email);
    if (!domains.has(domainOf(key))) continue;
    if (inDirectory.has(key) || input.disabled.excludedEmails.has(key)) continue;
    users.push({ key, email: u.email, name: u.name, role: u.role, reason: input.disabled.emails.has(key) ? 'Disabled' : 'NotInDirectory' });
  }
  users.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
  const disabled = users.filter((u) => u.reason === 'Disabled').length;
  return {
    disabled,
    notInDirectory: users.length - disabled,
    users: users.map(({ key: _key, ...leaver }) => leaver),
    ownedDomains: [...domains].sort(),
  };
}

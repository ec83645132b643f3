/**
 * The leavers report's one extra read: the emails of disabled accounts
 * (userAccountControl bit 2, ACCOUNTDISABLE), which the default user filter
 * leaves out. One paged, read-only search below the base DN, composed as
 * Filter objects, reading only the email attribute. Only the normalised
 * emails are kept (never the entries), so memory grows with the number of
 * disabled accounts alone. Like every search it runs through
 * DirectorySession (same time limits, error mapping and re-read from the
 * start after a dropped connection); a failure fails the whole read.
 */
import { normalizeEmail } from '../rules/email.ts';
import { isWithinKey, tryParseDn, type Dn } from './dn.ts';
import { and, equals, matchingRule, present, type Filter } from './filter.ts';
import { firstString, type ReadConfig } from './reader.ts';
import type { DirectorySession } from './session.ts';

/** LDAP_MATCHING_RULE_BIT_AND: (userAccountControl:1.2.840.113556.1.4.803:=2) matches disabled accounts. */
export const BIT_AND = '1.2.840.113556.1.4.803';
export const ACCOUNTDISABLE = 2;

export interface DisabledAccounts {
  /** Normalised emails of disabled accounts outside every excluded OU. */
  emails: Set<string>;
  /** Normalised emails of disabled accounts in an excluded OU (outside the report, like excluded entries). */
  excludedEmails: Set<string>;
  /** Entries the search returned (for logs and the benchmark). */
  entries: number;
}

/** Disabled person accounts that have the email attribute: (&(objectCategory=person)(objectClass=user)(ATTR=*)(userAccountControl:BIT_AND:=2)). */
export function disabledAccountsFilter(emailAttribute: ReadConfig['emailAttribute']): Filter {
  return and(
    equals('objectCategory', 'person'),
    equals('objectClass', 'user'),
    present(emailAttribute),
    matchingRule('userAccountControl', BIT_AND, String(ACCOUNTDISABLE)),
  );
}

export async function readDisabledAccounts(
  session: DirectorySession,
  cfg: Pick<ReadConfig, 'baseDN' | 'pageSize' | 'emailAttribute'>,
  excludedOUs: readonly Dn[],
): Promise<DisabledAccounts> {
  let found: DisabledAccounts = { emails: new Set(), excludedEmails: new Set(), entries: 0 };
  await session.pagedSearch(
    'disabled accounts',
    {
      base: cfg.baseDN,
      filter: disabledAccountsFilter(cfg.emailAttribute),
      scope: 'sub',
      attributes: [cfg.emailAttribute],
      pageSize: cfg.pageSize,
    },
    (page) => {
      for (const e of page) {
        found.entries++;
        const email = firstString(e, cfg.emailAttribute);
        if (email === undefined || email.trim() === '') continue;
        const key = tryParseDn(e.dn)?.key;
        const excluded = key !== undefined && excludedOUs.some((ou) => isWithinKey(key, ou.key));
        (excluded ? found.excludedEmails : found.emails).add(normalizeEmail(email));
      }
    },
    () => {
      found = { emails: new Set(), excludedEmails: new Set(), entries: 0 };
    },
  );
  return found;
}

// Every search carries spec.ldap.timeoutSeconds as its server-side time limit. Here the
// limit is deliberately short (2 s) for a directory whose admin membership the DC cannot
// evaluate with LDAP_MATCHING_RULE_IN_CHAIN in that time: the user filter matches the
// 3,200 members of All-Hands too, and All-Hands sits below a chain of 20 groups that the
// chain rule climbs for every one of them. Preview and sync still succeed, because
// membership is read by walking groups; a search that does hit the limit fails the run
// with SearchTimeLimitExceeded and a hint, writing nothing.
import { Attribute } from 'ldapts';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { isSearchLimitError } from '../../src/ldap/errors.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { adsync, tempFile } from '../support/cli.ts';
import { addMember, deleteEntry, ldapsClient, withAdmin } from '../support/samba.ts';
import { scenarioYaml, TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const ad = inject('ad');
const D = ad.baseDN;
const LIMIT = 2;
const IN_CHAIN = '1.2.840.113556.1.4.1941';
const IT_ADMINS = `CN=IT-Admins,OU=Groups,${D}`;
/** Every user account, so that the members-only accounts of All-Hands are candidates too. */
const ALL_ACCOUNTS = '(&(objectCategory=person)(objectClass=user))';

let sim: TruetaskSimulator;
const tag = Date.now().toString(36);
const chain = Array.from({ length: 20 }, (_, i) => `CN=Limits-Chain-${tag}-${String(i + 1).padStart(2, '0')},OU=Groups,${D}`);

beforeAll(async () => {
  let below = `CN=All-Hands,OU=Groups,${D}`;
  for (const [i, g] of chain.entries()) {
    await withAdmin(ad, (c) => c.add(g, [new Attribute({ type: 'objectClass', values: ['top', 'group'] }), new Attribute({ type: 'sAMAccountName', values: [`lc-${tag}-${i + 1}`] })]));
    await addMember(ad, g, below);
    below = g;
  }
}, 120_000);

afterAll(async () => {
  for (const g of [...chain].reverse()) await deleteEntry(ad, g).catch(() => undefined);
});

beforeEach(async () => {
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
});

afterEach(async () => {
  await sim.close();
});

async function cli(command: string[], userFilter: string) {
  const file = await tempFile(scenarioYaml({ ad, truetaskUrl: sim.url, ldap: { timeoutSeconds: LIMIT, pageSize: 100 }, spec: { userFilter } }));
  return adsync([...command, '-f', file, '-o', 'json', '--log-level', 'warn']);
}

interface Row {
  email: string | null;
  role: string | null;
  action: string;
}

// IT-Admins, nested Platform-Admins (and Bulk-Admins), and Admin; disabled accounts match
// this filter (Dennis Ritchie); svc-backup is in the excluded OU.
const ADMINS = ['ada.lovelace', 'bliskov-adm', 'dana.temp', 'dennis.ritchie', 'grace.hopper', 'ken.thompson', 'linus.torvalds', 'margaret.hamilton', 'zoe.orsted'].map((u) => `${u}@corp.example.com`);

describe(`searches with a ${LIMIT} s server-side time limit`, () => {
  it('the DC cannot evaluate the chain rule for an admin group of this directory within the limit', async () => {
    const client = ldapsClient(ad);
    try {
      await client.bind(ad.bindUPN, ad.bindPassword);
      const err: unknown = await (async () => {
        for await (const page of client.searchPaginated(D, { filter: `(&${ALL_ACCOUNTS}(memberOf:${IN_CHAIN}:=${IT_ADMINS}))`, attributes: ['1.1'], paged: { pageSize: 100 }, timeLimit: LIMIT })) void page;
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isSearchLimitError(err)).toBe('time');
    } finally {
      await client.unbind().catch(() => undefined);
    }
  });

  it('preview and sync succeed, promoting nested admin-group members, because membership is read by walking groups', async () => {
    const preview = await cli(['preview'], ALL_ACCOUNTS);
    expect(preview.stderr).toBe('');
    expect(preview.code).toBe(0);
    const p = JSON.parse(preview.stdout) as { summary: { toCreate: number; skipped: number }; users: Row[] };
    expect(p.users.filter((u) => u.role === 'admin').map((u) => u.email).sort()).toEqual(ADMINS);
    expect(p.summary.skipped).toBeGreaterThan(3200); // the members-only accounts have no userPrincipalName

    const sync = await cli(['sync', '--confirm'], ALL_ACCOUNTS);
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    expect((JSON.parse(sync.stdout) as { result: { created: number } }).result.created).toBe(p.summary.toCreate);
    expect(sim.users().filter((u) => u.role === 'admin').map((u) => u.email).sort()).toEqual(ADMINS);
  });

  it('a search that hits the limit fails the run with SearchTimeLimitExceeded, naming the search and what to change, and writes nothing', async () => {
    const slowFilter = `(&${ALL_ACCOUNTS}(memberOf:${IN_CHAIN}:=${IT_ADMINS}))`;
    const r = await cli(['sync', '--confirm'], slowFilter);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `adsync: SearchTimeLimitExceeded: The DC stopped the search for users matching spec.userFilter below ${D} at its time limit (spec.ldap.timeoutSeconds: ${LIMIT} s); nothing is planned from a partial read. Raise spec.ldap.timeoutSeconds`,
    );
    expect(r.stderr).toMatch(/narrow spec\.ldap\.baseDN or spec\.userFilter/);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { reason: 'SearchTimeLimitExceeded' } });
    expect(sim.requests('POST') + sim.requests('PATCH')).toBe(0);
    expect(sim.audit()).toEqual([]);
  });
});

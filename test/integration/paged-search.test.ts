// The paged search that asks for the next page before handing the current one on
// (src/ldap/paged-search.ts), on the real Samba AD: every entry exactly once over
// many pages, at and around the page-size boundary, the next page requested while the
// current one is still being handled, and a read that fails part-way (a connection cut
// on a later page, the caller's own failure, the per-run entry cap) throws and leaves
// the caller with nothing.
import { Client, type Entry } from 'ldapts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isAdSyncError } from '../../src/errors.ts';
import { dnKey } from '../../src/ldap/dn.ts';
import { parseFilter, type Filter } from '../../src/ldap/filter.ts';
import { pipelinedPagedSearch, type PagedRequest } from '../../src/ldap/paged-search.ts';
import { readUsers, type ReadConfig } from '../../src/ldap/reader.ts';
import { DirectorySession, type LdapConnectionConfig } from '../../src/ldap/session.ts';
import { silentLogger } from '../../src/log.ts';
import { startCuttingProxy } from '../support/ldap-proxy.ts';
import { ldapsClient } from '../support/samba.ts';

const ad = inject('ad');
const D = ad.baseDN;
const ALL_USERS = parseFilter('(&(objectCategory=person)(objectClass=user))');
const DEFAULT_FILTER = parseFilter('(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))');
const PAGED_RESULTS_OID = '1.2.840.113556.1.4.319';

const connection = (url = ad.ldapsUrl, limits?: LdapConnectionConfig['limits']): LdapConnectionConfig => ({
  url,
  bindDN: ad.bindUPN,
  bindPassword: ad.bindPassword,
  startTLS: false,
  tls: { ca: ad.caPem, serverName: ad.dcHostname, insecureSkipVerify: false },
  timeoutSeconds: 60,
  limits,
});

const readConfig = (pageSize: number): ReadConfig => ({ baseDN: D, pageSize, userFilter: DEFAULT_FILTER, emailAttribute: 'userPrincipalName', adminPromotion: { enabled: false, groups: [], nested: false } });

let client: Client;
/** Every user's DN, lower-cased and sorted, as ldapts' own paged search reads them. */
let everyone: string[];

const lowerSorted = (dns: string[]) => dns.map((d) => d.toLowerCase()).sort();

beforeAll(async () => {
  client = ldapsClient(ad);
  await client.bind(ad.bindUPN, ad.bindPassword);
  const { searchEntries } = await client.search(D, { scope: 'sub', filter: ALL_USERS, attributes: ['1.1'], paged: { pageSize: 1000 } });
  everyone = lowerSorted(searchEntries.map((e) => e.dn));
});

afterAll(async () => {
  await client?.unbind().catch(() => undefined);
});

/** Pages of the search as handed on, and for each whether the next page had been requested by then. */
async function pagesOf(filter: Filter, pageSize: number): Promise<{ pages: Entry[][]; nextAskedWhileHandling: boolean[]; result: { pages: number; entries: number } }> {
  const pending = (client as unknown as { messageDetailsByMessageId: Map<string, unknown> }).messageDetailsByMessageId;
  const pages: Entry[][] = [];
  const nextAskedWhileHandling: boolean[] = [];
  const req: PagedRequest = { base: D, filter, scope: 'sub', attributes: ['sAMAccountName'], pageSize, timeLimit: 60 };
  const result = await pipelinedPagedSearch(
    client,
    req,
    {
      received: () => undefined,
      page: (entries) => {
        pages.push(entries);
        nextAskedWhileHandling.push(pending.size === 1);
      },
    },
    async () => undefined,
  );
  return { pages, nextAskedWhileHandling, result };
}

describe('the pipelined paged search', () => {
  it('reads every user exactly once over many pages, asking for each next page before handing the current one on', async () => {
    const { pages, nextAskedWhileHandling, result } = await pagesOf(ALL_USERS, 100);
    expect(everyone.length).toBeGreaterThan(300);
    expect(pages.length).toBe(Math.ceil(everyone.length / 100));
    expect(pages.every((p) => p.length <= 100)).toBe(true);
    expect(lowerSorted(pages.flat().map((e) => e.dn))).toEqual(everyone);
    expect(result).toEqual({ pages: pages.length, entries: everyone.length });
    // Every page but the last was handled while the DC was already answering the next request.
    expect(nextAskedWhileHandling).toEqual(pages.map((_, i) => i < pages.length - 1));
    // Entries carry the attributes asked for, as ldapts' search gives them.
    expect(pages.flat().every((e) => typeof e.sAMAccountName === 'string' && e.sAMAccountName !== '')).toBe(true);
  });

  it('at the page-size boundary: exactly a page, one fewer, one more', async () => {
    const n = everyone.length;
    for (const size of [n, n + 1]) {
      const { pages } = await pagesOf(ALL_USERS, size);
      // Samba answers a page that ends exactly at the last entry with a cookie and then an empty page.
      expect(pages.filter((p) => p.length > 0).map((p) => p.length)).toEqual([n]);
      expect(lowerSorted(pages.flat().map((e) => e.dn))).toEqual(everyone);
    }
    const { pages } = await pagesOf(ALL_USERS, n - 1);
    expect(pages.map((p) => p.length)).toEqual([n - 1, 1]);
    expect(lowerSorted(pages.flat().map((e) => e.dn))).toEqual(everyone);
  });

  it('a page size that divides the result exactly gives full pages and nothing twice', async () => {
    const one = parseFilter('(&(objectCategory=person)(objectClass=user)(sAMAccountName=bulk.user00*))');
    const { searchEntries } = await client.search(D, { scope: 'sub', filter: one, attributes: ['1.1'], paged: { pageSize: 1000 } });
    const n = searchEntries.length;
    const size = [10, 9, 8, 7, 6, 5, 4, 3, 2].find((d) => n % d === 0 && n / d > 1);
    expect(size).not.toBeUndefined();
    const { pages } = await pagesOf(one, size!);
    expect(pages.filter((p) => p.length > 0).map((p) => p.length)).toEqual(Array.from({ length: n / size! }, () => size));
    expect(lowerSorted(pages.flat().map((e) => e.dn))).toEqual(lowerSorted(searchEntries.map((e) => e.dn)));
  });

  it("entries as ldapts' own search gives them: one value or several, bytes for a value that is not UTF-8; an attribute the DC did not send is absent", async () => {
    const attributes = ['sAMAccountName', 'objectGUID', 'memberOf', 'description', 'displayName'];
    const reference = (await client.search(D, { scope: 'sub', filter: ALL_USERS, attributes, paged: { pageSize: 1000 } })).searchEntries;
    const read: Entry[] = [];
    await pipelinedPagedSearch(client, { base: D, filter: ALL_USERS, scope: 'sub', attributes, pageSize: 500, timeLimit: 60 }, { received: () => undefined, page: (p) => read.push(...p) }, async () => undefined);
    const sent = (e: Entry): Entry => ({ ...Object.fromEntries(Object.entries(e).filter(([, v]) => !(Array.isArray(v) && v.length === 0))), dn: e.dn });
    const byDn = (es: Entry[]) => new Map(es.map((e) => [e.dn.toLowerCase(), e]));
    expect(byDn(read.map(sent))).toEqual(byDn(reference.map(sent)));
    // What the comparison covers: GUIDs as bytes, users in several groups, users without a description.
    expect(read.every((e) => Buffer.isBuffer(e.objectGUID))).toBe(true);
    expect(read.some((e) => Array.isArray(e.memberOf) && e.memberOf.length > 1)).toBe(true);
    expect(read.some((e) => !('description' in e))).toBe(true);
  });

  it('a search the DC refuses throws its result code', async () => {
    const err: unknown = await pipelinedPagedSearch(client, { base: `OU=Nowhere-${Date.now()},${D}`, filter: ALL_USERS, scope: 'sub', attributes: ['1.1'], pageSize: 100, timeLimit: 60 }, { received: () => undefined, page: () => undefined }, async () => undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: unknown }).code).toBe(32); // noSuchObject
  });
});

describe('a read that fails part-way yields nothing', () => {
  it('the connection is cut when page 3 is requested, on every attempt: readUsers throws a connection error after pages 1-2 were read twice, and returns no users', async () => {
    // A search request whose paged-results cookie is not empty (the request for page 2 or later);
    // the proxy cuts the third of these on each connection.
    let seen = 0;
    const proxy = await startCuttingProxy(
      ad,
      (chunk) => {
        if (!chunk.includes(PAGED_RESULTS_OID) || !chunk.includes('userPrincipalName')) return false;
        const emptyCookie = chunk.subarray(-2).equals(Buffer.from([0x04, 0x00]));
        if (emptyCookie) {
          seen = 0;
          return false;
        }
        return ++seen === 2;
      },
      Number.POSITIVE_INFINITY,
    );
    const session = await DirectorySession.open(connection(proxy.url), silentLogger());
    try {
      let pagesHandled = 0;
      const origin = session.pagedSearch.bind(session);
      session.pagedSearch = (name, search, onPage, reset) =>
        origin(
          name,
          search,
          (entries) => {
            pagesHandled++;
            onPage(entries);
          },
          reset,
        );
      const err: unknown = await readUsers(session, readConfig(100)).then(
        (users) => ({ users }),
        (e: unknown) => e,
      );
      expect(isAdSyncError(err) && err.reason).toBe('ConnectionLost');
      expect(proxy.cuts()).toBe(2);
      // Pages 1 and 2, read on each of the two attempts (page 2 is handed on while page 3 is being asked for).
      expect(pagesHandled).toBe(4);
    } finally {
      await session.close();
      await proxy.close();
    }
  });

  it("the caller's own failure on page 1, while page 2 is on its way: the error, the connection dropped, and the session's next search reads again", async () => {
    const session = await DirectorySession.open(connection(), silentLogger());
    try {
      let handled = 0;
      const err: unknown = await session
        .pagedSearch(
          'users',
          { base: D, filter: ALL_USERS, scope: 'sub', attributes: ['sAMAccountName'], pageSize: 100 },
          () => {
            handled++;
            throw new Error('the caller gave up');
          },
          () => undefined,
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toContain('the caller gave up');
      expect(handled).toBe(1);
      const users = await readUsers(session, readConfig(100));
      expect(users.length).toBeGreaterThan(100);
      // Each simple DN's key is worked out as it is read, equal to what dnKey gives (escaped DNs are left to dnKey).
      expect(users.filter((u) => u.key !== undefined).length).toBeGreaterThan(100);
      expect(users.filter((u) => u.key !== undefined && u.key !== dnKey(u.dn))).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it('more entries than the per-run cap: DirectoryTooLarge before the page over the cap is handed on, and nothing more is asked for', async () => {
    const session = await DirectorySession.open(connection(ad.ldapsUrl, { maxEntries: 150 }), silentLogger());
    try {
      let handed = 0;
      const err: unknown = await session
        .pagedSearch(
          'users',
          { base: D, filter: ALL_USERS, scope: 'sub', attributes: ['sAMAccountName'], pageSize: 100 },
          (entries) => {
            handed += entries.length;
          },
          () => undefined,
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isAdSyncError(err) && err.reason).toBe('DirectoryTooLarge');
      expect(handed).toBe(100);
    } finally {
      await session.close();
    }
  });
});

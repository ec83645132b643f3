// Every run is bounded (issue 18): against hostile servers of our own on loopback,
// each run fails with its own reason within its bound, and the process's memory
// stays bounded. Runs go through what the CLI and the operator use: the engine
// inside a RunDeadline (spec.timeout), the Truetask client with the run's signal.
// The figures (time to fail, RSS growth) are printed for the record.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_USER_FILTER } from '../../src/api/spec.ts';
import type { EngineConfig } from '../../src/config/engine-config.ts';
import { isAdSyncError, type AdSyncError } from '../../src/errors.ts';
import { parseFilter } from '../../src/ldap/filter.ts';
import { RunDeadline } from '../../src/reconcile/deadline.ts';
import { runEngine } from '../../src/reconcile/engine.ts';
import { createTruetaskClient, isUserExistsError } from '../../src/truetask/index.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { ldapEndlessEntries, ldapTarpit, truetaskDrip, truetaskHuge, type Hostile } from '../support/hostile-servers.ts';
import { TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const ad = inject('ad');
const quiet = pino({ level: 'silent' });
const MiB = 1024 * 1024;

let sim: TruetaskSimulator;
const servers: Hostile[] = [];
const hostile = async (p: Promise<Hostile>) => {
  const h = await p;
  servers.push(h);
  return h;
};

beforeAll(async () => {
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
});

afterAll(async () => {
  for (const h of servers) await h.close();
  await sim?.close();
});

interface Over {
  ldapUrl?: string;
  ldapTimeoutSeconds?: number;
  truetaskUrl?: string;
  truetaskTimeoutSeconds?: number;
  runTimeoutMs: number;
}

function engineConfig(o: Over): EngineConfig {
  const plainLdap = o.ldapUrl !== undefined;
  return {
    ldap: {
      url: o.ldapUrl ?? ad.ldapsUrl,
      bindDN: ad.bindUPN,
      bindPassword: ad.bindPassword,
      startTLS: false,
      insecurePlaintext: plainLdap,
      tls: plainLdap ? { insecureSkipVerify: false } : { ca: ad.caPem, serverName: ad.dcHostname, insecureSkipVerify: false },
      timeoutSeconds: o.ldapTimeoutSeconds ?? 10,
    },
    read: { baseDN: ad.baseDN, pageSize: 500, userFilter: parseFilter(DEFAULT_USER_FILTER), emailAttribute: 'userPrincipalName', adminPromotion: { enabled: false, groups: [], nested: true } },
    excludedOUs: [],
    truetask: { url: o.truetaskUrl ?? sim.url, token: TOKEN, insecureSkipVerify: false, insecurePlaintext: true, timeoutSeconds: o.truetaskTimeoutSeconds ?? 10 },
    insecure: [],
  };
}

interface Outcome {
  err: AdSyncError;
  ms: number;
  rssGrowthMiB: number;
}

/** One preview run, bounded as the CLI and the operator bound it; samples RSS while it runs. */
async function boundedRun(what: string, o: Over): Promise<Outcome> {
  const cfg = engineConfig(o);
  const deadline = new RunDeadline(o.runTimeoutMs);
  const client = createTruetaskClient({ url: cfg.truetask.url, token: cfg.truetask.token, timeoutSeconds: cfg.truetask.timeoutSeconds, logger: quiet, signal: deadline.signal });
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const started = performance.now();
  let err: unknown;
  try {
    await deadline.race(runEngine(cfg, 'preview', deadline.deps({ logger: quiet, truetask: client, isConflict: isUserExistsError, withContainers: false, withLeavers: false })));
  } catch (e) {
    err = e;
  } finally {
    deadline.dispose();
    await client.close();
  }
  const ms = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  if (!isAdSyncError(err)) throw new Error(`${what}: expected the run to fail with a typed error, got ${String(err)}`);
  const outcome = { err, ms: Math.round(ms), rssGrowthMiB: Math.round(((peak - baseline) / MiB) * 10) / 10 };
  console.error(`[hostile] ${what}: ${err.reason} (${err.next}) after ${(outcome.ms / 1000).toFixed(1)} s, RSS +${outcome.rssGrowthMiB} MiB: ${err.message}`);
  return outcome;
}

describe('hostile LDAP servers', () => {
  it('a server that accepts TCP and never answers: Timeout within spec.ldap.timeoutSeconds (plus its margin)', async () => {
    const tarpit = await hostile(ldapTarpit());
    const r = await boundedRun('LDAP tarpit, timeoutSeconds 2', { ldapUrl: tarpit.url, ldapTimeoutSeconds: 2, runTimeoutMs: 60_000 });
    expect(r.err.reason).toBe('Timeout');
    expect(r.err.next).toBe('retry');
    expect(tarpit.connections).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('the same tarpit with long LDAP timeouts: RunTimedOut at spec.timeout, with the AD hint', async () => {
    const tarpit = await hostile(ldapTarpit());
    const r = await boundedRun('LDAP tarpit, timeoutSeconds 60, spec.timeout 3s', { ldapUrl: tarpit.url, ldapTimeoutSeconds: 60, runTimeoutMs: 3_000 });
    expect(r.err.reason).toBe('RunTimedOut');
    expect(r.err.next).toBe('backoff');
    expect(r.err.source).toBe('directory');
    expect(r.err.detail).toMatch(/waiting on the domain controller.*raise spec\.timeout/);
    expect(r.ms).toBeLessThan(6_000);
  });

  it('a server that answers a search with entries for ever: DirectoryTooLarge, memory bounded', async () => {
    const endless = await hostile(ldapEndlessEntries());
    const r = await boundedRun('LDAP endless entries', { ldapUrl: endless.url, ldapTimeoutSeconds: 30, runTimeoutMs: 60_000 });
    expect(r.err.reason).toBe('DirectoryTooLarge');
    expect(r.err.next).toBe('backoff');
    expect(r.err.detail).toMatch(/more than 2000 entries in one answer.*spec\.ldap\.url points at a real AD domain controller/);
    expect(r.rssGrowthMiB).toBeLessThan(100);
    expect(r.ms).toBeLessThan(30_000);
  });

  it('a server that answers a search with one 1 GiB message: DirectoryTooLarge on its first bytes, memory bounded', async () => {
    const huge = await hostile(ldapEndlessEntries('127.0.0.1', { huge: true }));
    const r = await boundedRun('LDAP one 1 GiB answer', { ldapUrl: huge.url, ldapTimeoutSeconds: 30, runTimeoutMs: 60_000 });
    expect(r.err.reason).toBe('DirectoryTooLarge');
    expect(r.err.detail).toMatch(/a message announced as 1024 MiB \(more than 4 MiB\)/);
    expect(huge.sent).toBeLessThan(1024 ** 3);
    expect(r.rssGrowthMiB).toBeLessThan(100);
  });
});

describe('hostile Truetask servers (the directory is the real DC)', () => {
  it('a body dripped a byte a second: TruetaskTimeout, each attempt ended at timeoutSeconds, the body included', async () => {
    const drip = await hostile(truetaskDrip());
    const r = await boundedRun('Truetask drip, timeoutSeconds 2', { truetaskUrl: drip.url, truetaskTimeoutSeconds: 2, runTimeoutMs: 120_000 });
    expect(r.err.reason).toBe('TruetaskTimeout');
    // 5 attempts of 2 s each plus the back-off between them
    expect(drip.connections).toBeGreaterThanOrEqual(1);
    expect(r.ms).toBeLessThan(30_000);
  });

  it('a body dripped a byte a second with long request timeouts: RunTimedOut at spec.timeout', async () => {
    const drip = await hostile(truetaskDrip());
    const r = await boundedRun('Truetask drip, timeoutSeconds 300, spec.timeout 5s', { truetaskUrl: drip.url, truetaskTimeoutSeconds: 300, runTimeoutMs: 5_000 });
    expect(r.err.reason).toBe('RunTimedOut');
    expect(r.err.source).toBe('truetask');
    expect(r.err.message).toMatch(/waiting on Truetask/);
    expect(r.ms).toBeLessThan(8_000);
  });

  it('a 1 GiB body: ResponseTooLarge after 8 MiB read, memory bounded', async () => {
    const huge = await hostile(truetaskHuge());
    const r = await boundedRun('Truetask 1 GiB body', { truetaskUrl: huge.url, runTimeoutMs: 60_000 });
    expect(r.err.reason).toBe('ResponseTooLarge');
    expect(r.err.next).toBe('backoff');
    expect(r.err.detail).toMatch(/larger than 8192 KiB.*spec\.truetask\.url points at Truetask itself/);
    expect(huge.sent).toBeLessThan(1024 ** 3);
    expect(r.rssGrowthMiB).toBeLessThan(100);
  });
});

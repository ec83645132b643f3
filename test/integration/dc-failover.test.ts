// Several domain controllers (spec.ldap.failover) on real Samba DCs: the global test
// DC and a second DC of the same fixture, provisioned on its own (so it has its own
// invocationId, CA and USNs). A DC that does not answer is skipped and the run says
// so; a DC that answers "invalid credentials" ends the run there, with no bind sent
// to any other DC (the lockout policy sees one bad bind per attempt, as with one DC).
// In a real domain one CA issues every DC's certificate; each test Samba makes its
// own CA, so DC2 is reached through a TLS front showing DC1's certificate (`dc2Url`).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isAdSyncError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { testConnection } from '../../src/reconcile/engine.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { createTruetaskClient } from '../../src/truetask/index.ts';
import { engineConfig, runOnce } from '../support/engine-run.ts';
import { startCuttingProxy, type CuttingProxy } from '../support/ldap-proxy.ts';
import { startSambaAD, type SambaAD } from '../support/samba.ts';
import { TOKEN, TOKEN_NAME } from '../support/scenario.ts';

const dc1 = inject('ad');
let dc2: SambaAD;
let sim: TruetaskSimulator;
const proxies: CuttingProxy[] = [];
/** DC2 as clients see it: DC1's CA and name, DC2's directory. */
let dc2Url: string;

/** A front for a DC (DC1's certificate) that counts connections and cuts what `cut` matches. */
async function front(ad: typeof dc1, cut: (chunk: Buffer) => boolean = () => false, cuts = 0): Promise<CuttingProxy> {
  const p = await startCuttingProxy(dc1, cut, cuts, { upstream: ad });
  proxies.push(p);
  return p;
}

beforeAll(async () => {
  dc2 = await startSambaAD({ cache: false });
  dc2Url = (await front(dc2)).url;
  sim = await startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] });
}, 600_000);

afterAll(async () => {
  for (const p of proxies) await p.close();
  await sim?.close();
  await dc2?.stop();
});

function config(primary: string, failover: Array<{ url: string; serverName?: string }>, over: { bindPassword?: string } = {}) {
  return engineConfig({
    ad: dc1,
    truetaskUrl: sim.url,
    ldap: { url: primary, failover },
    ...over,
  });
}

describe('spec.ldap.failover on two real DCs', () => {
  it('the two DCs are separately provisioned: same domain, different identities', async () => {
    const a = await runOnce(await config(dc1.ldapsUrl, []), 'preview');
    const b = await runOnce(await config(dc2Url, []), 'preview');
    expect(a.server?.url).toBe(dc1.ldapsUrl);
    expect(b.server?.url).toBe(dc2Url);
    expect(a.server?.invocationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(b.server?.invocationId).not.toBe(a.server?.invocationId);
    expect(b.server?.dsServiceName).toMatch(/^CN=NTDS Settings,/);
    expect(b.failedOver ?? []).toEqual([]);
  });

  it('a changed-only run asked of another DC than the last run\'s is a full run (another identity, other USNs)', async () => {
    const a = await runOnce(await config(dc1.ldapsUrl, []), 'preview');
    if (!a.server) throw new Error('no server');
    const onDc2 = await runOnce(await config('ldaps://127.0.0.1:1', [{ url: dc2Url }]), 'preview', { changedSince: a.server });
    expect(onDc2.server?.url).toBe(dc2Url);
    expect(onDc2.full).toBe(true);
    expect(onDc2.fullReason).toMatch(/^another domain controller answered/);
    expect(onDc2.entriesRead).toBe(a.entriesRead);
    const onDc1 = await runOnce(await config(dc1.ldapsUrl, []), 'preview', { changedSince: a.server });
    expect([onDc1.full, onDc1.fullReason]).toEqual([false, undefined]);
  });

  it('uses the first DC that answers: a refused connection fails over, in order, and the plan is the same', async () => {
    const viaDc2 = await front(dc2);
    // A port nobody listens on: connection refused.
    const down = 'ldaps://127.0.0.1:1';
    const report = await runOnce(await config(down, [{ url: viaDc2.url, serverName: dc1.dcHostname }, { url: dc1.ldapsUrl }]), 'preview');
    expect(report.server?.url).toBe(viaDc2.url);
    expect(report.failedOver).toEqual([{ url: down, reason: 'ConnectionRefused', message: expect.stringContaining(down) }]);
    expect(viaDc2.connections()).toBe(1);
    const direct = await runOnce(await config(dc2Url, []), 'preview');
    expect(report.plan.rows).toEqual(direct.plan.rows);
  });

  it('each failover DC is verified against its own serverName: a certificate that does not name it stops the run (TLSError)', async () => {
    const viaDc2 = await front(dc2);
    const err = await runOnce(await config('ldaps://127.0.0.1:1', [{ url: viaDc2.url, serverName: 'dc9.corp.example.com' }, { url: dc1.ldapsUrl }]), 'preview').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAdSyncError(err) && [err.reason, err.message]).toEqual(['TLSError', expect.stringContaining(viaDc2.url)]);
  });

  it('a DC that drops the connection in the middle of the read fails over, and the next DC reads everything again', async () => {
    // Cuts every search for users: the session's own reconnect fails too.
    const cutting = await front(dc2, (chunk) => chunk.includes('displayName'), Infinity);
    const report = await runOnce(await config(cutting.url, [{ url: dc1.ldapsUrl }]), 'preview');
    expect(cutting.cuts()).toBe(2);
    expect(report.failedOver?.map((f) => [f.url, f.reason])).toEqual([[cutting.url, 'ConnectionLost']]);
    expect(report.server?.url).toBe(dc1.ldapsUrl);
    const direct = await runOnce(await config(dc1.ldapsUrl, []), 'preview');
    expect(report.plan.summary).toEqual(direct.plan.summary);
  });

  it('never fails over on an answer: a wrong password is tried against the first DC only', async () => {
    const first = await front(dc1);
    const second = await front(dc2);
    const cfg = await config(first.url, [{ url: second.url }], { bindPassword: 'wrong-Passw0rd!' });
    const err = await runOnce(cfg, 'preview').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAdSyncError(err) && err.reason).toBe('InvalidCredentials');
    expect(first.connections()).toBe(1);
    expect(second.connections()).toBe(0);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('wrong-Passw0rd!');
  });

  it('test-connection checks each DC and reports one row per DC', async () => {
    const down = 'ldaps://127.0.0.1:1';
    const cfg = await config(dc1.ldapsUrl, [{ url: down }, { url: dc2Url, serverName: dc1.dcHostname }]);
    const client = createTruetaskClient({ url: sim.url, token: TOKEN });
    try {
      const check = await testConnection(cfg, { logger: silentLogger(), truetask: client });
      expect(check.directory).toEqual({ ok: true, url: dc1.ldapsUrl });
      expect(check.failover.map((c) => (c.ok ? [c.url, 'OK'] : [c.url, c.error.reason]))).toEqual([
        [down, 'ConnectionRefused'],
        [dc2Url, 'OK'],
      ]);
    } finally {
      await client.close();
    }
  });

  it('test-connection with a wrong password: the first DC refuses the bind and no other DC is sent it', async () => {
    const second = await front(dc2);
    const cfg = await config(dc1.ldapsUrl, [{ url: second.url }], { bindPassword: 'wrong-Passw0rd!' });
    const client = createTruetaskClient({ url: sim.url, token: TOKEN });
    try {
      const check = await testConnection(cfg, { logger: silentLogger(), truetask: client });
      expect(check.directory.ok ? 'OK' : check.directory.error.reason).toBe('InvalidCredentials');
      const [f] = check.failover;
      expect(f && !f.ok && [f.url, f.error.reason, f.error.message]).toEqual([second.url, 'InvalidCredentials', expect.stringMatching(/^Not checked: InvalidCredentials from an earlier DC/)]);
      expect(second.connections()).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('when the first DC is down the run uses the next; when none answers the error names each', async () => {
    await dc2.stop();
    const report = await runOnce(await config(dc2.ldapsUrl, [{ url: dc1.ldapsUrl }]), 'preview');
    expect(report.server?.url).toBe(dc1.ldapsUrl);
    expect(report.failedOver?.map((f) => [f.url, f.reason])).toEqual([[dc2.ldapsUrl, 'ConnectionRefused']]);

    const err = await runOnce(await config(dc2.ldapsUrl, [{ url: 'ldaps://127.0.0.1:1' }]), 'preview').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAdSyncError(err) && err.reason).toBe('ConnectionRefused');
    expect(isAdSyncError(err) && err.message).toBe(`No domain controller answered: ${dc2.ldapsUrl} (ConnectionRefused), ldaps://127.0.0.1:1 (ConnectionRefused)`);
  });
});

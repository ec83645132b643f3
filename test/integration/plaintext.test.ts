// Clear text only on purpose, against a real Samba AD DC that accepts simple binds on
// plain ldap:// (`ldap server require strong auth = no`): without spec.ldap.insecurePlaintext
// (or spec.truetask.insecurePlaintext for http://) not one byte leaves the process: a
// listener that records what it receives gets nothing. With the opt-in the bind works
// against the real DC and the CLI warns on stderr.
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILOVER_PLAINTEXT_MESSAGE, LDAP_PLAINTEXT_MESSAGE, TRUETASK_PLAINTEXT_MESSAGE } from '../../src/api/rules.ts';
import { isAdSyncError } from '../../src/errors.ts';
import { DirectorySession } from '../../src/ldap/session.ts';
import { startTruetaskSimulator, type TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { adsync, tempFile } from '../support/cli.ts';
import { waitFor } from '../support/kube-wait.ts';
import { startSambaAD, type SambaAD } from '../support/samba.ts';
import { adsyncObject, secretObjects, TOKEN, TOKEN_NAME, type ScenarioOptions } from '../support/scenario.ts';

interface Recorder {
  url(scheme: string): string;
  connections: number;
  bytes: Buffer[];
  received(): Buffer;
  close(): Promise<void>;
}

/** A TCP listener on loopback that accepts, records every byte and never answers. */
async function recorder(): Promise<Recorder> {
  const sockets = new Set<Socket>();
  const rec = {
    connections: 0,
    bytes: [] as Buffer[],
  };
  const server: Server = createServer((s) => {
    rec.connections++;
    sockets.add(s);
    s.on('data', (b: Buffer) => rec.bytes.push(b));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(rec, {
    url: (scheme: string) => `${scheme}://127.0.0.1:${port}`,
    received: () => Buffer.concat(rec.bytes),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

let dc: SambaAD;
let sim: TruetaskSimulator;
let rec: Recorder;

beforeAll(async () => {
  [dc, sim, rec] = await Promise.all([
    startSambaAD({ requireStrongAuth: false }),
    startTruetaskSimulator({ tokens: [{ name: TOKEN_NAME, token: TOKEN, scope: 'read_write' }] }),
    recorder(),
  ]);
});

afterAll(async () => {
  await rec?.close();
  await sim?.close();
  await dc?.stop();
});

/** The CLI's -f file; `truetask` replaces spec.truetask as given (no opt-in added). */
async function file(o: Partial<ScenarioOptions> & { truetask?: Record<string, unknown> }): Promise<string> {
  const obj = adsyncObject({ ad: dc, truetaskUrl: sim.url, ...o }) as { spec: Record<string, unknown> };
  if (o.truetask) obj.spec.truetask = o.truetask;
  return tempFile([obj, ...secretObjects({ ad: dc, truetaskUrl: sim.url })].map((d) => stringify(d)).join('---\n'));
}

const quiet = pino({ level: 'silent' });

describe('without insecurePlaintext nothing leaves in clear text', () => {
  it.each([
    ['ldap:// without startTLS', () => ({ ldap: { url: rec.url('ldap'), tls: undefined } }), 'spec.ldap.url', LDAP_PLAINTEXT_MESSAGE],
    ['an ldap:// failover DC behind an ldaps:// one that does not answer', () => ({ ldap: { url: 'ldaps://127.0.0.1:1', failover: [{ url: rec.url('ldap') }] } }), 'spec.ldap.failover', FAILOVER_PLAINTEXT_MESSAGE],
    ['an http:// Truetask URL', () => ({ truetask: { url: rec.url('http'), tokenSecretRef: { name: 'truetask-api' } } }), 'spec.truetask.url', TRUETASK_PLAINTEXT_MESSAGE],
  ])('the CLI refuses %s (exit 2, naming the fix); the listener receives nothing', async (_what, over, field, message) => {
    for (const command of ['preview', 'test-connection']) {
      const r = await adsync([command, '-f', await file(over())]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${field.replace(/^spec\./, '')}: ${message}`);
      expect(r.stderr).toMatch(/ldaps:\/\/HOST:636|https:\/\/HOST/);
    }
    expect(rec.connections).toBe(0);
    expect(rec.received().length).toBe(0);
  });

  it('the engine refuses a hand-built ldap:// config with InvalidSpec before connecting', async () => {
    const err = await DirectorySession.open(
      { url: rec.url('ldap'), bindDN: dc.bindUPN, bindPassword: dc.bindPassword, startTLS: false, tls: { insecureSkipVerify: false }, timeoutSeconds: 5 },
      quiet,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAdSyncError(err) && err.reason).toBe('InvalidSpec');
    expect((err as Error).message).toContain(LDAP_PLAINTEXT_MESSAGE);
    expect(rec.connections).toBe(0);
    expect(rec.received().length).toBe(0);
  });
});

describe('with insecurePlaintext', () => {
  it('binds in clear text to the real DC, previews, and the CLI warns on stderr', async () => {
    const r = await adsync(['preview', '-o', 'json', '-f', await file({ ldap: { url: dc.ldapUrl, tls: undefined, insecurePlaintext: true } })]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).summary.directoryUsers).toBe(267);
    expect(r.warnings).toEqual([
      expect.stringMatching(/^adsync: warning: InsecurePlaintext: the bind password and directory data are sent to the domain controller in clear text .*use ldaps:\/\/HOST:636 or startTLS: true$/),
      expect.stringMatching(/^adsync: warning: InsecurePlaintext: the Truetask API token .* in clear text .*use an https:\/\/ URL$/),
    ]);
    expect(r.rawStderr).not.toContain(dc.bindPassword);
  });

  it('the listener can see a bind: the same session with the opt-in sends the bind DN in clear text', async () => {
    const opened = DirectorySession.open(
      { url: rec.url('ldap'), bindDN: dc.bindUPN, bindPassword: dc.bindPassword, startTLS: false, insecurePlaintext: true, tls: { insecureSkipVerify: false }, timeoutSeconds: 1 },
      quiet,
    ).catch((e: unknown) => e);
    await waitFor('the bind request at the listener', async () => rec.received().includes(dc.bindUPN) || undefined, { timeoutMs: 10_000, intervalMs: 20 });
    const err = await opened;
    expect(isAdSyncError(err) && err.reason).toBe('Timeout');
  });
});

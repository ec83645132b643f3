/**
 * The client against an HTTPS simulator whose certificate a throwaway CA issued
 * (made here with the openssl CLI): verified by default, trusted with `ca`,
 * or explicitly not verified.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdSyncError } from '../../src/errors.ts';
import type { TruetaskSimulator } from '../../src/truetask-sim/server.ts';
import { RW_TOKEN, client, errorTexts, startSim } from './helpers.ts';

let dir: string;
let ca: string;
let otherCa: string;
let sim: TruetaskSimulator;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'adsync-tls-'));
  makeCa('test-ca');
  makeCa('other-ca');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'test-ca.crt', '-CAkey', 'test-ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
  ca = readFileSync(join(dir, 'test-ca.crt'), 'utf8');
  otherCa = readFileSync(join(dir, 'other-ca.crt'), 'utf8');
  sim = await startSim({
    tls: { key: readFileSync(join(dir, 'server.key'), 'utf8'), cert: readFileSync(join(dir, 'server.crt'), 'utf8') },
  });
});

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS', () => {
  it('serves https', () => {
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each([
    ['without a CA', undefined],
    ['with an unrelated CA', () => otherCa],
  ])('fails %s: TruetaskTLSError (fix-config), not retried, no token in it', async (_what, pick) => {
    const codes: string[] = [];
    const c = client(sim, { ...(pick ? { ca: pick() } : {}), onRequest: (_m, code) => codes.push(code) });
    try {
      let caught: unknown;
      try {
        await c.checkAccess();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(AdSyncError);
      expect(caught).toMatchObject({ reason: 'TruetaskTLSError', next: 'fix-config' });
      expect((caught as AdSyncError).hint).toMatch(/caSecretRef/);
      expect(codes).toEqual(['error']);
      expect(await errorTexts(caught)).not.toContain(RW_TOKEN);
    } finally {
      await c.close();
    }
  });

  it('succeeds with the issuing CA', async () => {
    const c = client(sim, { ca });
    try {
      expect(await c.checkAccess()).toEqual({ totalUsers: 1 });
    } finally {
      await c.close();
    }
  });

  it('succeeds with insecureSkipVerify', async () => {
    const c = client(sim, { insecureSkipVerify: true });
    try {
      expect(await c.checkAccess()).toEqual({ totalUsers: 1 });
    } finally {
      await c.close();
    }
  });

  it('talking http to an https server is a clear failure, not a hang', async () => {
    const c = client({ url: sim.url.replace('https:', 'http:') }, { retry: { maxAttempts: 2 } });
    try {
      await expect(c.checkAccess()).rejects.toBeInstanceOf(AdSyncError);
    } finally {
      await c.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { directoryError } from '../../src/errors.ts';
import { serversOf, withFailover } from '../../src/ldap/failover.ts';
import { formatGuid } from '../../src/ldap/server-identity.ts';
import type { DirectorySession, LdapConnectionConfig } from '../../src/ldap/session.ts';
import { silentLogger } from '../../src/log.ts';
import { failedOverMessage } from '../../src/controller/server-status.ts';

const cfg: LdapConnectionConfig = {
  url: 'ldaps://10.0.10.14:636',
  bindDN: 'svc@corp.example.com',
  bindPassword: 'secret-Passw0rd',
  startTLS: false,
  tls: { serverName: 'dc1.corp.example.com', insecureSkipVerify: false },
  timeoutSeconds: 30,
  failover: [{ url: 'ldaps://10.0.10.15:636', serverName: 'dc2.corp.example.com' }, { url: 'ldaps://dc3.corp.example.com:636' }],
};

/** A fake DC per URL: what opening it does. */
function opener(behaviour: Record<string, 'ok' | Error>) {
  const opened: string[] = [];
  const open = async (c: LdapConnectionConfig) => {
    opened.push(c.url);
    const b = behaviour[c.url];
    if (b !== 'ok') throw b ?? new Error(`unexpected ${c.url}`);
    return { url: c.url, close: async () => undefined } as unknown as DirectorySession;
  };
  return { open, opened };
}

const refused = (url: string) => directoryError('ConnectionRefused', 'retry', `Connection to ${url} refused`);

describe('several domain controllers', () => {
  it('tries spec.ldap.url, then each failover DC, each with its own serverName (default: tls.serverName)', () => {
    expect(serversOf(cfg).map((s) => [s.url, s.tls.serverName, s.bindDN, 'failover' in s])).toEqual([
      ['ldaps://10.0.10.14:636', 'dc1.corp.example.com', 'svc@corp.example.com', false],
      ['ldaps://10.0.10.15:636', 'dc2.corp.example.com', 'svc@corp.example.com', false],
      ['ldaps://dc3.corp.example.com:636', 'dc1.corp.example.com', 'svc@corp.example.com', false],
    ]);
  });

  it('moves on when a DC does not answer and reports which ones did not', async () => {
    const { open, opened } = opener({ 'ldaps://10.0.10.14:636': refused('ldaps://10.0.10.14:636'), 'ldaps://10.0.10.15:636': 'ok' });
    const r = await withFailover(cfg, silentLogger(), open, async (s) => s.url);
    expect(r).toEqual({ value: 'ldaps://10.0.10.15:636', url: 'ldaps://10.0.10.15:636', failedOver: [{ url: 'ldaps://10.0.10.14:636', reason: 'ConnectionRefused', message: 'Connection to ldaps://10.0.10.14:636 refused' }] });
    expect(opened).toEqual(['ldaps://10.0.10.14:636', 'ldaps://10.0.10.15:636']);
  });

  it.each(['InvalidCredentials', 'AccountLocked', 'TLSError', 'NoSuchBaseDN', 'SearchTimeLimitExceeded'] as const)('stops at an answer (%s): no other DC is asked', async (reason) => {
    const { open, opened } = opener({ 'ldaps://10.0.10.14:636': directoryError(reason, 'fix-config', 'refused'), 'ldaps://10.0.10.15:636': 'ok' });
    await expect(withFailover(cfg, silentLogger(), open, async () => 1)).rejects.toMatchObject({ reason });
    expect(opened).toEqual(['ldaps://10.0.10.14:636']);
  });

  it('a DC that stops answering during the read is left for the next, which runs the read again', async () => {
    const { open } = opener({ 'ldaps://10.0.10.14:636': 'ok', 'ldaps://10.0.10.15:636': 'ok' });
    const reads: string[] = [];
    const r = await withFailover(cfg, silentLogger(), open, async (s) => {
      reads.push(s.url);
      if (s.url === 'ldaps://10.0.10.14:636') throw directoryError('ConnectionLost', 'retry', 'dropped');
      return 'read';
    });
    expect(reads).toEqual(['ldaps://10.0.10.14:636', 'ldaps://10.0.10.15:636']);
    expect(r.failedOver.map((f) => f.reason)).toEqual(['ConnectionLost']);
  });

  it('when no DC answers, the error names each one and keeps the reason', async () => {
    const all = Object.fromEntries(serversOf(cfg).map((s) => [s.url, refused(s.url)]));
    const o = opener(all);
    await expect(withFailover(cfg, silentLogger(), o.open, async () => 1)).rejects.toMatchObject({
      reason: 'ConnectionRefused',
      next: 'retry',
      message: 'No domain controller answered: ldaps://10.0.10.14:636 (ConnectionRefused), ldaps://10.0.10.15:636 (ConnectionRefused), ldaps://dc3.corp.example.com:636 (ConnectionRefused)',
    });
  });

  it('a single DC fails with its own error, unchanged', async () => {
    const { failover: _f, ...one } = cfg;
    const err = refused(one.url);
    const { open } = opener({ [one.url]: err });
    await expect(withFailover(one, silentLogger(), open, async () => 1)).rejects.toBe(err);
  });

  it('the FailedOver event names the DCs that did not answer and the one used', () => {
    expect(failedOverMessage({ failedOver: [] })).toBeUndefined();
    expect(
      failedOverMessage({
        failedOver: [{ url: 'ldaps://10.0.10.14:636', reason: 'Timeout', message: 'x' }],
        server: { url: 'ldaps://10.0.10.15:636', dsServiceName: 'CN=NTDS Settings,CN=DC2', invocationId: 'g', highestCommittedUSN: 1 },
      }),
    ).toBe('ldaps://10.0.10.14:636 (Timeout) did not answer; the run used ldaps://10.0.10.15:636. Check that AD DS runs on that DC and that the network path to it is open');
  });

  it('formats a GUID as AD shows it (first three fields little-endian)', () => {
    const bytes = Buffer.from('33221100554477668899aabbccddeeff', 'hex');
    expect(formatGuid(bytes)).toBe('00112233-4455-6677-8899-aabbccddeeff');
    expect(() => formatGuid(Buffer.alloc(15))).toThrow(/16 bytes/);
  });
});

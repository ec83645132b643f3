// An LDAPS proxy in front of the test DC that can cut the connection when a
// chosen search request goes through. It terminates TLS with the DC's own key
// and certificate (the harness runs as root next to the DC's files), so clients
// verify it exactly as they verify the DC (its CA, its name), and it sees the
// LDAP messages in clear.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { connect as tlsConnect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { SambaADInfo } from './samba.ts';

export interface CuttingProxy {
  /** ldaps://127.0.0.1:PORT */
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Requests that matched and were cut. */
  cuts(): number;
  /** How many more matching requests to cut (Infinity: all of them; 0: none). */
  setCuts(n: number): void;
  close(): Promise<void>;
}

/**
 * `matches` sees each chunk the client sends (one LDAP message per write, in
 * clear). When it matches and cuts remain, both sides are closed before the
 * request reaches the DC.
 */
export async function startCuttingProxy(ad: SambaADInfo, matches: (chunk: Buffer) => boolean, cuts = 0, opts: { upstream?: SambaADInfo } = {}): Promise<CuttingProxy> {
  // `upstream`: forward to another DC while showing `ad`'s certificate (two test DCs,
  // each with its own CA, seen by clients as DCs of one CA, as in a real domain).
  const up = opts.upstream ?? ad;
  const tlsDir = dirname(ad.caPath);
  const [key, cert] = await Promise.all([readFile(join(tlsDir, 'key.pem')), readFile(join(tlsDir, 'cert.pem'))]);
  let remaining = cuts;
  let accepted = 0;
  let cut = 0;
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer({ key, cert }, (client) => {
    accepted++;
    sockets.add(client);
    const upstream = tlsConnect({ host: up.ip, port: 636, ca: [up.caPem], servername: up.dcHostname });
    sockets.add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (remaining > 0 && matches(chunk)) {
        remaining--;
        cut++;
        closeBoth();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on('error', closeBoth);
      s.on('close', () => {
        sockets.delete(s);
        closeBoth();
      });
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `ldaps://127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => accepted,
    cuts: () => cut,
    setCuts: (n) => {
      remaining = n;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** The disabled-accounts search of the leavers report: the bit-AND rule, without the user search's name attributes or a memberOf clause. */
export function isDisabledAccountsSearch(chunk: Buffer): boolean {
  return chunk.includes('1.2.840.113556.1.4.803') && !chunk.includes('displayName') && !chunk.includes('memberOf');
}

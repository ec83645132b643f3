// The samba process: started (optionally inside a network namespace), awaited
// until it serves an LDAPS bind, stopped with its process group.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Client } from 'ldapts';
import type { CorpFixture } from './fixture.ts';
import { writeSmbConf } from './conf.ts';
import { toolEnv } from './host.ts';

export interface SambaProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  startMs: number;
  caPem: string;
  caPath: string;
  dcHostname: string;
  stop(): Promise<void>;
}

function logTail(path: string, lines = 30): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = statSync(path).size;
      const len = Math.min(size, 16_384);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

async function tryBind(url: string, ca: string, servername: string, dn: string, password: string): Promise<void> {
  const client = new Client({ url, connectTimeout: 2_000, timeout: 5_000, tlsOptions: { ca: [ca], servername } });
  try {
    await client.bind(dn, password);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/**
 * Starts samba and waits for an LDAPS bind at `ip` (127.0.0.N). With `inNetns`,
 * samba runs inside that network namespace and serves only its address there;
 * `ip` then reaches it through relays (startSambaAD sets them up first).
 */
export async function startProcess(fx: CorpFixture, dcDir: string, ip: string, logPath: string, startTimeoutMs: number, requireStrongAuth = true, inNetns?: { netns: string; ip: string }): Promise<SambaProcess> {
  const conf = await writeSmbConf(fx, dcDir, inNetns?.ip ?? ip, requireStrongAuth);
  await mkdir(dirname(logPath), { recursive: true });
  const logFd = openSync(logPath, 'a');
  const t0 = performance.now();
  // stdin is a pipe we never write: samba -i exits when it closes (our exit).
  const sambaArgs = ['-s', conf, '-i', '-M', 'single', '--debug-stdout'];
  // nsenter enters the namespace and execs samba (no fork): the child is samba.
  const [cmd, args] = inNetns ? ['nsenter', [`--net=/run/netns/${inNetns.netns}`, 'samba', ...sambaArgs]] : ['samba', sambaArgs];
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['pipe', logFd, logFd],
    env: toolEnv(),
  });
  closeSync(logFd);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolvePromise(exit);
    });
    child.once('error', (err) => {
      spawnError = err;
      exit ??= { code: null, signal: null };
      resolvePromise(exit);
    });
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) {
      await exited;
      return;
    }
    stopped = true;
    if (exit === undefined && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    child.stdin?.destroy();
  };

  const caPath = join(dcDir, 'private', 'tls', 'ca.pem');
  const certPath = join(dcDir, 'private', 'tls', 'cert.pem');
  const deadline = Date.now() + startTimeoutMs;
  let lastErr: unknown;
  try {
    for (;;) {
      if (exit !== undefined) {
        throw new Error(`samba exited during start-up (code ${exit.code}, signal ${exit.signal})${spawnError ? `: ${spawnError.message}` : ''}\n--- ${logPath} (tail)\n${logTail(logPath)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`Samba AD did not accept an LDAPS bind within ${startTimeoutMs} ms (last error: ${String(lastErr)})\n--- ${logPath} (tail)\n${logTail(logPath)}`);
      }
      if (existsSync(caPath) && existsSync(certPath)) {
        try {
          const caPem = await readFile(caPath, 'utf8');
          const dcHostname = certHostname(await readFile(certPath, 'utf8')) ?? fx.dcHostname;
          await tryBind(`ldaps://${ip}:636`, caPem, dcHostname, fx.bindAccount.dn, fx.bindAccount.password ?? '');
          return { child, exited, startMs: performance.now() - t0, caPem, caPath, dcHostname, stop };
        } catch (err) {
          lastErr = err;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The DNS name a certificate is for (first DNS SAN, else CN), lower-cased. */
function certHostname(pem: string): string | undefined {
  const cert = new X509Certificate(pem);
  const san = cert.subjectAltName?.split(',').map((s) => s.trim()).find((s) => s.startsWith('DNS:'));
  if (san) return san.slice(4).toLowerCase();
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn?.toLowerCase();
}

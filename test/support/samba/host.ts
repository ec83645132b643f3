// The host side of a test DC: the Samba tools, loopback aliases 127.0.0.N and their locks.
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';

export const INSTALL_HINT = 'run `sudo bash scripts/samba/install.sh` (Debian/Ubuntu: samba samba-dsdb-modules samba-vfs-modules samba-ad-provision ldb-tools ldap-utils)';

// ---------------------------------------------------------------------------
// processes

interface RunResult {
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, env: toolEnv() }, (err, stdout, stderr) => {
      if (err) {
        const out = `${stdout}\n${stderr}`.trim().split('\n').slice(-25).join('\n');
        reject(new Error(`${cmd} ${args.filter((a) => !a.startsWith('--adminpass')).join(' ')} failed: ${err.message.split('\n')[0]}\n${out}`));
      } else resolvePromise({ stdout, stderr });
    });
  });
}

export function toolEnv(): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(delimiter);
  for (const p of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (!path.includes(p)) path.push(p);
  return { ...process.env, PATH: path.join(delimiter), LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}

function which(cmd: string): string | undefined {
  for (const d of (toolEnv().PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

let prereqsChecked = false;

/** Throws a message saying how to install what is missing. */
export function checkPrerequisites(): void {
  if (prereqsChecked) return;
  const missing = ['samba', 'samba-tool', 'ldbmodify', 'ip'].filter((c) => !which(c));
  if (missing.length > 0) throw new Error(`Samba AD test DC: missing ${missing.join(', ')}; ${INSTALL_HINT}`);
  if (existsSync('/usr/share/samba/setup') && !existsSync('/usr/share/samba/setup/ad-schema')) {
    throw new Error(`Samba AD test DC: the AD schema files are missing (package samba-ad-provision); ${INSTALL_HINT}`);
  }
  if (process.getuid?.() !== 0) throw new Error('Samba AD test DC: must run as root (binds ports 389/636 and adds a 127.0.0.N alias to lo)');
  try {
    if (/^(passwd|group):.*\bwinbind\b/m.test(readFileSync('/etc/nsswitch.conf', 'utf8'))) {
      console.error('[samba] warning: /etc/nsswitch.conf lists winbind; provisioning will be slow (scripts/samba/install.sh removes it)');
    }
  } catch {
    // no nsswitch.conf
  }
  prereqsChecked = true;
}

let sambaVersion: string | undefined;
export async function getSambaVersion(): Promise<string> {
  sambaVersion ??= (await run('samba', ['--version'])).stdout.trim();
  return sambaVersion;
}

// ---------------------------------------------------------------------------
// IP alias + lock

export const LOCK_DIR = join(tmpdir(), 'truetask-adsync-samba-locks');

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes 127.0.0.N for this process; false when a live process holds it. */
export function tryLockIp(ip: string): boolean {
  const path = join(LOCK_DIR, `${ip}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isFinite(pid) && pid > 0 && pidAlive(pid)) return false;
      try {
        unlinkSync(path);
      } catch {
        // raced with another taker
      }
    }
  }
  return false;
}

export function unlockIp(ip: string): void {
  const path = join(LOCK_DIR, `${ip}.lock`);
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
  } catch {
    // already gone
  }
}

function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const srv = createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen({ host: ip, port, exclusive: true }, () => srv.close(() => resolvePromise(true)));
  });
}

export async function pickIp(requested: string | undefined): Promise<string> {
  await mkdir(LOCK_DIR, { recursive: true });
  const candidates = requested ? [requested] : Array.from({ length: 231 }, (_, i) => `127.0.0.${i + 20}`);
  for (const ip of candidates) {
    if (!tryLockIp(ip)) continue;
    if ((await portFree(ip, 389)) && (await portFree(ip, 636))) return ip;
    unlockIp(ip);
  }
  throw new Error(requested ? `Samba AD test DC: ${requested} is in use (ports 389/636 or locked by another test run)` : 'Samba AD test DC: no free 127.0.0.N in 20..250');
}

function ipOnLo(ip: string): boolean {
  return Object.values(networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === ip));
}

export async function ensureIpAlias(ip: string): Promise<void> {
  if (ipOnLo(ip)) return;
  try {
    await run('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
  } catch (err) {
    if (!/exists|already assigned/i.test(String(err))) throw err;
  }
}

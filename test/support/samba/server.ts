// Provisioning, the cached template DC, the samba process, and startSambaAD.
import { spawn, type ChildProcess } from 'node:child_process';
import type { BindAccount, SambaAD, SambaADInfo, SambaTimings, StartSambaOptions, TemplateBuild } from './types.ts';
import { Client } from 'ldapts';
import { type CorpFixture, DEFAULT_FIXTURE, loadFixture } from './fixture.ts';
import { INSTALL_HINT, checkPrerequisites, ensureIpAlias, getSambaVersion, pickIp, pidAlive, run, toolEnv, unlockIp } from './host.ts';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureLdif } from './ldif.ts';
import { homedir, tmpdir } from 'node:os';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';

/** Bump to invalidate every cached template. */
const TEMPLATE_FORMAT = 4;
/** Generated users per ldbmodify process (one transaction each; progress is logged per chunk). */
const GENERATED_CHUNK = 10_000;

// ---------------------------------------------------------------------------
// DC directory

function smbConf(fx: CorpFixture, dcDir: string, ip: string, requireStrongAuth = true): string {
  const netbios = fx.dcHostname.split('.')[0]?.toUpperCase() ?? 'DC1';
  return [
    '# Written by test/support/samba.ts for one run; all paths are inside this dir.',
    '[global]',
    `\tnetbios name = ${netbios}`,
    `\trealm = ${fx.realm}`,
    `\tworkgroup = ${fx.netbiosDomain}`,
    '\tserver role = active directory domain controller',
    '\tserver services = ldap',
    `\tinterfaces = ${ip}`,
    '\tbind interfaces only = yes',
    `\tprivate dir = ${dcDir}/private`,
    `\tlock directory = ${dcDir}/lock`,
    `\tstate directory = ${dcDir}/state`,
    `\tcache directory = ${dcDir}/cache`,
    `\tbinddns dir = ${dcDir}/bind-dns`,
    `\tpid directory = ${dcDir}/run`,
    `\tncalrpc dir = ${dcDir}/run/ncalrpc`,
    `\twinbindd socket directory = ${dcDir}/run/winbindd`,
    `\tldap server require strong auth = ${requireStrongAuth ? 'yes' : 'no'}`,
    '\ttls enabled = yes',
    '\tlog level = 1',
    '',
  ].join('\n');
}

async function writeSmbConf(fx: CorpFixture, dcDir: string, ip: string, requireStrongAuth = true): Promise<string> {
  for (const d of ['etc', 'lock', 'state', 'cache', 'run']) await mkdir(join(dcDir, d), { recursive: true });
  const path = join(dcDir, 'etc', 'smb.conf');
  await writeFile(path, smbConf(fx, dcDir, ip, requireStrongAuth));
  return path;
}

interface BuildTimings {
  provisionMs: number;
  seedMs: number;
  seedEntries: number;
}

/** samba-tool domain provision + fixture seed into dcDir (which must not exist). */
async function provisionAndSeed(fx: CorpFixture, dcDir: string, ip: string, log: (l: string) => void): Promise<BuildTimings> {
  const t0 = performance.now();
  const netbios = fx.dcHostname.split('.')[0] ?? 'dc1';
  try {
    await run('samba-tool', [
      'domain', 'provision',
      '--server-role=dc',
      '--dns-backend=NONE',
      `--realm=${fx.realm}`,
      `--domain=${fx.netbiosDomain}`,
      `--host-name=${netbios.toLowerCase()}`,
      `--adminpass=${fx.administratorPassword}`,
      `--targetdir=${dcDir}`,
      `--option=interfaces=${ip}`,
      '--option=bind interfaces only=yes',
    ], { timeoutMs: 180_000 });
  } catch (err) {
    throw new Error(`${String(err instanceof Error ? err.message : err)}\nHint: ${INSTALL_HINT}`, { cause: err });
  }
  const provisionMs = performance.now() - t0;
  log(`provisioned ${fx.realm} in ${Math.round(provisionMs)} ms`);
  const conf = await writeSmbConf(fx, dcDir, ip);
  const t1 = performance.now();
  const ldif = fixtureLdif(fx);
  const ldifPath = join(dcDir, 'seed.ldif');
  // One process and one transaction per file, without fsync and without ldb's
  // per-operation sub-transactions (batch_mode): what makes 100,000 users take
  // minutes, not hours. Generated users come with their objectGUID (relax).
  const modify = async (text: string, relax: boolean) => {
    if (text === '') return;
    await writeFile(ldifPath, text, { mode: 0o600 });
    const args = [`--configfile=${conf}`, '--nosync', '-o', 'batch_mode', ...(relax ? ['--controls=relax:0'] : []), '-H', join(dcDir, 'private', 'sam.ldb'), ldifPath];
    await run('ldbmodify', args, { timeoutMs: 60 * 60_000 });
  };
  await modify(ldif.fixture, false);
  let done = 0;
  for (const chunk of ldif.generatedChunks(GENERATED_CHUNK)) {
    await modify(chunk, true);
    done += (chunk.match(/^changetype: add$/gm) ?? []).length;
    log(`seeded ${done} generated users (${Math.round(performance.now() - t1)} ms)`);
  }
  await modify(ldif.memberships, false);
  await rm(ldifPath, { force: true });
  const seedMs = performance.now() - t1;
  log(`seeded ${ldif.entries} entries in ${Math.round(seedMs)} ms (${Math.round(ldif.entries / (seedMs / 1000))}/s)`);
  return { provisionMs, seedMs, seedEntries: ldif.entries };
}

function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'truetask-adsync', 'samba');
}

async function templateKey(fx: CorpFixture, extra: number): Promise<string> {
  const h = createHash('sha256');
  h.update(`format ${TEMPLATE_FORMAT}\n`);
  h.update(await readFile(fx.path));
  h.update(`\nextra ${extra}\n`);
  // What builds the template: this file, the fixture loader and the LDIF it seeds.
  for (const f of ['./server.ts', './fixture.ts', './ldif.ts']) h.update(await readFile(fileURLToPath(new URL(f, import.meta.url))));
  h.update(await getSambaVersion());
  return h.digest('hex').slice(0, 16);
}

/** Returns the cached template's DC dir, building it (and verifying it starts) when missing. */
async function ensureTemplate(fx: CorpFixture, extra: number, ip: string, opts: Required<Pick<StartSambaOptions, 'startTimeoutMs' | 'log'>>): Promise<{ dir: string; build?: TemplateBuild; cached?: TemplateBuild }> {
  const root = cacheRoot();
  const key = await templateKey(fx, extra);
  const final = join(root, key);
  if (existsSync(join(final, 'dc', 'private', 'tls', 'ca.pem'))) {
    const cached = await readFile(join(final, 'build.json'), 'utf8').then((t) => JSON.parse(t) as TemplateBuild, () => undefined);
    return cached ? { dir: join(final, 'dc'), cached } : { dir: join(final, 'dc') };
  }
  await mkdir(root, { recursive: true });
  const t0 = performance.now();
  opts.log(`building Samba AD template ${key} in ${root}`);
  const build = await mkdtemp(join(root, 'build-'));
  try {
    const dcDir = join(build, 'dc');
    const timings = await provisionAndSeed(fx, dcDir, ip, opts.log);
    // One start: generates the TLS keys (4096-bit RSA, seconds) once for all
    // copies, and proves the template serves binds before it is cached.
    const proc = await startProcess(fx, dcDir, ip, join(build, 'samba.log'), opts.startTimeoutMs);
    await proc.stop();
    for (const d of ['run', 'lock', 'cache']) await rm(join(dcDir, d), { recursive: true, force: true });
    await rm(join(build, 'samba.log'), { force: true });
    const info: TemplateBuild = { ...timings, templateMs: performance.now() - t0, builtAt: new Date().toISOString() };
    await writeFile(join(build, 'build.json'), `${JSON.stringify(info, null, 2)}\n`);
    try {
      await rename(build, final);
    } catch (err) {
      // Another process cached the same key first: use theirs.
      if (!existsSync(join(final, 'dc', 'private', 'tls', 'ca.pem'))) throw err;
      await rm(build, { recursive: true, force: true });
    }
    await pruneTemplates(root, key);
    return { dir: join(final, 'dc'), build: info };
  } catch (err) {
    await rm(build, { recursive: true, force: true });
    throw err;
  }
}

/** Removes templates of other keys (and abandoned builds) older than a day. */
async function pruneTemplates(root: string, keep: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(root)) {
    if (name === keep) continue;
    const p = join(root, name);
    try {
      if ((await stat(p)).mtimeMs < dayAgo) await rm(p, { recursive: true, force: true });
    } catch {
      // raced
    }
  }
}

// ---------------------------------------------------------------------------
// samba process

interface SambaProcess {
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

async function startProcess(fx: CorpFixture, dcDir: string, ip: string, logPath: string, startTimeoutMs: number, requireStrongAuth = true): Promise<SambaProcess> {
  const conf = await writeSmbConf(fx, dcDir, ip, requireStrongAuth);
  await mkdir(dirname(logPath), { recursive: true });
  const logFd = openSync(logPath, 'a');
  const t0 = performance.now();
  // stdin is a pipe we never write: samba -i exits when it closes (our exit).
  const child = spawn('samba', ['-s', conf, '-i', '-M', 'single', '--debug-stdout'], {
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

// ---------------------------------------------------------------------------
// startSambaAD

const RUN_DIR_PREFIX = 'truetask-adsync-samba-';

/** Run dirs of processes that died without stop() (samba itself exits with them). */
async function removeAbandonedRunDirs(): Promise<void> {
  const root = tmpdir();
  for (const name of await readdir(root)) {
    if (!name.startsWith(RUN_DIR_PREFIX) || name === 'truetask-adsync-samba-locks') continue;
    const p = join(root, name);
    try {
      const pid = Number.parseInt(await readFile(join(p, 'owner.pid'), 'utf8'), 10);
      if (Number.isFinite(pid) && pid > 0 && !pidAlive(pid)) await rm(p, { recursive: true, force: true });
    } catch {
      try {
        if ((await stat(p)).mtimeMs < Date.now() - 3600_000) await rm(p, { recursive: true, force: true });
      } catch {
        // raced
      }
    }
  }
}

export async function startSambaAD(opts: StartSambaOptions = {}): Promise<SambaAD> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  checkPrerequisites();
  const extra = opts.extraGeneratedUsers ?? 0;
  const fx = loadFixture(opts.fixturePath ?? DEFAULT_FIXTURE, { extraGeneratedUsers: extra });
  const ip = await pickIp(opts.ip);
  let runDir: string | undefined;
  try {
    await ensureIpAlias(ip);
    await removeAbandonedRunDirs();
    runDir = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
    await writeFile(join(runDir, 'owner.pid'), String(process.pid));
    const dcDir = join(runDir, 'dc');
    const logPath = join(opts.logDir ?? runDir, opts.logDir ? `samba-${ip}-${Date.now()}.log` : 'samba.log');
    const timings: SambaTimings = { fromCache: false, startMs: 0, totalMs: 0 };
    if (opts.cache ?? true) {
      const tpl = await ensureTemplate(fx, extra, ip, { startTimeoutMs, log });
      if (tpl.build) {
        const { builtAt: _builtAt, ...build } = tpl.build;
        Object.assign(timings, build, { template: tpl.build });
      } else {
        timings.fromCache = true;
        if (tpl.cached) timings.template = tpl.cached;
      }
      const t1 = performance.now();
      await run('cp', ['-a', tpl.dir, dcDir]);
      timings.copyMs = performance.now() - t1;
    } else {
      Object.assign(timings, await provisionAndSeed(fx, dcDir, ip, log));
    }
    if (opts.lockoutThreshold !== undefined) {
      const minutes = String(opts.lockoutMinutes ?? 30);
      const conf = await writeSmbConf(fx, dcDir, ip);
      await run('samba-tool', [
        'domain', 'passwordsettings', 'set',
        `--account-lockout-threshold=${opts.lockoutThreshold}`,
        `--account-lockout-duration=${minutes}`,
        `--reset-account-lockout-after=${minutes}`,
        `--configfile=${conf}`,
        '-H', join(dcDir, 'private', 'sam.ldb'),
      ]);
      log(`account lockout after ${opts.lockoutThreshold} bad passwords, for ${minutes} min`);
    }
    const proc = await startProcess(fx, dcDir, ip, logPath, startTimeoutMs, opts.requireStrongAuth ?? true);
    timings.startMs = proc.startMs;
    timings.totalMs = performance.now() - t0;
    log(`Samba AD up at ldaps://${ip}:636 in ${Math.round(timings.totalMs)} ms${timings.fromCache ? ' (cached template)' : ''}`);
    const byName = (sam: string): BindAccount => {
      const u = fx.users.find((x) => x.sAMAccountName === sam);
      if (!u?.password || !u.userPrincipalName) throw new Error(`fixture lacks ${sam} with a password and UPN`);
      return { dn: u.dn, upn: u.userPrincipalName, password: u.password };
    };
    const dir = runDir;
    let stopping: Promise<void> | undefined;
    return {
      ip,
      ldapUrl: `ldap://${ip}:389`,
      ldapsUrl: `ldaps://${ip}:636`,
      caPem: proc.caPem,
      caPath: proc.caPath,
      dcHostname: proc.dcHostname,
      baseDN: fx.baseDN,
      realm: fx.realm,
      domain: fx.domain,
      netbiosDomain: fx.netbiosDomain,
      bindUPN: fx.bindAccount.userPrincipalName ?? `${fx.bindAccount.sAMAccountName}@${fx.domain}`,
      bindDN: fx.bindAccount.dn,
      bindPassword: fx.bindAccount.password ?? '',
      adminDN: `CN=Administrator,CN=Users,${fx.baseDN}`,
      adminUPN: `Administrator@${fx.domain}`,
      adminPassword: fx.administratorPassword,
      badAccounts: { disabled: byName('svc-disabled'), mustChangePassword: byName('svc-mustchange'), locked: byName('svc-locked') },
      fixturePath: fx.path,
      generatedUsers: fx.generated.count,
      dir,
      logPath,
      timings,
      exited: proc.exited,
      stop: () => {
        stopping ??= (async () => {
          await proc.stop();
          await rm(dir, { recursive: true, force: true });
          unlockIp(ip);
        })();
        return stopping;
      },
    };
  } catch (err) {
    if (runDir) await rm(runDir, { recursive: true, force: true });
    unlockIp(ip);
    throw err;
  }
}

/** The serializable part of a SambaAD (for vitest provide/inject). */
export function sambaInfo(ad: SambaAD): SambaADInfo {
  const { stop: _stop, exited: _exited, ...info } = ad;
  return info;
}

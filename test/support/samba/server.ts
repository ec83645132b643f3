// startSambaAD: a DC of its own for a test run (copied from the cached template,
// started on 127.0.0.N, or inside a network namespace and relayed to 127.0.0.N).
import type { BindAccount, SambaAD, SambaADInfo, SambaTimings, StartSambaOptions } from './types.ts';
import { DEFAULT_FIXTURE, loadFixture } from './fixture.ts';
import { writeSmbConf } from './conf.ts';
import { checkPrerequisites, ensureIpAlias, pickIp, pidAlive, run, unlockIp } from './host.ts';
import { takeNetnsAddress, type NetnsAddress } from '../netns-address.ts';
import { startProcess } from './process.ts';
import { ensureTemplate, provisionAndSeed } from './template.ts';
import { relayOutOfNetns, type NetnsRelayOut } from '../netns-relay.ts';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';

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
  let inNetns: NetnsAddress | undefined;
  const relays: NetnsRelayOut[] = [];
  const releaseNetns = async () => {
    for (const r of relays.splice(0)) await r.close();
    await inNetns?.release();
  };
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
    // (after the template: building one starts samba on the host address)
    if (opts.netns) {
      inNetns = await takeNetnsAddress(opts.netns);
      for (const port of [389, 636]) relays.push(await relayOutOfNetns(inNetns.netns, { host: inNetns.ip, port }, { host: ip, port }));
    }
    const proc = await startProcess(fx, dcDir, ip, logPath, startTimeoutMs, opts.requireStrongAuth ?? true, inNetns);
    timings.startMs = proc.startMs;
    timings.totalMs = performance.now() - t0;
    const where = inNetns ? ` (inside network namespace ${inNetns.netns} at ${inNetns.ip}, relayed to the host)` : '';
    log(`Samba AD up at ldaps://${ip}:636${where} in ${Math.round(timings.totalMs)} ms${timings.fromCache ? ' (cached template)' : ''}`);
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
      ...(inNetns ? { inNetns: { netns: inNetns.netns, ip: inNetns.ip, ldapUrl: `ldap://${inNetns.ip}:389`, ldapsUrl: `ldaps://${inNetns.ip}:636` } } : {}),
      exited: proc.exited,
      stop: () => {
        stopping ??= (async () => {
          await proc.stop();
          await releaseNetns();
          await rm(dir, { recursive: true, force: true });
          unlockIp(ip);
        })();
        return stopping;
      },
    };
  } catch (err) {
    await releaseNetns();
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

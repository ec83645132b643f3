// The cached template DC: provisioned and seeded once per fixture (and size),
// copied for each start. Its cache key hashes the files that build it (this one,
// smb.conf, the fixture loader and the LDIF), not the ones that run it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StartSambaOptions, TemplateBuild } from './types.ts';
import type { CorpFixture } from './fixture.ts';
import { writeSmbConf } from './conf.ts';
import { INSTALL_HINT, getSambaVersion, run } from './host.ts';
import { fixtureLdif } from './ldif.ts';
import { startProcess } from './process.ts';

/** Bump to invalidate every cached template. */
const TEMPLATE_FORMAT = 4;
/** Generated users per ldbmodify process (one transaction each; progress is logged per chunk). */
const GENERATED_CHUNK = 10_000;

interface BuildTimings {
  provisionMs: number;
  seedMs: number;
  seedEntries: number;
}

/** samba-tool domain provision + fixture seed into dcDir (which must not exist). */
export async function provisionAndSeed(fx: CorpFixture, dcDir: string, ip: string, log: (l: string) => void): Promise<BuildTimings> {
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
  for (const f of ['./template.ts', './conf.ts', './fixture.ts', './ldif.ts']) h.update(await readFile(fileURLToPath(new URL(f, import.meta.url))));
  h.update(await getSambaVersion());
  return h.digest('hex').slice(0, 16);
}

/** Returns the cached template's DC dir, building it (and verifying it starts) when missing. */
export async function ensureTemplate(fx: CorpFixture, extra: number, ip: string, opts: Required<Pick<StartSambaOptions, 'startTimeoutMs' | 'log'>>): Promise<{ dir: string; build?: TemplateBuild; cached?: TemplateBuild }> {
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

// Starts the throw-away Samba AD domain controller of the tests by hand (demo,
// development): `npm run ad:up [-- --users N] [--ip 127.0.0.N] [--no-cache]` (--help).
// Prints how to connect, keeps running until Ctrl-C / SIGTERM, then removes
// everything. Passwords go to a file (mode 0600) whose path is printed.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCliOrExit, usageError } from '../../src/util/cli-args.ts';

const values = parseCliOrExit({
  program: 'ad:up',
  usage: `usage: npm run ad:up -- [--users N] [--ip 127.0.0.N] [--no-cache] [--log-dir DIR]

Starts the throw-away Samba AD domain controller of the tests (the fixture company of
test/fixtures/corp-directory.yaml), prints how to connect, and keeps it running until
Ctrl-C; then removes everything. Passwords go to a file (mode 0600) whose path is printed.

  --users N        add N generated users (default 0)
  --ip 127.0.0.N   the loopback address to serve on (default: a free one)
  --no-cache       provision from scratch instead of the cached template
  --log-dir DIR    where samba.log goes
  -h, --help       print this help
`,
  options: {
    users: { type: 'string' },
    ip: { type: 'string' },
    'no-cache': { type: 'boolean', default: false },
    'log-dir': { type: 'string' },
  },
});
const extra = values.users === undefined ? 0 : Number.parseInt(values.users, 10);
if (!Number.isInteger(extra) || extra < 0 || !/^[0-9]+$/.test(values.users ?? '0')) usageError(`ad:up: --users must be a whole number, got ${JSON.stringify(values.users)}`);

const { sambaInfo, startSambaAD } = await import('../../test/support/samba.ts');
const ad = await startSambaAD({
  extraGeneratedUsers: extra,
  ...(values.ip ? { ip: values.ip } : {}),
  ...(values['log-dir'] ? { logDir: values['log-dir'] } : {}),
  cache: !values['no-cache'],
  log: (line) => console.error(`[samba] ${line}`),
});

const secretsPath = join(ad.dir, 'connection.json');
await writeFile(secretsPath, `${JSON.stringify(sambaInfo(ad), null, 2)}\n`, { mode: 0o600 });

console.log(`Samba AD domain controller for ${ad.realm} is up (${Math.round(ad.timings.totalMs)} ms${ad.timings.fromCache ? ', cached template' : ''})
  LDAPS       ${ad.ldapsUrl}   (TLS server name: ${ad.dcHostname})
  LDAP        ${ad.ldapUrl}    (simple binds refused: strong auth required)
  CA          ${ad.caPath}
  Base DN     ${ad.baseDN}
  Bind        ${ad.bindUPN}   (${ad.bindDN})
  Users       fixture ${ad.fixturePath} + ${ad.generatedUsers} generated
  Passwords   ${secretsPath}  (bind, Administrator, bad accounts; mode 0600)
  Log         ${ad.logPath}
Ctrl-C to stop and remove ${ad.dir}`);

let stopping = false;
const shutdown = async (why: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  console.error(`[samba] ${why}: stopping`);
  await ad.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
void ad.exited.then(async (e) => {
  if (stopping) return;
  console.error(`[samba] samba exited unexpectedly (code ${e.code}, signal ${e.signal}); see ${ad.logPath}`);
  stopping = true;
  await ad.stop();
  process.exit(1);
});

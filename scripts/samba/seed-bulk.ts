// Benchmark seeding: provisions a fresh Samba AD (no template cache) with the
// fixture plus N generated users, reports provisioning and seeding times and
// the seeding rate, then reads every user back with a paged LDAPS search.
//   node scripts/samba/seed-bulk.ts [--users 20000] [--page-size 1000] [--keep]
// --keep leaves the DC running (Ctrl-C stops it) for benchmarks of the product.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ldapsClient, sambaInfo, startSambaAD } from '../../test/support/samba.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    'page-size': { type: 'string', default: '1000' },
    keep: { type: 'boolean', default: false },
    ip: { type: 'string' },
  },
});
const users = Number.parseInt(values.users, 10);
const pageSize = Number.parseInt(values['page-size'], 10);
if (!Number.isInteger(users) || users < 0 || !Number.isInteger(pageSize) || pageSize < 1) {
  console.error('usage: node scripts/samba/seed-bulk.ts [--users N] [--page-size N] [--keep] [--ip 127.0.0.N]');
  process.exit(2);
}

const ad = await startSambaAD({
  extraGeneratedUsers: users,
  cache: false,
  startTimeoutMs: 120_000,
  ...(values.ip ? { ip: values.ip } : {}),
  log: (line) => console.error(`[samba] ${line}`),
});
try {
  const t = ad.timings;
  const rate = (t.seedEntries ?? 0) / ((t.seedMs ?? 1) / 1000);
  console.log(`provision: ${Math.round(t.provisionMs ?? 0)} ms`);
  console.log(`seed:      ${t.seedEntries} entries (${ad.generatedUsers} generated users) in ${((t.seedMs ?? 0) / 1000).toFixed(1)} s = ${Math.round(rate)} entries/s`);
  console.log(`start:     ${Math.round(t.startMs)} ms (until the first LDAPS bind)`);

  const client = ldapsClient(ad);
  await client.bind(ad.bindUPN, ad.bindPassword);
  const t0 = performance.now();
  let count = 0;
  let pages = 0;
  for await (const page of client.searchPaginated(ad.baseDN, {
    filter: '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))',
    attributes: ['userPrincipalName', 'mail', 'displayName', 'givenName', 'sn', 'cn', 'memberOf'],
    paged: { pageSize },
  })) {
    count += page.searchEntries.length;
    pages++;
  }
  const readMs = performance.now() - t0;
  await client.unbind();
  console.log(`read:      ${count} users in ${pages} pages of ${pageSize} in ${(readMs / 1000).toFixed(1)} s = ${Math.round(count / (readMs / 1000))} users/s`);

  if (values.keep) {
    const secretsPath = join(ad.dir, 'connection.json');
    await writeFile(secretsPath, `${JSON.stringify(sambaInfo(ad), null, 2)}\n`, { mode: 0o600 });
    console.log(`running at ${ad.ldapsUrl} (server name ${ad.dcHostname}); connection data in ${secretsPath}; Ctrl-C to stop`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
      void ad.exited.then(() => resolve());
    });
  }
} finally {
  await ad.stop();
}

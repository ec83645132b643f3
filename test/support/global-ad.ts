// vitest globalSetup for the `integration` project: ONE real Samba AD domain
// controller per test run (test/support/samba.ts), seeded from
// test/fixtures/corp-directory.yaml. Tests read its connection data with
// inject('ad'); tests that change AD use the helpers in samba.ts (addUser,
// addMember, ...) with unique names, since every test file shares this DC.
import type { TestProject } from 'vitest/node';
import { sambaInfo, startSambaAD, type SambaADInfo } from './samba.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    ad: SambaADInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const ad = await startSambaAD({ log: (line) => console.error(`[global-ad] ${line}`) });
  const t = ad.timings;
  console.error(`[global-ad] Samba AD ready at ${ad.ldapsUrl} (${ad.dcHostname}) in ${Math.round(t.totalMs)} ms${t.fromCache ? ' from cached template' : ''}; log ${ad.logPath}`);
  project.provide('ad', sambaInfo(ad));
  return async () => {
    await ad.stop();
  };
}

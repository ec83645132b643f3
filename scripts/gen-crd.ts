/**
 * Writes crds/truetask.io_adsyncs.yaml from the TypeScript schema (src/api/).
 * `--check` exits 1, writing nothing, when the committed file differs.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { renderCrdYaml } from '../src/api/crd.ts';

const CRD_PATH = new URL('../crds/truetask.io_adsyncs.yaml', import.meta.url);
const rendered = renderCrdYaml();
if (process.argv.includes('--check')) {
  const committed = await readFile(CRD_PATH, 'utf8').catch(() => '');
  if (committed !== rendered) {
    console.error('crds/truetask.io_adsyncs.yaml is out of date with src/api/: run `npm run manifests` and commit the result.');
    process.exit(1);
  }
  console.error('crds/truetask.io_adsyncs.yaml is up to date.');
} else {
  await mkdir(new URL('../crds/', import.meta.url), { recursive: true });
  await writeFile(CRD_PATH, rendered);
  console.error('wrote crds/truetask.io_adsyncs.yaml');
}

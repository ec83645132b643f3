// Starts a local kube-apiserver + etcd (building them on first use), prints how
// to use it, and keeps it running until Ctrl-C / SIGTERM; then cleans up.
//   node scripts/envtest/kube-up.ts        (npm run kube:up)
import { parseCliOrExit } from '../../src/util/cli-args.ts';

parseCliOrExit({
  program: 'kube:up',
  usage: `usage: npm run kube:up

Starts a local kube-apiserver + etcd (building them into ~/.cache/truetask-adsync on
first use), prints the export lines for KUBECONFIG and the matching kubectl, and keeps
them running until Ctrl-C; then stops both and removes their temp dir. No options.

  -h, --help   print this help
`,
  options: {},
});

const { startApiServer } = await import('../../test/support/kube-apiserver.ts');

const t0 = performance.now();
const apiServer = await startApiServer();
const ms = Math.round(performance.now() - t0);

console.log(`# kube-apiserver ready at ${apiServer.server} (${ms} ms); logs in ${apiServer.dir}`);
console.log(`export KUBECONFIG=${apiServer.kubeconfigPath}`);
console.log(`export PATH=${apiServer.binDir}:$PATH   # the matching kubectl`);
console.log('# Ctrl-C to stop (removes everything)');

let stopping = false;
const shutdown = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal}: stopping kube-apiserver and etcd...`);
  apiServer.stop().then(
    () => {
      console.error('stopped, temp dir removed');
      process.exit(0);
    },
    (err: unknown) => {
      console.error('stop failed:', err);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
process.on('SIGHUP', shutdown);

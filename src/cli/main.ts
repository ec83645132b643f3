#!/usr/bin/env node
/**
 * The `adsync` CLI: the edge where configuration, logger, clients are built and
 * passed down. Exit codes: 0 success, 1 a failed run, 2 invalid input.
 */
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { enableCompileCache } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { KubeConfig } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../log.ts';
import type * as Commands from './commands.ts';

// V8's code cache for the modules loaded from here on (the commands and their ~350 modules):
// a one-shot command starts ~0.1-0.3 s sooner from the second run. Kept in the OS temp
// directory; where that is not writable (a read-only root file system) it is simply not used,
// and NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache();

// The commands (and the LDAP, Truetask and Kubernetes clients behind them) load only when
// one runs, so --help, --version and bad usage answer at once.
let commands: typeof Commands;
const loadCommands = async (): Promise<void> => {
  commands = await import('./commands.ts');
};
/** Exit code for invalid input (commands.EXIT_INVALID), known before the commands load. */
const EXIT_INVALID = 2;

// Garbage collection, set before the heap grows. V8 otherwise lets the heap grow to three
// or four times what is live while a run mostly waits on the DC (preview/sync peak RSS
// 300-530 MiB at 100,000 users).
// - The controller: memory over speed (--optimize-for-size): idle ~115 MiB instead of ~150 MiB.
// - A one-shot command (preview, sync, report leavers): the young generation kept at its
//   first size and the old one grown by 30% at a time. Measured at 100,000 users (a
//   preview, node --cpu-prof): --optimize-for-size kept peak RSS at ~170 MiB but spent
//   7.6 s of 16 s of CPU collecting garbage (~11 s user CPU, which the DC, sharing the
//   machine's cores, waits for); with 20% growth ~155-175 MiB for ~8-9 s, with 40%
//   ~160-190 MiB for ~6.5-7.5 s; without either flag ~3.9 s but ~360 MiB.
const ONE_SHOT_GC = ['--semi-space-growth-factor=1', '--heap-growing-percent=30'];
for (const flag of process.argv.slice(2).includes('controller') ? ['--optimize-for-size'] : ONE_SHOT_GC) setFlagsFromString(flag);

function kubeConfigLoader(): () => Promise<KubeConfig | undefined> {
  return async () => {
    try {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      kc.loadFromDefault();
      return kc.getCurrentCluster() ? kc : undefined;
    } catch {
      return undefined;
    }
  };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('must be a whole number from 1 to 64');
  return n;
}

function duration(value: string): number {
  const m = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(value);
  const seconds = m && value !== '' ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  if (!(seconds >= 10 && seconds <= 86_400)) throw new InvalidArgumentError('must be a duration from 10s to 24h, such as 30m or 1h');
  return seconds * 1000;
}

interface CommonOptions {
  file?: string;
  output: 'table' | 'json';
  logLevel?: string;
}

function context(opts: CommonOptions, defaultLevel: string, target: string | undefined): Commands.CommandContext {
  return {
    file: opts.file,
    target: target === undefined ? undefined : commands.parseTarget(target),
    output: opts.output,
    logger: createLogger({ level: opts.logLevel ?? defaultLevel, destination: process.stderr }),
    loadKubeConfig: kubeConfigLoader(),
    write: (text) => process.stdout.write(text),
    // stdout into a pipe is asynchronous: wait for it to drain rather than buffer a large output
    drained: () => once(process.stdout, 'drain').then(() => undefined),
    warn: (text) => process.stderr.write(`${text}\n`),
  };
}

async function run(opts: CommonOptions, defaultLevel: string, fn: (ctx: Commands.CommandContext) => Promise<number>, target?: string): Promise<void> {
  await loadCommands();
  try {
    const ctx = context(opts, defaultLevel, target);
    process.exitCode = await fn(ctx);
  } catch (err) {
    const failure = commands.describeFailure(err);
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ error: { reason: failure.reason, message: failure.message } }, null, 2)}\n`);
    console.error(`adsync: ${failure.reason}: ${failure.message}`);
    process.exitCode = failure.code;
  }
}

function withCommon(cmd: Command): Command {
  return cmd
    .argument('[NAMESPACE/NAME]', 'an AdSync in the cluster (current kube context, or in-cluster): it and its Secrets are read from there; instead of -f')
    // Checked in a hook rather than as a requiredOption, so an unknown (mistyped) option is reported first.
    .option('-f, --file <file>', 'YAML with one AdSync and, optionally, the Secrets it references (others are read from the current kube context); or NAMESPACE/NAME')
    .hook('preAction', (self) => {
      const file = typeof self.opts().file === 'string';
      const target = self.args.length > 0;
      if (!file && !target) self.error('give NAMESPACE/NAME of an AdSync in the cluster, or -f FILE');
      if (file && target) self.error('give either NAMESPACE/NAME or -f FILE, not both');
    })
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .addOption(new Option('--log-level <level>', 'log level for stderr').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']));
}

async function askOnTerminal(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** The package's version (package.json sits two levels up from src/cli/ and from dist/cli/). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('adsync')
    .description('Sync users from Active Directory into Truetask: the operator, and one-shot commands using the same engine.')
    .version(packageVersion(), '-V, --version', 'print the version')
    // Bad usage (an unknown option or command, a missing -f): one line and exit code 2, not the whole help.
    .configureOutput({ outputError: (text, write) => write(`adsync: ${text.replace(/^error: /, '').trim().split('\n').join(' ')} (see adsync --help)\n`) })
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : EXIT_INVALID);
    });

  withCommon(program.command('test-connection').description('Bind to AD and check the base DN; check the Truetask URL and token.')).action((target: string | undefined, opts: CommonOptions) =>
    run(opts, 'warn', (ctx) => commands.testConnectionCommand(ctx), target),
  );

  const discover = program.command('discover').description('List what is in AD, to choose exclusions and admin groups.');
  withCommon(discover.command('ous').description('OUs and containers with their user counts (Discover OUs).')).action((target: string | undefined, opts: CommonOptions) =>
    run(opts, 'warn', (ctx) => commands.discoverOUsCommand(ctx), target),
  );
  withCommon(discover.command('groups').description('Groups, to pick admin groups (Discover Groups).')).action((target: string | undefined, opts: CommonOptions) =>
    run(opts, 'warn', (ctx) => commands.discoverGroupsCommand(ctx), target),
  );

  withCommon(program.command('preview').description('Show who would be created or promoted. Writes nothing.'))
    .option('--all', 'also list unchanged and excluded entries (table output)', false)
    .action((target: string | undefined, opts: CommonOptions & { all: boolean }) => run(opts, 'warn', (ctx) => commands.runCommand(ctx, { apply: false, all: opts.all, concurrency: 1 }), target));

  withCommon(program.command('sync').description('Create and promote users in Truetask. Without --confirm it only previews.'))
    .option('--confirm', 'really write to Truetask', false)
    .option('--concurrency <n>', 'Truetask writes in flight at once', positiveInt, 4)
    .option('--approve <digest>', 'write a plan above spec.safeguard only when its digest is this one (adsync preview prints it)')
    .action((target: string | undefined, opts: CommonOptions & { confirm: boolean; concurrency: number; approve?: string }) =>
      run(
        opts,
        opts.confirm ? 'info' : 'warn',
        async (ctx) => {
          if (!opts.confirm) console.error('adsync: preview only; nothing was written. Run again with --confirm to create and promote these users.');
          return commands.runCommand(ctx, { apply: opts.confirm, all: false, concurrency: opts.concurrency, approve: opts.approve });
        },
        target,
      ),
    );

  withCommon(
    program
      .command('approve')
      .description('Approve the plan that waits for approval (spec.safeguard): prints it (counts and rows), asks for confirmation unless --yes, and sets truetask.io/approve to its digest. Needs NAMESPACE/NAME.'),
  )
    .option('--yes', 'approve without asking', false)
    .action((target: string | undefined, opts: CommonOptions & { yes: boolean }) =>
      run(
        opts,
        'warn',
        async (ctx) => {
          const { approveCommand } = await import('./approve.ts');
          return approveCommand(ctx, { yes: opts.yes, interactive: process.stdin.isTTY === true, ask: askOnTerminal });
        },
        target,
      ),
    );

  const report = program.command('report').description('Read-only reports.');
  withCommon(
    report
      .command('leavers')
      .description('Truetask users (user or admin, never owner) still active but disabled in AD or gone from it: every one. Writes nothing.'),
  ).action((target: string | undefined, opts: CommonOptions) => run(opts, 'warn', (ctx) => commands.reportLeaversCommand(ctx), target));

  program
    .command('controller')
    .description('Run the operator: watch AdSyncs and run previews and syncs, with leader election, metrics and probes.')
    .option('--namespaces <list>', 'comma-separated namespaces to watch (default: all; env WATCH_NAMESPACES)', process.env.WATCH_NAMESPACES ?? '')
    .option('--metrics-bind-address <host:port>', 'address for /metrics, /healthz and /readyz', process.env.METRICS_BIND_ADDRESS ?? '0.0.0.0:8080')
    .option('--no-leader-elect', 'run without leader election (a single replica only)')
    .option('--leader-election-namespace <ns>', 'namespace of the Lease (env POD_NAMESPACE)', process.env.POD_NAMESPACE ?? 'default')
    .option('--leader-election-id <name>', 'name of the Lease', 'truetask-adsync-leader')
    .option('--lease-duration <seconds>', 'leader Lease duration', positiveInt, 15)
    .option('--concurrency <n>', 'AdSyncs reconciled in parallel', positiveInt, 2)
    .option('--write-concurrency <n>', 'Truetask writes in flight per sync', positiveInt, 4)
    .option('--require-secret-access', 'use a Secret only when its annotation truetask.io/adsync-access lists the AdSync (comma-separated names, or *); else the AdSync stalls with SecretNotAllowed', false)
    .option('--allowed-ldap-hosts <list>', 'comma-separated DCs AdSyncs may use: host names, *.domain, IP addresses or CIDR ranges (default: any); else EndpointNotAllowed', process.env.ALLOWED_LDAP_HOSTS ?? '')
    .option('--allowed-truetask-urls <list>', 'comma-separated Truetask URL prefixes AdSyncs may use, e.g. https://truetask.corp.example.com (default: any); else EndpointNotAllowed', process.env.ALLOWED_TRUETASK_URLS ?? '')
    .option('--max-run-timeout <duration>', 'longest a run may take whatever an AdSync\'s spec.timeout says, e.g. 30m (a duration of 10s..24h; default 1h)', duration, 3_600_000)
    .option('--kubeconfig <path>', 'kubeconfig (default: in-cluster, then KUBECONFIG / ~/.kube/config)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default(process.env.LOG_LEVEL ?? 'info'))
    .action(async (opts: ControllerFlags) => {
      const code = await runControllerCommand(opts);
      process.exitCode = code;
    });

  return program;
}

interface ControllerFlags {
  namespaces: string;
  metricsBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDuration: number;
  concurrency: number;
  writeConcurrency: number;
  requireSecretAccess: boolean;
  allowedLdapHosts: string;
  allowedTruetaskUrls: string;
  maxRunTimeout: number;
  kubeconfig?: string;
  logLevel: string;
}

async function runControllerCommand(opts: ControllerFlags): Promise<number> {
  const logger = createLogger({ level: opts.logLevel });
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const match = /^(.*):(\d+)$/.exec(opts.metricsBindAddress);
  if (!match) {
    console.error(`adsync: --metrics-bind-address must be host:port, got ${JSON.stringify(opts.metricsBindAddress)}`);
    return EXIT_INVALID;
  }
  const { parseEndpointPolicy } = await import('../controller/endpoint-policy.ts');
  let endpoints: Awaited<ReturnType<typeof parseEndpointPolicy>>;
  try {
    endpoints = parseEndpointPolicy(opts.allowedLdapHosts, opts.allowedTruetaskUrls);
  } catch (err) {
    console.error(`adsync: ${(err as Error).message}`);
    return EXIT_INVALID;
  }
  const { startController } = await import('../controller/run.ts');
  const leaseDuration = opts.leaseDuration;
  let lostLeadership: (() => void) | undefined;
  const controller = await startController({
    kubeConfig: kc,
    logger,
    namespaces: opts.namespaces.split(',').map((s) => s.trim()).filter(Boolean),
    metricsHost: match[1] || '0.0.0.0',
    metricsPort: Number(match[2]),
    leaderElect: opts.leaderElect,
    leaseNamespace: opts.leaderElectionNamespace,
    leaseName: opts.leaderElectionId,
    leaseDurationSeconds: leaseDuration,
    renewDeadlineSeconds: Math.max(1, Math.round((leaseDuration * 2) / 3)),
    retryPeriodSeconds: Math.max(1, Math.round(leaseDuration / 7)),
    concurrency: opts.concurrency,
    writeConcurrency: opts.writeConcurrency,
    version: packageVersion(),
    // As controller-runtime does: a replica that lost the Lease exits (after cancelling its runs)
    // and the Deployment restarts it clean, as a candidate.
    onLostLeadership: () => lostLeadership?.(),
    requireSecretAccess: opts.requireSecretAccess,
    endpoints,
    maxRunTimeoutMs: opts.maxRunTimeout,
  });
  logger.info({ metrics: controller.url }, 'serving /metrics, /healthz and /readyz');
  let code = 0;
  await new Promise<void>((resolve) => {
    lostLeadership = () => {
      logger.error('lost leadership: runs cancelled; exiting so that this replica restarts as a candidate');
      code = 1;
      // Whatever still holds the event loop (a socket being torn down), the replica goes.
      setTimeout(() => process.exit(1), 10_000).unref();
      void controller.stop().then(resolve);
    };
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      void controller.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    void controller.done.then(resolve, (err: unknown) => {
      logger.error({ err }, 'leader election ended with an error');
      resolve();
    });
  });
  return code;
}

await buildProgram().parseAsync(process.argv);

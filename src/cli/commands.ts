/**
 * The one-shot commands (test-connection, discover, preview, sync): each runs the
 * same engine as the controller, once, outside the cluster.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { resolveDirectoryConfig, resolveEngineConfig, type EngineConfig, type TruetaskConfig } from '../config/engine-config.ts';
import { staticSecretSource, type SecretSource } from '../config/secrets.ts';
import { plaintextTransports, plaintextWarning } from '../config/transport-policy.ts';
import { AdSyncError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readContainers, readGroups, readUsers } from '../ldap/reader.ts';
import { DirectorySession } from '../ldap/session.ts';
import { RunDeadline, runTimeoutMs } from '../reconcile/deadline.ts';
import { runEngine, testConnection } from '../reconcile/engine.ts';
import { gate } from '../reconcile/safeguard.ts';
import { summarizeOUs } from '../reconcile/ou-summary.ts';
import { withFailover } from '../ldap/failover.ts';
import { createTruetaskClient, isUserExistsError, type TruetaskClient } from '../truetask/index.ts';
import { describeTarget, readClusterInput, type ClusterTarget } from './cluster-input.ts';
export { parseTarget } from './cluster-input.ts';
import { InputError, readInputFile, type InputFile } from './input.ts';
import { leaversJson, leaversTable } from './render-leavers.ts';
import { writeJson } from './json-out.ts';
import * as render from './render.ts';

export interface CommandContext {
  /** -f FILE; or `target`: the AdSync read from the cluster (src/cli/cluster-input.ts). */
  file?: string | undefined;
  target?: ClusterTarget | undefined;
  output: render.OutputFormat;
  logger: Logger;
  /** Loads the current kube context, for Secrets not in the file; undefined when there is none. */
  loadKubeConfig: () => Promise<KubeConfig | undefined>;
  /** Writes to stdout; false when the stream is full (as stream.write), then wait for `drained`. */
  write: (text: string) => boolean | void;
  drained?: () => Promise<void>;
  /** Writes a warning line for a person to stderr (default: the logger). */
  warn?: (text: string) => void;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_INVALID = 2;

/** The AdSync (and Secrets) from -f FILE, or from the cluster for NAMESPACE/NAME. */
export async function readInput(ctx: CommandContext): Promise<InputFile> {
  if (ctx.target) return readClusterInput(await ctx.loadKubeConfig(), ctx.target);
  if (ctx.file === undefined) throw new InputError('give NAMESPACE/NAME of an AdSync in the cluster, or -f FILE');
  return readInputFile(ctx.file);
}

function sourceLabel(ctx: CommandContext): string {
  return ctx.target ? describeTarget(ctx.target) : (ctx.file ?? '');
}

/** Secrets from the file first, then from the current kube context (read only when needed). */
function secretSourceFor(input: InputFile, ctx: CommandContext): SecretSource {
  let kube: SecretSource | null | undefined;
  const fallback: SecretSource = {
    async get(namespace, name) {
      if (kube === undefined) {
        // Loaded only when needed: the Kubernetes client is heavy for a one-shot command.
        const kc = await ctx.loadKubeConfig();
        if (kc) {
          const [{ CoreV1Api }, { kubeSecretSource }] = await Promise.all([import('@kubernetes/client-node'), import('../kube/secret-source.ts')]);
          kube = kubeSecretSource(kc.makeApiClient(CoreV1Api), `the kube context "${kc.getCurrentContext()}"`);
        } else kube = null;
      }
      return kube ? kube.get(namespace, name) : undefined;
    },
    describe: () => (kube ? kube.describe() : 'the current kube context'),
  };
  return staticSecretSource(input.secrets, fallback, sourceLabel(ctx));
}

function truetaskClient(cfg: TruetaskConfig, logger: Logger, signal?: AbortSignal): TruetaskClient {
  return createTruetaskClient({
    signal,
    url: cfg.url,
    token: cfg.token,
    ca: cfg.ca,
    insecureSkipVerify: cfg.insecureSkipVerify,
    timeoutSeconds: cfg.timeoutSeconds,
    logger,
  });
}

function warnInsecure(ctx: CommandContext, which: string[]): void {
  for (const w of which) ctx.logger.warn({ target: w }, `TLS verification is disabled for ${w} (insecureSkipVerify): the connection can be intercepted`);
}

/** Clear text on purpose (insecurePlaintext): said on stderr at every command, whatever the log level. */
function warnPlaintext(ctx: CommandContext, input: InputFile, only?: 'ldap'): void {
  for (const kind of plaintextTransports(input.adsync.spec)) {
    if (only && kind !== only) continue;
    const text = `adsync: warning: InsecurePlaintext: ${plaintextWarning(kind)}`;
    if (ctx.warn) ctx.warn(text);
    else ctx.logger.warn({ target: kind }, text);
  }
}

function printJson(ctx: CommandContext, value: unknown): Promise<void> {
  return writeJson(ctx.write, value, ctx.drained);
}

/** Reads the file, resolves the whole configuration and opens a Truetask client for `fn`. */
async function withEngine<T>(ctx: CommandContext, fn: (cfg: EngineConfig, client: TruetaskClient, input: InputFile, deadline: RunDeadline) => Promise<T>): Promise<T> {
  const input = await readInput(ctx);
  const cfg = await resolveEngineConfig(input.adsync, secretSourceFor(input, ctx));
  warnInsecure(ctx, cfg.insecure);
  warnPlaintext(ctx, input);
  // spec.timeout bounds a one-shot command as it bounds an operator's run.
  const deadline = new RunDeadline(runTimeoutMs(input.adsync.spec));
  const client = truetaskClient(cfg.truetask, ctx.logger, deadline.signal);
  try {
    return await fn(cfg, client, input, deadline);
  } finally {
    deadline.dispose();
    await client.close();
  }
}

export async function testConnectionCommand(ctx: CommandContext): Promise<number> {
  return withEngine(ctx, async (cfg, client) => {
    const check = await testConnection(cfg, { logger: ctx.logger, truetask: client });
    if (ctx.output === 'json') await printJson(ctx, render.connectionJson(check));
    else ctx.write(`${render.connectionTable(check)}\n`);
    return check.directory.ok && check.failover.every((d) => d.ok) && check.truetask.ok ? EXIT_OK : EXIT_FAILED;
  });
}

async function withDirectory<T>(ctx: CommandContext, fn: (session: DirectorySession, cfg: Awaited<ReturnType<typeof resolveDirectoryConfig>>, input: InputFile) => Promise<T>): Promise<T> {
  const input = await readInput(ctx);
  const cfg = await resolveDirectoryConfig(input.adsync, secretSourceFor(input, ctx));
  if (cfg.insecure) warnInsecure(ctx, ['ldap']);
  warnPlaintext(ctx, input, 'ldap');
  // spec.ldap.url, then each failover DC that answers (as runs do); withFailover closes the session.
  const { value, failedOver } = await withFailover(cfg.ldap, ctx.logger, (c, l) => DirectorySession.open(c, l), (session) => fn(session, cfg, input));
  for (const f of failedOver) ctx.logger.warn({ url: f.url, reason: f.reason }, 'domain controller did not answer; used the next one');
  return value;
}

export async function discoverOUsCommand(ctx: CommandContext): Promise<number> {
  const ous = await withDirectory(ctx, async (session, cfg) => {
    const [containers, users] = [await readContainers(session, cfg.read), await readUsers(session, cfg.read)];
    return summarizeOUs(containers, users, cfg.excludedOUs);
  });
  if (ctx.output === 'json') await printJson(ctx, { organizationalUnits: ous });
  else ctx.write(`${render.ousTable(ous)}\n`);
  return EXIT_OK;
}

export async function discoverGroupsCommand(ctx: CommandContext): Promise<number> {
  const groups = await withDirectory(ctx, async (session, cfg) => {
    const found = await readGroups(session, cfg.read);
    const refs = cfg.read.adminPromotion.groups.map((g) => g.toLowerCase());
    return found.map((g) => ({
      ...g,
      adminGroup: refs.includes(g.name.toLowerCase()) || refs.includes((g.sAMAccountName ?? '').toLowerCase()) || refs.includes(g.dn.toLowerCase()),
    }));
  });
  if (ctx.output === 'json') await printJson(ctx, { groups });
  else ctx.write(`${render.groupsTable(groups)}\n`);
  return EXIT_OK;
}

export async function runCommand(ctx: CommandContext, opts: { apply: boolean; all: boolean; concurrency: number; approve?: string | undefined }): Promise<number> {
  return withEngine(ctx, async (cfg, client, input, deadline) => {
    // `sync --confirm` obeys spec.safeguard like the operator; --approve DIGEST approves exactly the plan with that digest.
    const limits = input.adsync.spec.safeguard;
    const approved = opts.approve ? { digest: opts.approve } : undefined;
    const report = await deadline.race(
      runEngine(
        cfg,
        opts.apply ? 'sync' : 'preview',
        deadline.deps({
          gate: (plan) => gate({ changes: plan.changes, inScope: plan.summary.unchanged + plan.summary.toPromote, limits, approved }),
          logger: ctx.logger,
          truetask: client,
          isConflict: isUserExistsError,
          concurrency: opts.concurrency,
          withContainers: false,
          withLeavers: false,
        }),
      ),
    );
    if (ctx.output === 'json') await printJson(ctx, opts.apply ? render.syncJson(report) : render.previewJson(report));
    else ctx.write(`${opts.apply ? render.syncTable(report) : render.previewTable(report, { all: opts.all })}\n`);
    if (report.apply?.abortedBy) throw report.apply.abortedBy;
    if (report.gate?.held) return EXIT_FAILED;
    return !report.apply || report.apply.result === 'Succeeded' ? EXIT_OK : EXIT_FAILED;
  });
}

/** `report leavers`: the same read as a preview plus the disabled accounts; writes nothing. */
export async function reportLeaversCommand(ctx: CommandContext): Promise<number> {
  return withEngine(ctx, async (cfg, client, _input, deadline) => {
    const report = await deadline.race(runEngine(cfg, 'preview', deadline.deps({ logger: ctx.logger, truetask: client, isConflict: isUserExistsError, withContainers: false, withLeavers: true })));
    const leavers = report.leavers;
    if (!leavers) throw new Error('the run made no leavers report');
    if (ctx.output === 'json') await printJson(ctx, leaversJson(leavers, report.completedAt));
    else ctx.write(`${leaversTable(leavers)}\n`);
    return EXIT_OK;
  });
}

/** Exit code and message for an error that ended a command. */
export function describeFailure(err: unknown): { code: number; reason: string; message: string } {
  if (err instanceof AdSyncError) {
    return { code: err.next === 'fix-config' && err.source === 'config' ? EXIT_INVALID : EXIT_FAILED, reason: err.reason, message: err.detail };
  }
  if (err instanceof Error && err.name === 'InputError') return { code: EXIT_INVALID, reason: 'InvalidInput', message: err.message };
  return { code: EXIT_FAILED, reason: 'InternalError', message: err instanceof Error ? err.message : String(err) };
}

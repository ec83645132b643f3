/**
 * `adsync approve NAMESPACE/NAME`: shows the plan that waits for approval
 * (status.pendingApproval: digest, counts, first rows), asks for confirmation on
 * a terminal unless --yes, and approves exactly that plan by writing its digest
 * to the truetask.io/approve annotation. The operator then applies it at once;
 * if AD changed since, only the reviewed changes plus new ones within
 * spec.safeguard (src/reconcile/safeguard.ts).
 */
import { APPROVE_ANNOTATION } from '../api/adsync.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/spec.ts';
import type { PendingApproval } from '../api/status.ts';
import { apiStatusCode } from '../runtime/api-status.ts';
import { describeTarget, readClusterAdSync } from './cluster-input.ts';
import { EXIT_FAILED, EXIT_OK, type CommandContext } from './commands.ts';
import { InputError } from './input.ts';
import { writeJson } from './json-out.ts';
import { renderTable } from './table.ts';

export interface ApproveOptions {
  /** Approve without asking. */
  yes: boolean;
  /** stdin is a terminal (a person can answer). */
  interactive: boolean;
  /** Asks a question on the terminal; the answer. */
  ask: (question: string) => Promise<string>;
}

export function pendingApprovalText(where: string, p: PendingApproval): string {
  const limit = p.allowedCreates === undefined ? '' : `; at most ${p.allowedCreates} creates per run without approval (spec.safeguard.${p.limitedBy ?? 'maxCreates'}; ${p.inScope} Truetask users in scope)`;
  const rows = p.users.map((u) => [u.action, u.email, u.name, u.role]);
  const more = p.truncated ? `\n... and ${p.toCreate + p.toPromote - p.users.length} more: adsync preview ${where} lists every change` : '';
  return [
    `AdSync ${where}: plan ${p.digest} (made ${p.generatedAt}) waits for approval`,
    `${p.toCreate} to create, ${p.toPromote} to promote${limit}`,
    '',
    renderTable(['ACTION', 'EMAIL', 'NAME', 'ROLE'], rows) + more,
  ].join('\n');
}

export async function approveCommand(ctx: CommandContext, opts: ApproveOptions): Promise<number> {
  if (!ctx.target) throw new InputError('approve needs NAMESPACE/NAME of an AdSync in the cluster (it writes the truetask.io/approve annotation), not -f FILE');
  const where = describeTarget(ctx.target);
  const kc = await ctx.loadKubeConfig();
  const adsync = await readClusterAdSync(kc, ctx.target);
  const pending = adsync.status?.pendingApproval;
  if (!pending) {
    if (ctx.output === 'json') await writeJson(ctx.write, { adsync: where, approved: null, message: 'nothing waits for approval' }, ctx.drained);
    else ctx.write(`AdSync ${where}: nothing waits for approval (status.pendingApproval is empty)\n`);
    return EXIT_FAILED;
  }
  const { changeSet: _omitted, ...shown } = pending;
  if (ctx.output !== 'json') ctx.write(`${pendingApprovalText(where, pending)}\n\n`);
  if (!opts.yes) {
    if (!opts.interactive) throw new InputError('stdin is not a terminal: run with --yes to approve without being asked');
    const answer = await opts.ask(`Approve exactly this plan (${pending.digest})? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) {
      ctx.write('Not approved; nothing changed.\n');
      return EXIT_FAILED;
    }
  }
  const { CustomObjectsApi, PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  const custom = kc!.makeApiClient(CustomObjectsApi);
  try {
    await custom.patchNamespacedCustomObject(
      { group: API_GROUP, version: API_VERSION, plural: PLURAL, namespace: ctx.target.namespace, name: ctx.target.name, body: { metadata: { annotations: { [APPROVE_ANNOTATION]: pending.digest } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    const code = apiStatusCode(err);
    if (code === 401 || code === 403) throw new InputError(`not allowed to annotate AdSync ${where} (HTTP ${code}): approving needs patch on adsyncs.truetask.io`);
    throw err;
  }
  if (ctx.output === 'json') await writeJson(ctx.write, { adsync: where, approved: shown }, ctx.drained);
  else ctx.write(`Approved plan ${pending.digest} of AdSync ${where} (${APPROVE_ANNOTATION}); the operator applies it now: kubectl get adsync ${ctx.target.name} -n ${ctx.target.namespace} -w\n`);
  return EXIT_OK;
}

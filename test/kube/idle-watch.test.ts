// Quiet watches: a controller with nothing to do, on the real API server, for 5
// minutes, makes exactly one LIST of AdSyncs (its informer's first) and logs no
// warning. Counted with the API server's audit log. client-node's Watch aborts
// after 30 s without data unless told otherwise; before the fix this was a
// warning and a relist every 30 s (10 LISTs in 5 minutes).
//
// Why 5 minutes of real time: what is tested is that time passes without churn,
// across the API server's bookmarks (about one a minute, which keep the watch's
// resourceVersion fresh) and the end of watches: their server-side expiry is set
// to 100 s here (the product's is 240-360 s) so that the 5 minutes see two of
// them, each resumed from its last resourceVersion without a LIST. It is the only
// test of this file, so nothing else runs meanwhile.
import { Writable } from 'node:stream';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/run.ts';
import { listsAndWatches, readAuditLog } from '../support/audit.ts';
import { kubeConfigFor } from '../support/kube-apiserver.ts';
import { createTestNamespace, type TestNamespace } from '../support/kube-namespace.ts';
import { waitFor } from '../support/kube-wait.ts';
import { installCrd, installOperatorRbac, operatorOptions } from '../support/operator-env.ts';

const IDLE_MS = 5 * 60_000;

describe('an idle controller', () => {
  let ns: TestNamespace | undefined;
  let controller: RunningController | undefined;
  afterAll(async () => {
    await controller?.stop();
    await ns?.delete();
  });

  it('makes one LIST per informer and logs no warning in 5 minutes', { timeout: IDLE_MS + 120_000 }, async () => {
    const admin = kubeConfigFor(inject('kubeconfigPath'));
    await installCrd(admin, `${inject('kubeBinDir')}/kubectl`, inject('kubeconfigPath'));
    ns = await createTestNamespace(admin, 'adsync-idle');
    const operatorUser = await installOperatorRbac(admin, ns.name);
    const lines: Array<{ level: number; msg: string; err?: unknown }> = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
          cb();
        },
      }),
    );
    controller = await startController(operatorOptions(inject('kubeconfigPath'), operatorUser, ns.name, { logger, leaderElect: true, watchTimeoutSeconds: 100 }));
    await waitFor('the controller leading and its cache filled', async () => (await fetch(`${controller!.url}/readyz`)).status === 200 && controller!.isLeader(), { timeoutMs: 60_000 });
    const startedAt = Date.now();

    // The subject of this test is time passing: nothing to await but the clock.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));

    const { lists, watches } = listsAndWatches(await readAuditLog(inject('kubeAuditLog')), ns.name);
    const warnings = lines.filter((l) => l.level >= 40);
    const resumed = lines.filter((l) => l.msg.includes('resuming it from the last resourceVersion'));
    console.info(`idle ${Math.round((Date.now() - startedAt) / 1000)} s: LISTs ${lists.length}, WATCHes ${watches.length} (${watches.map((w) => w.requestURI.replace(/^.*\?/, '')).join(' | ')}), idle resumes ${resumed.length}, warnings ${warnings.length}`);
    expect(lists).toHaveLength(1);
    expect(warnings.map((w) => w.msg)).toEqual([]);
    // Every watch with bookmarks and a server-side expiry; those after the first resumed from a later
    // resourceVersion (a bookmark's), not from a LIST. Client-node's 30 s timeout would make it 10.
    expect(watches.length).toBeGreaterThanOrEqual(3);
    expect(watches.length).toBeLessThanOrEqual(4);
    const params = watches.map((w) => new URL(w.requestURI, 'https://api').searchParams);
    for (const p of params) {
      expect(p.get('allowWatchBookmarks')).toBe('true');
      expect(p.get('timeoutSeconds')).toBe('100');
      expect(p.get('resourceVersion')).toMatch(/^\d+$/);
    }
    const rvs = params.map((p) => Number(p.get('resourceVersion')));
    expect(rvs.slice(1).every((rv, i) => rv >= (rvs[i] ?? 0))).toBe(true);
  });
});

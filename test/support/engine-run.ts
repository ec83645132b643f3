// Runs the engine in-process (as the controller does) against a real DC and the
// Truetask simulator, from the same AdSync object the other tests use.
import { adSyncSchema } from '../../src/api/adsync.ts';
import { resolveEngineConfig, type EngineConfig } from '../../src/config/engine-config.ts';
import { secretSchema, staticSecretSource } from '../../src/config/secrets.ts';
import { silentLogger } from '../../src/log.ts';
import { runEngine, type EngineDeps, type RunKind, type RunReport } from '../../src/reconcile/engine.ts';
import { createTruetaskClient, isUserExistsError } from '../../src/truetask/index.ts';
import { adsyncObject, secretObjects, type ScenarioOptions } from './scenario.ts';

export interface EngineScenario extends ScenarioOptions {
  /** PEM bundle for the ad-ca Secret (default: the DC's CA), e.g. the CAs of two DCs. */
  caBundle?: string;
}

/** The engine's configuration for the scenario, resolved as the controller resolves it. */
export async function engineConfig(o: EngineScenario): Promise<EngineConfig> {
  const adsync = adSyncSchema.parse(adsyncObject(o));
  const secrets = secretObjects(o).map((s) => {
    const secret = secretSchema.parse(s);
    return secret.metadata.name === 'ad-ca' && o.caBundle ? { ...secret, stringData: { 'ca.crt': o.caBundle } } : secret;
  });
  return resolveEngineConfig(adsync, staticSecretSource(secrets));
}

/** One run of the engine with the simulator at cfg.truetask.url. */
export async function runOnce(cfg: EngineConfig, kind: RunKind, deps: Partial<EngineDeps> = {}): Promise<RunReport> {
  const client = createTruetaskClient({ url: cfg.truetask.url, token: cfg.truetask.token, timeoutSeconds: 10 });
  try {
    return await runEngine(cfg, kind, { logger: silentLogger(), truetask: client, isConflict: isUserExistsError, withContainers: false, ...deps });
  } finally {
    await client.close();
  }
}

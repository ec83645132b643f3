/**
 * Reading Secret values (bind password, API token, CA bundles) from a source: the
 * CLI's YAML file, or the cluster. Values are returned to the caller and never logged.
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { configError } from '../errors.ts';
import type { SecretKeySelector } from '../api/spec.ts';

export const secretSchema = z.object({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Secret'),
  metadata: z.object({ name: z.string().min(1), namespace: z.string().optional() }).passthrough(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
  type: z.string().optional(),
});

export type SecretObject = z.infer<typeof secretSchema>;

/** A Secret's name → its decoded key/values, or undefined when there is no such Secret. */
export interface SecretSource {
  get(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  describe(): string;
}

export function decodeSecret(secret: SecretObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
  return out;
}

/** Reads one key. A single trailing newline (as `kubectl create secret --from-file` keeps) is dropped. */
export async function readSecretKey(source: SecretSource, namespace: string, ref: SecretKeySelector, what: string): Promise<string> {
  const data = await source.get(namespace, ref.name);
  if (!data) {
    throw configError('SecretNotFound', `Secret ${namespace}/${ref.name} (${what}) was not found in ${source.describe()}`);
  }
  const raw = data[ref.key];
  if (raw === undefined) {
    throw configError('SecretKeyNotFound', `Secret ${namespace}/${ref.name} has no key "${ref.key}" (${what})`);
  }
  const value = raw.replace(/\r?\n$/, '');
  if (value === '') throw configError('InvalidSecret', `Secret ${namespace}/${ref.name} key "${ref.key}" (${what}) is empty`);
  return value;
}

/** Secrets given in memory (the CLI's file), optionally falling back to another source. */
export function staticSecretSource(secrets: readonly SecretObject[], fallback?: SecretSource, label = 'the file'): SecretSource {
  return {
    async get(namespace, name) {
      const found = secrets.find((s) => s.metadata.name === name && (s.metadata.namespace ?? namespace) === namespace);
      if (found) return decodeSecret(found);
      return fallback?.get(namespace, name);
    },
    describe: () => (fallback ? `${label} or ${fallback.describe()}` : label),
  };
}

/** Reads a PEM bundle of CA certificates and checks that each one parses. */
export async function readCaBundle(source: SecretSource, namespace: string, ref: SecretKeySelector, what: string): Promise<string> {
  const pem = await readSecretKey(source, namespace, ref, what);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const bad = () => configError('InvalidSecret', `Secret ${namespace}/${ref.name} key "${ref.key}" (${what}) is not a PEM bundle of certificates`);
  if (blocks.length === 0) throw bad();
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw bad();
    }
  }
  return pem;
}

/**
 * Reads the CLI's -f FILE: a YAML stream with one AdSync and, optionally, the
 * Secrets it references. Anything wrong is an InputError (exit code 2) that says
 * what to fix.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { adSyncSchema, type AdSync } from '../api/adsync.ts';
import { secretSchema, type SecretObject } from '../config/secrets.ts';

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface InputFile {
  adsync: AdSync;
  secrets: SecretObject[];
}

export function formatIssues(prefix: string, error: z.ZodError): string {
  return error.issues.map((i) => `  - ${[prefix, ...i.path.map(String)].filter(Boolean).join('.')}: ${i.message}`).join('\n');
}

export function parseInputText(text: string, source: string): InputFile {
  const docs = parseAllDocuments(text);
  const adsyncs: AdSync[] = [];
  const secrets: SecretObject[] = [];
  for (const [index, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (doc.errors.length > 0) {
      throw new InputError(`${source}: document ${index + 1} is not valid YAML: ${doc.errors[0]?.message ?? 'parse error'}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const kind = (value as { kind?: unknown }).kind;
    if (kind === 'AdSync') {
      const parsed = adSyncSchema.safeParse(value);
      if (!parsed.success) throw new InputError(`${source}: the AdSync is invalid:\n${formatIssues('', parsed.error)}`);
      adsyncs.push(parsed.data);
    } else if (kind === 'Secret') {
      const parsed = secretSchema.safeParse(value);
      if (!parsed.success) throw new InputError(`${source}: a Secret is invalid:\n${formatIssues('', parsed.error)}`);
      secrets.push(parsed.data);
    } else {
      throw new InputError(`${source}: document ${index + 1} has kind ${JSON.stringify(kind)}; expected AdSync or Secret`);
    }
  }
  const [adsync, ...more] = adsyncs;
  if (!adsync) throw new InputError(`${source}: no AdSync found; the file needs one document with kind: AdSync`);
  if (more.length > 0) throw new InputError(`${source}: ${adsyncs.length} AdSyncs found; give one per file`);
  return { adsync, secrets };
}

export async function readInputFile(path: string): Promise<InputFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseInputText(text, path);
}

/**
 * JSON merge patches (RFC 7386), and writing an object's status with one
 * through the status subresource: no read-modify-write of the whole object, no
 * resourceVersion conflicts, and nothing outside status can be touched.
 */
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import { apiStatusCode } from './api-status.ts';
import type { ResourceType } from './informer.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The merge patch that turns `from` into `to`: changed keys with their new
 * value, removed keys as null, nested objects as nested patches, arrays whole.
 * Undefined when nothing changed.
 */
export function createMergePatch(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) {
    if (from[key] !== undefined && to[key] === undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    const old = from[key];
    if (isObject(old) && isObject(value)) {
      const nested = createMergePatch(old, value);
      if (nested !== undefined) patch[key] = nested;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value as Json;
    }
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** Applies a merge patch (RFC 7386) to a copy of `target`. */
export function applyMergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isObject(value)) out[key] = applyMergePatch(isObject(out[key]) ? out[key] : {}, value);
    else out[key] = value;
  }
  return out;
}

/**
 * Writes the status change from `from` to `to` as a merge patch of the status
 * subresource. False when nothing changed or the object is gone (404).
 */
export async function patchStatus(
  custom: CustomObjectsApi,
  resource: ResourceType,
  namespace: string,
  name: string,
  from: Record<string, unknown>,
  to: Record<string, unknown>,
): Promise<boolean> {
  const patch = createMergePatch(from, to);
  if (patch === undefined) return false;
  try {
    await custom.patchNamespacedCustomObjectStatus(
      { ...resource, namespace, name, body: { status: patch } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    return true;
  } catch (err) {
    if (apiStatusCode(err) === 404) return false;
    throw err;
  }
}

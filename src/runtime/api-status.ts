/**
 * The one helper that reads the HTTP status of a failed Kubernetes API call
 * (client-node's ApiException, or anything else carrying a numeric `code`).
 */
import { ApiException } from '@kubernetes/client-node';

export function apiStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short text for logs: "HTTP 409", or the error's message. */
export function apiErrorText(err: unknown): string {
  const code = apiStatusCode(err);
  if (code !== undefined) return `HTTP ${code}`;
  return err instanceof Error ? err.message : String(err);
}

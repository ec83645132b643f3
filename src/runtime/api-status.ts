/**
 * The one helper that reads the HTTP status of a failed Kubernetes API call
 * (client-node's ApiException, or anything else carrying a numeric `code`).
 *
 * ApiException is recognised by its public numeric `code` rather than by
 * `instanceof`: importing @kubernetes/client-node here loaded its ~870 modules in
 * every CLI command (the CLI reaches this file through cluster-input.ts), about
 * 0.5-1 s of a preview's start-up, although -f FILE never talks to a cluster.
 */

export function apiStatusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short text for logs: "HTTP 409", or the error's message. */
export function apiErrorText(err: unknown): string {
  const code = apiStatusCode(err);
  if (code !== undefined) return `HTTP ${code}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * One HTTP exchange with Truetask, with retries: an undici Agent (TLS verified by
 * default), bearer auth, timeouts, capped exponential back-off with full jitter on
 * 429 (honouring Retry-After), 502/503/504, dropped connections and timeouts.
 * Returns the final status and body text; the caller interprets them.
 */
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import type { Logger } from '../log.ts';
import { truetaskError } from '../errors.ts';
import { backoffDelayMs, parseRetryAfterMs, type RetryPolicy } from './backoff.ts';
import { classifyTransportError, transportError, type TransportFailure } from './errors.ts';

export interface TransportOptions {
  /** Base URL, e.g. https://truetask.corp.example.com; the API is at <url>/v1/. */
  url: string;
  token: string;
  ca?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
  logger?: Logger | undefined;
  onRequest?: ((method: string, code: string) => void) | undefined;
  random: () => number;
  /** Waits between attempts; resolves early when `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Sent as User-Agent on every request. */
  userAgent?: string | undefined;
  /** Cancels every request in flight and any retry (the run is cancelled). */
  signal?: AbortSignal | undefined;
  /**
   * Checked right before each attempt is sent (fencing: may this process still
   * write?); throwing stops the request before anything reaches Truetask.
   */
  beforeRequest?: (() => void) | undefined;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH';
  /** Path below the API root, e.g. `users?perPage=1` → <url>/v1/users?perPage=1. */
  path: string;
  body?: unknown;
  /** Secrets in this request (e.g. a password) that must never reach a message. */
  secrets?: readonly string[];
}

export interface HttpResponse {
  status: number;
  text: string;
  /** What to call this exchange in messages: `METHOD /v1/...` (no query). */
  what: string;
  attempts: number;
}

export interface Transport {
  send(req: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

const transientStatuses = new Set([502, 503, 504]);

export function parseBaseUrl(raw: string): { origin: string; basePath: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw truetaskError('TruetaskUnreachable', 'fix-config', 'The Truetask URL is not a valid URL', {
      hint: 'Set spec.truetask.url to http(s)://host[:port][/path]',
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw truetaskError('TruetaskUnreachable', 'fix-config', `The Truetask URL must use http or https, not ${url.protocol.replace(':', '')}`);
  }
  if (url.username || url.password) {
    throw truetaskError('TruetaskUnreachable', 'fix-config', 'The Truetask URL must not carry credentials; put the API token in its Secret');
  }
  const basePath = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, basePath };
}

export function createTransport(options: TransportOptions): Transport {
  const { origin, basePath } = parseBaseUrl(options.url);
  const agent = new Agent({
    connect: {
      // A custom CA adds to the public roots rather than replacing them.
      ...(options.ca ? { ca: [...rootCertificates, options.ca] } : {}),
      rejectUnauthorized: options.insecureSkipVerify !== true,
      timeout: options.timeoutMs,
    },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  const secretsOf = (req: HttpRequest): string[] => [options.token, ...(req.secrets ?? [])];
  const log = options.logger;

  async function send(req: HttpRequest): Promise<HttpResponse> {
    const fullPath = `${basePath}/v1/${req.path}`;
    const what = `${req.method} ${fullPath.split('?')[0] ?? fullPath}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.token}`,
      accept: 'application/json',
      'user-agent': options.userAgent ?? 'truetask-adsync',
    };
    let payload: string | undefined;
    if (req.body !== undefined) {
      payload = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    const { maxAttempts } = options.retry;
    const signal = options.signal;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      options.beforeRequest?.();
      const started = Date.now();
      let status: number;
      let text: string;
      let retryAfterHeader: string | string[] | undefined;
      try {
        const res = await agent.request({ origin, path: fullPath, method: req.method, headers, body: payload, ...(signal ? { signal } : {}) });
        status = res.statusCode;
        retryAfterHeader = res.headers['retry-after'];
        text = await res.body.text();
      } catch (err) {
        // Cancelled: not a Truetask failure, nothing to retry.
        signal?.throwIfAborted();
        const failure: TransportFailure = classifyTransportError(err, secretsOf(req));
        options.onRequest?.(req.method, 'error');
        log?.debug({ method: req.method, path: fullPath, attempt, error: failure.code, durationMs: Date.now() - started }, 'truetask request failed');
        if (!failure.retryable || attempt >= maxAttempts) throw transportError(failure, what, attempt);
        await options.sleep(backoffDelayMs(attempt, options.retry, options.random), signal);
        continue;
      }
      options.onRequest?.(req.method, String(status));
      log?.debug({ method: req.method, path: fullPath, status, attempt, durationMs: Date.now() - started }, 'truetask request');
      if (status === 429 || transientStatuses.has(status)) {
        const retryAfterMs = parseRetryAfterMs(retryAfterHeader, options.retry.maxRetryAfterMs);
        if (attempt >= maxAttempts) {
          if (status === 429) {
            throw truetaskError('RateLimited', 'backoff', `Truetask kept rate-limiting ${what} (429 after ${attempt} attempts)`, {
              ...(retryAfterMs === undefined ? {} : { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) }),
            });
          }
          throw truetaskError('TruetaskUnavailable', 'backoff', `Truetask answered ${what} with ${status} ${attempt} times in a row`);
        }
        const delay = (status === 429 || status === 503) && retryAfterMs !== undefined ? retryAfterMs : backoffDelayMs(attempt, options.retry, options.random);
        await options.sleep(delay, signal);
        continue;
      }
      return { status, text, what, attempts: attempt };
    }
  }

  return {
    send,
    close: () => agent.close(),
  };
}

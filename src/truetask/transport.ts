/**
 * One HTTP exchange with Truetask, with retries: an undici Agent (TLS verified by
 * default), bearer auth, timeouts, capped exponential back-off with full jitter on
 * 429 (honouring Retry-After), 502/503/504, dropped connections and timeouts.
 * Returns the final status and body text; the caller interprets them.
 *
 * Bounded: each attempt has one deadline (timeoutMs) for connecting, the headers
 * and the whole body (undici's bodyTimeout alone measures only the gaps between
 * chunks, so a body dripped a byte at a time would never end); a body is read as a
 * stream and given up past maxResponseBytes (ResponseTooLarge) without holding more;
 * and the run's signal (spec.timeout) ends any request in flight.
 */
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';
import type { Logger } from '../log.ts';
import { isAdSyncError, truetaskError } from '../errors.ts';
import { backoffDelayMs, parseRetryAfterMs, type RetryPolicy } from './backoff.ts';
import { classifyTransportError, transportError, type TransportFailure } from './errors.ts';

export interface TransportOptions {
  /** Base URL, e.g. https://truetask.corp.example.com; the API is at <url>/v1/. */
  url: string;
  token: string;
  ca?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
  timeoutMs: number;
  /** Largest response body read (default DEFAULT_MAX_RESPONSE_BYTES); a larger one fails with ResponseTooLarge. */
  maxResponseBytes?: number | undefined;
  /** The run's signal: once aborted, requests in flight end and no new one starts. */
  signal?: AbortSignal | undefined;
  retry: RetryPolicy;
  logger?: Logger | undefined;
  onRequest?: ((method: string, code: string) => void) | undefined;
  random: () => number;
  /** Waits between attempts; resolves early when `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Sent as User-Agent on every request. */
  userAgent?: string | undefined;
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

/** A page of 500 users is ~150 KiB; nothing the Truetask API sends comes near this. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

class BodyTooLarge extends Error {}

/** Reads a body as a stream, counting bytes, and stops (destroying the stream) past `max`. */
async function readBounded(body: AsyncIterable<Uint8Array> & { destroy?: (err?: Error) => unknown }, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > max) {
      body.destroy?.();
      throw new BodyTooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

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
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const abortedByRun = (what: string) => {
    const reason: unknown = options.signal?.reason;
    return isAdSyncError(reason) ? reason : truetaskError('TruetaskTimeout', 'retry', `${what} was stopped: the run ended`);
  };
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
      if (options.signal?.aborted) throw abortedByRun(what);
      // One deadline for the whole attempt, the body included; the run's signal ends it too.
      const attemptDeadline = AbortSignal.timeout(options.timeoutMs);
      const attemptSignal = options.signal ? AbortSignal.any([attemptDeadline, options.signal]) : attemptDeadline;
      try {
        const res = await agent.request({ origin, path: fullPath, method: req.method, headers, body: payload, signal: attemptSignal });
        status = res.statusCode;
        retryAfterHeader = res.headers['retry-after'];
        text = await readBounded(res.body, maxResponseBytes);
      } catch (err) {
        if (err instanceof BodyTooLarge) {
          options.onRequest?.(req.method, 'error');
          throw truetaskError('ResponseTooLarge', 'backoff', `Truetask's answer to ${what} was larger than ${Math.round(maxResponseBytes / 1024)} KiB; the operator stopped reading it`);
        }
        if (options.signal?.aborted) {
          options.onRequest?.(req.method, 'error');
          throw abortedByRun(what);
        }
        // The attempt's own deadline (connect, headers or body): a timeout, retried like one.
        const cause = attemptDeadline.aborted ? Object.assign(new Error(`no complete answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' }) : err;
        const failure: TransportFailure = classifyTransportError(cause, secretsOf(req));
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
    // After the run's deadline, requests in flight are dropped rather than waited for.
    close: () => (options.signal?.aborted ? agent.destroy() : agent.close()),
  };
}

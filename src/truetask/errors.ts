/**
 * Typed Truetask failures, and the mapping of transport errors (undici, sockets,
 * TLS) to them. Nothing thrown from here carries a header, a token or a request
 * body: undici's errors are never kept as `cause`, only a scrubbed copy.
 */
import { AdSyncError, truetaskError, type NextStep, type TruetaskReason } from '../errors.ts';
import { TLS_ERROR_CODES } from '../util/tls-codes.ts';

/** An HTTP answer Truetask gave that the client does not treat as success. */
export class TruetaskApiError extends AdSyncError {
  /** The HTTP status. */
  readonly status: number;
  /** The `error` code of the body, when it had one. */
  readonly code: string | undefined;
  /** Per-field messages of a 400 validation answer. */
  readonly fields: Readonly<Record<string, string>> | undefined;

  constructor(
    reason: TruetaskReason,
    next: NextStep,
    message: string,
    details: {
      status: number;
      code?: string | undefined;
      fields?: Record<string, string> | undefined;
      retryAfterSeconds?: number | undefined;
      hint?: string | undefined;
    },
  ) {
    super('truetask', reason, next, message, {
      ...(details.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: details.retryAfterSeconds }),
      ...(details.hint === undefined ? {} : { hint: details.hint }),
    });
    this.name = 'TruetaskApiError';
    this.status = details.status;
    this.code = details.code;
    this.fields = details.fields;
  }
}

/**
 * POST /v1/users answered 409: a user with this email (any case) exists. After a
 * dropped connection this can be our own earlier attempt: look the user up by email.
 */
export class UserExistsError extends TruetaskApiError {
  readonly email: string;
  constructor(email: string, serverMessage: string | undefined) {
    super('TruetaskRejected', 'retry', `Truetask already has a user with email ${email}${serverMessage ? ` (${serverMessage})` : ''}`, {
      status: 409,
      code: 'conflict',
    });
    this.name = 'UserExistsError';
    this.email = email;
  }
}

/** PATCH /v1/users/{id} answered 404: no user with this id (deleted meanwhile?). */
export class UserNotFoundError extends TruetaskApiError {
  readonly userId: string;
  constructor(userId: string, serverMessage: string | undefined) {
    super('TruetaskRejected', 'retry', `Truetask has no user with id ${userId}${serverMessage ? ` (${serverMessage})` : ''}`, {
      status: 404,
      code: 'not_found',
    });
    this.name = 'UserNotFoundError';
    this.userId = userId;
  }
}

export function isUserExistsError(err: unknown): err is UserExistsError {
  return err instanceof UserExistsError;
}

export function isUserNotFoundError(err: unknown): err is UserNotFoundError {
  return err instanceof UserNotFoundError;
}

/** Removes every secret (and anything shaped like a bearer credential) from a text. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join('[REDACTED]');
  }
  return out.replace(/(bearer\s+)\S+/gi, '$1[REDACTED]');
}

/** Shortens a server-provided text so that a huge or hostile body cannot flood a status. */
export function clip(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const tlsCodes = TLS_ERROR_CODES;

const droppedCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_ABORTED']);
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export type TransportKind = 'dropped' | 'timeout' | 'unreachable' | 'tls' | 'other';

export interface TransportFailure {
  kind: TransportKind;
  /** Whether the client retries it itself. */
  retryable: boolean;
  code: string;
  /** A scrubbed, header-free description. */
  detail: string;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Classifies what undici threw; looks one level into `cause` for the socket's code. */
export function classifyTransportError(err: unknown, secrets: readonly string[]): TransportFailure {
  const outer = codeOf(err);
  const inner = codeOf((err as { cause?: unknown } | null)?.cause);
  const codes = [outer, inner].filter((c): c is string => c !== undefined);
  const rawMessage = err instanceof Error ? err.message : String(err);
  const detail = clip(scrub(rawMessage, secrets), 200);
  const code = codes.find((c) => tlsCodes.has(c) || timeoutCodes.has(c) || unreachableCodes.has(c)) ?? codes[0] ?? 'UNKNOWN';
  const has = (set: ReadonlySet<string>) => codes.some((c) => set.has(c));
  if (has(tlsCodes)) return { kind: 'tls', retryable: false, code, detail };
  if (has(timeoutCodes)) return { kind: 'timeout', retryable: true, code, detail };
  if (has(unreachableCodes)) return { kind: 'unreachable', retryable: false, code, detail };
  if (has(droppedCodes)) return { kind: 'dropped', retryable: true, code, detail };
  // No code we know: judge by the words.
  if (/certificate|ssl routines|wrong version number/i.test(rawMessage)) return { kind: 'tls', retryable: false, code, detail };
  if (/socket|closed|reset/i.test(rawMessage)) return { kind: 'dropped', retryable: true, code, detail };
  return { kind: 'other', retryable: false, code, detail };
}

/** A plain, scrubbed stand-in for undici's error, safe to keep as `cause`. */
class TransportCause extends Error {
  readonly code: string;
  constructor(failure: TransportFailure) {
    super(`${failure.code}: ${failure.detail}`);
    this.name = 'TransportError';
    this.code = failure.code;
  }
}

export function transportError(failure: TransportFailure, what: string, attempts: number): AdSyncError {
  const cause = new TransportCause(failure);
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  switch (failure.kind) {
    case 'tls':
      return truetaskError('TruetaskTLSError', 'fix-config', `TLS handshake with Truetask failed for ${what}: ${failure.detail} (${failure.code})`, { cause });
    case 'timeout':
      return truetaskError('TruetaskTimeout', 'retry', `Truetask did not answer ${what} in time${tries} (${failure.code})`, { cause });
    case 'unreachable':
      return truetaskError('TruetaskUnreachable', 'retry', `Truetask is unreachable for ${what} (${failure.code})`, { cause });
    case 'dropped':
      return truetaskError('TruetaskUnreachable', 'retry', `The connection to Truetask dropped during ${what}${tries} (${failure.code})`, { cause });
    default:
      return truetaskError('TruetaskError', 'retry', `Calling Truetask for ${what} failed: ${failure.detail} (${failure.code})`, { cause });
  }
}

/**
 * Maps what ldapts and Node's sockets throw to AdSyncErrors with AD-meaningful
 * reasons, decoding AD's bind sub-codes (the `data 52e` in the diagnostic message).
 */
import {
  BusyError,
  ConfidentialityRequiredError,
  InsufficientAccessError,
  InvalidCredentialsError,
  InvalidDNSyntaxError,
  NoSuchObjectError,
  OperationsError,
  ResultCodeError,
  SizeLimitExceededError,
  StrongAuthRequiredError,
  TimeLimitExceededError,
  UnavailableError,
  UnwillingToPerformError,
} from 'ldapts';
import { AdSyncError, directoryError, type DirectoryReason, type NextStep } from '../errors.ts';
import { TLS_ERROR_CODES } from '../util/tls-codes.ts';

/** AD's sub-codes in an invalidCredentials (49) diagnostic message. */
const bindSubCodes: Record<string, { reason: DirectoryReason; what: string }> = {
  '525': { reason: 'InvalidCredentials', what: 'the bind account does not exist' },
  '52e': { reason: 'InvalidCredentials', what: 'the bind password is wrong, or the bind DN names no account' },
  '530': { reason: 'InvalidCredentials', what: 'the service account may not log on at this time (logon hours)' },
  '531': { reason: 'InvalidCredentials', what: 'the service account may not log on from this workstation' },
  '532': { reason: 'PasswordExpired', what: 'the service account\'s password has expired' },
  '533': { reason: 'AccountDisabled', what: 'the service account is disabled' },
  '568': { reason: 'InvalidCredentials', what: 'the service account has too many security IDs' },
  '701': { reason: 'AccountExpired', what: 'the service account has expired' },
  '773': { reason: 'PasswordExpired', what: 'the service account\'s password must be changed before it can bind' },
  '775': { reason: 'AccountLocked', what: 'the service account is locked out' },
};

const tlsCodes = TLS_ERROR_CODES;

export type LdapPhase = 'connect' | 'bind' | 'search';

interface Context {
  phase: LdapPhase;
  url: string;
  /** The DN searched, for NoSuchBaseDN. */
  baseDN?: string;
  /** What the search reads, in words ("users", "members of CN=IT-Admins,..."), for limit errors. */
  search?: string;
  /** The server-side time limit the search was sent with (spec.ldap.timeoutSeconds). */
  timeLimitSeconds?: number;
}

/**
 * A search the DC stopped at a limit: AD's timeLimitExceeded (3) or sizeLimitExceeded (4),
 * and Samba's operationsError (1) from `ldb_wait`, which is how Samba answers when the
 * time limit of the request ends its search.
 */
export function isSearchLimitError(err: unknown): 'time' | 'size' | undefined {
  if (err instanceof TimeLimitExceededError) return 'time';
  if (err instanceof SizeLimitExceededError) return 'size';
  if (err instanceof OperationsError && /\bldb_wait\b/.test(err.message)) return 'time';
  return undefined;
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Returns the AD sub-code of a bind failure, e.g. "52e", if the message carries one. */
export function adBindSubCode(message: string): string | undefined {
  return /\bdata ([0-9a-f]{3,4})\b/i.exec(message)?.[1]?.toLowerCase();
}

export function mapLdapError(err: unknown, ctx: Context): AdSyncError {
  if (err instanceof AdSyncError) return err;
  const opts = { cause: err };
  const make = (reason: DirectoryReason, next: NextStep, message: string) => directoryError(reason, next, message, opts);
  const message = err instanceof Error ? err.message : String(err);

  if (err instanceof InvalidCredentialsError) {
    const sub = adBindSubCode(message);
    const known = sub ? bindSubCodes[sub] : undefined;
    if (known) return make(known.reason, 'fix-config', `Bind to ${ctx.url} refused (AD code ${sub}): ${known.what}`);
    return make('InvalidCredentials', 'fix-config', `Bind to ${ctx.url} refused: invalid credentials`);
  }
  if (err instanceof StrongAuthRequiredError || err instanceof ConfidentialityRequiredError) {
    return make('StrongAuthRequired', 'fix-config', `${ctx.url} requires an encrypted connection for simple binds (strongAuthRequired)`);
  }
  if (err instanceof NoSuchObjectError) {
    return make('NoSuchBaseDN', 'fix-config', `The base DN ${ctx.baseDN ?? ''} does not exist on ${ctx.url}`);
  }
  if (err instanceof InvalidDNSyntaxError) {
    return make('NoSuchBaseDN', 'fix-config', `${ctx.url} rejected the DN ${ctx.baseDN ?? ''} as invalid syntax`);
  }
  if (err instanceof InsufficientAccessError) {
    return make('InsufficientAccess', 'fix-config', `The service account may not read ${ctx.baseDN ?? 'the directory'} (insufficientAccessRights)`);
  }
  const limit = ctx.phase === 'search' ? isSearchLimitError(err) : undefined;
  if (limit) {
    const what = ctx.search ?? `below ${ctx.baseDN ?? 'the base DN'}`;
    const which =
      limit === 'time'
        ? `its time limit${ctx.timeLimitSeconds === undefined ? '' : ` (spec.ldap.timeoutSeconds: ${ctx.timeLimitSeconds} s)`}`
        : 'its size limit (sizeLimitExceeded)';
    const text = `The DC stopped the search for ${what} at ${which}; nothing is planned from a partial read`;
    if (limit === 'size') {
      return directoryError('SearchTimeLimitExceeded', 'backoff', text, {
        ...opts,
        hint: 'Narrow spec.ldap.baseDN or spec.userFilter, or lower spec.ldap.pageSize; the DC\'s LDAP policy (MaxPageSize, MaxResultSetSize) caps what one search may return',
      });
    }
    return make('SearchTimeLimitExceeded', 'backoff', text);
  }
  if (err instanceof BusyError || err instanceof UnavailableError || err instanceof UnwillingToPerformError) {
    return make('DirectoryError', 'retry', `The DC is busy or unavailable (${err.constructor.name})`);
  }
  if (err instanceof ResultCodeError) {
    return make('DirectoryError', 'retry', `LDAP ${ctx.phase} failed with result code ${err.code}: ${firstLine(message)}`);
  }

  const code = errCode(err);
  if (code === 'ECONNREFUSED') return make('ConnectionRefused', 'retry', `Connection to ${ctx.url} refused`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return make('HostNotFound', 'retry', `The host in ${ctx.url} does not resolve`);
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return make('Timeout', 'retry', `No answer from ${ctx.url} (${code})`);
  }
  if ((code && tlsCodes.has(code)) || /certificate|SSL|TLS/i.test(message)) {
    return make('TLSError', 'fix-config', `TLS with ${ctx.url} failed: ${firstLine(message)}`);
  }
  if (/Connection timeout|timed out/i.test(message)) {
    return make('Timeout', 'retry', `${ctx.url} did not answer the ${ctx.phase} in time`);
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /Connection closed|Socket error|socket/i.test(message)) {
    return make('ConnectionLost', 'retry', `The connection to ${ctx.url} dropped during the ${ctx.phase}`);
  }
  return make('DirectoryError', 'retry', `LDAP ${ctx.phase} against ${ctx.url} failed: ${firstLine(message)}`);
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').slice(0, 300);
}

/** Errors after which a fresh connection (reconnect + rebind) is worth one more try. */
export function isConnectionLevel(err: AdSyncError): boolean {
  return err.reason === 'ConnectionLost' || err.reason === 'Timeout';
}

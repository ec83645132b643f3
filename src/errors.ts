/**
 * Errors typed by what should happen next, carrying an AD- or Truetask-meaningful
 * reason (the condition reasons of the spec) and the troubleshooting hint from
 * Truetask's own AD guide. Messages never contain secrets.
 */

/** What the caller should do next. */
export type NextStep =
  /** The configuration (spec, Secret, file) is wrong: retrying will not help until a person fixes it. */
  | 'fix-config'
  /** A transient fault: try again soon. */
  | 'retry'
  /** The far side asked us to slow down or is unhealthy: retry with a longer back-off. */
  | 'backoff';

export const directoryReasons = [
  'ConnectionRefused',
  'HostNotFound',
  'ConnectionLost',
  'Timeout',
  'TLSError',
  'StrongAuthRequired',
  'InvalidCredentials',
  'AccountDisabled',
  'PasswordExpired',
  'AccountExpired',
  'AccountLocked',
  'NoSuchBaseDN',
  'InsufficientAccess',
  'SearchTimeLimitExceeded',
  'DirectoryTooLarge',
  'DirectoryError',
] as const;

export const truetaskReasons = [
  'Unauthorized',
  'Forbidden',
  'TruetaskUnreachable',
  'TruetaskTimeout',
  'TruetaskTLSError',
  'RateLimited',
  'TruetaskUnavailable',
  'TruetaskRejected',
  'ResponseTooLarge',
  'TruetaskError',
] as const;

/** Limits of a run as a whole (spec.timeout), whichever side it was waiting on. */
export const runReasons = ['RunTimedOut'] as const;

export const configReasons = ['InvalidSpec', 'SecretNotFound', 'SecretKeyNotFound', 'InvalidSecret', 'SecretUnavailable', 'SecretNotAllowed', 'EndpointNotAllowed'] as const;

export type DirectoryReason = (typeof directoryReasons)[number];
export type TruetaskReason = (typeof truetaskReasons)[number];
export type ConfigReason = (typeof configReasons)[number];
export type RunReason = (typeof runReasons)[number];
export type Reason = DirectoryReason | TruetaskReason | ConfigReason | RunReason;

export type ErrorSource = 'directory' | 'truetask' | 'config';

export interface AdSyncErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Seconds the far side asked us to wait (Retry-After). */
  retryAfterSeconds?: number;
}

export class AdSyncError extends Error {
  readonly reason: Reason;
  readonly next: NextStep;
  readonly source: ErrorSource;
  readonly hint: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(source: ErrorSource, reason: Reason, next: NextStep, message: string, options: AdSyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AdSyncError';
    this.source = source;
    this.reason = reason;
    this.next = next;
    this.hint = options.hint ?? defaultHints[reason];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Message with the troubleshooting hint, for conditions, events and the CLI. */
  get detail(): string {
    return this.hint ? `${this.message}. ${this.hint}` : this.message;
  }
}

export function directoryError(reason: DirectoryReason, next: NextStep, message: string, options?: AdSyncErrorOptions): AdSyncError {
  return new AdSyncError('directory', reason, next, message, options);
}

export function truetaskError(reason: TruetaskReason, next: NextStep, message: string, options?: AdSyncErrorOptions): AdSyncError {
  return new AdSyncError('truetask', reason, next, message, options);
}

export function configError(reason: ConfigReason, message: string, options?: AdSyncErrorOptions): AdSyncError {
  return new AdSyncError('config', reason, 'fix-config', message, options);
}

export function isAdSyncError(err: unknown): err is AdSyncError {
  return err instanceof AdSyncError;
}

/** Troubleshooting hints, from Truetask's "Active Directory Integration" guide. */
export const defaultHints: Partial<Record<Reason, string>> = {
  ConnectionRefused:
    'Verify AD DS is running on the domain controller (Get-Service NTDS), that LDAP is listening (netstat -an | findstr ":389" or ":636"), and that the firewall allows inbound TCP 389/636; through a VPN use the DC\'s internal IP',
  HostNotFound:
    'The domain controller\'s host name does not resolve: check spec.ldap.url, or use the DC\'s IP address with spec.ldap.tls.serverName',
  ConnectionLost: 'The connection to the domain controller dropped during the read; nothing was written. The next run retries',
  Timeout:
    'The domain controller did not answer in time: check network routing and firewalls between here and the DC (TCP 389/636), or raise spec.ldap.timeoutSeconds',
  TLSError:
    'The DC\'s certificate could not be verified: put the CA that issued it in spec.ldap.tls.caSecretRef, and set spec.ldap.tls.serverName when the URL holds an IP address',
  StrongAuthRequired:
    'The DC refuses simple binds without encryption: use ldaps://HOST:636 or set spec.ldap.startTLS: true',
  InvalidCredentials:
    'Check the bind password Secret; try both bindDN formats (user@domain and CN=user,CN=Users,DC=domain,DC=com), and verify the account is not locked or disabled',
  AccountDisabled: 'The service account is disabled in AD: enable it (Active Directory Users and Computers)',
  PasswordExpired:
    'The service account\'s password has expired or must be changed: set a new one, enable "Password never expires", and update the bind password Secret',
  AccountExpired: 'The service account has expired in AD: extend or clear its expiry date',
  AccountLocked: 'The service account is locked out in AD: unlock it, then check the bind password Secret so it does not lock again',
  NoSuchBaseDN:
    'Check that spec.ldap.baseDN exists and covers the container where users reside (often CN=Users,DC=...)',
  InsufficientAccess: 'The service account needs read access to user and group objects',
  SearchTimeLimitExceeded:
    'Raise spec.ldap.timeoutSeconds (it is also the server-side time limit of each search, at most 300), narrow spec.ldap.baseDN or spec.userFilter, or have the AD admins index the attributes the filter uses; AD also caps every search at its MaxQueryDuration (LDAP policy, 120 s by default)',
  SecretNotFound: 'Create the Secret in the AdSync\'s namespace, or fix the secretRef name',
  SecretKeyNotFound: 'Add the key to the Secret, or fix the secretRef key',
  SecretUnavailable: 'The Kubernetes API server did not return the Secret (a server error or a timeout); the run is retried with back-off',
  Unauthorized:
    'The Truetask API token is missing, unknown or expired: create one in Settings > Integrations > API Tokens and update the token Secret',
  Forbidden: 'The Truetask API token lacks permission: it needs scope Read + Write and must belong to an admin',
  TruetaskUnreachable: 'Check spec.truetask.url and that Truetask is reachable from here',
  RunTimedOut:
    'The run did not finish within spec.timeout and was stopped; nothing more was written. A directory or Truetask that answers very slowly (or a very large first sync) causes this: check the DC and Truetask respond, or raise spec.timeout',
  DirectoryTooLarge:
    'The domain controller sent more than a directory read can hold (a search answer above its byte limit, or more entries in one run than the operator reads): check spec.ldap.url points at a real AD domain controller, or narrow spec.ldap.baseDN or spec.userFilter',
  ResponseTooLarge:
    'Truetask sent an answer larger than the operator reads (a list page or user far above what the Truetask API returns): check spec.truetask.url points at Truetask itself and not at a proxy or another service',
  TruetaskTLSError: 'Put the CA that issued Truetask\'s certificate in spec.truetask.tls.caSecretRef',
};

/**
 * The AdSync spec: the one source of truth for the API. The CRD's OpenAPI schema
 * (crds/) is generated from these zod schemas by `npm run manifests`, and the same
 * schemas validate a spec read from a file by the CLI or from the cluster by the
 * controller. Cross-field rules are declared once (./rules.ts) and become both CEL
 * `x-kubernetes-validations` in the CRD and zod refinements here.
 */
import { z } from 'zod';
import { isDnLike, parseDn } from '../ldap/dn.ts';
import { filterProblem } from '../ldap/filter.ts';
import { celRules, rulesHold, ruleRefinement } from './rules.ts';

export const DEFAULT_USER_FILTER =
  '(&(objectCategory=person)(objectClass=user)(userPrincipalName=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))';

export const API_GROUP = 'truetask.io';
export const API_VERSION = 'v1alpha1';
export const KIND = 'AdSync';
export const PLURAL = 'adsyncs';

const k8sName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const secretKey = /^[-._a-zA-Z0-9]+$/;
const hostname = /^(([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])\.)*([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])$/;

function secretKeySelector(defaultKey: string, what: string) {
  return z
    .object({
      name: z
        .string()
        .min(1)
        .max(253)
        .regex(k8sName, 'must be a Secret name (lower-case letters, digits, "-" and ".")')
        .describe(`Name of a Secret in the AdSync's own namespace holding ${what}.`),
      key: z
        .string()
        .min(1)
        .max(253)
        .regex(secretKey, 'must be a Secret key (letters, digits, "-", "_" and ".")')
        .default(defaultKey)
        .describe(`Key within the Secret. Defaults to "${defaultKey}".`),
    })
    .describe(`Reference to ${what} in a Secret of the AdSync's namespace.`);
}

/**
 * What admission cannot check (CEL has no parser): once a value passes the
 * rules CEL enforces, it must also parse. These messages appear when the CLI
 * reads a file, or as an InvalidSpec condition and event from the controller.
 */
function userFilterParses(value: string, ctx: z.RefinementCtx): void {
  if (!rulesHold('userFilter', value)) return;
  const problem = filterProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `userFilter is not a valid LDAP filter (RFC 4515): ${problem.message}` });
}

function dnParses(value: string, ctx: z.RefinementCtx): void {
  try {
    parseDn(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}

/** A DN field: checked at admission (CEL) and by zod with the same rule. */
function dnString(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .superRefine(ruleRefinement('dn'))
    .superRefine((v, ctx) => {
      if (rulesHold('dn', v)) dnParses(v, ctx);
    })
    .meta({ 'x-kubernetes-validations': celRules('dn') });
}

export const ldapTlsSchema = z
  .object({
    caSecretRef: secretKeySelector('ca.crt', 'a PEM bundle of the CA certificates that issued the domain controller\'s certificate')
      .optional(),
    serverName: z
      .string()
      .max(253)
      .regex(hostname, 'must be a DNS name such as dc1.corp.example.com')
      .optional()
      .describe(
        'DNS name to verify in the domain controller\'s certificate, when spec.ldap.url holds an IP address (for example dc1.corp.example.com).',
      ),
    insecureSkipVerify: z
      .boolean()
      .default(false)
      .describe(
        'Do not verify the domain controller\'s certificate. Only for testing: the connection is then open to interception. Reported as an InsecureTLS warning event.',
      ),
  })
  .describe('TLS settings for ldaps:// and StartTLS. Certificates are verified unless insecureSkipVerify is true.');

const ldapUrl = () =>
  z
    .string()
    .max(2048)
    .regex(/^ldaps?:\/\/[^\s/]+(:[0-9]{1,5})?\/?$/, 'must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], for example ldaps://10.0.10.14:636');

export const MAX_FAILOVER = 10;

export const ldapFailoverSchema = z
  .object({
    url: ldapUrl().describe(
      'URL of another domain controller of the same domain, for example ldaps://10.0.10.15:636. It uses the same bind account, CA bundle and startTLS setting as spec.ldap.url.',
    ),
    serverName: z
      .string()
      .max(253)
      .regex(hostname, 'must be a DNS name such as dc2.corp.example.com')
      .optional()
      .describe(
        'DNS name to verify in this domain controller\'s certificate (certificates name each DC), for example dc2.corp.example.com. Defaults to spec.ldap.tls.serverName, else the host in url.',
      ),
  })
  .describe('Another domain controller to try when those before it do not answer.');

export const ldapSchema = z
  .object({
    url: ldapUrl()
      .describe(
        'URL of the domain controller: ldaps://HOST:636 (recommended) or ldap://HOST:389 (then set startTLS: true, since AD refuses simple binds without encryption). Through a VPN prefer the DC\'s internal IP.',
      ),
    baseDN: dnString(2048)
      .describe('Base DN to search for users and groups, for example DC=corp,DC=example,DC=com. It must cover the container where users reside (often CN=Users,DC=...).'),
    bindDN: z
      .string()
      .min(1)
      .max(1024)
      .describe(
        'The read-only service account to bind as: user@domain (svc-truetask@corp.example.com), DOMAIN\\user, or a DN (CN=svc-truetask,OU=Service Accounts,DC=corp,DC=example,DC=com). Never a Domain Admin.',
      ),
    bindPasswordSecretRef: secretKeySelector('password', 'the service account\'s password'),
    startTLS: z
      .boolean()
      .default(false)
      .describe('Upgrade an ldap:// connection with StartTLS before binding. Only valid with ldap:// URLs.'),
    insecurePlaintext: z
      .boolean()
      .default(false)
      .describe(
        'Allow ldap:// URLs (spec.ldap.url or a failover DC) without startTLS: the bind password and everything read then cross the network in clear text. Refused unless this is true; reported at every run as an InsecurePlaintext warning event, the InsecureTransport condition and the truetask_adsync_insecure_transport metric. Only for testing.',
      ),
    tls: ldapTlsSchema.optional(),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(300)
      .default(30)
      .describe(
        'Timeout in seconds (1..300) for connecting and for each LDAP operation; also the server-side time limit of each search (AD also applies its own MaxQueryDuration, 120 s by default). A search the DC stops at its limit fails the run with SearchTimeLimitExceeded: raise this for large directories.',
      ),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(500)
      .describe('Entries per page of the paged search (1..1000; AD\'s MaxPageSize is 1000).'),
    failover: z
      .array(ldapFailoverSchema)
      .max(MAX_FAILOVER)
      .optional()
      .describe(
        `More domain controllers (at most ${MAX_FAILOVER}), tried in order when spec.ldap.url and those before do not answer: connection refused, host not found, a timeout or a dropped connection. Never on an answer such as invalid credentials, so a wrong password is tried against one DC only. status.server.url shows the DC a run used; a FailedOver warning event says when a run failed over.`,
      ),
  })
  .superRefine(ruleRefinement('ldap'))
  .meta({ 'x-kubernetes-validations': celRules('ldap') })
  .describe('How to reach and bind to Active Directory. Nothing is ever written to AD: the operator only binds and searches.');

export const adminPromotionSchema = z
  .object({
    enabled: z.boolean().default(false).describe('Promote members of the groups below to the Truetask Admin role. Everyone else gets the User role.'),
    groups: z
      .array(
        z
          .string()
          .min(1)
          .max(1024)
          .superRefine(ruleRefinement('groupRef'))
          .superRefine((v, ctx) => {
            if (isDnLike(v) && rulesHold('groupRef', v)) dnParses(v, ctx);
          })
          .meta({ 'x-kubernetes-validations': celRules('groupRef') }),
      )
      .max(50)
      .default([])
      .describe(
        'AD security groups whose members become Admin: each a DN (CN=IT-Admins,OU=Groups,DC=corp,DC=example,DC=com) or a name (sAMAccountName or cn, for example Admin).',
      ),
    nested: z
      .boolean()
      .default(true)
      .describe('Count members of nested groups (LDAP_MATCHING_RULE_IN_CHAIN). When false only direct members count.'),
  })
  .superRefine(ruleRefinement('adminPromotion'))
  .meta({ 'x-kubernetes-validations': celRules('adminPromotion') })
  .describe('Admin promotion. Promotion only ever raises a role: an Owner or Admin is never downgraded.');

export const truetaskTlsSchema = z
  .object({
    caSecretRef: secretKeySelector('ca.crt', 'a PEM bundle of the CA certificates that issued Truetask\'s certificate').optional(),
    insecureSkipVerify: z
      .boolean()
      .default(false)
      .describe('Do not verify Truetask\'s certificate. Only for testing; reported as an InsecureTLS warning event.'),
  })
  .describe('TLS settings for https:// Truetask URLs.');

export const truetaskSchema = z
  .object({
    url: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL, for example https://truetask.corp.example.com')
      .describe('Base URL of Truetask (the API is at <url>/v1/), for example https://truetask.corp.example.com. http:// needs insecurePlaintext: true.'),
    tokenSecretRef: secretKeySelector('token', 'a Truetask API token with scope Read + Write (Settings > Integrations > API Tokens)'),
    insecurePlaintext: z
      .boolean()
      .default(false)
      .describe(
        'Allow an http:// URL: the API token and generated passwords then cross the network in clear text. Refused unless this is true; reported at every run as an InsecurePlaintext warning event, the InsecureTransport condition and the truetask_adsync_insecure_transport metric. Only for testing.',
      ),
    tls: truetaskTlsSchema.optional(),
    timeoutSeconds: z.number().int().min(1).max(300).default(30).describe('Timeout in seconds for each Truetask API request, the whole body included (1..300).'),
  })
  .superRefine(ruleRefinement('truetask'))
  .meta({ 'x-kubernetes-validations': celRules('truetask') })
  .describe('The Truetask instance to provision accounts in.');

export const safeguardSchema = z
  .object({
    maxCreates: z
      .number()
      .int()
      .min(0)
      .max(10_000_000)
      .default(500)
      .describe('A Sync run that would create more Truetask users than this writes nothing and waits for approval (Ready=False, reason ApprovalRequired; approve with the truetask.io/approve annotation). Default 500. 0: no limit on the count.'),
    maxGrowthPercent: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(10)
      .describe(
        'A Sync run that would grow the Truetask users the directory already has (those a run finds unchanged or to promote) by more than this percentage writes nothing and waits for approval, like maxCreates. Never below growthFloor creates, so the first sync of a directory bigger than growthFloor into an empty Truetask waits for approval too. Default 10. 0: no limit on growth.',
      ),
    growthFloor: z
      .number()
      .int()
      .min(0)
      .max(10_000_000)
      .default(10)
      .describe('The growth limit (maxGrowthPercent) never stops a run that creates at most this many users. Default 10.'),
  })
  .describe(
    'The create safeguard: a Sync run whose plan creates more users than these limits allow writes nothing; it records the plan in status.pendingApproval (counts, first rows, digest) and waits for a person to approve exactly that plan (kubectl annotate adsync NAME truetask.io/approve=<digest>, or adsync approve NAMESPACE/NAME). Promotions are not counted but wait with the plan. Preview mode is never held.',
  );

export const intervalPattern = /^(manual|([0-9]+h)?([0-9]+m)?([0-9]+s)?)$/;
export const timeoutPattern = /^([0-9]+h)?([0-9]+m)?([0-9]+s)?$/;
export const fullSyncIntervalPattern = /^(0|([0-9]+h)?([0-9]+m)?([0-9]+s)?)$/;

export const adSyncSpecSchema = z
  .object({
    ldap: ldapSchema,
    userFilter: z
      .string()
      .min(2)
      .max(4096)
      .superRefine(ruleRefinement('userFilter'))
      .superRefine(userFilterParses)
      .meta({ 'x-kubernetes-validations': celRules('userFilter') })
      .default(DEFAULT_USER_FILTER)
      .describe(
        'LDAP filter (RFC 4515) choosing which objects are synced: exactly one filter in parentheses, such as (&(objectClass=user)(mail=*)). Parentheses, *, and \\ inside a value are written \\28, \\29, \\2a and \\5c. The default selects active (not disabled) person accounts that have a userPrincipalName.',
      ),
    emailAttribute: z
      .enum(['userPrincipalName', 'mail'])
      .default('userPrincipalName')
      .describe('AD attribute that becomes the user\'s email in Truetask: userPrincipalName (most common) or mail (when your organisation populates it).'),
    excludedOUs: z
      .array(dnString(1024))
      .max(200)
      .default([])
      .describe('DNs of OUs or containers to exclude (service accounts, computers, test users). Everything at any depth below them is excluded. Compared as DNs: case, spacing and escapes do not matter.'),
    adminPromotion: adminPromotionSchema.optional(),
    truetask: truetaskSchema,
    mode: z
      .enum(['Preview', 'Sync'])
      .default('Preview')
      .describe('Preview (default) computes who would be created or promoted and writes nothing. Sync creates and promotes users.'),
    interval: z
      .string()
      .min(2)
      .max(16)
      .regex(intervalPattern, 'must be "manual" or a duration such as 1h, 6h, 12h or 90m')
      .default('6h')
      .describe('How often to run: "manual" (only on spec change or the truetask.io/sync-now annotation), or a duration of at least 1m such as 1h, 6h (recommended), 12h or 90m.'),
    fullSyncInterval: z
      .string()
      .min(1)
      .max(16)
      .regex(fullSyncIntervalPattern, 'must be "0" or a duration such as 24h, 12h or 90m')
      .default('24h')
      .describe(
        'In Sync mode, scheduled runs between full runs read only what changed in AD since the last run (uSNChanged on the same domain controller) and look up only those users in Truetask; a full run (everything read, leavers reported) happens at least this often, e.g. 24h (the default), and also on a spec change, on Sync Now, after a failed run, when another domain controller answers, or when its USN went back (a restore). "0": every run is a full run. Preview mode always runs full runs.',
      ),
    timeout: z
      .string()
      .min(2)
      .max(16)
      .regex(timeoutPattern, 'must be a duration such as 15m, 30m or 1h')
      .default('15m')
      .describe(
        'Longest a run may take, like Flux\'s spec.timeout: a duration from 10s to 24h such as 15m (the default; a full run of 100,000 users takes under 2 minutes). A run still going then is stopped (nothing more is written) and fails with RunTimedOut, retried with back-off.',
      ),
    suspend: z.boolean().default(false).describe('When true nothing runs, not even Sync Now, until it is set back to false.'),
    safeguard: safeguardSchema.prefault({}),
  })
  .superRefine(ruleRefinement('spec'))
  .meta({ 'x-kubernetes-validations': celRules('spec') })
  .describe('Desired synchronisation from Active Directory into Truetask.');

export type AdSyncSpecInput = z.input<typeof adSyncSpecSchema>;
export type AdSyncSpec = z.output<typeof adSyncSpecSchema>;
export type SecretKeySelector = { name: string; key: string };

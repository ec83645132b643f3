/**
 * The AdSync status. Every list is bounded so the object stays far below
 * etcd's limits whatever the directory's size.
 */
import { z } from 'zod';

export const MAX_PREVIEW_USERS = 100;
export const MAX_LEAVERS = 100;
export const MAX_STATUS_OUS = 200;
export const MAX_MESSAGE = 1024;
/** base64 of 5,000 4-byte fingerprints. */
export const MAX_CHANGESET_CHARS = 26_668;

export const conditionSchema = z
  .object({
    type: z.string().max(316).describe('Ready, DirectoryConnected, TruetaskConnected, Synced, Reconciling (a run is in progress or a transient failure waits for its retry) Stalled (a person must act), or InsecureTransport (True while credentials cross in clear text on purpose: insecurePlaintext).'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z.number().int().min(0).optional().describe('The .metadata.generation the condition was set from.'),
    lastTransitionTime: z.string().describe('When the condition last changed status (RFC 3339).'),
    reason: z.string().max(1024).describe('A CamelCase reason in AD\'s or Truetask\'s terms, such as InvalidCredentials or Succeeded.'),
    message: z.string().max(32768).describe('What happened, with a troubleshooting hint on failure.'),
  })
  .describe('A metav1.Condition.');

export type Condition = z.infer<typeof conditionSchema>;

export const organizationalUnitSchema = z
  .object({
    dn: z.string().describe('DN of the OU or container.'),
    users: z.number().int().min(0).describe('Entries the user filter matched directly in it or below it.'),
    excluded: z.boolean().describe('Whether it lies in an excluded OU.'),
  })
  .describe('An OU or container with its user count.');

export const adminGroupStatusSchema = z
  .object({
    ref: z.string().describe('The entry of spec.adminPromotion.groups.'),
    dn: z.string().optional().describe('The group\'s DN, when found.'),
    found: z.boolean().describe('Whether the group was found in AD.'),
    members: z.number().int().min(0).describe('Users matched by the filter who are members (nested members too when nested is true).'),
  })
  .describe('One spec.adminPromotion.groups entry, resolved in AD.');

export const directoryStatusSchema = z
  .object({
    users: z.number().int().min(0).describe('Entries the filter matched, outside excluded OUs, with a usable email.'),
    excluded: z.number().int().min(0).describe('Entries in excluded OUs.'),
    skipped: z.number().int().min(0).describe('Entries skipped: no or invalid email.'),
    organizationalUnits: z.array(organizationalUnitSchema).max(MAX_STATUS_OUS).optional().describe(`OUs and containers with their user counts (at most ${MAX_STATUS_OUS}, largest first).`),
    organizationalUnitsTruncated: z.boolean().optional().describe('True when there were more OUs than listed.'),
    adminGroups: z.array(adminGroupStatusSchema).max(50).optional().describe('Each spec.adminPromotion.groups entry, resolved.'),
  })
  .describe('What the last run read from Active Directory.');

export const plannedUserSchema = z
  .object({
    email: z.string().describe('The user\'s email in Truetask (from spec.emailAttribute).'),
    name: z.string().describe('The display name Truetask gets: displayName, else givenName sn, else cn.'),
    role: z.enum(['admin', 'user']).describe('The Truetask role: admin for members of an admin group when promotion is enabled, else user.'),
    action: z.enum(['Create', 'Promote']).describe('Create: a new Truetask user. Promote: an existing user raised to admin.'),
  })
  .describe('One planned change.');

export const previewStatusSchema = z
  .object({
    generatedAt: z.string().describe('When the plan was made (RFC 3339).'),
    toCreate: z.number().int().min(0).describe('Truetask users that would be created (Sync mode: still to create).'),
    toPromote: z.number().int().min(0).describe('Truetask users that would be promoted to admin.'),
    unchanged: z.number().int().min(0).describe('Truetask users that already exist with the right role.'),
    skipped: z.number().int().min(0).describe('Directory entries skipped (no or invalid email).'),
    users: z.array(plannedUserSchema).max(MAX_PREVIEW_USERS).describe(`The first ${MAX_PREVIEW_USERS} planned changes, sorted by email.`),
    truncated: z.boolean().describe(`True when more than ${MAX_PREVIEW_USERS} changes are planned.`),
  })
  .describe('Preview mode: the plan of the last run, who would be created or promoted. Sync mode: what the last run left to do (changes that failed and will be retried).');

export const lastSyncSchema = z
  .object({
    startedAt: z.string().describe('When the run started (RFC 3339).'),
    completedAt: z.string().describe('When the run ended (RFC 3339).'),
    result: z
      .enum(['Succeeded', 'PartiallyFailed', 'Failed'])
      .describe('Succeeded: every planned change was written. PartiallyFailed: some users could not be written (they are retried). Failed: nothing could be written.'),
    created: z.number().int().min(0).describe('Truetask users created by the run.'),
    promoted: z.number().int().min(0).describe('Truetask users promoted to admin by the run.'),
    unchanged: z.number().int().min(0).describe('Truetask users that already had the right role (not written to).'),
    skipped: z.number().int().min(0).describe('Directory entries skipped (no or invalid email).'),
    failed: z.number().int().min(0).describe('Planned changes that failed; status.lastSync.message lists the first ones.'),
    message: z.string().max(MAX_MESSAGE).describe('A summary of the run, with the first failures.'),
  })
  .describe('The result of the last run in Sync mode.');

export const leaverSchema = z
  .object({
    email: z.string().describe('The user\'s email in Truetask.'),
    name: z.string().describe('The user\'s name in Truetask.'),
    role: z.enum(['admin', 'user']).describe('The user\'s Truetask role (owners are never listed).'),
    reason: z
      .enum(['Disabled', 'NotInDirectory'])
      .describe('Disabled: an AD account with this email exists and is disabled. NotInDirectory: no entry the user filter matches has this email (deleted, moved out of the base DN, or no longer matched by the filter).'),
  })
  .describe('A Truetask user who is still active but disabled in AD or gone from it.');

export const leaversStatusSchema = z
  .object({
    generatedAt: z.string().describe('When the report was made: the end of the last full run that succeeded (RFC 3339).'),
    disabled: z.number().int().min(0).describe('Leavers whose AD account is disabled.'),
    notInDirectory: z.number().int().min(0).describe('Leavers that no entry the user filter matches has as its email.'),
    users: z.array(leaverSchema).max(MAX_LEAVERS).describe(`The first ${MAX_LEAVERS} leavers, sorted by email; \`adsync report leavers\` lists every one.`),
    truncated: z.boolean().describe(`True when there are more than ${MAX_LEAVERS} leavers.`),
    stale: z.boolean().describe('True when the last full run failed (AD, Truetask or configuration): the report is from the run before, at generatedAt.'),
  })
  .describe(
    'Read-only report of full runs: Truetask users (role user or admin, never owner) whose email is in a domain the directory owns (the domains of spec.emailAttribute among its users) but who are disabled in AD or absent from it. Entries in excluded OUs are not leavers. Nothing is ever written because of it.',
  );

export const serverStatusSchema = z
  .object({
    url: z.string().describe('The URL of the domain controller that answered: spec.ldap.url, or a spec.ldap.failover URL when the DCs before it did not answer.'),
    dsServiceName: z.string().describe('The DC\'s identity from its root DSE: the DN of its NTDS Settings object.'),
    invocationId: z.string().describe('The invocationId of the DC\'s NTDS Settings object (a GUID; a restored database gets a new one).'),
    highestCommittedUSN: z.number().int().min(0).describe('The DC\'s highestCommittedUSN when the last successful read started: the next changed-only run reads entries with a higher uSNChanged.'),
  })
  .describe('The domain controller that answered the last successful run.');

export const lastRunSchema = z
  .object({
    kind: z
      .enum(['Full', 'Changed'])
      .describe('Full: the whole directory was read and every Truetask user listed. Changed: only the entries changed since the last run on the same domain controller (uSNChanged) were read, and only their emails looked up in Truetask.'),
    entriesRead: z.number().int().min(0).describe('Directory entries the run read: every entry the user filter matched (Full), or the changed ones and the members of changed admin groups (Changed).'),
    at: z.string().describe('When the run ended (RFC 3339).'),
    lastFullAt: z.string().optional().describe('When the last full run ended (RFC 3339): the next scheduled run is a full one once spec.fullSyncInterval has passed since.'),
    reason: z.string().max(MAX_MESSAGE).optional().describe('Why the run was a full one when a changed-only run could have been asked for (a spec change, Sync Now, a failed run, another domain controller, a USN gone back, fullSyncInterval passed, Preview mode).'),
  })
  .describe('The last successful run: full or changed-only, and how many directory entries it read.');

export const pendingApprovalSchema = z
  .object({
    digest: z.string().max(64).describe('The plan\'s digest (sha256 of its sorted changes: action, email, role; 16 hex characters). Approve exactly this plan with: kubectl annotate adsync NAME truetask.io/approve=<digest> (or adsync approve NAMESPACE/NAME).'),
    toCreate: z.number().int().min(0).describe('Truetask users the held plan creates.'),
    toPromote: z.number().int().min(0).describe('Truetask users the held plan promotes to admin.'),
    allowedCreates: z.number().int().min(0).optional().describe('The most creates a run may make without approval (the smaller of spec.safeguard\'s limits).'),
    inScope: z.number().int().min(0).describe('Truetask users the directory\'s scope already has: the base of spec.safeguard.maxGrowthPercent.'),
    limitedBy: z.enum(['maxCreates', 'maxGrowthPercent']).optional().describe('The spec.safeguard limit the plan exceeds.'),
    message: z.string().max(MAX_MESSAGE).describe('Why the plan waits, and how to approve it.'),
    users: z.array(plannedUserSchema).max(MAX_PREVIEW_USERS).describe(`The first ${MAX_PREVIEW_USERS} held changes, sorted by email; adsync preview NAMESPACE/NAME lists every one.`),
    truncated: z.boolean().describe(`True when more than ${MAX_PREVIEW_USERS} changes are held.`),
    generatedAt: z.string().describe('When the plan was made (RFC 3339).'),
    changeSet: z
      .string()
      .max(MAX_CHANGESET_CHARS)
      .optional()
      .describe('Fingerprints of the held changes (4 bytes each, base64; absent above 5,000 changes): an approved plan that AD changed since is applied for the changes that were reviewed.'),
  })
  .describe('A Sync run\'s plan that exceeds spec.safeguard: nothing was written; it waits for a person to approve its digest.');

export const lastApprovedSchema = z
  .object({
    digest: z.string().max(64).describe('The approved digest (the truetask.io/approve annotation).'),
    at: z.string().describe('When the approved run ended (RFC 3339).'),
    exact: z.boolean().describe('True when the plan was exactly the approved one; false when AD changed since and only the reviewed changes, plus new ones within the safeguard, were applied.'),
    approvedChanges: z.number().int().min(0).describe('Changes of the approved plan the run applied.'),
    newChanges: z.number().int().min(0).describe('Changes the run applied that were not in the approved plan (AD changed since approval; within the safeguard).'),
    created: z.number().int().min(0).describe('Truetask users the run created.'),
    promoted: z.number().int().min(0).describe('Truetask users the run promoted.'),
  })
  .describe('The last approval that was applied.');

export const adSyncStatusSchema = z
  .object({
    observedGeneration: z.number().int().min(0).optional().describe('The .metadata.generation the status was computed for.'),
    conditions: z.array(conditionSchema).max(16).optional().describe('Ready, DirectoryConnected, TruetaskConnected and Synced; Reconciling and Stalled as kstatus (Flux, Argo CD) reads them.'),
    directory: directoryStatusSchema.optional(),
    preview: previewStatusSchema.optional(),
    lastSync: lastSyncSchema.optional(),
    leavers: leaversStatusSchema.optional(),
    server: serverStatusSchema.optional(),
    lastRun: lastRunSchema.optional(),
    pendingApproval: pendingApprovalSchema.optional(),
    lastApproved: lastApprovedSchema.optional(),
    lastHandledApproval: z.string().max(256).optional().describe('The last value of the truetask.io/approve annotation that was acted on (applied, or refused with an ApprovalMismatch event).'),
    lastHandledSyncNow: z.string().max(256).optional().describe('The last value of the truetask.io/sync-now annotation that was acted on.'),
    nextSyncAt: z.string().optional().describe('When the next run is due: the schedule, a retry after a transient failure, or the safety-net attempt while stalled; absent when manual or suspended.'),
  })
  .describe('Observed state of the sync.');

export type AdSyncStatus = z.infer<typeof adSyncStatusSchema>;
export type DirectoryStatus = z.infer<typeof directoryStatusSchema>;
export type PreviewStatus = z.infer<typeof previewStatusSchema>;
export type LastSync = z.infer<typeof lastSyncSchema>;
export type LeaversStatus = z.infer<typeof leaversStatusSchema>;
export type ServerStatus = z.infer<typeof serverStatusSchema>;
export type LastRun = z.infer<typeof lastRunSchema>;
export type PendingApproval = z.infer<typeof pendingApprovalSchema>;
export type LastApproved = z.infer<typeof lastApprovedSchema>;
export type PlannedUser = z.infer<typeof plannedUserSchema>;

/** The AdSync custom resource as a whole: metadata + spec + status. */
import { z } from 'zod';
import { API_GROUP, API_VERSION, KIND, adSyncSpecSchema } from './spec.ts';
import { adSyncStatusSchema } from './status.ts';

export const SYNC_NOW_ANNOTATION = 'truetask.io/sync-now';
/** Approves the held plan with this digest (status.pendingApproval.digest). */
export const APPROVE_ANNOTATION = 'truetask.io/approve';

export const objectMetaSchema = z
  .object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    creationTimestamp: z.union([z.string(), z.date()]).optional(),
    deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  })
  .passthrough();

export const adSyncSchema = z.object({
  apiVersion: z.literal(`${API_GROUP}/${API_VERSION}`, { error: `apiVersion must be ${API_GROUP}/${API_VERSION}` }),
  kind: z.literal(KIND, { error: `kind must be ${KIND}` }),
  metadata: objectMetaSchema,
  spec: adSyncSpecSchema,
  status: adSyncStatusSchema.optional(),
});

export type AdSync = z.output<typeof adSyncSchema>;
export type AdSyncInput = z.input<typeof adSyncSchema>;

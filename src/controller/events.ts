/**
 * The Events on AdSyncs: one per run (plus InsecureTLS / AdminGroupNotFound
 * warnings), never one per user. Recorded by the runtime's recorder.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, KIND } from '../api/spec.ts';
import type { Logger } from '../log.ts';
import { createEventRecorder, type EventRecorder } from '../runtime/events.ts';

export type AdSyncEventReason =
  | 'PreviewReady'
  | 'SyncSucceeded'
  | 'SyncPartiallyFailed'
  | 'SyncFailed'
  | 'DirectoryError'
  | 'TruetaskError'
  | 'InsecureTLS'
  | 'InsecurePlaintext'
  | 'AdminGroupNotFound'
  | 'InvalidSpec'
  | 'FailedOver'
  | 'ApprovalRequired'
  | 'ApprovalMismatch'
  | 'Approved'
  | 'NoUsersFound';

export function adSyncEventRecorder(core: CoreV1Api, logger: Logger, host?: string): EventRecorder<AdSyncEventReason> {
  return createEventRecorder<AdSyncEventReason>(core, logger, { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: KIND, component: 'truetask-adsync', host });
}

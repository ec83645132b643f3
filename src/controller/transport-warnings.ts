/**
 * What an AdSync that sends credentials in clear text on purpose (spec.ldap or
 * spec.truetask insecurePlaintext, see src/config/transport-policy.ts) shows at
 * every run: an InsecurePlaintext warning event per clear-text transport, the
 * truetask_adsync_insecure_transport gauge, and an InsecureTransport condition
 * (True, reason InsecurePlaintext) that `kubectl describe` lists; the condition
 * goes away once the spec uses TLS again.
 */
import type { AdSyncSpec } from '../api/spec.ts';
import type { AdSyncStatus } from '../api/status.ts';
import { plaintextTransports, plaintextWarning, type TransportKind } from '../config/transport-policy.ts';
import type { EventRecorder, ObjectRef } from '../runtime/events.ts';
import type { AdSyncEventReason } from './events.ts';
import { removeConditions, setConditions } from './status.ts';

export interface TransportWarningMetrics {
  setInsecureTransport(obj: ObjectRef, plaintext: readonly TransportKind[]): void;
}

/** The status with the InsecureTransport condition set (clear text in use) or removed. */
export function withTransportCondition(status: AdSyncStatus, spec: Pick<AdSyncSpec, 'ldap' | 'truetask'>, generation: number | undefined, now: Date): AdSyncStatus {
  const plaintext = plaintextTransports(spec);
  if (plaintext.length === 0) {
    if (!status.conditions?.some((c) => c.type === 'InsecureTransport')) return status;
    return { ...status, conditions: removeConditions(status.conditions, ['InsecureTransport']) };
  }
  const message = `clear text on purpose (insecurePlaintext): ${plaintext.map(plaintextWarning).join('; ')}`;
  return { ...status, conditions: setConditions(status.conditions, [{ type: 'InsecureTransport', status: 'True', reason: 'InsecurePlaintext', message }], generation, now) };
}

/** One warning event per clear-text transport, and the gauge: at every run. */
export async function warnPlaintext(events: EventRecorder<AdSyncEventReason>, metrics: TransportWarningMetrics, ref: ObjectRef, spec: Pick<AdSyncSpec, 'ldap' | 'truetask'>): Promise<void> {
  const plaintext = plaintextTransports(spec);
  metrics.setInsecureTransport(ref, plaintext);
  for (const kind of plaintext) await events.record(ref, 'Warning', 'InsecurePlaintext', `Clear text on purpose: ${plaintextWarning(kind)}`);
}

/**
 * An event recorder for one kind of object (core/v1 Events, best effort): a
 * repeat of the same reason and message on the same object bumps the count of
 * the last event instead of creating another.
 */
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { clipBytes } from './clip.ts';

/** Event messages are cut to this many bytes of UTF-8. */
export const MAX_EVENT_MESSAGE = 1024;

function clip(text: string, max = MAX_EVENT_MESSAGE): string {
  return clipBytes(text, max);
}

export interface ObjectRef {
  namespace: string;
  name: string;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
}

export interface EventRecorder<Reason extends string = string> {
  record(obj: ObjectRef, type: 'Normal' | 'Warning', reason: Reason, message: string): Promise<void>;
  forget(obj: ObjectRef): void;
}

export interface EventRecorderOptions {
  /** apiVersion and kind of the objects the events are about. */
  apiVersion: string;
  kind: string;
  /** source.component and reportingComponent. */
  component: string;
  /** source.host and reportingInstance (e.g. the pod name). */
  host?: string | undefined;
}

export function createEventRecorder<Reason extends string = string>(core: CoreV1Api, logger: Logger, opts: EventRecorderOptions): EventRecorder<Reason> {
  const { component, host } = opts;
  const last = new Map<string, { name: string; reason: string; message: string; count: number }>();
  return {
    async record(obj, type, reason, message) {
      const text = clip(message);
      const key = `${obj.namespace}/${obj.name}/${reason}`;
      const prev = last.get(key);
      const now = new Date();
      try {
        if (prev && prev.message === text) {
          prev.count++;
          await core.patchNamespacedEvent(
            { name: prev.name, namespace: obj.namespace, body: { count: prev.count, lastTimestamp: now } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
          return;
        }
        const name = `${obj.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
        await core.createNamespacedEvent({
          namespace: obj.namespace,
          body: {
            metadata: { name, namespace: obj.namespace },
            involvedObject: {
              apiVersion: opts.apiVersion,
              kind: opts.kind,
              name: obj.name,
              namespace: obj.namespace,
              ...(obj.uid ? { uid: obj.uid } : {}),
              ...(obj.resourceVersion ? { resourceVersion: obj.resourceVersion } : {}),
            },
            reason,
            message: text,
            type,
            count: 1,
            firstTimestamp: now,
            lastTimestamp: now,
            source: { component, ...(host ? { host } : {}) },
            reportingComponent: component,
            ...(host ? { reportingInstance: host } : {}),
          },
        });
        last.set(key, { name, reason, message: text, count: 1 });
      } catch (err) {
        // Events are best effort: a failure to record one never fails a run.
        logger.warn({ reason, err: err instanceof Error ? err.message : String(err) }, 'could not record event');
        last.delete(key);
      }
    },
    forget(obj) {
      for (const key of [...last.keys()]) if (key.startsWith(`${obj.namespace}/${obj.name}/`)) last.delete(key);
    },
  };
}

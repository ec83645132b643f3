/**
 * Event predicates, as controller-runtime and Flux use them: which watch
 * updates are worth a reconcile. A controller's own status writes change
 * neither the generation nor the annotations, so they pass none of these.
 */
import type { RawObject } from './informer.ts';

export type UpdatePredicate = (oldObj: RawObject, newObj: RawObject) => boolean;

/** The spec changed (metadata.generation moved). */
export const generationChanged: UpdatePredicate = (oldObj, newObj) => oldObj.metadata?.generation !== newObj.metadata?.generation;

/** The annotation `key` got a different value (or appeared, or went away). */
export function annotationChanged(key: string): UpdatePredicate {
  return (oldObj, newObj) => oldObj.metadata?.annotations?.[key] !== newObj.metadata?.annotations?.[key];
}

/** The object is being deleted (deletionTimestamp newly set). */
export const deletionStarted: UpdatePredicate = (oldObj, newObj) => !oldObj.metadata?.deletionTimestamp && Boolean(newObj.metadata?.deletionTimestamp);

/** Any of the predicates. */
export function anyOf(...predicates: UpdatePredicate[]): UpdatePredicate {
  return (oldObj, newObj) => predicates.some((p) => p(oldObj, newObj));
}

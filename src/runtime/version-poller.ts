/**
 * Polls objects a key depends on with `get` (no list/watch, so RBAC stays
 * minimal) and tells when one of them changed: its resourceVersion moved, or it
 * appeared or went away. Only versions are kept, never data.
 *
 * A key is tracked with a baseline (the versions its last run saw); objects
 * without a baseline version take their first poll as baseline. A change is
 * reported once, and the key is untracked (the caller tracks it again when it
 * needs to).
 */
import type { Logger } from '../log.ts';
import { sleep } from './sleep.ts';

export interface ObjectName {
  namespace: string;
  name: string;
}

export interface VersionPollerOptions {
  /** resourceVersion of an object, null when it does not exist; throws when it cannot be read. */
  readVersion: (ref: ObjectName) => Promise<string | null>;
  onChange: (key: string, changed: ObjectName) => void;
  intervalMs: number;
  logger: Logger;
}

interface Tracked {
  refs: ObjectName[];
  versions: Map<string, string | null>;
}

const id = (ref: ObjectName) => `${ref.namespace}/${ref.name}`;

export class VersionPoller {
  readonly #opts: VersionPollerOptions;
  readonly #tracked = new Map<string, Tracked>();
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(options: VersionPollerOptions) {
    this.#opts = options;
  }

  /** Tracks `key`'s objects from `baseline` (id "namespace/name" -> version; missing ids: first poll). */
  track(key: string, refs: readonly ObjectName[], baseline: ReadonlyMap<string, string | null> = new Map()): void {
    const versions = new Map<string, string | null>();
    for (const ref of refs) if (baseline.has(id(ref))) versions.set(id(ref), baseline.get(id(ref)) ?? null);
    this.#tracked.set(key, { refs: [...refs], versions });
  }

  untrack(key: string): void {
    this.#tracked.delete(key);
  }

  isTracked(key: string): boolean {
    return this.#tracked.has(key);
  }

  keys(): string[] {
    return [...this.#tracked.keys()];
  }

  start(): void {
    this.#loop ??= (async () => {
      const signal = this.#abort.signal;
      while (!signal.aborted) {
        await sleep(this.#opts.intervalMs, signal);
        if (signal.aborted) return;
        await this.pollOnce();
      }
    })();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  /** One round over every tracked key (the loop calls it every intervalMs). */
  async pollOnce(): Promise<void> {
    for (const [key, t] of [...this.#tracked]) {
      for (const ref of t.refs) {
        let version: string | null;
        try {
          version = await this.#opts.readVersion(ref);
        } catch (err) {
          this.#opts.logger.debug({ key, object: id(ref), err: err instanceof Error ? err.message : String(err) }, 'could not poll an object; trying again next round');
          continue;
        }
        if (this.#tracked.get(key) !== t) break; // untracked or re-tracked meanwhile
        if (!t.versions.has(id(ref))) {
          t.versions.set(id(ref), version);
          continue;
        }
        if (t.versions.get(id(ref)) !== version) {
          this.#tracked.delete(key);
          this.#opts.onChange(key, ref);
          break;
        }
      }
    }
  }
}

/**
 * A run's deadline (spec.timeout, like Flux's): one AbortSignal for the whole run.
 * When it passes, the run fails at once with RunTimedOut (typed back-off), every
 * LDAP session the run opened is closed (no reconnect, no next failover DC), no
 * new Truetask call starts, and Truetask requests in flight end (the client takes
 * the same signal). What the engine was doing is left to wind down on its own
 * with every socket gone, so it ends promptly and writes nothing more.
 */
import { parseInterval } from '../api/interval.ts';
import { AdSyncError, isAdSyncError, type ErrorSource } from '../errors.ts';
import type { Logger } from '../log.ts';
import { DirectorySession, type LdapConnectionConfig } from '../ldap/session.ts';
import type { EngineDeps, TruetaskPort } from './engine.ts';

/** The default spec.timeout: a full run of 100,000 users took 75-110 s on two cores. */
export const DEFAULT_RUN_TIMEOUT = '15m';

/** spec.timeout in milliseconds. */
export function runTimeoutMs(spec: { timeout: string }): number {
  const seconds = parseInterval(spec.timeout);
  return (typeof seconds === 'number' && seconds > 0 ? seconds : (parseInterval(DEFAULT_RUN_TIMEOUT) as number)) * 1000;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${rest || (!h && !m) ? `${rest}s` : ''}`;
}

export class RunDeadline {
  readonly #ac = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #sessions = new Set<DirectorySession>();
  readonly #timedOut: Promise<never>;
  readonly timeoutMs: number;
  /** What the run waits on: the directory until Truetask is first called (see #waitingOn). */
  #phase: ErrorSource = 'directory';
  /** Directory sessions being opened: a run that waits on a DC's answer to connect or bind. */
  #opening = 0;

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    let fail: (err: AdSyncError) => void = () => undefined;
    this.#timedOut = new Promise<never>((_resolve, reject) => {
      fail = reject;
    });
    // Unhandled until someone races it: never an unhandled rejection.
    this.#timedOut.catch(() => undefined);
    this.#timer = setTimeout(() => {
      const err = this.#error();
      this.#ac.abort(err);
      for (const s of this.#sessions) void s.close();
      fail(err);
    }, timeoutMs);
    this.#timer.unref?.();
  }

  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /**
   * A full run lists Truetask users while the directory is read; as long as a directory
   * session of the run is being opened or still open, the DC is what the run waits on.
   */
  #waitingOn(): ErrorSource {
    if (this.#opening > 0 || [...this.#sessions].some((s) => !s.closed)) return 'directory';
    return this.#phase;
  }

  #error(): AdSyncError {
    const source = this.#waitingOn();
    const waitingOn = source === 'directory' ? 'the domain controller' : 'Truetask';
    return new AdSyncError(source, 'RunTimedOut', 'backoff', `The run did not finish within its timeout (${formatDuration(this.timeoutMs)}: spec.timeout, at most the operator's --max-run-timeout); it was waiting on ${waitingOn}`);
  }

  #check(): void {
    if (this.#ac.signal.aborted) throw isAdSyncError(this.#ac.signal.reason) ? this.#ac.signal.reason : this.#error();
  }

  /** The engine's dependencies, bounded by this deadline. */
  deps(deps: EngineDeps): EngineDeps {
    const open = deps.openDirectory ?? ((c: LdapConnectionConfig, l: Logger) => DirectorySession.open(c, l, deps.signal));
    const truetask = deps.truetask;
    const enter = () => {
      this.#phase = 'truetask';
      this.#check();
    };
    const bounded: TruetaskPort = {
      listUsers: () => (enter(), truetask.listUsers()),
      checkAccess: () => (enter(), truetask.checkAccess()),
      findUserByEmail: (email) => (enter(), truetask.findUserByEmail(email)),
      createUser: (input) => (enter(), truetask.createUser(input)),
      setRole: (id, role) => (enter(), truetask.setRole(id, role)),
    };
    return {
      ...deps,
      truetask: bounded,
      openDirectory: async (cfg, logger) => {
        this.#check();
        this.#opening++;
        let session: DirectorySession;
        try {
          session = await open(cfg, logger);
        } finally {
          this.#opening--;
        }
        if (this.#ac.signal.aborted) {
          await session.close();
          this.#check();
        }
        this.#sessions.add(session);
        return session;
      },
    };
  }

  /** `run`'s result, or RunTimedOut as soon as the deadline passes. */
  async race<T>(run: Promise<T>): Promise<T> {
    // Past the deadline the run winds down on its own; its late failure is nobody's to handle.
    run.catch(() => undefined);
    return Promise.race([run, this.#timedOut]);
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#sessions.clear();
  }
}

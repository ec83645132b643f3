// Addresses of their own for test servers inside a network namespace made by the
// project's scripts (the cluster's): 10.250.1.N/32 on the namespace's `lo`, one
// per server, locked per process like the DCs' 127.0.0.N (a dead run's lock is
// taken over). They live only in the namespace and go away with it.
import { mkdir } from 'node:fs/promises';
import { LOCK_DIR, run, tryLockIp, unlockIp } from './samba/host.ts';

export interface NetnsAddress {
  readonly netns: string;
  readonly ip: string;
  /** Removes the address and its lock. Idempotent. */
  release(): Promise<void>;
}

export async function takeNetnsAddress(netns: string): Promise<NetnsAddress> {
  await mkdir(LOCK_DIR, { recursive: true });
  for (let n = 10; n < 250; n++) {
    const ip = `10.250.1.${n}`;
    const lock = `${netns}-${ip}`;
    if (!tryLockIp(lock)) continue;
    try {
      await run('ip', ['-n', netns, 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
    } catch (err) {
      if (!/exists|already assigned/i.test(String(err))) {
        unlockIp(lock);
        throw err;
      }
    }
    let released = false;
    return {
      netns,
      ip,
      async release() {
        if (released) return;
        released = true;
        await run('ip', ['-n', netns, 'addr', 'del', `${ip}/32`, 'dev', 'lo']).catch(() => undefined);
        unlockIp(lock);
      },
    };
  }
  throw new Error(`no free 10.250.1.N in network namespace ${netns}`);
}

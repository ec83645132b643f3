// Memory of a pod read from its cgroup (the kubelet's cgroupfs layout: kubepods/<qos>/pod<uid>),
// on cgroup v1 or v2: the working set (usage minus inactive file pages, what the
// kubelet and `kubectl top` report) and the usage including page cache.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PodMemory {
  workingSetBytes: number;
  usageBytes: number;
}

const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
const ROOT = V2 ? '/sys/fs/cgroup/kubepods' : '/sys/fs/cgroup/memory/kubepods';

function podDir(uid: string): string | undefined {
  for (const qos of ['burstable', 'besteffort', '']) {
    const d = join(ROOT, qos, `pod${uid}`);
    if (existsSync(d)) return d;
  }
  return undefined;
}

function stat(dir: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readFileSync(join(dir, 'memory.stat'), 'utf8').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v) m.set(k, Number(v));
  }
  return m;
}

/** The pod's memory now, or undefined when its cgroup is gone. */
export function podMemory(uid: string): PodMemory | undefined {
  const dir = podDir(uid);
  if (!dir) return undefined;
  try {
    if (V2) {
      const usage = Number(readFileSync(join(dir, 'memory.current'), 'utf8'));
      const inactive = stat(dir).get('inactive_file') ?? 0;
      return { usageBytes: usage, workingSetBytes: Math.max(0, usage - inactive) };
    }
    const usage = Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8'));
    const inactive = stat(dir).get('total_inactive_file') ?? 0;
    return { usageBytes: usage, workingSetBytes: Math.max(0, usage - inactive) };
  } catch {
    return undefined;
  }
}

export const cgroupVersion = V2 ? 2 : 1;

import { defineConfig } from 'vitest/config';

// Three layers:
//  unit        - pure code, no servers
//  sim         - the Truetask client against the project's simulator over real HTTP
//  integration - the engine and CLI against a real Samba AD DC and the Truetask simulator
//  kube        - the operator against a real kube-apiserver + etcd (plus AD and simulator)
//  cluster     - the chart's pods on a real single-node cluster (scripts/cluster/up.sh)
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'sim',
          include: ['test/truetask/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-ad.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'kube',
          include: ['test/kube/**/*.test.ts'],
          globalSetup: ['test/support/global-kube.ts', 'test/support/global-ad.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          globalSetup: ['test/support/global-cluster.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

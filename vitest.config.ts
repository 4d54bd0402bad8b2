import { defineConfig } from 'vitest/config'
import { redisClusterUrl } from './stack/redis-cluster.ts'

/**
 * The integration files the `integration-redis-cluster` project runs again against a Redis Cluster
 * (docs/ARCHITECTURE.md, Redis Cluster): the speed layer's view (its scripts, loads, rebuilds, a
 * process killed under load), the serving layer's reads, push (pub/sub) and band writes, the Redis
 * locks, and what only a cluster can show (test/redis-cluster.int.test.ts). A transaction or script
 * call across two hash slots fails there (CROSSSLOT or a redirection).
 */
const REDIS_CLUSTER_FILES = [
  'speed-layer/speed.int.test.ts',
  'speed-layer/write-scripts.int.test.ts',
  'speed-layer/risk.int.test.ts',
  'serving/api.int.test.ts',
  'serving/socket.int.test.ts',
  'serving/bands.int.test.ts',
  'lib/redis-lock.int.test.ts',
  'lib/identity/registry-lock.int.test.ts',
  'test/redis-cluster.int.test.ts',
]

// Two projects (docs/CONVENTIONS.md): `unit` runs pure functions; `integration` runs against a real
// Kafka broker, a real Redis server, real DuckDB and real Chromium. The integration project's
// global setup brings the stack up (reusing whatever already answers) and stops only what it
// started. A third, `integration-redis-cluster`, runs REDIS_CLUSTER_FILES again against a real
// Redis Cluster, after the other two.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**', '.stack/**'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          // Needs a Redis Cluster: run by the project below.
          exclude: ['node_modules/**', '.stack/**', 'test/redis-cluster.int.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One broker and one Redis on a 2-core machine: files run one after another so that
          // timing-sensitive tests are not starved by their neighbours.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration-redis-cluster',
          include: REDIS_CLUSTER_FILES,
          exclude: ['node_modules/**', '.stack/**'],
          environment: 'node',
          // The stack (Kafka) and a Redis Cluster of 3 masters and 3 replicas on 127.0.0.1:17000-17005.
          globalSetup: ['test/global-setup.ts', 'test/global-setup-redis-cluster.ts'],
          // Every test env (test/support.ts) and every `vigil` a test starts use the cluster.
          env: { VIGIL_TEST_REDIS_URL: redisClusterUrl(), VIGIL_REDIS_URL: redisClusterUrl() },
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // After the other projects: one Kafka broker and a 2-core machine, shared with their files.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})

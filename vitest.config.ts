import { defineConfig } from 'vitest/config'

// Two projects (docs/CONVENTIONS.md): `unit` runs pure functions; `integration` runs against a real
// Kafka broker, a real Redis server, real DuckDB and real Chromium. The integration project's
// global setup brings the stack up (reusing whatever already answers) and stops only what it
// started.
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
          exclude: ['node_modules/**', '.stack/**'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One broker and one Redis on a 2-core machine: files run one after another so that
          // timing-sensitive tests are not starved by their neighbours.
          fileParallelism: false,
        },
      },
    ],
  },
})

import { defineConfig } from 'vitest/config';

/**
 * Tiers: `unit` (no external services), `workflow` (the session workflow on a
 * Temporal dev server with mocked activities), `integration` (real Temporal
 * dev server, Postgres and Docker, provisioned by test/support/global-setup.ts),
 * `cluster` and `replay` (recorded histories against the current workflow code).
 */
export default defineConfig({
  test: {
    // The run summary names every failed and skipped test after vitest's own summary (CI keeps the tail).
    reporters: ['default', './test/support/run-summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          // test/browser: the web console in Chromium, on the same stack and services.
          include: ['test/integration/**/*.test.ts', 'test/browser/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          // Two cores: one integration file at a time keeps timings honest.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // expect.poll's default of 1 s is less than a page or a workflow task takes on two busy cores.
          expect: { poll: { timeout: 10_000 } },
        },
      },
      {
        // make test-cluster: Temporal on Postgres as separate service processes, two worker
        // hosts and two API instances (temporal/cluster/), with faults injected.
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          // After the other projects, alone: its fault timings (3 s heartbeats) want the cores to itself.
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        // The session workflow on its own Temporal dev server, every activity mocked (test/workflow/harness.ts).
        test: {
          name: 'workflow',
          include: ['test/workflow/**/*.test.ts'],
          testTimeout: 60_000,
          // The first run may build the Temporal CLI (scripts/provision/temporal.sh, ~5 min).
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          name: 'replay',
          include: ['test/replay/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

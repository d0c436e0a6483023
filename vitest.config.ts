import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    // Builds dist/ when a source is newer than it (suites that spawn the CLI run the compiled code).
    globalSetup: ['./test/global-setup.ts'],
    // After each file: kill the `stevedore serve` processes it left running, remove their data.
    setupFiles: ['./test/setup-file.ts'],
    // Integration suites start real servers and real tools on a 2-core shared machine:
    // run files one at a time so they never compete for CPU, and give them room.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // tfjs backends and ORT sessions are heavy: one worker per core, files isolated.
    pool: 'forks',
    maxWorkers: 2,
  },
});

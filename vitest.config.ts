import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The toolkit imports the runtime by its package name (so its build depends on the published
// package); tests run both from source, as one module instance.
const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@ganomaly-edge\/runtime\/node$/, replacement: src('./src/runtime/node.ts') },
      { find: /^@ganomaly-edge\/runtime(\/web)?$/, replacement: src('./src/runtime/web.ts') },
      { find: /^@ganomaly-edge\/browser$/, replacement: src('./src/browser/index.ts') },
      { find: /^@ganomaly-edge\/gateway\/cli$/, replacement: src('./src/gateway/cli/commands.ts') },
      { find: /^@ganomaly-edge\/gateway$/, replacement: src('./src/gateway/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // tfjs backends and ORT sessions are heavy: one worker per core, files isolated.
    pool: 'forks',
    maxWorkers: 2,
  },
});

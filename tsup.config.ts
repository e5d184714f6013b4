import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // Node side: library entry points and the CLI.
    entry: {
      'runtime/node': 'src/runtime/node.ts',
      'train/index': 'src/train/index.ts',
      'export/index': 'src/export/index.ts',
      'serve/index': 'src/serve/index.ts',
      'cli/index': 'src/cli/index.ts',
    },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: {
      entry: {
        'runtime/node': 'src/runtime/node.ts',
        'train/index': 'src/train/index.ts',
        'export/index': 'src/export/index.ts',
        'serve/index': 'src/serve/index.ts',
      },
    },
    sourcemap: true,
    clean: true,
    splitting: true,
    external: [/^@tensorflow\//, 'onnxruntime-node', 'onnxruntime-web', 'sharp', 'webgpu'],
  },
  {
    // Browser runtime: must pull in no tfjs, sharp or onnxruntime-node (checked by a test).
    entry: { 'runtime/web': 'src/runtime/web.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    dts: true,
    sourcemap: true,
    clean: false,
    external: ['onnxruntime-web', /^onnxruntime-web\//],
  },
]);

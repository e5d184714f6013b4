import { defineConfig } from 'tsup';

// Three builds, no `clean` (scripts/clean-dist.mjs runs first): tsup's clean in one config deletes
// .d.ts files that another config has already written (FACTS.md).
const RUNTIME_OUT = 'packages/runtime/dist';
const BROWSER_OUT = 'packages/browser/dist';
const GATEWAY_OUT = 'packages/gateway/dist';

export default defineConfig([
  {
    // @ganomaly-edge/runtime, Node entry: onnxruntime-node and sharp are optional peers, loaded on use.
    entry: { node: 'src/runtime/node.ts' },
    outDir: RUNTIME_OUT,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: true,
    clean: false,
    external: ['onnxruntime-node', 'sharp'],
  },
  {
    // @ganomaly-edge/runtime, browser entry: no tfjs, sharp, onnxruntime-node or node: modules
    // (checked by test/unit/runtime/bundle and test/e2e/packages). Each ORT build stays a dynamic import.
    entry: { web: 'src/runtime/web.ts' },
    outDir: RUNTIME_OUT,
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    dts: true,
    clean: false,
    external: ['onnxruntime-web', /^onnxruntime-web\//],
  },
  {
    // @ganomaly-edge/browser: training and export inside a page (tfjs, onnxruntime-web); no Node
    // modules (checked by test/e2e/browser-train). It imports @ganomaly-edge/runtime by name, so a page
    // that trains and scores bundles one runtime (checked by test/e2e/packages). Its WebGPU import stays
    // a dynamic chunk.
    entry: { index: 'src/browser/index.ts' },
    format: ['esm'],
    platform: 'browser',
    target: 'es2022',
    dts: true,
    clean: false,
    splitting: true,
    outDir: BROWSER_OUT,
    external: [/^@tensorflow\//, 'onnxruntime-web', /^onnxruntime-web\//, /^@bufbuild\//, /^@ganomaly-edge\//],
  },
  {
    // @ganomaly-edge/gateway: serve and watch, and the `ganomaly-gateway` bin. Node only; no tfjs
    // (checked by test/unit/layout and test/e2e/gateway-package). The runtime stays an import of
    // @ganomaly-edge/runtime/node, never a second copy.
    entry: {
      index: 'src/gateway/index.ts',
      'cli/commands': 'src/gateway/cli/commands.ts',
      'cli/index': 'src/gateway/cli/index.ts',
    },
    outDir: GATEWAY_OUT,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: { entry: { index: 'src/gateway/index.ts', 'cli/commands': 'src/gateway/cli/commands.ts' } },
    clean: false,
    splitting: true,
    external: [/^@ganomaly-edge\//, 'onnxruntime-node', 'sharp', 'mqtt', 'yaml'],
  },
  {
    // ganomaly-edge, the toolkit: library subpaths and the CLI. The runtime stays an import of
    // @ganomaly-edge/runtime (a dependency), never a second copy.
    entry: {
      index: 'src/index.ts',
      'train/index': 'src/train/index.ts',
      'export/index': 'src/export/index.ts',
      'eval/index': 'src/eval/index.ts',
      'serve/index': 'src/serve/index.ts',
      'browser/index': 'src/browser-alias.ts',
      'cli/index': 'src/cli/index.ts',
    },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    dts: {
      entry: {
        index: 'src/index.ts',
        'train/index': 'src/train/index.ts',
        'export/index': 'src/export/index.ts',
        'eval/index': 'src/eval/index.ts',
        'serve/index': 'src/serve/index.ts',
        'browser/index': 'src/browser-alias.ts',
      },
    },
    sourcemap: true,
    clean: false,
    splitting: true,
    external: [/^@tensorflow\//, /^@ganomaly-edge\//, 'onnxruntime-node', 'onnxruntime-web', 'sharp', 'webgpu'],
  },
]);

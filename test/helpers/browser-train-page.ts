// The trainInBrowser fixture page (test/fixtures/browser-train) built into a folder with the
// .wasm files tfjs and onnxruntime-web load next to it: used by the test and by the bench.
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

const TFJS_WASM = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const ORT_WASM = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm'];

export async function buildTrainPage(outdir: string, opts: { minify?: boolean } = {}): Promise<void> {
  await build({
    entryPoints: ['test/fixtures/browser-train/page.ts'], bundle: true, splitting: true, format: 'esm', platform: 'browser', target: 'es2022',
    outdir, entryNames: 'page', logLevel: 'silent', minify: opts.minify ?? false,
    // The sources, as one runtime: the browser code imports the runtime by its package name.
    alias: { '@ganomaly-edge/runtime/web': './src/runtime/web.ts', '@ganomaly-edge/runtime': './src/runtime/web.ts' },
  });
  await copyFile('test/fixtures/browser-train/index.html', join(outdir, 'index.html'));
  for (const f of TFJS_WASM) await copyFile(join('node_modules/@tensorflow/tfjs-backend-wasm/dist', f), join(outdir, f));
  for (const f of ORT_WASM) await copyFile(join('node_modules/onnxruntime-web/dist', f), join(outdir, f));
}

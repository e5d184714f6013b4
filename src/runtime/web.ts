// ganomaly-edge runtime for browsers: onnxruntime-web (WebGPU when an adapter exists, else WASM)
// and canvas decoding. Imports nothing from Node, tfjs or sharp (checked by test/unit/runtime/bundle).
import { Detector, type DetectorOptions } from './core/detector.js';
import type { WebImageInput } from './web/decode.js';
import { loadOrtWeb } from './web/ort-web.js';
import { ortWebBuildFor, webPlatform, webSha256, WEB_DEFAULT_PROVIDERS, type WasmPaths } from './web/platform.js';

export * from './core/index.js';
export type { WebImageInput } from './web/decode.js';
export type { OrtWebBuild, WasmPaths } from './web/platform.js';
export { ortWebBuildFor, webSha256, WEB_DEFAULT_PROVIDERS };
export { decodeWebImage } from './web/decode.js';
export { loadOrtWeb };

export interface WebDetectorOptions extends DetectorOptions {
  /**
   * Where onnxruntime-web loads its .wasm (and .mjs) files from: a folder URL or one URL per file.
   * Default: ORT's own `new URL(file, import.meta.url)`, which a bundler resolves to the asset it
   * emits. Set it to self-host the files from node_modules/onnxruntime-web/dist elsewhere.
   * ORT reads it once per page.
   */
  wasmPaths?: WasmPaths;
  /** WASM threads (needs a cross-origin-isolated page for more than 1). */
  numThreads?: number;
  /** Extra onnxruntime-web session options. */
  sessionOptions?: Record<string, unknown>;
}

export type WebDetector = Detector<WebImageInput>;

/**
 * Loads a model (folder URL relative to the page, `{ manifest, detector }` URLs, or their bytes) and
 * returns a detector for images, canvases, video frames and raw pixels. Default providers:
 * ['webgpu', 'wasm']; ['wasm'] alone loads ORT's smaller WASM-only build.
 */
export function createDetector(options: WebDetectorOptions): Promise<WebDetector> {
  const build = ortWebBuildFor(options.executionProviders ?? WEB_DEFAULT_PROVIDERS);
  const platform = webPlatform(loadOrtWeb, build, options);
  return Detector.create<WebImageInput>(platform, options);
}

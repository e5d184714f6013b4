// ganomaly-edge runtime for browsers: onnxruntime-web (WebGPU when an adapter exists, else WASM)
// and canvas decoding. Imports nothing from Node, tfjs or sharp (checked by test/runtime-bundle).
import * as ort from 'onnxruntime-web/webgpu';
import { Detector, type DetectorOptions } from './core/detector.js';
import type { WebImageInput } from './web/decode.js';
import { webPlatform, WEB_DEFAULT_PROVIDERS, type OrtWebModuleLike, type WasmPaths } from './web/platform.js';

export * from './core/index.js';
export type { WebImageInput } from './web/decode.js';
export type { WasmPaths } from './web/platform.js';
export { WEB_DEFAULT_PROVIDERS };

export interface WebDetectorOptions extends DetectorOptions {
  /**
   * Where onnxruntime-web loads ort-wasm-simd-threaded.asyncify.{mjs,wasm} from. Default: the page's
   * folder (self-hosted; copy them from node_modules/onnxruntime-web/dist). ORT reads it once per page.
   */
  wasmPaths?: WasmPaths;
  /** WASM threads (needs a cross-origin-isolated page for more than 1). */
  numThreads?: number;
  /** Extra onnxruntime-web session options. */
  sessionOptions?: Record<string, unknown>;
}

export type WebDetector = Detector<WebImageInput>;

/**
 * Loads a model (folder URL relative to the page, or `{ manifest, detector }` bytes) and returns a
 * detector for images, canvases, video frames and raw pixels. Default providers: ['webgpu', 'wasm'].
 */
export function createDetector(options: WebDetectorOptions): Promise<WebDetector> {
  const platform = webPlatform(ort as unknown as OrtWebModuleLike, options);
  return Detector.create<WebImageInput>(platform, options);
}

// exportInBrowser: the model folder `ganomaly export` writes (GE/GD/E.onnx, detector.onnx and its
// FP16/INT8 variants, manifest.json with calibration and threshold), built in the page from a
// browser training result by the same builder (src/export/model-folder.ts), checked and calibrated
// through onnxruntime-web instead of -node.
import * as tf from '@tensorflow/tfjs';
import { loadOrtWeb, webSha256, type OrtModuleLike } from '@ganomaly-edge/runtime/web';
import type { TrainConfig } from '../config/train-config.js';
import { buildModelFolder, type ModelFolder } from '../export/model-folder.js';
import { ortRunner } from '../export/ort-runner.js';
import type { StageEvent } from '../progress.js';
import type { Precision } from '../types.js';
import { VERSION } from '../version.js';
import type { BrowserTrainResult } from './train.js';
import { zipFiles } from './zip.js';

/** @deprecated The toolkit's version, the same in Node and in a page: use the manifest's tools['ganomaly-edge']. */
export const BROWSER_EXPORT_VERSION = VERSION;

/** An onnxruntime-web module (any build): the runtime's ORT module type, plus its version. */
export type OrtWebModule = OrtModuleLike & { env: { versions?: Record<string, string | undefined> } };

export interface ExportInBrowserOptions {
  /** Model name in the manifest (default 'browser-model'). */
  name?: string;
  /** ONNX opset, 13-21 (default 17). */
  opset?: number;
  /** Default all three; fp32 (detector.onnx) is always written. */
  precisions?: readonly Precision[];
  /** Threshold = this quantile of the validation frames' scores, in (0, 1] (default 0.99)… */
  thresholdQuantile?: number;
  /** …or this absolute value (finite). */
  threshold?: number;
  /** Validation frames used for the tfjs ↔ ONNX parity check, 1-4096 (default 16). */
  parityImages?: number;
  /** The onnxruntime-web module to check with (default: its WASM build, as the web runtime loads it). */
  ort?: OrtWebModule;
  onProgress?: (e: StageEvent) => void;
}

export interface BrowserExport extends ModelFolder {
  /** The folder as one .zip (no compression): what "Download model" saves; unzip for `ganomaly score --model`. */
  zip(folder?: string): Uint8Array;
}

export async function exportInBrowser(result: BrowserTrainResult, opts: ExportInBrowserOptions = {}): Promise<BrowserExport> {
  const ort = opts.ort ?? ((await loadOrtWeb('wasm')) as unknown as OrtWebModule);
  const ortVersion = ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown';
  // A TrainConfig view of the browser run, for the manifest's training section.
  const config: TrainConfig = { ...result.config, data: 'browser frames', out: '', backend: result.backend.name };
  const name = opts.name ?? 'browser-model';
  const folder = await buildModelFolder({
    name,
    config,
    weights: result.weights,
    validation: result.validation,
    trained: result.trained,
    split: result.split,
    runner: ortRunner(ort, 'wasm', `onnxruntime-web ${ortVersion}`),
    sha256: webSha256,
    producerVersion: VERSION,
    note: 'Trained in a browser.',
    tools: {
      '@tensorflow/tfjs': tf.version.tfjs,
      'onnxruntime-web': ortVersion,
      'tfjs-backend': result.backend.name,
      ...(globalThis.navigator?.userAgent ? { browser: globalThis.navigator.userAgent } : {}),
    },
  }, {
    opset: opts.opset, precisions: opts.precisions, parityImages: opts.parityImages, onProgress: opts.onProgress,
    threshold: { quantile: opts.thresholdQuantile, value: opts.threshold },
  });
  return {
    ...folder,
    zip: (folderName = name) => zipFiles(Object.fromEntries(Object.entries(folder.files).map(([k, v]) => [`${folderName}/${k}`, v]))),
  };
}

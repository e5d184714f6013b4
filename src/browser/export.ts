// exportInBrowser: the model folder `ganomaly export` writes (GE/GD/E.onnx, detector.onnx and its
// FP16/INT8 variants, manifest.json with calibration and threshold), built in the page from a
// browser training result: the same graph writer, the same parity check against the tfjs model and
// the same calibration on the held-out frames, run through onnxruntime-web instead of -node.
import * as tf from '@tensorflow/tfjs';
import { loadOrtWeb, manifestCoreSha256, ORT_CONFIG_ENTRIES, webSha256 } from '@ganomaly-edge/runtime/web';
import type { TrainConfig } from '../config/train-config.js';
import { PRECISIONS, type Manifest, type Precision } from '../types.js';
import { calibrate } from '../export/calibrate.js';
import { buildManifest, manifestCore } from '../export/manifest.js';
import { buildGraphs } from '../export/graphs.js';
import { DEFAULT_OPSET, GRAPH_IO } from '../export/onnx/index.js';
import { ortRunner } from '../export/ort-runner.js';
import { checkParity, PARITY_TOLERANCE } from '../export/parity.js';
import { buildVariants } from '../export/variant-build.js';
import type { BrowserTrainResult } from './train.js';
import { zipFiles } from './zip.js';

/** The toolkit version written into manifests made in a page (no package.json to read there). */
export const BROWSER_EXPORT_VERSION = '0.1.0';

interface OrtWebLike {
  InferenceSession: { create(bytes: Uint8Array, options: Record<string, unknown>): Promise<unknown> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env: { versions?: Record<string, string | undefined> };
}

export interface ExportInBrowserOptions {
  /** Model name in the manifest (default 'browser-model'). */
  name?: string;
  opset?: number;
  /** Default all three; fp32 (detector.onnx) is always written. */
  precisions?: readonly Precision[];
  /** Threshold = this quantile of the validation frames' scores (default 0.99)… */
  thresholdQuantile?: number;
  /** …or this absolute value. */
  threshold?: number;
  /** Validation frames used for the tfjs ↔ ONNX parity check (default 16). */
  parityImages?: number;
  /** The onnxruntime-web module to check with (default: its WASM build, as the web runtime loads it). */
  ort?: OrtWebLike;
  onProgress?: (stage: string) => void;
}

export interface BrowserExport {
  manifest: Manifest;
  /** File name → bytes: manifest.json, detector.onnx (+ variants), GE.onnx, GD.onnx, E.onnx. */
  files: Record<string, Uint8Array>;
  /** The folder as one .zip (no compression): what "Download model" saves; unzip for `ganomaly score --model`. */
  zip(folder?: string): Uint8Array;
}

export async function exportInBrowser(result: BrowserTrainResult, opts: ExportInBrowserOptions = {}): Promise<BrowserExport> {
  const progress = opts.onProgress ?? (() => {});
  const opset = opts.opset ?? DEFAULT_OPSET;
  const cfg = result.config.model;
  const ort = opts.ort ?? ((await loadOrtWeb('wasm')) as unknown as OrtWebLike);
  const ortName = `onnxruntime-web ${ort.env.versions?.web ?? ort.env.versions?.common ?? ''}`.trim();
  const runner = ortRunner(ort, 'wasm', ortName, { extra: ORT_CONFIG_ENTRIES });
  // A TrainConfig view of the browser run, for the manifest's training section.
  const config: TrainConfig = {
    ...result.config, data: 'browser frames', out: '', backend: result.backend.name,
  };
  const name = opts.name ?? 'browser-model';
  const core = manifestCore(name, config, opset);
  progress('building graphs');
  const w = result.weights;
  const graphs = buildGraphs(cfg, w, { core, coreHash: manifestCoreSha256(core), producerVersion: BROWSER_EXPORT_VERSION, note: 'Trained in a browser.' });
  const val = result.validation;
  const per = cfg.isize * cfg.isize * cfg.nc;
  const nParity = Math.min(opts.parityImages ?? 16, val.count);
  progress('parity check');
  const parity = await checkParity(cfg, w, graphs, val.images.subarray(0, nParity * per), nParity, runner, PARITY_TOLERANCE);
  progress('calibrating');
  const rule = { quantile: opts.thresholdQuantile, value: opts.threshold };
  const cal = await calibrate(cfg, graphs.detector, val.images, val.count, rule, runner);
  const built = await buildVariants(cfg, graphs.detector, val, opts.precisions ?? PRECISIONS, rule, runner, nParity, progress);

  const files: Record<string, Uint8Array> = {};
  const entries: Manifest['files'] = {};
  const add = async (file: string, bytes: Uint8Array, io: { inputs: readonly string[]; outputs: readonly string[] }) => {
    files[file] = bytes;
    entries[file] = { sha256: await webSha256(bytes), bytes: bytes.length, inputs: [...io.inputs], outputs: [...io.outputs] };
  };
  await add('detector.onnx', graphs.detector, GRAPH_IO.detector);
  for (const b of built) await add(b.variant.file, b.bytes, GRAPH_IO.detector);
  await add('GE.onnx', graphs.GE, GRAPH_IO.GE);
  await add('GD.onnx', graphs.GD, GRAPH_IO.GD);
  await add('E.onnx', graphs.E, GRAPH_IO.E);
  const last = result.history[result.history.length - 1];
  const manifest = buildManifest({
    core, config,
    trainedEpochs: last ? last.epoch + 1 : 0, trainedStepsInEpoch: 0,
    split: result.split,
    calibration: cal.stats,
    threshold: cal.threshold,
    files: entries,
    tools: {
      'ganomaly-edge': BROWSER_EXPORT_VERSION,
      '@tensorflow/tfjs': tf.version.tfjs,
      'onnxruntime-web': ortName.replace(/^onnxruntime-web ?/, '') || 'unknown',
      'tfjs-backend': result.backend.name,
      ...(globalThis.navigator?.userAgent ? { browser: globalThis.navigator.userAgent } : {}),
    },
    parity: { images: parity.images, tolerance: parity.tolerance, ...parity.maxAbsDiff },
    variants: Object.fromEntries(built.map((b) => [b.precision, b.variant])),
  });
  files['manifest.json'] = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  progress('done');
  return {
    manifest,
    files,
    zip: (folder = name) => zipFiles(Object.fromEntries(Object.entries(files).map(([k, v]) => [`${folder}/${k}`, v]))),
  };
}

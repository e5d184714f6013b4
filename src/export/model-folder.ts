// The model folder, built in memory: graphs → parity against the tfjs model → calibration →
// precision variants → file entries → manifest. `ganomaly export` (exportRun.ts: a run folder,
// onnxruntime-node, files on disk) and the browser export (src/browser: a page's training result,
// onnxruntime-web, bytes and a zip) both run exactly this; they differ only in what they pass in.
import { DETECTOR_FILE, MANIFEST_FILE, manifestCoreSha256 } from '@ganomaly-edge/runtime';
import type { TrainConfig } from '../config/train-config.js';
import type { StageEvent } from '../progress.js';
import type { Precision, Manifest, SplitSizes, WeightMap } from '../types.js';
import { PRECISIONS } from '../types.js';
import { calibrate, checkThresholdRule, type CalibrationSet, type ThresholdRule } from './calibrate.js';
import { buildGraphs, graphOptions, type GraphStamp } from './graphs.js';
import { buildManifest, manifestCore } from './manifest.js';
import { buildDiscriminator, DEFAULT_OPSET, GRAPH_IO } from './onnx/index.js';
import { checkRange, EXPORT_RANGES } from '../option-ranges.js';
import type { OrtRunner } from './ort-runner.js';
import { checkParity, PARITY_TOLERANCE } from './parity.js';
import { buildVariants } from './variant-build.js';

export interface ModelFolderOptions {
  /** ONNX opset, MIN_OPSET-MAX_OPSET (default DEFAULT_OPSET). */
  opset?: number;
  /** Threshold rule (default: quantile 0.99 of the validation scores). */
  threshold?: ThresholdRule;
  /** Validation images for the tfjs ↔ ONNX parity check, 1-4096 (default 16). */
  parityImages?: number;
  /** Largest allowed |tfjs − ONNX| per output, > 0 (default PARITY_TOLERANCE). */
  parityTolerance?: number;
  /** Detector precisions (default all three); fp32 (detector.onnx) is always built. */
  precisions?: readonly Precision[];
  /** Also build D.onnx (parity-checked like the rest). */
  discriminator?: boolean;
  onProgress?: (e: StageEvent) => void;
}

export interface ModelFolderSource {
  /** The model's name in the manifest. */
  name: string;
  /** The run's settings, for the manifest's training section. */
  config: TrainConfig;
  weights: WeightMap;
  /** Validation normals, NHWC float32 after preprocessing (tiles with `frames` for patch models): parity and calibration run on them. */
  validation: CalibrationSet;
  /** Where training stood: finished epochs and steps into the next one (non-zero after a mid-epoch stop). */
  trained: { epochs: number; stepsInEpoch: number };
  split: SplitSizes | null;
  /** The ONNX Runtime that checks and calibrates every graph. */
  runner: OrtRunner;
  /** sha256 of a file, hex (node:crypto in Node, WebCrypto in a page). */
  sha256(bytes: Uint8Array): string | Promise<string>;
  /** The toolkit version stamped into graphs and manifest. */
  producerVersion: string;
  /** The manifest's tools section besides ganomaly-edge itself (tfjs, ORT, backend, host). */
  tools: Record<string, string>;
  /** An extra sentence for the graphs' doc strings (where the model was trained). */
  note?: string;
}

export interface ModelFolder {
  manifest: Manifest;
  /** File name → bytes: detector.onnx (+ variants), GE/GD/E.onnx, D.onnx when asked for, manifest.json. */
  files: Record<string, Uint8Array>;
}

export const MAX_PARITY_IMAGES = EXPORT_RANGES.parityImages.max;

/** The export's numbers against their ranges (option-ranges.ts EXPORT_RANGES, as the CLI checks them), before any work. */
export function checkModelFolderOptions(opts: ModelFolderOptions): void {
  checkRange(EXPORT_RANGES.opset, opts.opset ?? DEFAULT_OPSET, 'opset');
  checkRange(EXPORT_RANGES.parityImages, opts.parityImages ?? 16, 'parityImages');
  checkRange(EXPORT_RANGES.parityTolerance, opts.parityTolerance ?? PARITY_TOLERANCE, 'parityTolerance');
  checkThresholdRule(opts.threshold ?? {});
}

export async function buildModelFolder(src: ModelFolderSource, opts: ModelFolderOptions = {}): Promise<ModelFolder> {
  checkModelFolderOptions(opts);
  const progress = opts.onProgress ?? (() => {});
  const cfg = src.config.model;
  const val = src.validation;
  const core = manifestCore(src.name, src.config, opts.opset ?? DEFAULT_OPSET);
  const stamp: GraphStamp = { core, coreHash: manifestCoreSha256(core), producerVersion: src.producerVersion, ...(src.note ? { note: src.note } : {}) };

  progress({ kind: 'stage', stage: 'building graphs' });
  const graphs = buildGraphs(cfg, src.weights, stamp);
  const dGraph = opts.discriminator ? buildDiscriminator(cfg, src.weights, graphOptions(cfg, stamp, 'discriminator D: x -> prob, features')) : undefined;

  progress({ kind: 'stage', stage: 'parity check' });
  const per = cfg.isize * cfg.isize * cfg.nc;
  const nParity = Math.min(opts.parityImages ?? 16, val.count);
  const parity = await checkParity(cfg, src.weights, { ...graphs, ...(dGraph ? { D: dGraph } : {}) }, val.images.subarray(0, nParity * per), nParity, src.runner, opts.parityTolerance ?? PARITY_TOLERANCE);

  if (src.config.tiling && !val.frames) throw new RangeError('a patch model (config.tiling) is calibrated on validation frames: pass validation tiles with their frames');
  progress({ kind: 'stage', stage: 'calibrating', done: 0, total: val.count });
  const rule = opts.threshold ?? {};
  const cal = await calibrate(cfg, graphs.detector, val, rule, src.runner, 64, (done, total) => progress({ kind: 'stage', stage: 'calibrating', done, total }));
  const built = await buildVariants(cfg, graphs.detector, val, opts.precisions ?? PRECISIONS, rule, src.runner, nParity, (stage) => progress({ kind: 'stage', stage }));

  const files: Record<string, Uint8Array> = {};
  const entries: Manifest['files'] = {};
  const add = async (file: string, bytes: Uint8Array, io: { inputs: readonly string[]; outputs: readonly string[] }) => {
    files[file] = bytes;
    entries[file] = { sha256: await src.sha256(bytes), bytes: bytes.length, inputs: [...io.inputs], outputs: [...io.outputs] };
  };
  await add(DETECTOR_FILE, graphs.detector, GRAPH_IO.detector);
  await add('GE.onnx', graphs.GE, GRAPH_IO.GE);
  await add('GD.onnx', graphs.GD, GRAPH_IO.GD);
  await add('E.onnx', graphs.E, GRAPH_IO.E);
  for (const b of built) await add(b.variant.file, b.bytes, GRAPH_IO.detector);
  if (dGraph) await add('D.onnx', dGraph, GRAPH_IO.discriminator);

  const manifest = buildManifest({
    core, config: src.config,
    trainedEpochs: src.trained.epochs, trainedStepsInEpoch: src.trained.stepsInEpoch,
    split: src.split,
    calibration: cal.stats,
    threshold: cal.threshold,
    files: entries,
    tools: { 'ganomaly-edge': src.producerVersion, ...src.tools },
    parity: { images: parity.images, tolerance: parity.tolerance, ...parity.maxAbsDiff },
    variants: Object.fromEntries(built.map((b) => [b.precision, b.variant])),
  });
  files[MANIFEST_FILE] = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  progress({ kind: 'stage', stage: 'done' });
  return { manifest, files };
}

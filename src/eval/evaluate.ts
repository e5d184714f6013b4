// `ganomaly eval` as a library call: rebuild the seeded test split the model was trained with,
// score it through the Node runtime (the deployed code path), and compare the GANomaly score
// with a pixel-reconstruction baseline read from the same runs.
//
// Why the runtime is fed 8-bit source pixels and not loadDataset's float tensors: the runtime
// takes 0-255 pixels (or files) only, and rounding the preprocessed floats back to bytes would
// not give the same tensor (Fashion-MNIST is resized 28 → 32 bilinearly, so the resized pixels
// are not integers). The source pixels are the exact bytes training decoded, and the runtime
// runs them through the same src/runtime/core/pixels.ts pipeline, so its input tensor is the training one.
// The validation normals are scored too: their statistics must reproduce manifest.calibration
// (computed at export from loadDataset's tensors), which checks that claim on every run.
import { checkOptionalRange, checkRange, EVAL_RANGES } from '../option-ranges.js';
import path from 'node:path';
import { createDetector, DETECTOR_FILE, type ExecutionProvider, type NodeDetector } from '@ganomaly-edge/runtime/node';
import { renamedOption } from '../renamed-option.js';
import { scoreStats } from '../stats.js';
import { loadDataset, type ImageSet } from '../data/index.js';
import type { Precision } from '../types.js';
import { EvalError } from './errors.js';
import { averagePrecision, confusionAt, rocAuc, rocCurve } from './metrics.js';
import { writeEvalOutputs } from './outputs.js';
import type { EvalReport, EvalResult, EvalStage, MetricsBlock } from './report.js';

export type { EvalReport, EvalResult, EvalStage, MetricsBlock } from './report.js';
import { runtimeInputs, type RuntimeInput } from './sources.js';
import { localisation, readAnomalyBoxes } from './localisation.js';
import type { TileBox } from '@ganomaly-edge/runtime';
import { checkCalibration, compareWithTraining, resolveProtocol } from './protocol.js';
import { matchingThreshold } from './thresholds.js';
import type { StageEvent } from '../progress.js';

export interface EvaluateOptions {
  /** Exported model folder (manifest.json + detector.onnx). */
  model: string;
  /** Data spec; default: the manifest's training.data. */
  data?: string;
  /** Default: the manifest's training.abnormalClass (omit for folder datasets). */
  abnormalClass?: number | string;
  /**
   * Split protocol; defaults from the manifest's training section give the training split. Seed an
   * integer 0 to 2³²−1, maxImages 2 to 10⁹, validationFraction in (0, 1) (EVAL_RANGES, option-ranges.ts).
   */
  seed?: number;
  maxImages?: number;
  validationFraction?: number;
  /** Raw-score threshold for precision/recall; default: the manifest's. */
  threshold?: number;
  /** Images per runtime call, 1-4096. Default 64. */
  batchSize?: number;
  /** ONNX Runtime execution providers, tried in order. Default ['cpu']: the provider export calibrated with, so numbers reproduce exactly. */
  executionProviders?: readonly ExecutionProvider[];
  /**
   * @deprecated Renamed `executionProviders` (ONNX Runtime's name); this one is accepted until the
   * next minor version. Both given with different values is a TypeError.
   */
  providers?: readonly ExecutionProvider[];
  /** Folder for report.json, roc.png, hist.png, hist-baseline.png and scores.csv. */
  out?: string;
  /** Which detector: fp32 (default), fp16 or int8 (the model's variant, with its own calibration and threshold). */
  precision?: Precision;
  /** One progress shape across the toolkit: `{ kind: 'stage', stage, done, total }`. */
  onProgress?: (e: StageEvent & { stage: EvalStage }) => void;
}

const BASELINE_DESCRIPTION = 'pixel reconstruction error: spatial mean of the anomaly map, mean |x - x_hat|';

export async function evaluateModel(opts: EvaluateOptions): Promise<EvalResult> {
  // Every number against its range (option-ranges.ts EVAL_RANGES, as the CLI checks them), before the model loads.
  const R = EVAL_RANGES;
  const batchSize = checkRange(R.batchSize, opts.batchSize ?? 64, 'batchSize');
  checkOptionalRange(R.seed, opts.seed, 'seed');
  checkOptionalRange(R.maxImages, opts.maxImages, 'maxImages');
  checkOptionalRange(R.validationFraction, opts.validationFraction, 'validationFraction');
  checkOptionalRange(R.threshold, opts.threshold, 'threshold');
  const warnings: string[] = [];
  const detector = await createDetector({
    model: opts.model,
    executionProviders: renamedOption(opts.executionProviders, opts.providers, 'executionProviders', 'providers') ?? ['cpu'],
    maxBatch: batchSize,
    threshold: opts.threshold,
    precision: opts.precision,
    logger: { warn: (m) => warnings.push(m) },
  });
  try {
    return await evaluateWith(detector, opts, batchSize, warnings);
  } finally {
    await detector.dispose();
  }
}

async function evaluateWith(detector: NodeDetector, opts: EvaluateOptions, batchSize: number, warnings: string[]): Promise<EvalResult> {
  const manifest = detector.manifest;
  const progress = (stage: EvalStage, done: number, total: number) => opts.onProgress?.({ kind: 'stage', stage, done, total });
  const protocol = resolveProtocol(manifest, opts);
  // Patch models: the split is over frames, which the runtime cuts itself; loading them whole
  // (at the tile's size) gives the same split without cutting tiles nobody reads.
  const data = await loadDataset(protocol.data, {
    isize: manifest.model.isize, nc: manifest.model.nc, abnormalClass: protocol.abnormalClass, seed: protocol.seed,
    maxImages: protocol.maxImages ?? undefined, validationFraction: protocol.validationFraction,
    onProgress: ({ done, total }) => progress('loading data', done ?? 0, total ?? 0),
  });
  warnings.push(...data.warnings);
  if (data.split.testNormal === 0 || data.split.testAbnormal === 0) {
    throw new EvalError(
      `${data.spec}: the test split has ${data.split.testNormal} normal and ${data.split.testAbnormal} abnormal images; ROC AUC and precision/recall need both` +
        (data.source.kind === 'folder' ? ' (put anomalous images in abnormal/)' : ''),
    );
  }
  const { sameSplit, warning } = compareWithTraining(manifest, data, protocol, opts.abnormalClass !== undefined);
  if (warning) warnings.push(warning);

  const input = await runtimeInputs(data);
  const started = Date.now();
  const val = await scoreSet(detector, data.validation, input, batchSize, (d, t) => progress('scoring validation', d, t));
  const test = await scoreSet(detector, data.test, input, batchSize, (d, t) => progress('scoring test', d, t));
  const seconds = (Date.now() - started) / 1000;

  const labels = data.test.labels;
  const testSources = Array.from(data.test.sources, (p) => data.sourceName(p));
  const threshold = detector.threshold;
  const baselineThreshold = data.validation.count > 0 ? matchingThreshold(val.scores, threshold, val.baseline) : null;
  if (!baselineThreshold) warnings.push('no validation images: the baseline has no calibrated threshold, so its precision/recall are omitted');
  const calibrationCheck = sameSplit && data.validation.count > 0 ? checkCalibration(manifest.calibration, val.scores) : null;
  if (calibrationCheck && !calibrationCheck.ok) {
    warnings.push(
      `validation-normal scores differ from manifest.calibration by up to ${calibrationCheck.maxRelDiff.toExponential(2)} (relative): ` +
        'the data or the pixel pipeline differs from what export saw',
    );
  }

  const report: EvalReport = {
    createdAt: new Date().toISOString(),
    model: {
      dir: path.resolve(opts.model), name: manifest.name, scoreKind: manifest.score.kind, isize: manifest.model.isize, nc: manifest.model.nc,
      exportedAt: manifest.createdAt,
      precision: detector.precision,
      file: detector.precision === 'fp32' ? DETECTOR_FILE : manifest.variants![detector.precision]!.file,
      bytes: manifest.files[detector.precision === 'fp32' ? DETECTOR_FILE : manifest.variants![detector.precision]!.file]!.bytes,
    },
    provider: detector.provider,
    data: {
      spec: protocol.data, abnormalClass: data.split.abnormalClass, seed: protocol.seed, maxImages: protocol.maxImages,
      validationFraction: protocol.validationFraction, sameSplitAsTraining: sameSplit,
    },
    split: data.split,
    threshold: { value: threshold, rule: opts.threshold === undefined ? manifest.threshold.rule : 'set by the caller' },
    ganomaly: { description: manifest.score.description, ...metricsBlock(test.scores, labels, threshold) },
    ...(manifest.tiling ? { tiling: manifest.tiling, localisation: localisation(test.worst, labels, testSources, data.source.kind === 'folder' ? await readAnomalyBoxes(data.source.dir) : new Map()) } : {}),
    baseline: {
      description: BASELINE_DESCRIPTION,
      threshold: baselineThreshold,
      ...metricsBlock(test.baseline, labels, baselineThreshold?.value),
    },
    calibrationCheck,
    scoring: { images: data.validation.count + data.test.count, seconds },
    warnings,
  };
  const result: EvalResult = {
    report,
    test: { labels, scores: test.scores, baseline: test.baseline, sources: testSources },
    roc: { ganomaly: rocCurve(test.scores, labels), baseline: rocCurve(test.baseline, labels) },
  };
  if (opts.out) await writeEvalOutputs(result, opts.out);
  return result;
}

function metricsBlock(scores: Float64Array, labels: Uint8Array, threshold: number | undefined): MetricsBlock {
  return {
    rocAuc: rocAuc(scores, labels),
    averagePrecision: averagePrecision(scores, labels),
    atThreshold: threshold === undefined ? null : confusionAt(scores, labels, threshold),
    normalScores: scoreStats(scores.filter((_, i) => labels[i] === 0)),
    abnormalScores: scoreStats(scores.filter((_, i) => labels[i] === 1)),
  };
}

async function scoreSet(
  detector: NodeDetector, set: ImageSet, input: (set: ImageSet, slot: number) => RuntimeInput, batchSize: number,
  onProgress: (done: number, total: number) => void,
): Promise<{ scores: Float64Array; baseline: Float64Array; worst: (TileBox | undefined)[] }> {
  const scores = new Float64Array(set.count);
  const baseline = new Float64Array(set.count);
  const worst: (TileBox | undefined)[] = new Array(set.count);
  for (let start = 0; start < set.count; start += batchSize) {
    const end = Math.min(start + batchSize, set.count);
    const inputs = Array.from({ length: end - start }, (_, k) => input(set, start + k));
    const results = await detector.score(inputs, { outputs: ['anomalyMap'] });
    results.forEach((r, k) => {
      scores[start + k] = r.score;
      worst[start + k] = r.worstTile?.box;
      const map = r.anomalyMap!.data;
      let sum = 0;
      for (const v of map) sum += v;
      baseline[start + k] = sum / map.length;
    });
    onProgress(end, set.count);
  }
  return { scores, baseline, worst };
}

// Calibration: validation-normal scores from the exported detector itself, so the threshold and
// the normalisation are exactly what the runtime will compute. For patch models the scores are
// frames' (their worst tile's), so the threshold judges a frame as the runtime's isAnomaly does.
import { frameScores } from '../data/tiles.js';
import type { FrameIndex } from '../data/imageSet.js';
import { checkOptionalRange, EXPORT_RANGES } from '../option-ranges.js';
import { scoreStats, quantileSorted } from '../stats.js';
import type { ModelConfig, ScoreStats, Threshold } from '../types.js';
import { ExportError } from './errors.js';
import { nhwcToNchw } from './layout.js';
import { INPUT_NAME } from './onnx/index.js';
import type { OrtRunner } from './ort-runner.js';

export interface ThresholdRule {
  /** Quantile of the validation-normal scores, in (0, 1] (default 0.99)… */
  quantile?: number;
  /** …or an absolute value (finite). */
  value?: number;
}

export const DEFAULT_THRESHOLD_QUANTILE = 0.99;

/** Checks a rule before any work: both set, a quantile outside (0, 1], a value that is not finite. */
export function checkThresholdRule(rule: ThresholdRule): void {
  if (rule.value !== undefined && rule.quantile !== undefined) throw new TypeError('give a threshold quantile or an absolute threshold, not both');
  checkOptionalRange(EXPORT_RANGES.threshold, rule.value, 'threshold');
  checkOptionalRange(EXPORT_RANGES.thresholdQuantile, rule.quantile, 'thresholdQuantile');
}

/**
 * The rule a manifest's threshold was chosen by, to choose a variant's the same way: the data
 * fields when present, else (manifests from before them) the sentence they were written as.
 */
export function thresholdRuleOf(t: Threshold): ThresholdRule {
  if (t.method === 'absolute') return { value: t.value };
  if (t.method === 'quantile' && t.quantile !== undefined) return { quantile: t.quantile };
  if (/^absolute/.test(t.rule)) return { value: t.value };
  const q = Number(/quantile ([\d.]+)/.exec(t.rule)?.[1]);
  return { quantile: Number.isFinite(q) && q > 0 && q <= 1 ? q : DEFAULT_THRESHOLD_QUANTILE };
}

/** Validation normals in NHWC float32 (tiles grouped by `frames` for patch models). */
export interface CalibrationSet {
  images: Float32Array;
  count: number;
  frames?: FrameIndex;
}

export async function calibrate(
  cfg: ModelConfig,
  detector: Uint8Array,
  val: CalibrationSet,
  rule: ThresholdRule,
  runner: OrtRunner,
  batchSize = 64,
  onProgress?: (done: number, total: number) => void,
): Promise<{ stats: ScoreStats; threshold: Threshold; scores: Float32Array }> {
  checkThresholdRule(rule);
  const { images, count: n } = val;
  if (n < 1) throw new ExportError('calibration needs at least one validation image');
  const { isize, nc } = cfg;
  const per = isize * isize * nc;
  const scores = new Float32Array(n);
  const session = await runner.create(detector);
  try {
    for (let s = 0; s < n; s += batchSize) {
      const m = Math.min(batchSize, n - s);
      const x = nhwcToNchw(images.subarray(s * per, (s + m) * per), m, isize, isize, nc);
      scores.set((await runner.run(session, INPUT_NAME, x, [m, nc, isize, isize])).score!, s);
      onProgress?.(s + m, n);
    }
  } finally {
    await session.release();
  }
  const judged = val.frames ? frameScores(val, scores) : scores;
  const stats = scoreStats(judged);
  let threshold: Threshold;
  if (rule.value !== undefined) {
    threshold = { value: rule.value, rule: 'absolute (set with --threshold)', method: 'absolute' };
  } else {
    const q = rule.quantile ?? DEFAULT_THRESHOLD_QUANTILE;
    const sorted = Float64Array.from(judged).sort();
    const what = val.frames ? 'validation-normal frame scores (worst tile)' : 'validation-normal scores';
    threshold = { value: quantileSorted(sorted, q), rule: `quantile ${q} of ${sorted.length} ${what}`, method: 'quantile', quantile: q, of: sorted.length };
  }
  return { stats, threshold, scores: Float32Array.from(judged) };
}

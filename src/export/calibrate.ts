// Calibration: validation-normal scores from the exported detector itself, so the threshold and
// the normalisation are exactly what the runtime will compute.
import { scoreStats, quantileSorted } from '../stats.js';
import type { ModelConfig, ScoreStats } from '../types.js';
import { ExportError } from './errors.js';
import { nhwcToNchw } from './layout.js';
import type { OrtRunner } from './ort-runner.js';

export interface ThresholdRule {
  /** Quantile of the validation-normal scores (default 0.99), or an absolute value. */
  quantile?: number;
  value?: number;
}

export async function calibrate(
  cfg: ModelConfig,
  detector: Uint8Array,
  images: Float32Array,
  n: number,
  rule: ThresholdRule,
  runner: OrtRunner,
  batchSize = 64,
  onProgress?: (done: number, total: number) => void,
): Promise<{ stats: ScoreStats; threshold: { value: number; rule: string }; scores: Float32Array }> {
  if (n < 1) throw new ExportError('calibration needs at least one validation image');
  const { isize, nc } = cfg;
  const per = isize * isize * nc;
  const scores = new Float32Array(n);
  const session = await runner.create(detector);
  try {
    for (let s = 0; s < n; s += batchSize) {
      const m = Math.min(batchSize, n - s);
      const x = nhwcToNchw(images.subarray(s * per, (s + m) * per), m, isize, isize, nc);
      scores.set((await runner.run(session, 'x', x, [m, nc, isize, isize])).score!, s);
      onProgress?.(s + m, n);
    }
  } finally {
    await session.release();
  }
  const stats = scoreStats(scores);
  let threshold: { value: number; rule: string };
  if (rule.value !== undefined) {
    if (!Number.isFinite(rule.value)) throw new ExportError(`threshold must be a finite number; got ${rule.value}`);
    threshold = { value: rule.value, rule: 'absolute (set with --threshold)' };
  } else {
    const q = rule.quantile ?? 0.99;
    if (!(q > 0 && q <= 1)) throw new ExportError(`threshold quantile must be in (0, 1]; got ${q}`);
    const sorted = Float64Array.from(scores).sort();
    threshold = { value: quantileSorted(sorted, q), rule: `quantile ${q} of ${n} validation-normal scores` };
  }
  return { stats, threshold, scores };
}

// Turns a raw GANomaly score into what an application acts on. Normalisation uses fixed
// calibration statistics from export time, so one image can be scored alone (the reference
// min-max normalises over the whole test set, which cannot be done on a live stream).
import type { ScoreStats } from '../../types.js';

/** (s − min)/(max − min), clipped to [0, 1]; a degenerate range maps to 0 at or below, 1 above. */
export function normalizeScore(score: number, cal: Pick<ScoreStats, 'min' | 'max'>): number {
  const range = cal.max - cal.min;
  if (!(range > 0)) return score > cal.max ? 1 : 0;
  const v = (score - cal.min) / range;
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** An image is anomalous when its raw score is strictly above the threshold (NaN is never "normal"). */
export function isAnomalous(score: number, threshold: number): boolean {
  return !(score <= threshold);
}

// What an evaluation produces (report.json's shape, the per-image scores and ROC curves): types
// only, shared by evaluate.ts, which computes them, and outputs.ts, which writes them.
import type { Dataset } from '../data/index.js';
import type { Precision, ScoreStats, Threshold, Tiling } from '../types.js';
import type { Localisation } from './localisation.js';
import type { ConfusionAtThreshold, RocCurve } from './metrics.js';
import type { CalibrationCheck } from './protocol.js';

export type EvalStage = 'loading data' | 'scoring validation' | 'scoring test';

export interface MetricsBlock {
  rocAuc: number;
  averagePrecision: number;
  atThreshold: ConfusionAtThreshold | null;
  normalScores: ScoreStats;
  abnormalScores: ScoreStats;
}

export interface EvalReport {
  createdAt: string;
  model: { dir: string; name: string; scoreKind: string; isize: number; nc: number; exportedAt: string; precision: Precision; file: string; bytes: number };
  provider: string;
  data: { spec: string; abnormalClass: string; seed: number; maxImages: number | null; validationFraction: number;
    /** Same protocol, class and split sizes as training; calibrationCheck then confirms the images. */
    sameSplitAsTraining: boolean;
  };
  split: Dataset['split'];
  threshold: Threshold;
  /** Patch models: scores and metrics are per frame (its worst tile). */
  ganomaly: MetricsBlock & { description: string };
  tiling?: Tiling;
  /** Patch models on data with anomalies.json: how often the worst tile holds the anomaly. */
  localisation?: Localisation | null;
  baseline: MetricsBlock & { description: string; threshold: { value: number; quantile: number } | null };
  /** Validation-normal scores recomputed here vs manifest.calibration (only for the training split). */
  calibrationCheck: CalibrationCheck | null;
  scoring: { images: number; seconds: number };
  warnings: string[];
}

export interface EvalResult {
  report: EvalReport;
  /** Per test image, in split order. */
  test: { labels: Uint8Array; scores: Float64Array; baseline: Float64Array; sources: string[] };
  roc: { ganomaly: RocCurve; baseline: RocCurve };
}

// Which split an evaluation uses and whether it is the one the model was trained with. Only on
// the training split is the test set guaranteed disjoint from the training images; anything else
// is allowed but reported, and data that cannot give the recorded split is refused.
import { resolveDataSpec, type Dataset } from '../data/index.js';
import { scoreStats } from '../stats.js';
import type { Manifest, ScoreStats } from '../types.js';
import { EvalError } from './errors.js';

const CALIBRATION_TOLERANCE = 1e-3;
const DEFAULT_VALIDATION_FRACTION = 0.1;

export interface Overrides {
  data?: string;
  abnormalClass?: number | string;
  seed?: number;
  maxImages?: number;
  validationFraction?: number;
}

export interface CalibrationCheck {
  images: number;
  maxRelDiff: number;
  tolerance: number;
  ok: boolean;
}

export interface Protocol {
  data: string;
  abnormalClass: number | string | undefined;
  seed: number;
  maxImages: number | null;
  validationFraction: number;
  /** No override changed the split protocol recorded at training. */
  sameAsTraining: boolean;
  /** The caller named data other than the training spec (maybe the same files moved, maybe not). */
  otherData: boolean;
}

/** The split protocol to evaluate with: the caller's overrides over the manifest's training section. */
export function resolveProtocol(manifest: Manifest, opts: Overrides): Protocol {
  const t = manifest.training as { data?: unknown; abnormalClass?: unknown; seed?: unknown; maxImages?: unknown; validationFraction?: unknown };
  const data = opts.data ?? (typeof t.data === 'string' ? t.data : undefined);
  if (data === undefined) throw new EvalError('the manifest does not record the training data; pass data (--data)');
  const seed = opts.seed ?? (typeof t.seed === 'number' ? t.seed : undefined);
  if (seed === undefined) {
    throw new EvalError('the manifest does not record the training seed; pass seed (--seed), knowing the test set may then overlap the training images');
  }
  const trainedMax = typeof t.maxImages === 'number' ? t.maxImages : null;
  const trainedVal = typeof t.validationFraction === 'number' ? t.validationFraction : DEFAULT_VALIDATION_FRACTION;
  const trainedClass = typeof t.abnormalClass === 'string' || typeof t.abnormalClass === 'number' ? t.abnormalClass : undefined;
  const maxImages = opts.maxImages ?? trainedMax;
  const validationFraction = opts.validationFraction ?? trainedVal;
  return {
    data,
    // Folder datasets have no classes to choose: a class from IDX training must not follow them.
    abnormalClass: opts.abnormalClass ?? (resolveDataSpec(data).kind === 'folder' ? undefined : trainedClass),
    seed,
    maxImages,
    validationFraction,
    sameAsTraining: seed === t.seed && maxImages === trainedMax && validationFraction === trainedVal,
    otherData: data !== t.data,
  };
}

/**
 * Throws when the training data no longer gives the recorded split; otherwise says whether this
 * is the training split, with a warning when it is not.
 */
export function compareWithTraining(
  manifest: Manifest, data: Dataset, protocol: Protocol, classGiven: boolean,
): { sameSplit: boolean; warning?: string } {
  // A class given by the caller is compared by name; the training's own option (an index or a
  // name) needs no comparison, and a copy of the data may name its classes differently.
  const sameClass = !classGiven || manifest.split === null || manifest.split.abnormalClass === data.split.abnormalClass;
  if (!(protocol.sameAsTraining && sameClass)) return { sameSplit: false, warning: splitWarning(manifest, data) };
  const mismatch = splitMismatch(manifest, data);
  if (!mismatch) return { sameSplit: true };
  if (!protocol.otherData) {
    throw new EvalError(
      `${data.spec} does not give the split this model was trained with (${mismatch}); ` +
        'point --data at the training data, or pass --seed/--max-images to evaluate on another split on purpose',
    );
  }
  return { sameSplit: false, warning: `${data.spec} is not the training data (${String(manifest.training.data)}) and gives another split (${mismatch})` };
}

/** Null when the split sizes match the manifest's; else both, for a message. */
function splitMismatch(manifest: Manifest, data: Dataset): string | null {
  const m = manifest.split;
  if (!m) return null;
  const keys = ['trainNormal', 'validationNormal', 'testNormal', 'testAbnormal'] as const;
  if (keys.every((k) => m[k] === data.split[k])) return null;
  const show = (s: typeof m) => keys.map((k) => `${k} ${s[k]}`).join(', ');
  return `now ${show(data.split)}; manifest ${show(m)}`;
}

function splitWarning(manifest: Manifest, data: Dataset): string {
  const trained = manifest.split?.abnormalClass;
  if (trained !== undefined && trained !== data.split.abnormalClass) {
    return `abnormal class '${data.split.abnormalClass}' differs from training's '${trained}': the model trained on '${data.split.abnormalClass}' images and never saw '${trained}'`;
  }
  return 'the split protocol differs from training (seed, maxImages or validationFraction): the test set may contain images the model trained on, which inflates every metric';
}

/** Validation-normal scores recomputed now against the export's calibration statistics. */
export function checkCalibration(cal: ScoreStats, valScores: Float64Array): CalibrationCheck {
  const now = scoreStats(valScores);
  let maxRelDiff = now.count === cal.count ? 0 : Infinity;
  for (const k of ['min', 'max', 'mean', 'p50', 'p95', 'p99'] as const) {
    const rel = Math.abs(now[k] - cal[k]) / Math.max(Math.abs(cal[k]), 1e-12);
    if (!(rel <= maxRelDiff)) maxRelDiff = rel;
  }
  return { images: now.count, maxRelDiff, tolerance: CALIBRATION_TOLERANCE, ok: maxRelDiff <= CALIBRATION_TOLERANCE };
}

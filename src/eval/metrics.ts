// Threshold-free and thresholded detection metrics over (score, label) pairs, label 1 = abnormal.
// Definitions follow scikit-learn (roc_auc_score, roc_curve, average_precision_score) so numbers
// compare with the reference implementation and the GANomaly paper's tables.
import { EvalError } from './errors.js';

export interface ConfusionAtThreshold {
  threshold: number;
  /** Abnormal images flagged (score > threshold), normal images flagged, normal passed, abnormal missed. */
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** tp / (tp + fp); 0 when nothing is flagged (scikit-learn's zero_division=0). */
  precision: number;
  /** tp / (tp + fn): the abnormal images caught. */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
  /** fp / (fp + tn): the normal images wrongly flagged. */
  falsePositiveRate: number;
  accuracy: number;
}

export interface RocCurve {
  /** Point k counts the images with score ≥ thresholds[k]; thresholds descend, the first is +Infinity (0, 0). */
  thresholds: number[];
  fpr: number[];
  tpr: number[];
}

export interface ScoreMetrics {
  count: { normal: number; abnormal: number };
  rocAuc: number;
  averagePrecision: number;
  atThreshold: ConfusionAtThreshold;
}

/** Checks pairs and counts classes; both classes must be present for AUC and AP to mean anything. */
function checkScores(scores: ArrayLike<number>, labels: ArrayLike<number>): { normal: number; abnormal: number } {
  if (scores.length !== labels.length) throw new EvalError(`${scores.length} scores but ${labels.length} labels`);
  let abnormal = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i]!)) throw new EvalError(`score ${i} is ${scores[i]}: the model produced a non-finite score`);
    const l = labels[i]!;
    if (l !== 0 && l !== 1) throw new EvalError(`label ${i} is ${l}; labels must be 0 (normal) or 1 (abnormal)`);
    abnormal += l;
  }
  const normal = scores.length - abnormal;
  if (normal === 0 || abnormal === 0) {
    throw new EvalError(
      `ROC AUC and average precision need both classes; the test set has ${normal} normal and ${abnormal} abnormal images`,
    );
  }
  return { normal, abnormal };
}

/** Indices sorted by score, descending; ties keep index order so results are deterministic. */
function descendingOrder(scores: ArrayLike<number>): Uint32Array {
  const order = Uint32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Walks the distinct scores from the highest down, yielding cumulative (tp, fp) after each tie group. */
function* cumulativeCounts(scores: ArrayLike<number>, labels: ArrayLike<number>): Generator<{ threshold: number; tp: number; fp: number }> {
  const order = descendingOrder(scores);
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (labels[i] === 1) tp++;
    else fp++;
    const next = order[k + 1];
    if (next === undefined || scores[next]! !== scores[i]!) yield { threshold: scores[i]!, tp, fp };
  }
}

/**
 * ROC AUC as the Mann-Whitney U statistic: the probability that a random abnormal image scores
 * above a random normal one, ties counting one half (midranks). Equals the trapezoid area under
 * rocCurve().
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { normal, abnormal } = checkScores(scores, labels);
  const order = Uint32Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && scores[order[end]!] === scores[order[start]!]) end++;
    const midrank = (start + 1 + end) / 2; // ranks start..end-1 are 1-based start+1..end
    for (let k = start; k < end; k++) if (labels[order[k]!] === 1) rankSum += midrank;
    start = end;
  }
  return (rankSum - (abnormal * (abnormal + 1)) / 2) / (abnormal * normal);
}

export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): RocCurve {
  const { normal, abnormal } = checkScores(scores, labels);
  const curve: RocCurve = { thresholds: [Infinity], fpr: [0], tpr: [0] };
  for (const { threshold, tp, fp } of cumulativeCounts(scores, labels)) {
    curve.thresholds.push(threshold);
    curve.fpr.push(fp / normal);
    curve.tpr.push(tp / abnormal);
  }
  return curve;
}

/** Trapezoid area under a curve given by ascending x. */
export function trapezoid(x: readonly number[], y: readonly number[]): number {
  let area = 0;
  for (let k = 1; k < x.length; k++) area += ((x[k]! - x[k - 1]!) * (y[k]! + y[k - 1]!)) / 2;
  return area;
}

/** Average precision, scikit-learn's step-wise PR AUC: Σ (R_n − R_{n−1}) · P_n over distinct thresholds. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { abnormal } = checkScores(scores, labels);
  let ap = 0;
  let prevRecall = 0;
  for (const { tp, fp } of cumulativeCounts(scores, labels)) {
    const recall = tp / abnormal;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}

/** Counts with the runtime's rule: an image is anomalous iff its score is strictly above the threshold. */
export function confusionAt(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): ConfusionAtThreshold {
  if (!Number.isFinite(threshold)) throw new EvalError(`threshold must be a finite number; got ${threshold}`);
  checkScores(scores, labels);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i]! > threshold;
    if (labels[i] === 1) flagged ? tp++ : fn++;
    else flagged ? fp++ : tn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp / (tp + fn);
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { threshold, tp, fp, tn, fn, precision, recall, f1, falsePositiveRate: fp / (fp + tn), accuracy: (tp + tn) / scores.length };
}

export function scoreMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): ScoreMetrics {
  return {
    count: checkScores(scores, labels),
    rocAuc: rocAuc(scores, labels),
    averagePrecision: averagePrecision(scores, labels),
    atThreshold: confusionAt(scores, labels, threshold),
  };
}

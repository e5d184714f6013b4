import { describe, expect, it } from 'vitest';
import { EvalError } from '../../../src/eval/errors.js';
import { averagePrecision, confusionAt, rocAuc, rocCurve, scoreMetrics, trapezoid } from '../../../src/eval/metrics.js';

/** P(abnormal score > normal score) + ½ P(tie), counted over every pair. */
function pairwiseAuc(scores: number[], labels: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('rocAuc / averagePrecision', () => {
  it('perfect separation gives 1 and 1', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(averagePrecision([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
  });

  it('inverted scores give AUC 0 and AP 5/12', () => {
    // Descending: 0.9 n, 0.8 n, 0.2 a (R ½, P ⅓), 0.1 a (R 1, P ½) → ½·⅓ + ½·½.
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    expect(averagePrecision([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBeCloseTo(5 / 12, 12);
  });

  it('all-equal scores give AUC ½ and AP = the abnormal fraction', () => {
    expect(rocAuc([3, 3, 3, 3, 3], [0, 1, 0, 1, 0])).toBe(0.5);
    expect(averagePrecision([3, 3, 3, 3, 3], [0, 1, 0, 1, 0])).toBeCloseTo(2 / 5, 12);
    expect(rocCurve([3, 3, 3, 3, 3], [0, 1, 0, 1, 0])).toEqual({ thresholds: [Infinity, 3], fpr: [0, 1], tpr: [0, 1] });
  });

  it("matches scikit-learn's documented example (AUC 0.75, AP 0.8333)", () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.8333333333, 9);
  });

  it('handles ties across classes: a case worked by hand', () => {
    const scores = [1, 2, 2, 3, 3, 4];
    const labels = [0, 0, 1, 0, 1, 1];
    // Midranks 1, 2.5, 2.5, 4.5, 4.5, 6; abnormal rank sum 2.5 + 4.5 + 6 = 13; U = 13 − 3·4/2 = 7; AUC = 7/9.
    expect(rocAuc(scores, labels)).toBeCloseTo(7 / 9, 14);
    expect(pairwiseAuc(scores, labels)).toBeCloseTo(7 / 9, 14);
    const roc = rocCurve(scores, labels);
    expect(roc.thresholds).toEqual([Infinity, 4, 3, 2, 1]);
    expect(roc.fpr).toEqual([0, 0, 1 / 3, 2 / 3, 1]);
    expect(roc.tpr).toEqual([0, 1 / 3, 2 / 3, 1, 1]);
    expect(trapezoid(roc.fpr, roc.tpr)).toBeCloseTo(7 / 9, 14);
    // Tie groups 4 | 3,3 | 2,2 | 1: (R, P) = (⅓, 1), (⅔, ⅔), (1, ⅗) → (1 + ⅔ + ⅗)/3 = 34/45.
    expect(averagePrecision(scores, labels)).toBeCloseTo(34 / 45, 14);
  });

  it('agrees with the pairwise definition and the trapezoid rule on random tied data', () => {
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(rand() * 60);
      const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : rand() < 0.3 ? 1 : 0));
      const scores = labels.map((l) => Math.floor(rand() * 8 + l * 3)); // few distinct values: many ties
      const auc = rocAuc(scores, labels);
      expect(auc).toBeCloseTo(pairwiseAuc(scores, labels), 12);
      const roc = rocCurve(scores, labels);
      expect(trapezoid(roc.fpr, roc.tpr)).toBeCloseTo(auc, 12);
      // Order of the pairs must not matter.
      const perm = scores.map((_, i) => i).reverse();
      expect(rocAuc(perm.map((i) => scores[i]!), perm.map((i) => labels[i]!))).toBeCloseTo(auc, 12);
      expect(averagePrecision(perm.map((i) => scores[i]!), perm.map((i) => labels[i]!))).toBeCloseTo(averagePrecision(scores, labels), 12);
    }
  });
});

describe('confusionAt', () => {
  it('flags score > threshold only (the runtime rule)', () => {
    const c = confusionAt([1, 2, 2, 3, 3, 4], [0, 0, 1, 0, 1, 1], 2);
    expect(c).toMatchObject({ tp: 2, fp: 1, tn: 2, fn: 1 });
    expect(c.precision).toBeCloseTo(2 / 3, 14);
    expect(c.recall).toBeCloseTo(2 / 3, 14);
    expect(c.f1).toBeCloseTo(2 / 3, 14);
    expect(c.falsePositiveRate).toBeCloseTo(1 / 3, 14);
    expect(c.accuracy).toBeCloseTo(4 / 6, 14);
  });

  it('gives precision 0 and F1 0 when nothing is flagged', () => {
    const c = confusionAt([1, 2, 3], [0, 1, 1], 10);
    expect(c).toMatchObject({ tp: 0, fp: 0, tn: 1, fn: 2, precision: 0, recall: 0, f1: 0 });
  });

  it('scoreMetrics bundles counts, AUC, AP and the thresholded counts', () => {
    const m = scoreMetrics([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.5);
    expect(m.count).toEqual({ normal: 2, abnormal: 2 });
    expect(m.rocAuc).toBe(0.75);
    expect(m.atThreshold).toMatchObject({ tp: 1, fp: 0, tn: 2, fn: 1, precision: 1, recall: 0.5 });
  });
});

describe('bad input', () => {
  it('rejects a test set with one class missing', () => {
    expect(() => rocAuc([1, 2, 3], [0, 0, 0])).toThrow(EvalError);
    expect(() => rocAuc([1, 2, 3], [0, 0, 0])).toThrow(/both classes.*3 normal and 0 abnormal/);
    expect(() => averagePrecision([1, 2], [1, 1])).toThrow(/0 normal and 2 abnormal/);
  });

  it('rejects NaN and infinite scores, bad labels and length mismatches', () => {
    expect(() => rocAuc([1, NaN, 3], [0, 1, 1])).toThrow(/score 1 is NaN/);
    expect(() => averagePrecision([1, Infinity], [0, 1])).toThrow(EvalError);
    expect(() => rocAuc([1, 2], [0, 2])).toThrow(/label 1 is 2/);
    expect(() => rocAuc([1, 2, 3], [0, 1])).toThrow(/3 scores but 2 labels/);
    expect(() => confusionAt([1, 2], [0, 1], NaN)).toThrow(/threshold must be a finite number/);
  });
});

describe('quantileRank / matchingThreshold', () => {
  it('inverts quantileSorted', async () => {
    const { quantileSorted } = await import('../../../src/stats.js');
    const { quantileRank } = await import('../../../src/eval/thresholds.js');
    const sorted = [0.1, 0.2, 0.35, 0.5, 0.9, 1.3];
    for (const q of [0, 0.05, 0.3, 0.5, 0.77, 0.99, 1]) expect(quantileRank(sorted, quantileSorted(sorted, q))).toBeCloseTo(q, 12);
    // A tie spans a range of quantiles; the rank is its top (the share of scores ≤ the value).
    expect(quantileRank([0.1, 0.2, 0.2, 0.5], 0.2)).toBeCloseTo(2 / 3, 12);
    expect(quantileRank(sorted, -5)).toBe(0);
    expect(quantileRank(sorted, 5)).toBe(1);
    expect(quantileRank([2], 2)).toBe(1);
  });

  it('puts the baseline threshold at the same validation quantile', async () => {
    const { matchingThreshold } = await import('../../../src/eval/thresholds.js');
    // 0.99 quantile of 0..100 is 99; the same quantile of 0..1000 (step 10) is 990.
    const ref = Array.from({ length: 101 }, (_, i) => 100 - i);
    const target = ref.map((v) => v * 10);
    const m = matchingThreshold(ref, 99, target);
    expect(m.quantile).toBeCloseTo(0.99, 12);
    expect(m.value).toBeCloseTo(990, 9);
  });
});
